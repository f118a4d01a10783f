"""Instance weighting: train the head on source examples re-weighted towards the target.

The weights come from `graft.adapt.density_ratio` (domain classifier, KMM or KLIEP); the head is
trained with ``sample_weight``, and ``effective_sample_size_`` reports how concentrated they are.
"""

from __future__ import annotations

import numpy as np

from graft.adapt.base import DomainAdapter, fit_head
from graft.adapt.density_ratio import (
    domain_classifier_weights,
    effective_sample_size,
    kliep_weights,
    kmm_weights,
)
from graft.adapt.registry import register_adapter


class WeightingAdapter(DomainAdapter):
    """Base of the weighting methods: weights from `_weights`, then a weighted head."""

    def _weights(self, Xs: np.ndarray, Xt: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _fit(self, Xs: np.ndarray, ys: np.ndarray, Xt: np.ndarray) -> None:
        self.weights_ = self._weights(Xs, Xt)
        self.effective_sample_size_ = effective_sample_size(self.weights_)
        self.head_ = fit_head(self._head(), Xs, ys, sample_weight=self.weights_)


@register_adapter("iw")
class ImportanceWeighting(WeightingAdapter):
    """Importance weighting with a probabilistic domain classifier as the density-ratio estimate.

    Args:
        domain_C: inverse regularisation of the logistic-regression domain classifier.
        clip: cap on a weight, in multiples of the mean weight (``None``: no cap).
        cv: folds for the out-of-fold domain probabilities.
        C: inverse regularisation strength of the logistic-regression head.
        standardize: standardise features before the head.
        max_iter: iteration cap of the head's solver.
        random_state: seed of the fold split.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> Xs, ys = rng.normal(size=(60, 2)), np.repeat([0, 1], 30)
        >>> iw = ImportanceWeighting().fit(Xs, ys, rng.normal(0.5, 1, size=(50, 2)))
        >>> 1 <= iw.effective_sample_size_ <= 60
        True
    """

    def __init__(
        self,
        domain_C: float = 1.0,
        clip: float | None = 10.0,
        cv: int = 5,
        C: float = 1.0,
        standardize: bool = True,
        max_iter: int = 1000,
        random_state: int = 0,
    ) -> None:
        self.domain_C = domain_C
        self.clip = clip
        self.cv = cv
        self.C = C
        self.standardize = standardize
        self.max_iter = max_iter
        self.random_state = random_state

    def _weights(self, Xs: np.ndarray, Xt: np.ndarray) -> np.ndarray:
        return domain_classifier_weights(Xs, Xt, C=self.domain_C, clip=self.clip, cv=self.cv, seed=self.random_state)


@register_adapter("kmm")
class KMM(WeightingAdapter):
    """Kernel mean matching: weights that match the source kernel mean to the target's.

    Args:
        B: upper bound on a weight in the quadratic program.
        eps: slack on the weights' mean around 1 (``None``: ``(sqrt(m) - 1) / sqrt(m)``).
        kernel_width: Gaussian width on pooled-standardised features (``None``: median heuristic).
        ridge: added to the kernel matrix's diagonal to keep small programs stable.
        max_samples: cap on the rows in one quadratic program; larger sources are solved in
            chunks against a target subsample of this size, so cost grows linearly in n.
        solver_max_iter: iterations of the projected-gradient solver.
        C: inverse regularisation strength of the logistic-regression head.
        standardize: standardise features before the head.
        max_iter: iteration cap of the head's solver.
        random_state: seed of the chunking and subsampling.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> Xs, ys = rng.normal(size=(60, 2)), np.repeat([0, 1], 30)
        >>> KMM().fit(Xs, ys, rng.normal(0.5, 1, size=(50, 2))).weights_.shape
        (60,)
    """

    def __init__(
        self,
        B: float = 1000.0,
        eps: float | None = None,
        kernel_width: float | None = None,
        ridge: float = 0.1,
        max_samples: int = 1000,
        solver_max_iter: int = 1000,
        C: float = 1.0,
        standardize: bool = True,
        max_iter: int = 1000,
        random_state: int = 0,
    ) -> None:
        self.B = B
        self.eps = eps
        self.kernel_width = kernel_width
        self.ridge = ridge
        self.max_samples = max_samples
        self.solver_max_iter = solver_max_iter
        self.C = C
        self.standardize = standardize
        self.max_iter = max_iter
        self.random_state = random_state

    def _weights(self, Xs: np.ndarray, Xt: np.ndarray) -> np.ndarray:
        return kmm_weights(
            Xs, Xt, B=self.B, eps=self.eps, kernel_width=self.kernel_width, ridge=self.ridge,
            max_samples=self.max_samples, max_iter=self.solver_max_iter, seed=self.random_state,
        )  # fmt: skip


@register_adapter("kliep")
class KLIEP(WeightingAdapter):
    """Kullback-Leibler importance estimation: a kernel density-ratio model fitted on the target.

    Args:
        kernel_width: Gaussian width on pooled-standardised features (``None``: likelihood CV).
        n_centers: kernel centres, drawn from the target.
        width_grid: multiples of the median heuristic tried by likelihood CV.
        solver_max_iter: gradient-ascent iterations.
        C: inverse regularisation strength of the logistic-regression head.
        standardize: standardise features before the head.
        max_iter: iteration cap of the head's solver.
        random_state: seed of the centre draw and the CV split.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> Xs, ys = rng.normal(size=(60, 2)), np.repeat([0, 1], 30)
        >>> KLIEP().fit(Xs, ys, rng.normal(0.5, 1, size=(50, 2))).kernel_width_ > 0
        True
    """

    def __init__(
        self,
        kernel_width: float | None = None,
        n_centers: int = 100,
        width_grid: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0),
        solver_max_iter: int = 500,
        C: float = 1.0,
        standardize: bool = True,
        max_iter: int = 1000,
        random_state: int = 0,
    ) -> None:
        self.kernel_width = kernel_width
        self.n_centers = n_centers
        self.width_grid = width_grid
        self.solver_max_iter = solver_max_iter
        self.C = C
        self.standardize = standardize
        self.max_iter = max_iter
        self.random_state = random_state

    def _weights(self, Xs: np.ndarray, Xt: np.ndarray) -> np.ndarray:
        w, self.kernel_width_ = kliep_weights(
            Xs, Xt, kernel_width=self.kernel_width, n_centers=self.n_centers,
            width_grid=tuple(self.width_grid), max_iter=self.solver_max_iter, seed=self.random_state,
        )  # fmt: skip
        return w
