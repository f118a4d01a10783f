import logging

import numpy as np
import pytest

from graft.errors import UsageError
from graft.rank import baselines, knn_loo_accuracy, linear_probe_cv_accuracy


def _knn_brute_force(f, y, k, metric):
    if metric == "cosine":
        f = f / np.linalg.norm(f, axis=1, keepdims=True)
    hits = 0
    for i in range(len(f)):
        dist = np.linalg.norm(f - f[i], axis=1)
        dist[i] = np.inf
        votes = np.bincount(y[np.argsort(dist)[:k]], minlength=2)
        hits += votes.argmax() == y[i]
    return hits / len(f)


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_knn_matches_brute_force_across_blocks(make_features, rng, monkeypatch, metric):
    monkeypatch.setattr(baselines, "_KNN_BLOCK", 7)  # several blocks, the last one partial
    f, y = make_features(rng, 60, 5, 2, signal=0.6)  # 2 classes, odd k: no ties
    assert knn_loo_accuracy(f, y, k=3, metric=metric) == _knn_brute_force(f, y, 3, metric)


def test_knn_ties_go_to_the_nearest_neighbour():
    f = np.array([[0.0], [3.0], [-1.0]])
    # Sample 0: votes tie 1-1 between sample 2 (class 1, d=1) and sample 1 (class 0, d=3) -> class 1,
    # wrong (a lowest-label tie-break would call it right). Sample 1: tie, nearest is class 0, right.
    # Sample 2: both neighbours are class 0, wrong.
    assert knn_loo_accuracy(f, [0, 0, 1], k=2, metric="euclidean") == pytest.approx(1 / 3)


def test_knn_leaves_the_sample_itself_out():
    f = np.array([[0.0], [0.1], [5.0], [5.1]])
    assert knn_loo_accuracy(f, [0, 1, 0, 1], k=1, metric="euclidean") == 0.0


def test_baselines_rank_separable_above_noise(make_features, rng):
    f, y = make_features(rng, 200, 8, 3, signal=3.0)
    noise = rng.normal(size=f.shape)
    assert knn_loo_accuracy(f, y) > 0.9 > 0.6 > knn_loo_accuracy(noise, y)
    assert linear_probe_cv_accuracy(f, y) > 0.9 > 0.6 > linear_probe_cv_accuracy(noise, y)


def test_linear_probe_reduces_folds_for_small_classes(make_features, rng, caplog):
    f, y = make_features(rng, 40, 4, 2, signal=3.0)
    y[:3], y[3:] = 0, 1  # class 0 has 3 samples
    with caplog.at_level(logging.INFO, logger="graft.rank.baselines"):
        acc = linear_probe_cv_accuracy(f, y, folds=5)
    assert 0.0 <= acc <= 1.0
    assert "using 3 folds" in caplog.text


def test_linear_probe_needs_two_samples_per_class(rng):
    f = rng.normal(size=(10, 3))
    with pytest.raises(UsageError, match="at least 2 samples in every class"):
        linear_probe_cv_accuracy(f, [0] * 9 + [1])


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"k": 0}, "k must be between 1"),
    ({"k": 10}, "k must be between 1"),
    ({"metric": "manhattan"}, "unknown metric"),
])
def test_knn_rejects_bad_options(rng, kwargs, message):
    with pytest.raises(UsageError, match=message):
        knn_loo_accuracy(rng.normal(size=(10, 3)), [0, 1] * 5, **kwargs)
