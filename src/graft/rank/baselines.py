"""Baselines every transferability score must beat: leave-one-out k-NN and a cross-validated linear probe.

Both are real (if small) fits, so they are slower than the closed-form scores but say directly how
well a cheap classifier does on the frozen features.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any, Literal

import numpy as np

from graft.errors import UsageError
from graft.rank._checks import as_labels, as_matrix

logger = logging.getLogger(__name__)

# Rows of the distance matrix computed at once: 2048 x n float64 stays ~160 MB at n = 10,000.
_KNN_BLOCK = 2048


def knn_loo_accuracy(
    features: Any,
    labels: Any,
    k: int = 5,
    metric: Literal["cosine", "euclidean"] = "cosine",
) -> float:
    """Leave-one-out k-nearest-neighbour accuracy on the features. Higher is better.

    Each sample is classified by a majority vote of its k nearest *other* samples; ties between
    classes go to the class of the nearest neighbour among them. Distances are computed in blocks
    of rows, so memory is O(block * n) rather than O(n^2).

    Args:
        features: (n, d) features.
        labels: (n,) class labels; any C >= 2 distinct values.
        k: neighbours that vote, 1 <= k < n.
        metric: "cosine" (1 - cosine similarity; all-zero rows are at distance 1 from everything)
            or "euclidean".

    Returns:
        The fraction of samples whose vote matches their label.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> y = np.repeat([0, 1], 50)
        >>> knn_loo_accuracy(np.c_[y, 1 - y] + 0.1 * rng.normal(size=(100, 2)), y)
        1.0
    """
    f = as_matrix(features, "features")
    y, n_classes = as_labels(labels, len(f))
    n = len(f)
    if not 1 <= k < n:
        raise UsageError(f"k must be between 1 and n - 1 = {n - 1} (leave-one-out), got {k}")
    if metric == "cosine":
        norms = np.linalg.norm(f, axis=1, keepdims=True)
        f = np.divide(f, norms, out=np.zeros_like(f), where=norms > 0)
    elif metric != "euclidean":
        raise UsageError(f"unknown metric {metric!r}; choose 'cosine' or 'euclidean'")
    # Unit rows under cosine; an all-zero row counts as unit-norm and orthogonal to everything.
    sq = np.ones(n) if metric == "cosine" else np.einsum("ij,ij->i", f, f)
    correct = 0
    for start in range(0, n, _KNN_BLOCK):
        rows = np.arange(start, min(start + _KNN_BLOCK, n))
        # Squared distance up to a per-row constant (enough to rank neighbours): |b|^2 - 2 a.b
        dist = sq[None, :] - 2.0 * (f[rows] @ f.T)
        dist[np.arange(len(rows)), rows] = np.inf  # leave the sample itself out
        neigh = np.argpartition(dist, k - 1, axis=1)[:, :k]
        order = np.argsort(np.take_along_axis(dist, neigh, axis=1), axis=1)
        neigh = np.take_along_axis(neigh, order, axis=1)  # nearest first
        votes = np.zeros((len(rows), n_classes))
        np.add.at(votes, (np.repeat(np.arange(len(rows)), k), y[neigh].ravel()), 1.0)
        votes[np.arange(len(rows)), y[neigh[:, 0]]] += 0.5  # breaks ties only: counts are integers
        correct += int(np.sum(votes.argmax(axis=1) == y[rows]))
    return correct / n


def linear_probe_cv_accuracy(
    features: Any,
    labels: Any,
    folds: int = 5,
    C: float = 1.0,
    seed: int = 0,
) -> float:
    """Stratified cross-validated accuracy of a logistic-regression probe. Higher is better.

    Features are standardised inside each training fold (no leakage into the test fold). The
    number of folds drops to the size of the smallest class when that is below ``folds``.

    Args:
        features: (n, d) features.
        labels: (n,) class labels; any C >= 2 distinct values, each with at least 2 samples.
        folds: number of stratified folds (>= 2).
        C: inverse L2 regularisation strength of the logistic regression.
        seed: seeds the fold shuffle.

    Returns:
        Accuracy of the out-of-fold predictions over all n samples.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> y = np.repeat([0, 1], 20)
        >>> linear_probe_cv_accuracy(y[:, None] + 0.1 * rng.normal(size=(40, 1)), y)
        1.0
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    f = as_matrix(features, "features")
    y, _ = as_labels(labels, len(f))
    if folds < 2:
        raise UsageError(f"folds must be at least 2, got {folds}")
    smallest = int(np.bincount(y).min())
    if smallest < 2:
        raise UsageError(
            "linear probe cross-validation needs at least 2 samples in every class; "
            f"class index {int(np.bincount(y).argmin())} has {smallest}"
        )
    if smallest < folds:
        logger.info("linear probe: smallest class has %d samples, using %d folds instead of %d",
                    smallest, smallest, folds)
        folds = smallest
    probe = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=1000))
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        # An unconverged probe is still a fair baseline; the warning would only be noise per fold.
        warnings.simplefilter("ignore", ConvergenceWarning)
        predicted = cross_val_predict(probe, f, y, cv=cv)
    return float(np.mean(predicted == y))
