"""transfer_table: auto and its verdict, negative transfer keeps target-only, saving, schema messages."""

from __future__ import annotations

import json

import numpy as np
import pytest

import graft
from graft.errors import GraftError, UsageError
from graft.tabular import TableModel, transfer_table

FAST = {"folds": 3, "repeats": 2, "max_source_rows": 400}


@pytest.fixture(scope="module")
def helpful(make, small_learner, tmp_path_factory):
    """auto on a regression pair where the source helps, saved."""
    source, target, test = make("regression", n_target=30)
    out = tmp_path_factory.mktemp("models") / "helpful"
    result = transfer_table(source, target, "y", out=out, learner=small_learner, **FAST)
    return result, test, out


def test_auto_picks_by_cross_validation_and_says_why(helpful):
    result, _, _ = helpful
    names = [r["method"] for r in result.table]
    assert names[0] == "target_only" and "tradaboost" not in names and "tradaboost_r2" in names
    scored = {r["method"]: r["score"] for r in result.table if r["score"] is not None}
    assert result.chosen == max(scored, key=scored.get)
    assert result.reason.startswith(f"auto: {result.chosen} has the best mean target R²")
    row = next(r for r in result.table if r["method"] == result.chosen)
    assert row["low"] < row["score"] < row["high"] and row["splits"] == 6 and row["seconds"] > 0


def test_verdict_on_a_helpful_source(helpful):
    result, test, _ = helpful
    assert result.verdict["verdict"] == "positive transfer" and result.kept == result.chosen != "target_only"
    assert result.verdict["low"] > 0 and "the source helps" in result.verdict["summary"]
    assert result.table[0]["vs_target_only"] == "baseline"


def test_saved_folder_round_trip(helpful):
    result, test, out = helpful
    files = sorted(p.name for p in out.iterdir())
    assert {"config.json", "encoder.json", "lineage.json", "README.md"} <= set(files)
    assert not [f for f in files if f.endswith((".pkl", ".pickle", ".joblib"))]
    config = json.loads((out / "config.json").read_text())
    assert config["format"] == "graft-table" and config["task"] == "regression" and config["method"] == result.kept
    lineage = json.loads((out / "lineage.json").read_text())
    assert len(lineage["source_table"]["fingerprint"]) == 64 and lineage["target_table"]["rows"] == 30
    assert lineage["verdict"]["verdict"] == "positive transfer"
    loaded = graft.load(out)
    assert isinstance(loaded, TableModel)
    np.testing.assert_allclose(loaded.predict(test), result.model.predict(test))
    rows = graft.predict(out, [test.head(4)])
    assert len(rows) == 4 and set(rows[0]) == {"input", "value"}
    assert "positive transfer" in (out / "README.md").read_text()


def test_a_changed_learner_file_is_refused(helpful, tmp_path):
    import shutil

    _, _, out = helpful
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    learner = next(copy.glob("learner-*"))
    learner.write_bytes(learner.read_bytes() + b"\n")
    with pytest.raises(GraftError, match="sha256"):
        graft.load(copy)


def test_saving_over_a_model_needs_overwrite(helpful, make, small_learner):
    _, _, out = helpful
    source, target, _ = make("regression", n_target=30)
    with pytest.raises(UsageError, match="already holds a model"):
        transfer_table(source, target, "y", "pooled", out=out, learner=small_learner, **FAST)


@pytest.mark.parametrize("task", ["regression", "classification"])
def test_negative_transfer_keeps_target_only(task, make, small_learner, tmp_path):
    source, target, test = make(task, n_target=40, invert=True)
    result = transfer_table(source, target, "y", "pooled", out=tmp_path / "m", learner=small_learner, **FAST)
    assert result.chosen == "pooled" and result.verdict["verdict"] == "negative transfer"
    assert result.kept == "target_only" and "negative transfer" in result.reason
    saved = graft.load(tmp_path / "m")
    assert saved.config["method"] == "target_only"
    assert "target-only" in (tmp_path / "m" / "README.md").read_text()


def test_auto_says_negative_transfer_when_every_candidate_hurts(make, small_learner):
    source, target, _ = make("classification", n_target=40, invert=True)
    result = transfer_table(source, target, "y", candidates=["pooled", "source_only"], learner=small_learner, **FAST)
    assert result.chosen == result.kept == "target_only"
    assert result.verdict["verdict"] == "negative transfer" and result.verdict["method"] in ("pooled", "source_only")


def test_schema_mismatch_names_columns_and_file(make, tmp_path):
    source, target, _ = make("regression")
    target_file = tmp_path / "target.csv"
    target.drop(columns="x2").assign(extra=1).to_csv(target_file, index=False)
    with pytest.raises(UsageError) as err:
        transfer_table(source, target_file, "y")
    message = str(err.value)
    assert str(target_file) in message and "missing column(s) ['x2']" in message and "extra column(s) ['extra']" in message
    with pytest.raises(UsageError, match="no label column 'price'"):
        transfer_table(source, target, "price")
    with pytest.raises(UsageError, match="unlabelled"):
        transfer_table(source, target, "y", unlabelled=target.drop(columns=["y", "x1"]))


def test_unlabelled_rows_may_omit_the_label(make, small_learner):
    source, target, test = make("classification", n_target=30)
    result = transfer_table(source, target, "y", "augment", unlabelled=test.drop(columns="y"), learner=small_learner,
                            **FAST)
    assert result.model.lineage["unlabelled_table"]["rows"] == len(test)


def test_bad_settings_fail_before_work(make):
    source, target, _ = make("regression")
    with pytest.raises(UsageError, match="tradaboost is for classification only; for regression use tradaboost_r2"):
        transfer_table(source, target, "y", "tradaboost")
    with pytest.raises(UsageError, match="folds"):
        transfer_table(source, target, "y", folds=1)
    with pytest.raises(UsageError, match="need one named method"):
        transfer_table(source, target, "y", params={"target_weight": 2.0})
    with pytest.raises(UsageError, match="at least 6"):
        transfer_table(source, target.head(4), "y")


def test_evaluate_on_held_out_and_training_rows(helpful, make, small_learner):
    result, test, out = helpful
    scored = graft.evaluate(out, test)
    assert scored["n"] == len(test) and scored["r2"] > 0.5 and "note" not in scored
    assert "largest" in scored["residuals"]
    _, target, _ = make("regression", n_target=30)
    assert "target table the model was trained on" in graft.evaluate(out, target)["note"]
    source, target, test = make("classification", n_target=30)
    model = transfer_table(source, target, "y", "augment", learner=small_learner, **FAST).model
    scored = graft.evaluate(model, test.assign(y=test["y"].where(test.index > 0, "unheard-of")))
    assert scored["unknown_class_items"] == 1 and scored["n"] == len(test) - 1 and scored["accuracy"] > 0.6


def test_duplicate_header_and_unknown_settings(make, tmp_path):
    source, target, _ = make("regression")
    bad = tmp_path / "dup.csv"
    bad.write_text("x1,x1,y\n1,2,3\n")
    with pytest.raises(GraftError, match=r"duplicate column name\(s\) \['x1'\]"):
        transfer_table(source, bad, "y")
    with pytest.raises(UsageError, match="unknown setting"):
        transfer_table(source, target, "y", fold=3)


def test_auto_breaks_a_tie_towards_the_simpler_method():
    from graft.tabular.driver import TableTransferConfig, _choose
    from graft.tabular.evaluate import MethodScores

    results = {}
    for name, right in (("target_only", 5), ("source_only", 8), ("pooled", 8), ("weight_classifier", 8)):
        entry = MethodScores(name, 10)
        entry.add(np.arange(10), (np.arange(10) < right).astype(float))
        results[name] = entry
    chosen, reason = _choose(TableTransferConfig(), results, "classification")
    assert chosen == "source_only" and "next pooled 0.8000" in reason
