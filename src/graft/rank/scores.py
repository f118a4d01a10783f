"""Transferability scores with closed forms: LEEP, NCE, H-score and its shrinkage-regularised form.

LogME lives in :mod:`graft.rank.logme`. Every function takes arrays, validates them the same way
(:mod:`graft.rank._checks`) and returns one float where higher means "transfers better".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from graft.rank._checks import as_labels, as_matrix, as_probabilities


def leep(source_probs: Any, labels: Any) -> float:
    """LEEP: log expected empirical prediction (Nguyen et al., ICML 2020). Higher is better.

    With theta_i = source_probs[i] (the source model's softmax over its Z classes):

        P(y, z) = (1/n) sum_i theta_iz 1[y_i = y],   P(y | z) = P(y, z) / sum_y' P(y', z),
        LEEP    = (1/n) sum_i log( sum_z P(y_i | z) theta_iz ).

    It is the average log-likelihood of a "dummy" classifier that maps source classes to target
    classes through the empirical conditional; it is at most 0, which means perfect prediction.

    Args:
        source_probs: (n, Z) probabilities from the source model's own head; rows sum to 1.
        labels: (n,) target labels; any C >= 2 distinct values.

    Example:
        >>> probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.1, 0.9], [0.3, 0.7]])
        >>> round(leep(probs, [0, 0, 1, 1]), 4)
        -0.3426
    """
    theta = as_probabilities(source_probs)
    y, n_classes = as_labels(labels, len(theta))
    joint = np.zeros((n_classes, theta.shape[1]))
    np.add.at(joint, y, theta)
    joint /= len(y)
    p_z = joint.sum(axis=0)
    # A source class no sample puts mass on has theta_iz = 0 everywhere, so its P(y | z) never counts.
    cond = np.divide(joint, p_z, out=np.zeros_like(joint), where=p_z > 0)  # (C, Z): P(y | z)
    eep = np.einsum("iz,iz->i", theta, cond[y])  # sum_z P(y_i | z) theta_iz, > 0 by construction
    return float(np.mean(np.log(eep)))


def nce(source_labels: Any, labels: Any) -> float:
    """NCE: negative conditional entropy -H(Y | Z) (Tran et al., ICCV 2019). Higher is better.

    With z_i the source model's predicted class (argmax of its head) and the empirical joint
    P(y, z) = #{i: y_i = y, z_i = z} / n,

        NCE = -H(Y | Z) = sum_{y, z} P(y, z) log( P(y, z) / P(z) )   (natural log, in [-log C, 0]).

    Args:
        source_labels: (n,) source-class predictions (any values; one class is allowed).
        labels: (n,) target labels; any C >= 2 distinct values.

    Example:
        >>> nce([0, 0, 1, 1], ["a", "a", "b", "b"])  # Z determines Y: no uncertainty left
        0.0
    """
    z, n_source = as_labels(source_labels, None, "source_labels", min_classes=1)
    y, n_classes = as_labels(labels, len(z))
    joint = np.bincount(y * n_source + z, minlength=n_classes * n_source).reshape(n_classes, n_source)
    joint = joint / len(y)
    p_z = joint.sum(axis=0, keepdims=True)
    nz = joint > 0
    return float(np.sum(joint[nz] * np.log((joint / p_z)[nz])))


def hscore(features: Any, labels: Any) -> float:
    """H-score (Bao et al., ICIP 2019): how much of the feature variance the class means explain.

        H = tr( cov(f)^+ cov(E[f | y]) ),

    where cov(E[f | y]) is the covariance of each sample's class mean and ^+ is the pseudo-inverse
    (eigenvalues below max(n, d) * eps * largest count as zero). H lies in [0, C - 1] and is
    invariant to any invertible affine map of the features. It is unstable when d is not small
    next to n; prefer :func:`regularized_hscore` there.

    Args:
        features: (n, d) features from the model being ranked.
        labels: (n,) class labels; any C >= 2 distinct values.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> y = rng.integers(0, 2, 100)
        >>> hscore(y[:, None] + 0.1 * rng.normal(size=(100, 1)), y) > 0.9
        True
    """
    spec = _class_spectrum(features, labels)
    keep = spec.lam > spec.cutoff(spec.lam)
    return float(np.sum(spec.between[keep] / spec.lam[keep]))


def regularized_hscore(features: Any, labels: Any) -> float:
    """H-score with a Ledoit-Wolf shrunk feature covariance (Ibrahim, Ponomareva & Mazumder,
    "Newer is not always better", ICLR 2022). Higher is better.

        H_a = tr( cov_a(f)^-1 (1 - a) cov(E[f | y]) ),   cov_a = (1 - a) S + a (tr S / d) I,

    with S the 1/n-normalised sample covariance and a in [0, 1] the Ledoit-Wolf shrinkage, the same
    a as ``sklearn.covariance.LedoitWolf``. Both covariances are normalised by 1/n, so a = 0 gives
    :func:`hscore` exactly (the authors' code divides cov(E[f | y]) by n - 1: a constant factor
    n / (n - 1) that no ranking at a fixed n can see). One eigendecomposition of the centred
    features serves S, a and the inverse.

    Args:
        features: (n, d) features from the model being ranked.
        labels: (n,) class labels; any C >= 2 distinct values.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> y = rng.integers(0, 2, 100)
        >>> f = y[:, None] + rng.normal(size=(100, 50))  # every dimension carries the class
        >>> regularized_hscore(f, y) > regularized_hscore(rng.normal(size=(100, 50)), y)
        True
    """
    spec = _class_spectrum(features, labels)
    a = _ledoit_wolf_shrinkage(spec)
    denom = (1 - a) * spec.lam + a * spec.lam.sum() / spec.d
    keep = denom > spec.cutoff(denom)
    return float(np.sum((1 - a) * spec.between[keep] / denom[keep]))


@dataclass(frozen=True)
class _ClassSpectrum:
    """Centred features Fc seen through the eigenvectors v_i of Fc^T Fc.

    lam: eigenvalues of Fc^T Fc (n * the 1/n covariance), clipped at 0.
    between: q_i = sum_c n_c (v_i^T (mu_c - mu))^2, i.e. n * v_i^T cov(E[f | y]) v_i.
    row_norms2: ||Fc_j||^2 for every sample j (the Ledoit-Wolf variance term needs them).
    """

    lam: np.ndarray
    between: np.ndarray
    row_norms2: np.ndarray
    d: int

    def cutoff(self, values: np.ndarray) -> float:
        # Rank tolerance of numpy.linalg.matrix_rank: below it an eigenvalue is rounding noise.
        return max(len(self.row_norms2), self.d) * np.finfo(np.float64).eps * float(values.max(initial=0.0))


def _class_spectrum(features: Any, labels: Any) -> _ClassSpectrum:
    f = as_matrix(features, "features")
    y, n_classes = as_labels(labels, len(f))
    n, d = f.shape
    fc = f - f.mean(axis=0)
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    sums = np.zeros((n_classes, d))
    np.add.at(sums, y, fc)
    # sqrt(n_c) (mu_c - mu) = class sum / sqrt(n_c): its Gram gives the between-class scatter.
    w = sums / np.sqrt(counts)[:, None]
    if n >= d:
        lam, v = np.linalg.eigh(fc.T @ fc)
        lam = np.clip(lam, 0.0, None)
        between = np.sum((v.T @ w.T) ** 2, axis=1)
    else:
        # v_i = Fc^T u_i / sqrt(lam_i); directions with lam_i ~ 0 lie outside the row space of Fc,
        # where every class mean difference has no component, so their between-energy is 0.
        lam, u = np.linalg.eigh(fc @ fc.T)
        lam = np.clip(lam, 0.0, None)
        proj2 = np.sum((u.T @ (fc @ w.T)) ** 2, axis=1)
        tol = max(n, d) * np.finfo(np.float64).eps * lam.max(initial=0.0)
        between = np.divide(proj2, lam, out=np.zeros_like(lam), where=lam > tol)
    return _ClassSpectrum(lam=lam, between=between, row_norms2=np.einsum("ij,ij->i", fc, fc), d=d)


def _ledoit_wolf_shrinkage(spec: _ClassSpectrum) -> float:
    """The Ledoit-Wolf (2004) shrinkage, as sklearn's ``ledoit_wolf_shrinkage``, from the spectrum.

    With S = Fc^T Fc / n and mu = tr(S) / d:
        delta = (||S||_F^2 - d mu^2) / d                      (distance of S from mu I)
        beta  = (sum_j ||Fc_j||^4 / n - ||S||_F^2) / (n d)     (variance of S as an estimate)
        a     = min(beta, delta) / delta.
    ||S||_F^2 is the sum of squared eigenvalues, so this costs O(n d) on top of the eigh.
    """
    n, d = len(spec.row_norms2), spec.d
    if d == 1:
        return 0.0
    lam = spec.lam / n
    mu = lam.sum() / d
    frob2 = np.sum(lam**2)
    delta = (frob2 - d * mu**2) / d
    beta = (np.sum(spec.row_norms2**2) / n - frob2) / (n * d)
    if delta <= 0:  # S is already a multiple of the identity: nothing to shrink towards
        return 0.0
    return float(np.clip(min(beta, delta) / delta, 0.0, 1.0))
