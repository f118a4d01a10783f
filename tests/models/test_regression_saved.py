"""A saved regression model: config.json records the task and the target scaling, loading needs no
pickle and gives the same numbers, the card shows R² / RMSE / MAE."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

import graft

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/regression_data.py


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    from regression_data import housing_frame

    frame = housing_frame(800)
    frame["split"] = ["test" if i % 4 == 0 else "train" for i in range(len(frame))]
    ds = graft.from_frame(frame, label_column="MedHouseVal", val_fraction=0.2)
    out = tmp_path_factory.mktemp("saved") / "housing"
    model = graft.probe(ds, "identity", out=out)
    return out, model, ds


def test_config_records_task_and_target_scaling(saved):
    out, model, ds = saved
    config = json.loads((out / "config.json").read_text())
    assert config["task"] == "regression" and config["classes"] == ["MedHouseVal"]
    head = config["head"]
    assert head["type"] == "ridge" and head["alpha"] > 0
    train_val = np.concatenate([ds.train.targets, ds.val.targets])
    assert head["target_mean"] == pytest.approx(train_val.mean())  # refitted on train + val
    assert head["target_scale"] == pytest.approx(train_val.std())
    assert not list(out.glob("*.pkl")) and not list(out.glob("*.pickle"))


def test_loaded_model_predicts_the_same_numbers(saved):
    out, model, ds = saved
    loaded = graft.load(out)
    assert loaded.is_regression
    items = ds.test.items[:20]
    assert np.allclose(loaded.predict(items), model.predict(items), rtol=1e-5)  # float32 tensors
    assert graft.evaluate(loaded, ds)["r2"] == pytest.approx(model.lineage["metrics"]["test"]["r2"], abs=1e-4)


def test_card_names_the_target_and_the_regression_metrics(saved):
    out, model, _ = saved
    card = (out / "README.md").read_text()
    assert "regression of `MedHouseVal`" in card and "## Target" in card
    assert "pipeline_tag: tabular-regression" in card
    assert "| split | R² | RMSE | MAE | n |" in card
    assert f"| test | {model.lineage['metrics']['test']['r2']:.4f} |" in card
    assert "type: r2" in card and "accuracy" not in card.split("## Metrics")[1].split("##")[0]
