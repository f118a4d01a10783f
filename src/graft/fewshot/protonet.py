"""Prototypical classifier (Snell et al. 2017) on fixed embeddings: one mean per class, nearest wins."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from graft.errors import UsageError

Metric = Literal["euclidean", "cosine"]


def l2_normalize(X: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero).

    Example:
        >>> l2_normalize(np.array([[3.0, 4.0]])).tolist()
        [[0.6, 0.8]]
    """
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    return X / np.where(norms == 0, 1.0, norms)


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax, stable for large logits."""
    z = np.exp(logits - logits.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


class PrototypicalClassifier(ClassifierMixin, BaseEstimator):
    """Classify by the nearest class mean ("prototype") of the support embeddings.

    Args:
        metric: ``"euclidean"`` (logits are minus squared distances) or ``"cosine"`` (logits are
            cosine similarities).
        normalize: L2-normalise embeddings before averaging and comparing.
        temperature: logits are divided by it before the softmax of ``predict_proba``; it
            changes confidence, never the predicted class.

    Example:
        >>> clf = PrototypicalClassifier().fit([[0.0, 0.0], [0.2, 0.0], [5.0, 5.0]], ["a", "a", "b"])
        >>> clf.predict([[4.0, 4.5]]).tolist()
        ['b']
    """

    def __init__(self, metric: Metric = "euclidean", normalize: bool = False, temperature: float = 1.0) -> None:
        self.metric = metric
        self.normalize = normalize
        self.temperature = temperature

    def fit(self, X: Any, y: Any) -> "PrototypicalClassifier":
        """Store one prototype per class: the mean of its (optionally normalised) support rows."""
        if self.metric not in ("euclidean", "cosine"):
            raise UsageError(f"metric must be 'euclidean' or 'cosine', got {self.metric!r}")
        if not self.temperature > 0:
            raise UsageError(f"temperature must be > 0, got {self.temperature}")
        X, y = validate_data(self, X, y)
        check_classification_targets(y)
        self.classes_, codes = np.unique(y, return_inverse=True)
        Z = self._embed(X)
        self.prototypes_ = np.stack([Z[codes == i].mean(axis=0) for i in range(len(self.classes_))])
        return self

    def _embed(self, X: np.ndarray) -> np.ndarray:
        return l2_normalize(X) if self.normalize else X

    def logits(self, X: Any) -> np.ndarray:
        """Logits per class: minus squared Euclidean distance, or cosine similarity, over temperature."""
        check_is_fitted(self, "prototypes_")
        Z = self._embed(validate_data(self, X, reset=False))
        if self.metric == "cosine":
            logits = l2_normalize(Z) @ l2_normalize(self.prototypes_).T
        else:
            logits = -(
                (Z**2).sum(1)[:, None] + (self.prototypes_**2).sum(1)[None, :] - 2 * Z @ self.prototypes_.T
            )
        return logits / self.temperature

    def predict_proba(self, X: Any) -> np.ndarray:
        """Softmax of the logits, columns ordered as ``classes_``."""
        return softmax(self.logits(X))

    def predict(self, X: Any) -> np.ndarray:
        """The class of the nearest prototype."""
        logits = self.logits(X)  # checks fitted-ness before classes_ is touched
        return self.classes_[np.argmax(logits, axis=1)]
