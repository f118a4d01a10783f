"""Density-ratio estimators ``w(x) = p_target(x) / p_source(x)`` on embeddings, as plain functions.

Three estimators, each returning weights with mean 1 over the source:

- a probabilistic domain classifier (out-of-fold probabilities, clipped),
- kernel mean matching, KMM (Huang et al. 2007), a box-constrained quadratic program,
- KLIEP (Sugiyama et al. 2008), a Gaussian-kernel model fitted by maximising target likelihood.

`effective_sample_size` (Kish) says how many source examples a weighted fit is really worth: a
small value means a few examples dominate. The estimators in `graft.adapt.weighting` wrap these.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from graft.errors import UsageError


def effective_sample_size(weights: Any) -> float:
    """Kish's effective sample size ``(sum w)^2 / sum w^2``: n for equal weights, 1 for one weight.

    Example:
        >>> effective_sample_size([1, 1, 1, 1]), effective_sample_size([1, 0, 0, 0])
        (4.0, 1.0)
    """
    w = np.asarray(weights, dtype=np.float64)
    total = float((w**2).sum())
    return float(w.sum() ** 2 / total) if total > 0 else 0.0


def normalise_weights(w: np.ndarray, clip: float | None = None) -> np.ndarray:
    """Scale weights to mean 1, optionally capping them at ``clip`` times the mean (then rescaling)."""
    w = np.maximum(np.asarray(w, dtype=np.float64), 0.0)
    if w.sum() <= 0:
        return np.ones_like(w)
    w = w / w.mean()
    if clip is not None:
        w = np.minimum(w, clip)
        w = w / w.mean()
    return w


def standardise_pooled(Xs: np.ndarray, Xt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both domains scaled by the pooled mean and standard deviation (kernels need one scale)."""
    pooled = np.vstack([Xs, Xt])
    mean, std = pooled.mean(axis=0), pooled.std(axis=0)
    std[std == 0] = 1.0
    return (Xs - mean) / std, (Xt - mean) / std


def sq_distances(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Pairwise squared Euclidean distances, clipped at 0 against round-off."""
    d = (A**2).sum(1)[:, None] + (B**2).sum(1)[None, :] - 2 * A @ B.T
    return np.maximum(d, 0.0)


def median_width(X: np.ndarray, rng: np.random.Generator, max_points: int = 1000) -> float:
    """Median heuristic: the Gaussian width ``sigma`` with ``2 sigma^2`` = median squared distance."""
    idx = rng.choice(len(X), size=min(len(X), max_points), replace=False)
    d = sq_distances(X[idx], X[idx])
    med = float(np.median(d[np.triu_indices(len(idx), k=1)])) if len(idx) > 1 else 1.0
    return float(np.sqrt(max(med, 1e-12) / 2))


def gaussian_kernel(A: np.ndarray, B: np.ndarray, width: float) -> np.ndarray:
    """``exp(-|a - b|^2 / (2 width^2))`` for every pair of rows."""
    return np.exp(-sq_distances(A, B) / (2 * width**2))


def domain_classifier_weights(
    Xs: np.ndarray, Xt: np.ndarray, C: float = 1.0, clip: float | None = 10.0, cv: int = 5, seed: int = 0
) -> np.ndarray:
    """Weights ``p(target|x) / p(source|x)`` from an out-of-fold logistic-regression domain classifier.

    Out-of-fold probabilities keep the classifier from memorising the source examples it weights.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> Xs, Xt = rng.normal(size=(200, 1)), rng.normal(1.0, 1.0, size=(200, 1))
        >>> w = domain_classifier_weights(Xs, Xt)
        >>> bool(w[Xs[:, 0] > 1].mean() > w[Xs[:, 0] < -1].mean())
        True
    """
    X = np.vstack([Xs, Xt])
    d = np.r_[np.zeros(len(Xs)), np.ones(len(Xt))]
    folds = max(2, min(cv, len(Xs), len(Xt)))
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    model = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=1000))
    p = cross_val_predict(model, X, d, cv=splitter, method="predict_proba")[: len(Xs), 1]
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return normalise_weights(p / (1 - p), clip)


def project_box_sum(v: np.ndarray, upper: float, lo: float, hi: float) -> np.ndarray:
    """Euclidean projection onto ``{0 <= b <= upper, lo <= sum(b) <= hi}`` (bisection on a shift)."""
    b = np.clip(v, 0.0, upper)
    total = b.sum()
    if lo <= total <= hi:
        return b
    target = hi if total > hi else lo
    left, right = float(v.min() - upper), float(v.max())
    for _ in range(100):
        tau = (left + right) / 2
        if np.clip(v - tau, 0.0, upper).sum() > target:
            left = tau
        else:
            right = tau
    return np.clip(v - (left + right) / 2, 0.0, upper)


def kmm_solve(
    K: np.ndarray, kappa: np.ndarray, B: float, eps: float, max_iter: int = 1000, tol: float = 1e-7
) -> np.ndarray:
    """Minimise ``b'Kb/2 - kappa'b`` over the KMM constraint set by accelerated projected gradient."""
    n = len(kappa)
    lo, hi = n * (1 - eps), n * (1 + eps)
    step = 1.0 / max(float(np.linalg.eigvalsh(K)[-1]), 1e-12)
    b = project_box_sum(np.ones(n), B, lo, hi)
    z, t = b.copy(), 1.0
    for _ in range(max_iter):
        b_next = project_box_sum(z - step * (K @ z - kappa), B, lo, hi)
        t_next = (1 + np.sqrt(1 + 4 * t * t)) / 2
        z = b_next + (t - 1) / t_next * (b_next - b)
        done = np.abs(b_next - b).max() < tol * max(1.0, np.abs(b).max())
        b, t = b_next, t_next
        if done:
            break
    return b


def kmm_weights(
    Xs: np.ndarray,
    Xt: np.ndarray,
    B: float = 1000.0,
    eps: float | None = None,
    kernel_width: float | None = None,
    ridge: float = 0.1,
    max_samples: int = 1000,
    max_iter: int = 1000,
    seed: int = 0,
) -> np.ndarray:
    """Kernel mean matching weights, bounded in cost by ``max_samples``.

    ``ridge`` is added to the kernel matrix's diagonal (Tikhonov regularisation): without it the
    program's solution is sparse and erratic on small chunks (weights of exactly zero for many
    rows); 0.1 keeps the weights smooth while still dividing by the source density.

    The quadratic program is ``O(m^2)`` in the source rows ``m`` it weighs, so the source is split
    into random chunks of at most ``max_samples`` rows, each matched against the same target
    subsample of at most ``10 * max_samples`` rows (the target only enters the linear term, so it
    costs ``O(m * n_target)``); this is the ensemble form of KMM (Miao et al. 2015). ``eps``
    defaults to ``(sqrt(m) - 1) / sqrt(m)`` per chunk of size ``m`` (Huang et al.).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> Xs, Xt = rng.normal(size=(200, 1)), rng.normal(1.0, 0.5, size=(100, 1))
        >>> w = kmm_weights(Xs, Xt)
        >>> bool(w[Xs[:, 0] > 0.5].mean() > w[Xs[:, 0] < -0.5].mean())
        True
    """
    if max_samples < 2:
        raise UsageError(f"max_samples must be >= 2, got {max_samples}")
    rng = np.random.default_rng(seed)
    Zs, Zt = standardise_pooled(Xs, Xt)
    width = kernel_width or median_width(np.vstack([Zs, Zt]), rng)
    Zt = Zt[rng.choice(len(Zt), size=min(len(Zt), 10 * max_samples), replace=False)]
    weights = np.empty(len(Zs))
    n_chunks = int(np.ceil(len(Zs) / max_samples))
    for chunk in np.array_split(rng.permutation(len(Zs)), n_chunks):
        m = len(chunk)
        K = gaussian_kernel(Zs[chunk], Zs[chunk], width) + ridge * np.eye(m)
        kappa = m / len(Zt) * gaussian_kernel(Zs[chunk], Zt, width).sum(axis=1)
        chunk_eps = eps if eps is not None else (np.sqrt(m) - 1) / np.sqrt(m)
        weights[chunk] = kmm_solve(K, kappa, B, chunk_eps, max_iter=max_iter)
    return normalise_weights(weights)


def kliep_alpha(A: np.ndarray, b: np.ndarray, max_iter: int = 500, lr: float = 1e-2) -> np.ndarray:
    """KLIEP's coefficients: gradient ascent on mean target log-ratio, kept on ``{a >= 0, b'a = 1}``.

    ``A`` holds the kernel between target points and centres, ``b`` its mean over the source.
    """
    alpha = np.ones(A.shape[1]) / max(float(b.sum()), 1e-12)
    for _ in range(max_iter):
        ratio = np.maximum(A @ alpha, 1e-12)
        alpha = alpha + lr * A.T @ (1.0 / ratio) / len(A)
        alpha = alpha + (1 - b @ alpha) * b / (b @ b)
        alpha = np.maximum(alpha, 0.0)
        alpha = alpha / max(float(b @ alpha), 1e-12)
    return alpha


def kliep_log_likelihood(
    Zs: np.ndarray, Zt_fit: np.ndarray, Zt_held: np.ndarray, centres: np.ndarray, width: float, max_iter: int
) -> float:
    """Held-out mean target log-ratio of a KLIEP fit: the likelihood cross-validation score."""
    source_mean = gaussian_kernel(Zs, centres, width).mean(axis=0)
    alpha = kliep_alpha(gaussian_kernel(Zt_fit, centres, width), source_mean, max_iter)
    return float(np.mean(np.log(np.maximum(gaussian_kernel(Zt_held, centres, width) @ alpha, 1e-12))))


def kliep_weights(
    Xs: np.ndarray,
    Xt: np.ndarray,
    kernel_width: float | None = None,
    n_centers: int = 100,
    width_grid: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0),
    max_iter: int = 500,
    seed: int = 0,
) -> tuple[np.ndarray, float]:
    """KLIEP density-ratio weights and the kernel width used.

    The ratio is modelled as a non-negative combination of Gaussian kernels centred on up to
    ``n_centers`` target points. Without ``kernel_width``, the width is chosen among
    ``width_grid`` times the median heuristic by two-fold likelihood cross-validation on the target.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> Xs, Xt = rng.normal(size=(200, 1)), rng.normal(1.0, 0.5, size=(100, 1))
        >>> w, width = kliep_weights(Xs, Xt)
        >>> bool(w[Xs[:, 0] > 0.5].mean() > w[Xs[:, 0] < -0.5].mean())
        True
    """
    rng = np.random.default_rng(seed)
    Zs, Zt = standardise_pooled(Xs, Xt)
    centres = Zt[rng.choice(len(Zt), size=min(len(Zt), n_centers), replace=False)]
    width = kernel_width or _kliep_width(Zs, Zt, centres, width_grid, max_iter, rng)
    source_mean = gaussian_kernel(Zs, centres, width).mean(axis=0)
    alpha = kliep_alpha(gaussian_kernel(Zt, centres, width), source_mean, max_iter)
    return normalise_weights(gaussian_kernel(Zs, centres, width) @ alpha), width


def _kliep_width(
    Zs: np.ndarray, Zt: np.ndarray, centres: np.ndarray, grid: tuple[float, ...], max_iter: int, rng: np.random.Generator
) -> float:
    base = median_width(np.vstack([Zs, Zt]), rng)
    if len(grid) == 1:
        return base * grid[0]
    if len(Zt) < 4:  # too few target rows to cross-validate
        return base
    halves = np.array_split(rng.permutation(len(Zt)), 2)
    scores = []
    for factor in grid:
        folds = [(halves[i], halves[1 - i]) for i in range(2)]
        ll = [kliep_log_likelihood(Zs, Zt[a], Zt[h], centres, base * factor, max_iter) for a, h in folds]
        scores.append(np.mean(ll))
    return base * grid[int(np.argmax(scores))]
