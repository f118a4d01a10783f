"""Density-ratio weights of source rows, ``p_target(x) / p_source(x)``, on encoded table features.

The estimators are graft's own (``graft.adapt.density_ratio``: an out-of-fold domain classifier and
kernel mean matching); here the table is first made numeric for them: categorical columns one-hot,
missing values filled with the pooled column mean. The weights use target *features* only, never
labels, so a run computes them once from every target row (labelled, held-out and unlabelled alike)
and each cross-validation fit reuses them.
"""

from __future__ import annotations

import logging

import numpy as np

from graft.adapt.density_ratio import domain_classifier_weights, effective_sample_size, kmm_weights
from graft.tabular.encode import one_hot

log = logging.getLogger(__name__)


def numeric_design(Xs: np.ndarray, Xt: np.ndarray, sizes: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Both domains one-hot encoded, NaN filled with the pooled column mean."""
    Zs, Zt = one_hot(Xs, sizes), one_hot(Xt, sizes)
    pooled = np.vstack([Zs, Zt])
    with np.errstate(all="ignore"):
        mean = np.nan_to_num(np.nanmean(np.where(np.isfinite(pooled), pooled, np.nan), axis=0))
    return np.where(np.isnan(Zs), mean, Zs), np.where(np.isnan(Zt), mean, Zt)


def source_weights(kind: str, Xs: np.ndarray, Xt: np.ndarray, sizes: list[int], *, clip: float = 10.0,
                   max_samples: int = 500, max_iter: int = 300, seed: int = 0) -> np.ndarray:
    """Weights (mean 1) of the source rows by ``kind``: ``"classifier"`` or ``"kmm"``."""
    Zs, Zt = numeric_design(Xs, Xt, sizes)
    if kind == "classifier":
        w = domain_classifier_weights(Zs, Zt, clip=clip, seed=seed)
    else:
        w = kmm_weights(Zs, Zt, max_samples=max_samples, max_iter=max_iter, seed=seed)
    log.info("%s weights: effective sample size %.0f of %d source rows", kind, effective_sample_size(w), len(w))
    return w
