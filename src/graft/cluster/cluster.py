"""Cluster embeddings with scikit-learn: k-means, agglomerative (Ward) or HDBSCAN.

When ``k`` is not given, k-means and agglomerative try every ``k`` in ``k_range`` and keep the
one with the highest silhouette; HDBSCAN finds the number of clusters itself (its noise points,
label -1, are left out of the silhouette and of the central examples). The most central examples
of each cluster (nearest to its mean) make clusters easy to inspect, and NMI / ARI are reported
when true labels are passed.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Callable, Literal

import numpy as np
from scipy.cluster.hierarchy import fcluster, ward
from sklearn.cluster import HDBSCAN, KMeans
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score, silhouette_score

from graft.errors import UsageError

Method = Literal["kmeans", "agglomerative", "hdbscan"]
METHODS = ("kmeans", "agglomerative", "hdbscan")
# Ward linkage keeps all pairwise distances: n^2 / 2 doubles (30k rows is about 3.6 GB).
MAX_AGGLOMERATIVE_ROWS = 30_000


@dataclass
class ClusterResult:
    """Cluster labels and what is known about them.

    Attributes:
        labels: cluster index per row (-1: HDBSCAN noise).
        k: number of clusters (noise excluded).
        method: the algorithm used.
        silhouette: silhouette of ``labels`` (noise excluded); NaN with fewer than two clusters.
        silhouette_by_k: silhouette of every ``k`` tried (just the final one when ``k`` was given).
        central: per cluster, row indices of its most central examples, nearest first.
        nmi: normalised mutual information with the true labels, when given.
        ari: adjusted Rand index with the true labels, when given.
        n_noise: rows HDBSCAN left unclustered.
    """

    labels: np.ndarray = field(repr=False)
    k: int
    method: str
    silhouette: float
    silhouette_by_k: dict[int, float]
    central: dict[int, list[int]] = field(repr=False)
    nmi: float | None = None
    ari: float | None = None
    n_noise: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (labels as a list)."""
        data = dataclasses.asdict(self)
        data["labels"] = self.labels.tolist()
        data["silhouette_by_k"] = {str(k): v for k, v in self.silhouette_by_k.items()}
        data["central"] = {str(c): rows for c, rows in self.central.items()}
        return data


def check_embeddings(X: Any) -> np.ndarray:
    """A finite 2-D float array with at least three rows, or a `UsageError`."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or len(X) < 3:
        raise UsageError(f"X must be a 2-D array (n_examples, n_features) with at least 3 rows; got shape {X.shape}")
    if not np.isfinite(X).all():
        raise UsageError("X has NaN or infinite values; drop or impute those rows first")
    return X


def labeller(X: np.ndarray, method: str, seed: int) -> Callable[[int], np.ndarray]:
    """A function ``k -> labels`` for k-means or Ward agglomerative clustering of ``X``.

    The Ward tree is built once and cut at each k, so trying many k costs one linkage.
    """
    if method == "agglomerative":
        if len(X) > MAX_AGGLOMERATIVE_ROWS:
            raise UsageError(
                f"agglomerative clustering needs O(n^2) memory; {len(X)} rows is more than "
                f"{MAX_AGGLOMERATIVE_ROWS}: use method='kmeans' or cluster a sample"
            )
        tree = ward(X)
        return lambda k: fcluster(tree, t=k, criterion="maxclust") - 1
    return lambda k: KMeans(n_clusters=k, n_init=4, random_state=seed).fit_predict(X)


def safe_silhouette(X: np.ndarray, labels: np.ndarray, sample_size: int, seed: int) -> float:
    """Silhouette over non-noise rows (on a sample of at most ``sample_size``); NaN if undefined."""
    keep = labels >= 0
    n_clusters = len(np.unique(labels[keep]))
    if n_clusters < 2 or n_clusters >= keep.sum():
        return float("nan")
    size = sample_size if keep.sum() > sample_size else None
    return float(silhouette_score(X[keep], labels[keep], sample_size=size, random_state=seed))


def central_examples(X: np.ndarray, labels: np.ndarray, n: int) -> dict[int, list[int]]:
    """For each cluster, the ``n`` rows nearest its mean, nearest first.

    Example:
        >>> X = np.array([[0.0], [1.0], [2.0], [10.0], [11.0]])
        >>> central_examples(X, np.array([0, 0, 0, 1, 1]), 1)
        {0: [1], 1: [3]}
    """
    central = {}
    for c in np.unique(labels[labels >= 0]):
        rows = np.flatnonzero(labels == c)
        dist = np.linalg.norm(X[rows] - X[rows].mean(axis=0), axis=1)
        central[int(c)] = rows[np.argsort(dist, kind="stable")[:n]].tolist()
    return central


def choose_k(
    X: np.ndarray, method: str, k_range: tuple[int, int], seed: int, sample_size: int
) -> tuple[int, np.ndarray, dict[int, float]]:
    """Try every k in ``k_range`` (inclusive); keep the highest silhouette."""
    lo, hi = k_range
    hi = min(hi, len(X) - 1)
    if lo < 2 or lo > hi:
        raise UsageError(f"k_range must satisfy 2 <= low <= high < n_examples ({len(X)}); got {k_range}")
    table, best, cluster = {}, None, labeller(X, method, seed)
    for k in range(lo, hi + 1):
        labels = cluster(k)
        table[k] = safe_silhouette(X, labels, sample_size, seed)
        if best is None or table[k] > table[best[0]]:
            best = (k, labels)
    assert best is not None
    return best[0], best[1], table


def check_settings(k_range: tuple[int, int], seed: int, n_central: int, min_cluster_size: int = 5,
                   silhouette_sample: int = 2000) -> None:
    """The numeric settings in their ranges (``k`` depends on the data: checked against it later)."""
    from graft._config import check_value

    for bound in k_range:
        check_value("k_range", bound, "[2, 100000]")
    check_value("seed", seed, "[0, 4294967295]")
    check_value("n_central", n_central, "[0, 100000]")
    check_value("min_cluster_size", min_cluster_size, "[2, 1000000]")
    check_value("silhouette_sample", silhouette_sample, "[10, 1000000]")


def cluster_embeddings(
    X: Any,
    method: Method = "kmeans",
    k: int | None = None,
    k_range: tuple[int, int] = (2, 15),
    seed: int = 0,
    y: Any = None,
    n_central: int = 5,
    normalize: bool = False,
    min_cluster_size: int = 5,
    silhouette_sample: int = 2000,
) -> ClusterResult:
    """Cluster embeddings; choose k by silhouette when not given; report central examples and NMI/ARI.

    Args:
        X: embeddings, shape (n, d).
        method: ``"kmeans"``, ``"agglomerative"`` (Ward linkage) or ``"hdbscan"``.
        k: number of clusters; ``None``: best silhouette over ``k_range`` (not for HDBSCAN,
            which finds its own).
        k_range: inclusive range of k tried when ``k`` is None.
        seed: seed of k-means and of the silhouette sample.
        y: true labels, to report NMI and ARI (never used to cluster; HDBSCAN noise counts as one group).
        n_central: central examples kept per cluster.
        normalize: L2-normalise rows first (cosine geometry, usual for text embeddings).
        min_cluster_size: HDBSCAN's smallest cluster.
        silhouette_sample: silhouette is computed on at most this many rows (it is O(n^2)).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> X = np.vstack([rng.normal(0, 0.1, (20, 2)), rng.normal(5, 0.1, (20, 2))])
        >>> cluster_embeddings(X, k_range=(2, 4)).k
        2
    """
    check_settings(k_range, seed, n_central, min_cluster_size, silhouette_sample)
    X = check_embeddings(X)
    if method not in METHODS:
        raise UsageError(f"unknown clustering method {method!r}; use one of {', '.join(METHODS)}")
    if normalize:
        X = X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)
    if method == "hdbscan" and k is not None:
        raise UsageError("hdbscan finds the number of clusters itself: leave k unset and tune min_cluster_size")
    if k is not None and not 2 <= k < len(X):
        raise UsageError(f"k must be between 2 and n_examples - 1 ({len(X) - 1}); got {k}")
    if method == "hdbscan" or k is not None:
        if method == "hdbscan":
            labels = HDBSCAN(min_cluster_size=min_cluster_size, copy=True).fit_predict(X)
        else:
            labels = labeller(X, method, seed)(k)
        found = len(np.unique(labels[labels >= 0]))
        table = {found: safe_silhouette(X, labels, silhouette_sample, seed)}
    else:
        found, labels, table = choose_k(X, method, k_range, seed, silhouette_sample)
    result = ClusterResult(
        labels=labels, k=found, method=method, silhouette=table[found], silhouette_by_k=table,
        central=central_examples(X, labels, n_central), n_noise=int((labels < 0).sum()),
    )  # fmt: skip
    if y is not None:
        result.nmi, result.ari = _agreement(np.asarray(y), labels)
    return result


def _agreement(y: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    if len(y) != len(labels):
        raise UsageError(f"y has {len(y)} labels for {len(labels)} rows")
    return float(normalized_mutual_info_score(y, labels)), float(adjusted_rand_score(y, labels))
