"""Maximum mean discrepancy between two sets of embeddings, with a permutation test.

Gretton et al., "A Kernel Two-Sample Test", JMLR 2012. The unbiased estimate is

    MMD^2_u = 1/(m(m-1)) sum_{i != j} k(x_i, x_j) + 1/(n(n-1)) sum_{i != j} k(y_i, y_j)
              - 2/(m n) sum_{i, j} k(x_i, y_j),

which is 0 in expectation when X and Y come from the same distribution (and may then be slightly
negative). The p-value is the share of random re-splits of the pooled sample whose statistic is at
least the observed one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from graft.errors import UsageError
from graft.rank._checks import as_pair
from graft.shift._sample import cap_rows, check_max_samples

# Pairs used by the median heuristic: distances among at most this many pooled points.
_MEDIAN_POINTS = 1000
# Permutations evaluated per matrix product (pooled x chunk indicator matrix).
_PERMUTATION_CHUNK = 128


@dataclass(frozen=True)
class MMDResult:
    """Outcome of :func:`mmd`.

    Attributes:
        statistic: unbiased MMD^2 estimate (can be slightly below 0 when there is no shift).
        p_value: permutation-test p-value, in (0, 1]; None when ``n_permutations=0``.
        bandwidth: the RBF length-scale used (None for the linear kernel).
        n_x: rows of X actually used (after the ``max_samples`` cap).
        n_y: rows of Y actually used.
    """

    statistic: float
    p_value: float | None
    bandwidth: float | None
    n_x: int
    n_y: int


def mmd(
    X: Any,
    Y: Any,
    kernel: Literal["rbf", "linear"] = "rbf",
    bandwidth: float | Literal["median"] = "median",
    n_permutations: int = 500,
    max_samples: int | None = 1000,
    seed: int = 0,
) -> MMDResult:
    """Unbiased MMD^2 between two samples of embeddings and its permutation-test p-value.

    The pooled kernel matrix is computed once; every permutation only re-indexes it, and blocks of
    permutations are evaluated with one matrix product. Memory and time are O((n_x + n_y)^2) for
    the kernel plus O((n_x + n_y)^2 * n_permutations) flops, hence the ``max_samples`` cap.

    Args:
        X: (n_x, d) embeddings of the first sample (e.g. the training data).
        Y: (n_y, d) embeddings of the second sample (e.g. the data met in deployment).
        kernel: "rbf", k(a, b) = exp(-||a - b||^2 / (2 bandwidth^2)), or "linear", k(a, b) = a.b
            (then MMD^2 is the squared distance between the two means).
        bandwidth: RBF length-scale, or "median": the median Euclidean distance between pooled
            points (over at most 1,000 randomly chosen points).
        n_permutations: random re-splits for the p-value; 0 skips the test.
        max_samples: each of X and Y is randomly subsampled to at most this many rows (None: no cap).
        seed: seeds subsampling, the median heuristic's subset and the permutations.

    Returns:
        An :class:`MMDResult`.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> a, b = rng.normal(size=(100, 5)), rng.normal(size=(100, 5))
        >>> mmd(a, b, n_permutations=200).p_value > 0.05
        True
        >>> mmd(a, b + 1.0, n_permutations=200).p_value < 0.01
        True
    """
    x, y = as_pair(X, Y)
    if n_permutations < 0:
        raise UsageError(f"n_permutations must be 0 or more, got {n_permutations}")
    check_max_samples(max_samples)
    rng = np.random.default_rng(seed)
    x, y = cap_rows(x, max_samples, rng), cap_rows(y, max_samples, rng)
    if len(x) < 2 or len(y) < 2:
        raise UsageError(f"MMD needs at least 2 rows in each sample, got {len(x)} and {len(y)}")
    pooled = np.vstack([x, y])
    gram = pooled @ pooled.T
    if kernel == "linear":
        width = None
        k = gram
    elif kernel == "rbf":
        sq = np.diag(gram)
        dist2 = np.clip(sq[:, None] + sq[None, :] - 2.0 * gram, 0.0, None)
        width = _median_distance(pooled, rng) if bandwidth == "median" else _check_bandwidth(bandwidth)
        k = np.exp(-dist2 / (2.0 * width**2))
    else:
        raise UsageError(f"unknown kernel {kernel!r}; choose 'rbf' or 'linear'")
    np.fill_diagonal(k, 0.0)  # the unbiased estimate never pairs a point with itself
    n_x = len(x)
    in_x = np.zeros((len(pooled), 1))
    in_x[:n_x] = 1.0
    statistic = float(_mmd2_split(k, in_x, n_x)[0])
    p_value = None
    if n_permutations:
        null = _permutation_null(k, n_x, n_permutations, rng)
        p_value = float((1 + np.sum(null >= statistic)) / (1 + n_permutations))
    return MMDResult(statistic=statistic, p_value=p_value, bandwidth=width, n_x=n_x, n_y=len(y))


def _mmd2_split(k: np.ndarray, in_x: np.ndarray, n_x: int) -> np.ndarray:
    """MMD^2_u for each column of the 0/1 indicator matrix ``in_x`` (N, P); k has a zero diagonal.

    With a the indicator of X: S_xx = a^T K a, S_xy = a^T K 1 - S_xx, S_yy = 1^T K 1 - 2 S_xy - S_xx.
    """
    n_y = len(k) - n_x
    ka = k @ in_x
    s_xx = np.sum(in_x * ka, axis=0)
    s_xy = k.sum(axis=0) @ in_x - s_xx
    s_yy = k.sum() - 2.0 * s_xy - s_xx
    return s_xx / (n_x * (n_x - 1)) + s_yy / (n_y * (n_y - 1)) - 2.0 * s_xy / (n_x * n_y)


def _permutation_null(k: np.ndarray, n_x: int, n_permutations: int, rng: np.random.Generator) -> np.ndarray:
    n = len(k)
    null = []
    for start in range(0, n_permutations, _PERMUTATION_CHUNK):
        size = min(_PERMUTATION_CHUNK, n_permutations - start)
        chosen = np.argsort(rng.random((size, n)), axis=1)[:, :n_x]  # a random n_x-subset per column
        in_x = np.zeros((n, size))
        in_x[chosen, np.arange(size)[:, None]] = 1.0
        null.append(_mmd2_split(k, in_x, n_x))
    return np.concatenate(null)


def _median_distance(pooled: np.ndarray, rng: np.random.Generator) -> float:
    """Median pairwise Euclidean distance among at most ``_MEDIAN_POINTS`` pooled points."""
    pts = cap_rows(pooled, _MEDIAN_POINTS, rng)
    sq = np.einsum("ij,ij->i", pts, pts)
    dist2 = np.clip(sq[:, None] + sq[None, :] - 2.0 * pts @ pts.T, 0.0, None)
    d = np.sqrt(dist2[np.triu_indices(len(pts), k=1)])
    d = d[d > 0]  # duplicated rows would drag the median to 0 and the kernel to a spike
    return float(np.median(d)) if d.size else 1.0


def _check_bandwidth(bandwidth: Any) -> float:
    if isinstance(bandwidth, str) or not np.isfinite(bandwidth) or bandwidth <= 0:
        raise UsageError(f"bandwidth must be 'median' or a positive number, got {bandwidth!r}")
    return float(bandwidth)
