"""Self-training: add the head's most confident target predictions as labels, a few rounds.

Each round relabels the target with the current head and keeps the most confident predictions
*per predicted class* (class balancing): ranking confidence within a class, not across classes,
stops the classes the head is already sure of from taking every pseudo-label.

- ``balance="equal"``: the same number ``k`` per class, ``k = fraction * n_target / n_classes``;
  right when the target classes are about equally frequent, and it corrects a head that
  over-predicts some classes.
- ``balance="proportional"``: the top ``fraction`` of each predicted class (CBST, Zou et al.
  2018); safer when the target classes are imbalanced.

``fraction`` grows linearly to ``max_fraction`` over the rounds.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from graft.adapt.base import DomainAdapter, fit_head
from graft.adapt.registry import register_adapter
from graft.errors import UsageError

Balance = Literal["equal", "proportional"]


def balanced_confident(proba: np.ndarray, fraction: float, balance: Balance = "equal") -> np.ndarray:
    """Row indices of the most confident predictions of each predicted class.

    ``balance="equal"`` keeps ``ceil(fraction * n / n_classes)`` per class; ``"proportional"``
    keeps the top ``fraction`` of each class's own predictions.

    Example:
        >>> p = np.array([[0.9, 0.1], [0.6, 0.4], [0.7, 0.3], [0.45, 0.55]])
        >>> balanced_confident(p, 0.5).tolist(), balanced_confident(p, 0.5, "proportional").tolist()
        ([0, 3], [0, 2, 3])
    """
    if balance not in ("equal", "proportional"):
        raise UsageError(f"balance must be 'equal' or 'proportional', got {balance!r}")
    pred, conf = proba.argmax(axis=1), proba.max(axis=1)
    per_class = int(np.ceil(fraction * len(proba) / proba.shape[1]))
    picked = []
    for c in range(proba.shape[1]):
        rows = np.flatnonzero(pred == c)
        keep = per_class if balance == "equal" else int(np.ceil(fraction * len(rows)))
        picked.append(rows[np.argsort(-conf[rows], kind="stable")[:keep]])
    return np.sort(np.concatenate(picked))


@register_adapter("self-train")
class SelfTraining(DomainAdapter):
    """Class-balanced self-training of the head on confident target pseudo-labels.

    Args:
        rounds: relabelling rounds after the source-only start.
        max_fraction: share of the target pseudo-labelled in the last round.
        balance: ``"equal"`` (same count per class) or ``"proportional"`` (top share of each class).
        target_weight: weight of a pseudo-labelled target example relative to a source example.
        C: inverse regularisation strength of the logistic-regression head.
        standardize: standardise features before the head.
        max_iter: iteration cap of the head's solver.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> Xs, ys = rng.normal(size=(60, 2)), np.repeat([0, 1], 30)
        >>> SelfTraining(rounds=2).fit(Xs, ys, rng.normal(size=(40, 2))).n_pseudo_labels_
        32
    """

    def __init__(
        self,
        rounds: int = 5,
        max_fraction: float = 0.8,
        balance: Balance = "equal",
        target_weight: float = 1.0,
        C: float = 1.0,
        standardize: bool = True,
        max_iter: int = 1000,
    ) -> None:
        self.rounds = rounds
        self.max_fraction = max_fraction
        self.balance = balance
        self.target_weight = target_weight
        self.C = C
        self.standardize = standardize
        self.max_iter = max_iter

    def _fit(self, Xs: np.ndarray, ys: np.ndarray, Xt: np.ndarray) -> None:
        if self.rounds < 0 or not 0 < self.max_fraction <= 1:
            raise UsageError(f"need rounds >= 0 and 0 < max_fraction <= 1; got {self.rounds}, {self.max_fraction}")
        self.head_ = fit_head(self._head(), Xs, ys)
        self.n_pseudo_labels_ = 0
        for r in range(1, self.rounds + 1):
            proba = self.head_.predict_proba(Xt)
            picked = balanced_confident(proba, self.max_fraction * r / self.rounds, self.balance)
            pseudo = self.classes_[proba[picked].argmax(axis=1)]
            X = np.vstack([Xs, Xt[picked]])
            w = np.r_[np.ones(len(Xs)), np.full(len(picked), self.target_weight)]
            self.head_ = fit_head(self._head(), X, np.r_[ys, pseudo], sample_weight=w)
            self.n_pseudo_labels_ = len(picked)
