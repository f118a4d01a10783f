"""Every strategy fits and predicts on both task kinds; base learners; unseen categories; task rule."""

from __future__ import annotations

import numpy as np
import pytest

from graft.errors import UsageError
from graft.tabular import create_method, fit_table, list_methods
from graft.tabular.frames import infer_task
from graft.tabular.learners import LearnerConfig

ALL = ["target_only", "source_only", "pooled", "weight_classifier", "weight_kmm", "tradaboost", "tradaboost_r2",
       "augment", "continue_boosting"]


def test_registry_lists_every_method_by_task():
    assert sorted(list_methods()) == sorted(ALL)
    assert "tradaboost" not in list_methods("regression") and "tradaboost_r2" in list_methods("regression")
    assert "tradaboost_r2" not in list_methods("classification") and "tradaboost" in list_methods("classification")
    assert "continue_boosting" not in list_methods("regression", "linear")


@pytest.mark.parametrize("method", ALL)
def test_every_method_predicts_on_both_tasks(method, tables, small_learner):
    task, source, target, test = tables
    if method not in list_methods(task):
        with pytest.raises(UsageError, match="only"):
            fit_table(source, target, "y", method, learner=small_learner)
        return
    model = fit_table(source, target, "y", method, learner=small_learner, params=_fast(method))
    assert model.task == task and model.config["method"] == method
    if task == "regression":
        values = model.predict(test)
        assert values.shape == (len(test),) and np.isfinite(values).all()
        assert np.corrcoef(values, test["y"])[0, 1] > 0.5  # it learnt the relation, not a constant
    else:
        proba = model.predict_proba(test)
        assert proba.shape == (len(test), 2) and np.allclose(proba.sum(axis=1), 1.0)
        assert set(model.predict(test)) <= {"high", "low"}
        assert np.mean(model.predict(test) == test["y"].to_numpy()) > 0.6


@pytest.mark.parametrize("method", ["pooled", "augment", "weight_classifier", "tradaboost"])
def test_linear_learner(method, make):
    source, target, test = make("classification")
    model = fit_table(source, target, "y", method, learner=LearnerConfig(kind="linear"), params=_fast(method))
    assert model.ensemble.learners[0].kind == "linear"
    assert np.mean(model.predict(test) == test["y"].to_numpy()) > 0.6


def test_continued_boosting_keeps_the_source_trees(small_learner, make):
    source, target, _ = make("regression")
    model = fit_table(source, target, "y", "continue_boosting", learner=small_learner, params={"extra_estimators": 7})
    assert model.ensemble.learners[0].booster.num_trees() == small_learner.n_estimators + 7


def test_unseen_category_and_missing_values_predict(small_learner, make):
    source, target, test = make("regression")
    model = fit_table(source, target, "y", "source_only", learner=small_learner)
    # categories are fitted on the rows the model saw, features of the target rows included
    assert model.encoder.categories["colour"] == ["blue", "green", "red", "violet"]
    odd = test.head(3).copy()
    odd.loc[0, "colour"] = "never-seen"
    odd.loc[1, "x1"] = np.nan
    assert model.encoder.unseen(odd) == {"colour": 1}
    assert np.isfinite(model.predict(odd)).all()


def test_method_settings_are_checked():
    with pytest.raises(UsageError, match="n_rounds"):
        create_method("tradaboost", n_rounds=1)
    with pytest.raises(UsageError, match="unknown setting"):
        create_method("pooled", rounds=3)
    with pytest.raises(UsageError, match="unknown table transfer method 'pooledd'"):
        create_method("pooledd")


def test_task_from_the_label():
    task, why = infer_task(np.linspace(0, 1, 100), "price")
    assert task == "regression" and "100 distinct values: regression" in why
    assert infer_task(["a", "b"] * 10, "kind")[0] == "classification"
    task, why = infer_task([0, 1, 2] * 10, "stars")
    assert task == "classification" and "only 3 distinct values" in why
    assert infer_task([0, 1, 2] * 10, "stars", "regression")[0] == "regression"
    with pytest.raises(UsageError, match="not numeric"):
        infer_task(["a", "b"], "kind", "regression")


def _fast(method: str) -> dict:
    return {"n_rounds": 4, "round_estimators": 10} if method.startswith("tradaboost") else {}

