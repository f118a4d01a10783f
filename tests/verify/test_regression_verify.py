"""``verify`` on a numeric target: ridge probes scored by test R² over seeds, with intervals and a
verdict whose answer is known in advance."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import graft

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/regression_data.py


@pytest.fixture(scope="module")
def brightness(tmp_path_factory) -> Path:
    """root/{train,test}/<value>/*.png: each image's brightness is the number its folder names."""
    root = tmp_path_factory.mktemp("bright")
    rng = np.random.default_rng(0)
    for split, n in (("train", 6), ("test", 3)):
        for value in range(20, 250, 20):
            for i in range(n):
                pixels = np.clip(value + rng.normal(0, 8, (24, 24, 3)), 0, 255).astype(np.uint8)
                path = root / split / str(value) / f"{i}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(pixels).save(path)
    return root


def test_useless_weights_are_caught_hurting(brightness, useless_weights, tmp_path):
    v = graft.verify_transfer(brightness, "test_cnn", weights=useless_weights, seeds=3, target_type="regression",
                              out=tmp_path / "model")
    assert v.metric == "r2" and set(v.arms) == {"probe", "random", "mean"} and v.baseline == "random"
    assert v.arms["random"].interval.mean > 0.5  # random-init features still see brightness
    assert v.arms["probe"].interval.mean < 0.1  # constant features predict about the mean
    assert v.verdict == "negative transfer" and "hurt" in v.summary
    assert len(set(v.arms["random"].scores)) == 3  # seeds vary the init and the test resample
    saved = graft.load(tmp_path / "model")
    assert saved.is_regression and saved.lineage["verdict"]["verdict"] == "negative transfer"


def test_numeric_rows_compare_the_probe_with_the_mean():
    from regression_data import housing_frame

    frame = housing_frame(800)
    frame["split"] = ["test" if i % 4 == 0 else "train" for i in range(len(frame))]
    ds = graft.from_frame(frame, label_column="MedHouseVal", val_fraction=0.2)
    v = graft.verify_transfer(ds, "identity", seeds=4)
    assert set(v.arms) == {"probe", "mean"} and v.baseline == "mean"
    assert v.verdict == "positive transfer" and v.gain.low > 0.3
    assert abs(v.arms["mean"].interval.mean) < 0.05
    assert v.to_dict()["not_run"]["finetune"] == "trains with a classification loss"
