"""Regression through the public API: probe → evaluate → predict on real tabular data (California
housing), on texts and on images (a folder per value), and the clear refusals of the commands
that only classify."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import graft
from graft.errors import UsageError

sys.path.insert(0, str(Path(__file__).resolve().parent))  # tests/regression_data.py


@pytest.fixture(scope="module")
def housing_ds():
    from regression_data import housing_frame

    frame = housing_frame(1500)
    frame["split"] = ["test" if i % 5 == 0 else "train" for i in range(len(frame))]
    return graft.from_frame(frame, label_column="MedHouseVal", val_fraction=0.2)


@pytest.fixture(scope="module")
def housing_model(housing_ds, tmp_path_factory):
    return graft.probe(housing_ds, "identity", out=tmp_path_factory.mktemp("reg") / "model")


def test_probe_chooses_alpha_on_validation_and_scores_on_test(housing_model):
    metrics = housing_model.lineage["metrics"]
    assert set(metrics) == {"val", "test"}
    assert 0.45 < metrics["test"]["r2"] < 0.75 and metrics["test"]["n"] == 300
    settings = housing_model.lineage["settings"]
    assert settings["chosen_alpha"] == max(settings["search"], key=lambda s: s["val_r2"])["alpha"]
    assert housing_model.lineage["task"] == "regression"
    assert housing_model.lineage["target"]["name"] == "MedHouseVal"


def test_evaluate_gives_r2_rmse_mae_and_the_largest_residuals(housing_model, housing_ds):
    r = graft.evaluate(housing_model, housing_ds)
    assert r["n"] == 300 and r["r2"] == pytest.approx(housing_model.lineage["metrics"]["test"]["r2"], rel=1e-6)
    assert r["rmse"] > r["mae"] > 0
    res = r["residuals"]
    assert list(res["quantiles"]) == ["0", "0.05", "0.25", "0.5", "0.75", "0.95", "1"]
    sizes = [abs(e["residual"]) for e in res["largest"]]
    assert sizes == sorted(sizes, reverse=True) and len(sizes) == 10
    assert res["largest"][0]["item"].startswith("<DataFrame>: row ")
    assert r["seen_in_training"]["n"] == 0


def test_predict_gives_numbers_in_the_target_units(housing_model, housing_ds):
    rows = graft.predict(housing_model, housing_ds.test.items[:3])
    assert [set(r) for r in rows] == [{"input", "value"}] * 3
    values = np.array([r["value"] for r in rows])
    assert np.allclose(values, housing_model.predict(housing_ds.test.items[:3]))
    assert 0 < values.mean() < 6  # median house values in $100k, not standardised units


def test_a_classifier_and_a_regression_model_are_not_mixed_up(housing_model, housing_ds):
    with pytest.raises(UsageError, match="predicts numbers, not class probabilities"):
        housing_model.predict_proba(housing_ds.test.items[:2])
    with pytest.raises(UsageError, match="numeric target"):
        graft.probe(housing_ds, "identity", config=graft.ProbeConfig(C=1.0))
    with pytest.raises(UsageError, match="multi-layer"):
        graft.probe(housing_ds, "identity", layers="all")


def test_text_regression_through_the_same_path(tmp_path):
    import pandas as pd

    words = ["awful", "poor", "fine", "good", "great"]
    rows = [{"text": f"{words[i % 5]} item {i}", "score": float(i % 5) + 0.01 * (i % 7)} for i in range(120)]
    pd.DataFrame(rows).to_csv(tmp_path / "reviews.csv", index=False)
    model = graft.probe(tmp_path / "reviews.csv", "test_text", label_column="score")
    assert model.is_regression and model.config.backbone.modality == "text"
    assert model.lineage["metrics"]["val"]["r2"] > 0.5
    assert graft.predict(model, ["great item"])[0]["value"] > graft.predict(model, ["awful item"])[0]["value"]


def test_image_regression_from_a_folder_per_value(tmp_path):
    rng = np.random.default_rng(0)
    for split, n in (("train", 5), ("test", 2)):
        for value in range(20, 250, 20):  # the folder name is the number: the images' brightness
            for i in range(n):
                pixels = np.clip(value + rng.normal(0, 8, (24, 24, 3)), 0, 255).astype(np.uint8)
                path = tmp_path / "bright" / split / str(value) / f"{i}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(pixels).save(path)
    model = graft.probe(tmp_path / "bright", "test_cnn", target_type="regression")
    assert model.is_regression and model.classes == ["target"]
    assert model.lineage["metrics"]["test"]["r2"] > 0.5
    result = graft.evaluate(model, tmp_path / "bright")
    assert result["n"] == 24 and result["residuals"]["largest"][0]["item"].endswith(".png")


@pytest.mark.parametrize("call, command", [
    (lambda ds: graft.finetune(ds, "identity"), "fine-tuning"),
    (lambda ds: graft.rank_backbones(ds, ["test_cnn"]), "graft rank"),
])
def test_commands_that_only_classify_say_what_to_use_instead(housing_ds, call, command):
    with pytest.raises(UsageError, match=f"{command}.*numeric target 'MedHouseVal'.*graft probe"):
        call(housing_ds)
