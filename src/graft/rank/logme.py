"""LogME: the log marginal evidence of a Bayesian linear model on frozen features.

You, Liu, Wang & Long, "LogME: Practical Assessment of Pre-trained Models for Transfer Learning",
ICML 2021; fixed-point form from "Ranking and Tuning Pre-trained Models" (arXiv:2110.10545).

The formula and its normalisation are written out on :func:`logme`. The log-det runs over all d
eigenvalues of F^T F (d - min(n, d) of them zero when d > n), which fixes the n < d case of the authors'
``_fit_fixed_point`` (thuml/LogME issue #23, acknowledged by the authors).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from graft.rank._checks import as_labels, as_matrix

_MAX_ITER = 11
_TOL = 1e-3  # relative change of t = alpha / beta that counts as converged
_EPS = 1e-5  # keeps alpha and beta finite when a residual is exactly zero
_LOG_2PI = float(np.log(2 * np.pi))


def logme(features: Any, labels: Any) -> float:
    """LogME score of frozen features for a classification task (higher is better).

    For each class c, with one-vs-rest targets y = 1[labels == c] and the Bayesian linear model
    y ~ N(F w, 1/beta I), w ~ N(0, 1/alpha I), the log evidence at the (alpha, beta) found below is

        L_c = d/2 log(alpha) + n/2 log(beta) - 1/2 log|alpha I_d + beta F^T F|
              - beta/2 ||y - F m||^2 - alpha/2 ||m||^2 - n/2 log(2 pi),
        m = beta (alpha I + beta F^T F)^-1 F^T y,

    and LogME = (1/C) sum_c L_c / n: evidence per sample, averaged over classes (the paper's and
    the authors' code's normalisation). With sigma_i the eigenvalues of F^T F, (alpha, beta) come
    from the fixed point

        t = alpha / beta,  gamma = sum_i sigma_i / (sigma_i + t),
        alpha <- gamma / (||m||^2 + 1e-5),  beta <- (n - gamma) / (||y - F m||^2 + 1e-5),

    started at alpha = beta = 1 and stopped when t moves by <= 0.1 % (at most 11 steps), as in
    the authors' code. Features are not centred or scaled.

    All classes share one eigendecomposition, of F^T F (d x d) when n >= d or of F F^T (n x n)
    when d > n, and the fixed point runs for all classes at once (alpha, beta of shape (C,)).
    Each class stops updating on the step it converges, so the result equals the per-class
    algorithm (:func:`logme_reference`) up to rounding.

    Args:
        features: (n, d) features from the model being ranked.
        labels: (n,) class labels; any C >= 2 distinct values.

    Returns:
        (1/C) sum_c L_c / n: the maximum log evidence per sample, averaged over classes.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> y = rng.integers(0, 3, 200)
        >>> good = np.eye(3)[y] + 0.1 * rng.normal(size=(200, 3))
        >>> logme(good, y) > logme(rng.normal(size=(200, 3)), y)
        True
    """
    f = as_matrix(features, "features")
    y, n_classes = as_labels(labels, len(f))
    n, d = f.shape
    onehot = np.zeros((n, n_classes))
    onehot[np.arange(n), y] = 1.0
    if n >= d:
        sigma, v = np.linalg.eigh(f.T @ f)
        proj = v.T @ (f.T @ onehot)  # v_i^T F^T y = s_i x_i
    else:
        sigma, u = np.linalg.eigh(f @ f.T)
        proj = np.sqrt(np.clip(sigma, 0.0, None))[:, None] * (u.T @ onehot)
    sigma = np.clip(sigma, 0.0, None)  # eigh rounding can leave -1e-13 where the truth is 0
    evidence = _evidence(sigma, proj**2, onehot.sum(axis=0), n, d)
    return float(evidence.mean())


def logme_reference(features: Any, labels: Any) -> float:
    """LogME as the paper writes it: one thin SVD of F, then a Python fixed-point loop per class.

    Kept as the readable ground truth for tests and ``benchmarks/bench_logme.py``; use
    :func:`logme` in practice (same value, several times faster).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> f, y = rng.normal(size=(50, 8)), rng.integers(0, 2, 50)
        >>> bool(abs(logme_reference(f, y) - logme(f, y)) < 1e-8)
        True
    """
    f = as_matrix(features, "features")
    y, n_classes = as_labels(labels, len(f))
    n, d = f.shape
    u, s, _ = np.linalg.svd(f, full_matrices=False)
    sigma = s**2
    evidences = []
    for c in range(n_classes):
        target = (y == c).astype(np.float64)
        x2 = (u.T @ target) ** 2
        outside = target @ target - x2.sum()  # energy of y orthogonal to the column space of F
        alpha, beta = 1.0, 1.0
        for _ in range(_MAX_ITER):
            t = alpha / beta
            gamma = np.sum(sigma / (sigma + t))
            m2 = np.sum(sigma * x2 / (sigma + t) ** 2)
            res2 = np.sum(x2 * (t / (sigma + t)) ** 2) + outside
            alpha = gamma / (m2 + _EPS)
            beta = (n - gamma) / (res2 + _EPS)
            if abs(alpha / beta - t) / t <= _TOL:
                break
        logdet = np.sum(np.log(alpha + beta * sigma)) + (d - len(sigma)) * np.log(alpha)
        evidence = (
            d / 2 * np.log(alpha) + n / 2 * np.log(beta) - logdet / 2
            - beta / 2 * res2 - alpha / 2 * m2 - n / 2 * _LOG_2PI
        )
        evidences.append(evidence / n)
    return float(np.mean(evidences))


def _evidence(sigma: np.ndarray, p: np.ndarray, yy: np.ndarray, n: int, d: int) -> np.ndarray:
    """Per-class evidence / n from eigenvalues sigma (k,), p = (s_i x_i)^2 (k, C) and ||y||^2 (C,).

    Written in p rather than x^2 = p / sigma so that no term divides by a (near-)zero eigenvalue:
    ||m||^2 = sum p / (t + sigma)^2 and ||y - F m||^2 = ||y||^2 - sum p (2t + sigma) / (t + sigma)^2.
    """
    n_classes = p.shape[1]
    sig = sigma[:, None]
    alpha, beta = np.ones(n_classes), np.ones(n_classes)
    m2, res2 = np.zeros(n_classes), np.zeros(n_classes)
    active = np.ones(n_classes, dtype=bool)
    for _ in range(_MAX_ITER):
        t = alpha / beta
        denom = sig + t
        gamma = np.sum(sig / denom, axis=0)
        m2_new = np.sum(p / denom**2, axis=0)
        res2_new = np.clip(yy - np.sum(p * (2 * t + sig) / denom**2, axis=0), 0.0, None)
        alpha_new = gamma / (m2_new + _EPS)
        beta_new = (n - gamma) / (res2_new + _EPS)
        # A converged class keeps the values of the step on which it converged, like the per-class loop.
        alpha = np.where(active, alpha_new, alpha)
        beta = np.where(active, beta_new, beta)
        m2 = np.where(active, m2_new, m2)
        res2 = np.where(active, res2_new, res2)
        active &= np.abs(alpha_new / beta_new - t) / t > _TOL
        if not active.any():
            break
    logdet = np.sum(np.log(alpha + beta * sig), axis=0) + (d - len(sigma)) * np.log(alpha)
    evidence = (
        d / 2 * np.log(alpha) + n / 2 * np.log(beta) - logdet / 2
        - beta / 2 * res2 - alpha / 2 * m2 - n / 2 * _LOG_2PI
    )
    return evidence / n
