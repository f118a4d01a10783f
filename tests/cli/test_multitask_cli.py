"""``graft finetune A B --multi-task``, then ``predict --task`` and ``evaluate --task`` on the one model."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from graft.cli.main import app

WARM = {"red": "warm", "green": "cool", "blue": "cool"}


def run(*args, code: int = 0):
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == code, f"exit {result.exit_code}, wanted {code}\n{result.output}\n{result.exception!r}"
    return result


@pytest.fixture(scope="module")
def warmth(colour_images, tmp_path_factory) -> Path:
    """The colour images again, in warm / cool class folders (a coarser task on the same items)."""
    root = tmp_path_factory.mktemp("warmth") / "warmth"
    for path in colour_images.rglob("*.png"):
        split, colour = path.parent.parent.name, path.parent.name
        target = root / split / WARM[colour] / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target)
    return root


@pytest.fixture(scope="module")
def model(colour_images, warmth, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("mt") / "model"
    result = run("finetune", colour_images, warmth, "--multi-task", "--task-names", "colour,warmth",
                 "--backbone", "test_cnn", "--schedule", "lp-ft", "--epochs", "2", "--batch-size", "8", "--lr", "0.01",
                 "--no-augment", "--out", out, "--json")
    return out, json.loads(result.stdout)


def test_finetune_multi_task_reports_each_task(model):
    out, report = model
    assert set(report["tasks"]) == {"colour", "warmth"}
    assert report["tasks"]["colour"]["test"]["accuracy"] >= 0.9
    assert report["tasks"]["warmth"]["test"]["accuracy"] >= 0.9
    assert json.loads((out / "config.json").read_text())["tasks"]["warmth"]["classes"] == ["cool", "warm"]
    lineage = json.loads((out / "lineage.json").read_text())
    assert lineage["tasks"]["warmth"]["dataset"]["source"].endswith("warmth")


def test_predict_and_evaluate_take_a_task(model, colour_images, warmth):
    out, report = model
    red = sorted((colour_images / "test" / "red").glob("*.png"))[0]
    rows = json.loads(run("predict", out, red, "--task", "warmth", "--json").stdout)
    assert rows[0]["task"] == "warmth" and rows[0]["label"] == "warm" and set(rows[0]["probabilities"]) == {"cool", "warm"}

    plain = run("predict", out, red)
    assert "predicts tasks colour, warmth" in plain.output and "--task" in plain.output
    assert json.loads(run("predict", out, red, "--json").stdout)[0]["label"] == "red"  # the first task

    scored = json.loads(run("evaluate", out, warmth, "--task", "warmth", "--json").stdout)
    assert scored["task"] == "warmth"
    assert scored["accuracy"] == pytest.approx(report["tasks"]["warmth"]["test"]["accuracy"])
    assert list(scored["per_class"]) == ["cool", "warm"]

    bad = run("predict", out, red, "--task", "shape", code=2)
    assert "no task 'shape'" in bad.output and "colour (3 classes)" in bad.output


def test_several_datasets_need_multi_task_and_one_modality(colour_images, warmth, tiny_text_csv, tmp_path):
    result = run("finetune", colour_images, warmth, "--backbone", "test_cnn", "--out", tmp_path / "m", code=2)
    assert "add --multi-task" in result.output
    result = run("finetune", colour_images, tiny_text_csv, "--multi-task", "--backbone", "test_cnn",
                 "--out", tmp_path / "m", code=2)
    assert "same kind of input" in result.output
    assert not (tmp_path / "m").exists()
