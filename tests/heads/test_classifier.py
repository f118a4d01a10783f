import numpy as np
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from graft.heads.classifier import TransferClassifier


@parametrize_with_checks([TransferClassifier(backbone="identity", C_grid=(1.0,))])
def test_sklearn_estimator_contract(estimator, check):
    check(estimator)


def test_chooses_C_on_validation_and_scores_well():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    clf = TransferClassifier(backbone="identity").fit(X[:1200], y[:1200])
    assert clf.C_ in (0.01, 0.1, 1.0, 10.0)
    assert len(clf.search_) == 4
    assert clf.score(X[1200:], y[1200:]) > 0.9


def test_raw_items_through_a_backbone(tmp_path, monkeypatch):
    monkeypatch.setenv("GRAFT_CACHE", str(tmp_path / "cache"))
    rng = np.random.default_rng(0)
    texts = [f"{'apple banana' if i % 2 else 'engine wheel'} {rng.integers(100)}" for i in range(40)]
    labels = ["fruit" if i % 2 else "car" for i in range(40)]
    clf = TransferClassifier(backbone="test_text").fit(texts, labels)
    assert clf.score(texts, labels) == 1.0
    assert set(clf.predict(["banana apple"])) <= {"fruit", "car"}


def test_one_class_is_refused():
    with pytest.raises(ValueError, match="2 classes"):
        TransferClassifier(backbone="identity").fit(np.zeros((4, 2)), [1, 1, 1, 1])
