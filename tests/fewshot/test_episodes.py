"""Episodic evaluation: sampling, the interval, and errors that name the problem class."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from graft.errors import UsageError
from graft.fewshot import episodic_eval, sample_episode


@pytest.fixture
def blobs():
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(4 * c, 1.0, size=(25, 5)) for c in range(8)])
    return X, np.repeat(np.arange(8), 25)


def test_episodes_are_disjoint_and_sized():
    rows = {c: np.arange(10 * c, 10 * c + 10) for c in range(6)}
    support, query = sample_episode(rows, 4, 2, 3, np.random.default_rng(0))
    assert len(support) == 8 and len(query) == 12 and not set(support) & set(query)
    assert len({r // 10 for r in support}) == 4


def test_mean_and_interval(blobs):
    X, y = blobs
    result = episodic_eval(X, y, n_way=5, k_shot=1, n_query=5, episodes=40, seed=0)
    assert len(result.per_episode) == 40
    assert result.ci95[0] <= result.mean <= result.ci95[1]
    assert result.mean == pytest.approx(result.per_episode.mean())
    assert result.half_width == pytest.approx(1.96 * result.per_episode.std(ddof=1) / np.sqrt(40))
    assert "5-way 1-shot" in str(result)
    json.dumps(result.to_dict())


def test_same_seed_same_episodes(blobs):
    X, y = blobs
    a = episodic_eval(X, y, 3, 2, 4, episodes=10, seed=7)
    b = episodic_eval(X, y, 3, 2, 4, episodes=10, seed=7)
    assert np.array_equal(a.per_episode, b.per_episode)


def test_separable_classes_score_one_with_a_zero_width_interval(blobs):
    X, y = blobs
    X = X * 100  # far apart
    result = episodic_eval(X, y, 5, 1, 5, episodes=10)
    assert result.mean == 1.0 and result.ci95 == (1.0, 1.0)


def test_any_classifier_factory(blobs):
    X, y = blobs
    result = episodic_eval(X, y, 5, 5, 5, episodes=10, classifier_factory=lambda: LogisticRegression(max_iter=2000))
    assert result.mean > 0.9


def test_k_larger_than_a_class_names_the_class(blobs):
    X, y = blobs
    X, y = X[:-20], y[:-20]  # class 7 keeps 5 examples
    with pytest.raises(UsageError, match=r"class 7 has 5"):
        episodic_eval(X, y, n_way=5, k_shot=5, n_query=5)


def test_more_ways_than_classes(blobs):
    X, y = blobs
    with pytest.raises(UsageError, match="9-way episodes need 9 classes; the data has 8"):
        episodic_eval(X, y, n_way=9)
