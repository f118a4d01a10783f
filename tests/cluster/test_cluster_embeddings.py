"""cluster_embeddings on scikit-learn's digits: k by silhouette, central examples, NMI/ARI."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.datasets import load_digits

from graft.cluster import cluster_embeddings
from graft.errors import UsageError


@pytest.fixture(scope="module")
def digits():
    d = load_digits()
    return d.data, d.target


@pytest.mark.parametrize("method", ["kmeans", "agglomerative"])
def test_k_chosen_by_silhouette_on_digits(method, digits):
    X, y = digits
    result = cluster_embeddings(X, method=method, k_range=(2, 15), y=y)
    print(f"\n{method}: k={result.k} silhouette={result.silhouette:.3f} nmi={result.nmi:.3f} ari={result.ari:.3f}")
    assert sorted(result.silhouette_by_k) == list(range(2, 16))
    assert result.silhouette == max(result.silhouette_by_k.values())
    assert result.k == max(result.silhouette_by_k, key=result.silhouette_by_k.get)
    assert 7 <= result.k <= 15  # ten digits; silhouette lands near them
    assert result.nmi > 0.65 and result.ari > 0.45
    assert len(np.unique(result.labels)) == result.k


def test_given_k_skips_the_search(digits):
    X, y = digits
    result = cluster_embeddings(X, k=10, y=y, n_central=3)
    assert result.k == 10 and list(result.silhouette_by_k) == [10]
    assert result.nmi > 0.65
    assert set(result.central) == set(range(10)) and all(len(r) == 3 for r in result.central.values())


def test_central_examples_are_typical_of_their_cluster(digits):
    X, y = digits
    result = cluster_embeddings(X, k=10, y=y, n_central=5)
    for c, rows in result.central.items():
        members = np.flatnonzero(result.labels == c)
        assert set(rows) <= set(members)
        majority = np.bincount(y[members]).argmax()
        assert np.mean(y[rows] == majority) >= 0.6  # the central ones mostly show the cluster's digit


def test_hdbscan_finds_its_own_k_and_marks_noise(digits):
    X, y = digits
    result = cluster_embeddings(X, method="hdbscan", y=y, min_cluster_size=10)
    assert result.k >= 2 and result.n_noise == int((result.labels == -1).sum())
    assert -1 not in result.central
    assert result.nmi > 0.5
    json.dumps(result.to_dict())


def test_normalize_uses_cosine_geometry():
    rng = np.random.default_rng(0)
    directions = np.repeat(np.array([[1.0, 0.0], [0.0, 1.0]]), 30, axis=0)
    X = directions * rng.uniform(0.1, 10.0, size=(60, 1)) + rng.normal(0, 0.01, size=(60, 2))
    truth = np.repeat([0, 1], 30)
    assert cluster_embeddings(X, k=2, normalize=True, y=truth).ari == 1.0


def test_usage_errors(digits):
    X, _ = digits
    with pytest.raises(UsageError, match="hdbscan finds the number of clusters itself"):
        cluster_embeddings(X, method="hdbscan", k=5)
    with pytest.raises(UsageError, match="unknown clustering method"):
        cluster_embeddings(X, method="dbscan")
    with pytest.raises(UsageError, match="k_range"):
        cluster_embeddings(X[:20], k_range=(1, 5))
    with pytest.raises(UsageError, match="NaN"):
        cluster_embeddings(np.array([[0.0], [np.nan], [1.0]]))
    with pytest.raises(UsageError, match="y has 3 labels"):
        cluster_embeddings(X[:10], k=2, y=[0, 1, 2])
