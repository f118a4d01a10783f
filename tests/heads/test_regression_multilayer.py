"""The multi-layer ridge probe: every block's pooled output, columns and strength chosen on
validation R², saved as a multi-layer head that predicts the same numbers after loading."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import graft
from graft.errors import UsageError
from graft.heads.regression_multilayer import MultiLayerRidgeConfig


@pytest.fixture(scope="module")
def bright_table(tmp_path_factory) -> Path:
    """A table of image paths and each image's brightness (the number to predict)."""
    root = tmp_path_factory.mktemp("ml-reg")
    rng = np.random.default_rng(0)
    (root / "img").mkdir()
    lines = ["file,brightness,split"]
    for i in range(90):
        value = float(rng.uniform(10, 245))
        pixels = np.clip(value + rng.normal(0, 8, (16, 16, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(root / "img" / f"{i}.png")
        lines.append(f"img/{i}.png,{value:.2f},{'test' if i % 3 == 0 else 'train'}")
    (root / "t.csv").write_text("\n".join(lines) + "\n")
    return root / "t.csv"


def test_multilayer_ridge_saves_loads_and_predicts_the_same(bright_table, tmp_path):
    ds = graft.read(bright_table, image_column="file", label_column="brightness")
    model = graft.probe(ds, "test_cnn", layers="all", out=tmp_path / "m")
    head = model.config.head
    assert head["type"] == "multilayer" and head["task"] == "regression"
    assert head["keep"] in MultiLayerRidgeConfig().keep_grid and head["alpha"] in MultiLayerRidgeConfig().alpha_grid
    assert set(head["taps"]) <= {"stem", "stage1", "stage2", "source_logits"}
    assert model.head.n_features == sum(len(c) for c in head["columns"].values())
    search = model.lineage["settings"]["search"]
    assert {r["keep"] for r in search} == set(MultiLayerRidgeConfig().keep_grid)
    assert model.lineage["metrics"]["test"]["r2"] > 0.8
    loaded = graft.load(tmp_path / "m")
    assert np.allclose(loaded.predict(ds.test.items), model.predict(ds.test.items), rtol=1e-4)
    assert graft.evaluate(loaded, ds)["r2"] == pytest.approx(model.lineage["metrics"]["test"]["r2"], abs=1e-3)


def test_numeric_rows_and_classifier_settings_are_refused(bright_table):
    from graft.heads.multilayer import MultiLayerConfig

    ds = graft.read(bright_table, image_column="file", label_column="brightness")
    with pytest.raises(UsageError, match="--C, --views"):
        graft.probe(ds, "test_cnn", config=MultiLayerConfig(C=1.0))
    rows = graft.from_arrays(np.random.default_rng(0).normal(size=(60, 3)), np.linspace(0, 1, 60))
    with pytest.raises(UsageError, match="numeric rows have none"):
        graft.probe(rows, "identity", layers="all")
    with pytest.raises(UsageError, match="keep_grid"):
        MultiLayerRidgeConfig(keep_grid=(0.0,))


def test_fit_runs_the_multilayer_arm_on_a_backbone(bright_table, tmp_path):
    ds = graft.read(bright_table, image_column="file", label_column="brightness")
    model, report = graft.fit(ds, out=tmp_path / "fit", config=graft.FitConfig(backbones=["test_cnn"], time_budget=120))
    methods = [r["method"] for r in report["arms"]]
    assert methods == ["ridge:test_cnn", "multilayer-ridge:test_cnn"]
    assert report["chosen"] in methods and "multilayer" not in report["not_run"]
    assert model.is_regression and graft.load(tmp_path / "fit").lineage["fit"]["chosen"] == report["chosen"]
