"""PrototypicalClassifier: nearest class mean, scikit-learn contract, both metrics."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from graft.errors import UsageError
from graft.fewshot import PrototypicalClassifier


@parametrize_with_checks([PrototypicalClassifier(), PrototypicalClassifier(metric="cosine", normalize=True)])
def test_sklearn_contract(estimator, check):
    check(estimator)


def test_predicts_the_nearest_class_mean():
    X = np.array([[0.0, 0.0], [2.0, 0.0], [10.0, 10.0], [12.0, 10.0]])
    clf = PrototypicalClassifier().fit(X, ["a", "a", "b", "b"])
    assert clf.prototypes_.tolist() == [[1.0, 0.0], [11.0, 10.0]]
    assert clf.predict([[5.0, 4.0], [7.0, 6.0]]).tolist() == ["a", "b"]


def test_cosine_ignores_length_and_euclidean_does_not():
    X = np.array([[1.0, 0.0], [0.0, 1.0]])
    query = np.array([[10.0, 1.0]])  # far from both means, but pointing along the first
    assert PrototypicalClassifier(metric="cosine").fit(X, [0, 1]).predict(query).tolist() == [0]
    short = np.array([[0.1, 0.0], [0.0, 5.0]])
    assert PrototypicalClassifier().fit(short, [0, 1]).predict([[1.0, 3.0]]).tolist() == [1]
    assert PrototypicalClassifier(normalize=True).fit(short, [0, 1]).predict([[1.0, 0.2]]).tolist() == [0]


def test_temperature_changes_confidence_not_predictions():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(30, 3)), np.repeat([0, 1, 2], 10)
    sharp = PrototypicalClassifier(temperature=0.1).fit(X, y)
    soft = PrototypicalClassifier(temperature=10.0).fit(X, y)
    assert np.array_equal(sharp.predict(X), soft.predict(X))
    assert sharp.predict_proba(X).max(axis=1).mean() > soft.predict_proba(X).max(axis=1).mean()


def test_bad_options_are_usage_errors():
    with pytest.raises(UsageError, match="metric"):
        PrototypicalClassifier(metric="manhattan").fit([[0.0], [1.0]], [0, 1])
    with pytest.raises(UsageError, match="temperature"):
        PrototypicalClassifier(temperature=0).fit([[0.0], [1.0]], [0, 1])
