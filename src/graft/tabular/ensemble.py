"""What a strategy fits: one learner or several, how their outputs combine, and the training data.

``TransferData`` holds the encoded source rows, the labelled target rows and (label-free)
target features for density ratios. ``Ensemble`` is the fitted predictor every strategy returns:
one learner (``single``), a weighted average of class probabilities (``mean``, TrAdaBoost) or a
weighted median of predicted values (``median``, TrAdaBoost.R2); with ``augment`` set, rows are
fed as target rows of Daumé's augmented space.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from graft.tabular.learners import Learner

Combine = Literal["single", "mean", "median"]


@dataclass
class TransferData:
    """The encoded training rows of one fit.

    Attributes:
        Xs, ys: source features and labels (floats for regression, class codes for classification).
        Xt, yt: labelled target rows the fit may use.
        task: ``"regression"`` or ``"classification"``.
        n_classes: classes (0 for regression).
        categorical: matrix positions of categorical columns.
        sizes: per column, its number of categories (0 = numeric).
        source_weights: label-free density-ratio weights of the source rows by estimator key,
            computed once per run from every target row's features (see ``graft.tabular.weights``).
        seed: for the strategies' own randomness.
    """

    Xs: np.ndarray
    ys: np.ndarray
    Xt: np.ndarray
    yt: np.ndarray
    task: str
    n_classes: int
    categorical: list[int]
    sizes: list[int]
    source_weights: dict[str, np.ndarray] = field(default_factory=dict)
    seed: int = 0

    @property
    def n_features(self) -> int:
        return self.Xs.shape[1]


@dataclass
class Ensemble:
    """A fitted predictor: learners, their combination, and Daumé's feature augmentation flag."""

    learners: list[Learner]
    task: str
    n_classes: int
    weights: list[float] = field(default_factory=lambda: [1.0])
    combine: Combine = "single"
    augment: bool = False

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Values (regression, shape (n,)) or class probabilities (classification, (n, C))."""
        if self.augment:
            X = augment_target(X)
        outputs = [learner.predict(X) for learner in self.learners]
        if self.combine == "single" or len(outputs) == 1:
            return outputs[0]
        w = np.asarray(self.weights, dtype=np.float64)
        if self.combine == "mean":
            return np.tensordot(w / w.sum(), np.stack(outputs), axes=1)
        return weighted_median(np.stack(outputs, axis=1), w)

    def describe(self) -> dict[str, Any]:
        """The JSON part of the saved form (the learners' bytes go to their own files)."""
        return {"combine": self.combine, "weights": [float(w) for w in self.weights], "augment": self.augment,
                "learners": [{"kind": learner.kind, **learner.meta()} for learner in self.learners]}


def weighted_median(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Per row of ``values`` (n, k), the value where the sorted weights first reach half their sum
    (AdaBoost.R2's combination).

    Example:
        >>> weighted_median(np.array([[1.0, 2.0, 10.0]]), np.array([1.0, 1.0, 5.0])).tolist()
        [10.0]
    """
    order = np.argsort(values, axis=1)
    sorted_w = weights[order]
    cum = np.cumsum(sorted_w, axis=1)
    pick = (cum >= 0.5 * cum[:, -1:]).argmax(axis=1)
    return values[np.arange(len(values)), order[np.arange(len(values)), pick]]


def augment_source(X: np.ndarray) -> np.ndarray:
    """Daumé's augmentation of source rows: (shared, source copy, absent target copy)."""
    return np.hstack([X, X, np.full_like(X, np.nan)])


def augment_target(X: np.ndarray) -> np.ndarray:
    """Daumé's augmentation of target rows: (shared, absent source copy, target copy)."""
    return np.hstack([X, np.full_like(X, np.nan), X])
