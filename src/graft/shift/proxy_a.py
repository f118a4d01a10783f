"""Domain-classifier distances: how well a linear model tells the two samples apart.

Proxy A-distance (Ben-David et al., "Analysis of Representations for Domain Adaptation", NeurIPS
2006): train a classifier to say which sample a point came from; its cross-validated error eps
gives d_A = 2 (1 - 2 eps). Indistinguishable samples give eps ~ 0.5, d_A ~ 0; separable ones give
eps ~ 0, d_A ~ 2. The same out-of-fold predictions give the classifier's ROC AUC, which drift
detection reuses through :func:`domain_classifier_auc`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from graft.errors import UsageError
from graft.rank._checks import as_pair
from graft.shift._sample import cap_rows, check_max_samples


@dataclass(frozen=True)
class PADResult:
    """Outcome of :func:`proxy_a_distance`.

    Attributes:
        distance: 2 (1 - 2 err), clipped to [0, 2] (a classifier worse than chance says "no shift").
        error: cross-validated balanced error of the domain classifier (mean of the two per-sample
            error rates, so unequal sample sizes do not fake a distance).
        auc: ROC AUC of the out-of-fold domain probabilities (0.5 = indistinguishable).
        n_x: rows of X used.
        n_y: rows of Y used.
    """

    distance: float
    error: float
    auc: float
    n_x: int
    n_y: int


def proxy_a_distance(
    X: Any,
    Y: Any,
    folds: int = 5,
    max_samples: int | None = 5000,
    seed: int = 0,
) -> PADResult:
    """Proxy A-distance between two samples of embeddings, from a logistic-regression domain classifier.

    The classifier sees standardised features (the scaler is fit inside each training fold) and is
    scored with stratified ``folds``-fold cross-validation; identical rows (in either sample) are kept
    in one fold, so that two copies of the same data score an AUC of 0.5, not far below it.

    Args:
        X: (n_x, d) embeddings of the first sample.
        Y: (n_y, d) embeddings of the second sample.
        folds: cross-validation folds (>= 2; lowered to the smaller sample size if needed).
        max_samples: each of X and Y is randomly subsampled to at most this many rows (None: no cap).
        seed: seeds subsampling and the fold shuffle.

    Returns:
        A :class:`PADResult`.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> a = rng.normal(size=(200, 4))
        >>> proxy_a_distance(a, rng.normal(size=(200, 4))).distance < 0.5
        True
        >>> proxy_a_distance(a, rng.normal(size=(200, 4)) + 3.0).distance > 1.9
        True
    """
    domain, prob, n_x, n_y = _out_of_fold(X, Y, folds, max_samples, seed)
    predicted = prob >= 0.5
    error = 0.5 * (np.mean(predicted[domain == 0]) + np.mean(~predicted[domain == 1]))
    distance = float(np.clip(2.0 * (1.0 - 2.0 * error), 0.0, 2.0))
    return PADResult(distance=distance, error=float(error), auc=_auc(domain, prob), n_x=n_x, n_y=n_y)


def domain_classifier_auc(
    X: Any,
    Y: Any,
    folds: int = 5,
    max_samples: int | None = 5000,
    seed: int = 0,
) -> float:
    """Cross-validated ROC AUC of a logistic-regression classifier telling Y apart from X.

    0.5 means the samples are indistinguishable to a linear model, 1.0 that they are separable.
    Arguments as for :func:`proxy_a_distance`.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> domain_classifier_auc(rng.normal(size=(100, 3)), rng.normal(size=(100, 3)) + 2) > 0.95
        True
    """
    domain, prob, _, _ = _out_of_fold(X, Y, folds, max_samples, seed)
    return _auc(domain, prob)


def _out_of_fold(
    X: Any, Y: Any, folds: int, max_samples: int | None, seed: int
) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Domain labels (0 = X, 1 = Y) and out-of-fold P(domain = Y) for every pooled row."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedGroupKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = as_pair(X, Y)
    if folds < 2:
        raise UsageError(f"folds must be at least 2, got {folds}")
    check_max_samples(max_samples)
    rng = np.random.default_rng(seed)
    x, y = cap_rows(x, max_samples, rng), cap_rows(y, max_samples, rng)
    if min(len(x), len(y)) < 2:
        raise UsageError(
            f"a domain classifier needs at least 2 rows in each sample, got {len(x)} and {len(y)}"
        )
    pooled = np.vstack([x, y])
    domain = np.r_[np.zeros(len(x), dtype=np.intp), np.ones(len(y), dtype=np.intp)]
    groups = duplicate_groups(pooled)
    n_groups = int(groups.max()) + 1
    if n_groups < 2:  # every row is the same point: nothing can tell the samples apart
        return domain, np.full(len(domain), 0.5), len(x), len(y)
    # Identical rows share a fold. Otherwise a row's twin in the other sample sits in the training
    # folds with the opposite label, and a classifier that remembers it scores the row backwards:
    # two identical samples then gave an AUC of 0.02 instead of 0.5.
    cv = StratifiedGroupKFold(n_splits=min(folds, len(x), len(y), n_groups), shuffle=True, random_state=seed)
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", UserWarning)  # "least populated class" when groups are few
        prob = cross_val_predict(clf, pooled, domain, cv=cv, groups=groups, method="predict_proba")[:, 1]
    return domain, prob, len(x), len(y)


def duplicate_groups(rows: np.ndarray) -> np.ndarray:
    """One group id per row; rows with identical values (in either sample) share an id."""
    _, ids = np.unique(np.ascontiguousarray(rows), axis=0, return_inverse=True)
    return ids.reshape(-1)


def _auc(domain: np.ndarray, prob: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(domain, prob))
