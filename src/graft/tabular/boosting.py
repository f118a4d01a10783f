"""TrAdaBoost (Dai et al. 2007) for classification and TrAdaBoost.R2 (Pardoe & Stone 2010) for regression.

Both boost over source + target rows: a source row the current learner gets wrong loses weight
(it looks unlike the target), a target row it gets wrong gains weight (AdaBoost). The learner of
each round is the configured base learner (LightGBM with ``round_estimators`` trees, or linear).

- ``tradaboost``: Dai et al.'s algorithm with 0/1 error, which holds for any number of classes;
  prediction averages the class probabilities of the second half of the rounds weighted by
  ``log(1/beta_t)`` (a soft form of Dai's vote, which gives probabilities).
- ``tradaboost_r2``: the *standard* (one-stage) TrAdaBoost.R2 of Pardoe & Stone's Algorithm 2, not
  their two-stage variant (which adds an outer loop with cross-validation at every step: too costly
  here); errors are AdaBoost.R2's linear loss ``|y - h(x)| / max|y - h(x)|``, prediction the
  weighted median of the second half of the rounds.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from graft._config import check_ranges
from graft.tabular.ensemble import Ensemble, TransferData
from graft.tabular.learners import LearnerConfig, fit_learner
from graft.tabular.strategies import Strategy, register_method

log = logging.getLogger(__name__)
_EPS = 1e-10


@dataclass
class _Boost(Strategy):
    n_rounds: int = field(default=10, metadata={"help": "boosting rounds (learners fitted)"})
    round_estimators: int = field(default=50, metadata={"help": "trees of each round's LightGBM learner"})
    combine: ClassVar[str] = "mean"  # how the kept rounds' outputs combine (Ensemble.combine)

    def __post_init__(self) -> None:
        check_ranges(self, {"n_rounds": "[2, 1000]", "round_estimators": "[1, 100000]"})

    def fit(self, data: TransferData, learner: LearnerConfig) -> Ensemble:
        n, m = len(data.Xs), len(data.Xt)
        X, y = np.vstack([data.Xs, data.Xt]), np.concatenate([data.ys, data.yt])
        w = np.ones(n + m)
        # Dai et al.: the source multiplier, fixed by the number of source rows and rounds
        beta = 1.0 / (1.0 + math.sqrt(2.0 * math.log(max(n, 2)) / self.n_rounds))
        learners, betas = [], []
        for _ in range(self.n_rounds):
            h = fit_learner(learner, data.task, data.n_classes, X, y, w / w.sum() * (n + m), data.categorical,
                            data.sizes, n_estimators=self.round_estimators)
            err = self._errors(h.predict(X), y)
            eps = float(np.sum(w[n:] * err[n:]) / max(np.sum(w[n:]), _EPS))
            eps = min(max(eps, _EPS), 0.499)  # keep beta_t in (0, 1): a round no better than chance still counts a little
            beta_t = eps / (1.0 - eps)
            learners.append(h)
            betas.append(beta_t)
            w[:n] *= beta ** err[:n]
            w[n:] *= beta_t ** (-err[n:])
            w = w / w.sum() * (n + m)  # renormalise against under/overflow
        half = len(learners) // 2
        weights = [math.log(1.0 / b) for b in betas[half:]]
        log.info("%s: target errors per round %s", self.name, [round(b / (1 + b), 3) for b in betas])
        return Ensemble(learners[half:], data.task, data.n_classes, weights=weights, combine=self.combine)

    def _errors(self, predicted: np.ndarray, y: np.ndarray) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError


@register_method("tradaboost")
@dataclass
class TrAdaBoost(_Boost):
    """TrAdaBoost (Dai et al. 2007): boosting that fades out the source rows unlike the target."""

    summary: ClassVar[str] = "TrAdaBoost: boosting that fades out unlike source rows"
    tasks: ClassVar[tuple[str, ...]] = ("classification",)
    combine: ClassVar[str] = "mean"

    def _errors(self, predicted: np.ndarray, y: np.ndarray) -> np.ndarray:
        return (predicted.argmax(axis=1) != y.astype(np.int64)).astype(np.float64)


@register_method("tradaboost_r2")
@dataclass
class TrAdaBoostR2(_Boost):
    """TrAdaBoost.R2 (Pardoe & Stone 2010, Algorithm 2): TrAdaBoost's weighting with AdaBoost.R2's loss."""

    summary: ClassVar[str] = "TrAdaBoost.R2: boosting that fades out unlike source rows"
    tasks: ClassVar[tuple[str, ...]] = ("regression",)
    combine: ClassVar[str] = "median"

    def _errors(self, predicted: np.ndarray, y: np.ndarray) -> np.ndarray:
        residual = np.abs(y - predicted)
        top = float(residual.max())
        return residual / top if top > 0 else np.zeros_like(residual)
