"""Feature alignment: move source embeddings towards the target's statistics, then train the head.

- CORAL (Sun, Feng & Saenko 2016, "Return of Frustratingly Easy Domain Adaptation"): whiten the
  source covariance and recolour it with the target's.
- Subspace alignment (Fernando et al. 2013): map the source PCA basis onto the target PCA basis.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from graft.adapt.base import DomainAdapter, fit_head
from graft.adapt.registry import register_adapter
from graft.errors import UsageError


def matrix_power_psd(C: np.ndarray, power: float) -> np.ndarray:
    """``C ** power`` for a symmetric positive-definite matrix, via its eigendecomposition.

    Example:
        >>> matrix_power_psd(np.diag([4.0, 9.0]), 0.5).diagonal().tolist()
        [2.0, 3.0]
    """
    vals, vecs = np.linalg.eigh(C)
    vals = np.clip(vals, np.finfo(np.float64).tiny, None)
    return (vecs * vals**power) @ vecs.T


def regularised_cov(X: np.ndarray, eps: float) -> np.ndarray:
    """Covariance plus ``eps`` times the mean feature variance on the diagonal (scale-free ridge)."""
    cov = np.cov(X, rowvar=False).reshape(X.shape[1], X.shape[1])
    ridge = eps * max(float(np.trace(cov)) / len(cov), 1e-12)
    return cov + ridge * np.eye(len(cov))


def coral_map(Xs: np.ndarray, Xt: np.ndarray, eps: float = 1.0) -> np.ndarray:
    """The linear map ``Cs^-1/2 Ct^1/2`` that gives (centred) source the target covariance.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> A = coral_map(rng.normal(size=(500, 2)), 3 * rng.normal(size=(500, 2)), eps=1e-6)
        >>> bool(np.allclose(np.diag(A), 3, atol=0.4))
        True
    """
    return matrix_power_psd(regularised_cov(Xs, eps), -0.5) @ matrix_power_psd(regularised_cov(Xt, eps), 0.5)


@register_adapter("coral")
class CORAL(DomainAdapter):
    """CORrelation ALignment: recolour whitened source features with the target covariance.

    Args:
        eps: ridge added to both covariances, as a fraction of the mean feature variance
            (the paper adds 1 to unit-variance features, i.e. ``eps=1``).
        align_mean: also move the source mean onto the target mean (first and second moments).
        C: inverse regularisation strength of the logistic-regression head.
        standardize: standardise features before the head.
        max_iter: iteration cap of the head's solver.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> Xs, ys = rng.normal(size=(60, 4)), np.repeat([0, 1, 2], 20)
        >>> CORAL(eps=0.1).fit(Xs, ys, 2 * rng.normal(size=(30, 4))).predict(Xs[:3]).shape
        (3,)
    """

    def __init__(
        self,
        eps: float = 1.0,
        align_mean: bool = True,
        C: float = 1.0,
        standardize: bool = True,
        max_iter: int = 1000,
    ) -> None:
        self.eps = eps
        self.align_mean = align_mean
        self.C = C
        self.standardize = standardize
        self.max_iter = max_iter

    def _fit(self, Xs: np.ndarray, ys: np.ndarray, Xt: np.ndarray) -> None:
        if self.eps <= 0 and min(len(Xs), len(Xt)) <= Xs.shape[1]:
            raise UsageError("CORAL with eps=0 needs more examples than features per domain; use eps > 0")
        self.map_ = coral_map(Xs, Xt, self.eps)
        self.source_mean_ = Xs.mean(axis=0)
        self.target_mean_ = Xt.mean(axis=0)
        self.head_ = fit_head(self._head(), self.transform_source(Xs), ys)

    def transform_source(self, X: Any) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        shift = self.target_mean_ if self.align_mean else self.source_mean_
        return (X - self.source_mean_) @ self.map_ + shift


def pca_basis(X: np.ndarray, n_components: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean and the top ``n_components`` principal directions (rows) of ``X``."""
    mean = X.mean(axis=0)
    _, _, vt = np.linalg.svd(X - mean, full_matrices=False)
    return mean, vt[:n_components]


@register_adapter("sa")
class SubspaceAlignment(DomainAdapter):
    """Subspace alignment: project both domains on their PCA bases and align the source basis.

    The source is projected as ``(Xs - ms) Ps^T M`` with ``M = Ps Pt^T`` and the target as
    ``(Xt - mt) Pt^T``; the head works in that ``n_components``-dimensional space.

    Args:
        n_components: subspace size ``d``; capped at the number of features and of examples.
        C: inverse regularisation strength of the logistic-regression head.
        standardize: standardise features before the head.
        max_iter: iteration cap of the head's solver.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> Xs, ys = rng.normal(size=(60, 6)), np.repeat([0, 1], 30)
        >>> SubspaceAlignment(n_components=3).fit(Xs, ys, rng.normal(size=(40, 6))).transform_target(Xs).shape
        (60, 3)
    """

    def __init__(
        self, n_components: int = 20, C: float = 1.0, standardize: bool = True, max_iter: int = 1000
    ) -> None:
        self.n_components = n_components
        self.C = C
        self.standardize = standardize
        self.max_iter = max_iter

    def _fit(self, Xs: np.ndarray, ys: np.ndarray, Xt: np.ndarray) -> None:
        if self.n_components < 1:
            raise UsageError(f"n_components must be >= 1, got {self.n_components}")
        d = min(self.n_components, Xs.shape[1], len(Xs), len(Xt))
        self.n_components_ = d
        self.source_mean_, self.source_basis_ = pca_basis(Xs, d)
        self.target_mean_, self.target_basis_ = pca_basis(Xt, d)
        self.alignment_ = self.source_basis_ @ self.target_basis_.T
        self.head_ = fit_head(self._head(), self.transform_source(Xs), ys)

    def transform_source(self, X: Any) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        return (X - self.source_mean_) @ self.source_basis_.T @ self.alignment_

    def transform_target(self, X: Any) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        return (X - self.target_mean_) @ self.target_basis_.T
