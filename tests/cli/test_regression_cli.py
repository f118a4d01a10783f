"""The command line on a numeric target (California housing as a CSV): probe, evaluate, predict,
fit and verify, with --target-type and --alpha."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from graft.cli.main import app

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/regression_data.py


def run(*args: object, code: int = 0):
    result = CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": "250"})  # no wrapped table cells
    assert result.exit_code == code, f"exit {result.exit_code}, wanted {code}\n{result.output}\n{result.exception!r}"
    return result


@pytest.fixture(scope="module")
def housing_csv(tmp_path_factory) -> Path:
    from regression_data import housing_frame

    frame = housing_frame(1000)
    frame["split"] = ["test" if i % 5 == 0 else "train" for i in range(len(frame))]
    path = tmp_path_factory.mktemp("cli-reg") / "housing.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def model_dir(housing_csv) -> Path:
    out = housing_csv.parent / "model"
    run("probe", housing_csv, "--backbone", "identity", "--label-column", "MedHouseVal", "--out", out)
    return out


def test_probe_prints_r2_rmse_mae(housing_csv, tmp_path):
    result = run("probe", housing_csv, "--backbone", "identity", "--label-column", "MedHouseVal", "--out",
                 tmp_path / "m", "--alpha", "10")
    assert "R²" in result.stdout and "RMSE" in result.stdout and "alpha 10.0" in result.stdout
    assert json.loads((tmp_path / "m" / "config.json").read_text())["head"]["alpha"] == 10.0


def test_probe_json_and_the_auto_note(housing_csv, tmp_path):
    result = run("probe", housing_csv, "--backbone", "identity", "--label-column", "MedHouseVal", "--out",
                 tmp_path / "m", "--json")
    data = json.loads(result.stdout)
    assert data["task"] == "regression" and data["target"] == "MedHouseVal" and data["metrics"]["test"]["n"] == 200
    assert "read as a regression target" in (tmp_path / "m" / "skipped.tsv").read_text()  # the note, kept


def test_evaluate_prints_metrics_and_the_largest_residuals(model_dir, housing_csv):
    result = run("evaluate", model_dir, housing_csv, "--label-column", "MedHouseVal")
    assert "R²" in result.stdout and "largest residuals" in result.stdout and "housing.csv:line" in result.stdout
    data = json.loads(run("evaluate", model_dir, housing_csv, "--label-column", "MedHouseVal", "--json").stdout)
    assert data["n"] == 200 and 0.4 < data["r2"] < 0.8 and len(data["residuals"]["largest"]) == 10


def test_wrong_option_combinations_exit_2(housing_csv, tmp_path):
    result = run("probe", housing_csv, "--backbone", "identity", "--label-column", "MedHouseVal", "--out",
                 tmp_path / "m", "--C", "1", code=2)
    assert "--alpha" in result.output
    run("probe", housing_csv, "--backbone", "identity", "--label-column", "MedHouseVal", "--out", tmp_path / "m2",
        "--target-type", "numbers", code=2)


def test_predict_writes_numbers_to_csv_and_json(tmp_path):
    import pandas as pd

    words = ["awful", "poor", "fine", "good", "great"]
    pd.DataFrame({"text": [f"{words[i % 5]} thing {i}" for i in range(100)],
                  "score": [float(i % 5) + 0.01 * (i % 7) for i in range(100)]}).to_csv(tmp_path / "t.csv", index=False)
    run("probe", tmp_path / "t.csv", "--backbone", "test_text", "--label-column", "score", "--out", tmp_path / "m")
    rows = json.loads(run("predict", tmp_path / "m", "great thing", "awful thing", "--json").stdout)
    assert [set(r) for r in rows] == [{"input", "value"}] * 2 and rows[0]["value"] > rows[1]["value"]
    printed = run("predict", tmp_path / "m", "great thing", "--out", tmp_path / "p.csv").stdout
    assert "predicted score" in printed
    with open(tmp_path / "p.csv", newline="") as fh:
        table = list(csv.reader(fh))
    assert table[0] == ["input", "value"] and float(table[1][1]) == pytest.approx(rows[0]["value"])


def test_fit_runs_the_ridge_arm_and_saves_the_report(housing_csv, tmp_path):
    result = run("fit", housing_csv, "--backbone", "identity", "--label-column", "MedHouseVal", "--out",
                 tmp_path / "fit", "--time-budget", "60")
    assert "ridge:identity" in result.stdout and "test R²" in result.stdout
    report = json.loads((tmp_path / "fit" / "fit.json").read_text())
    assert report["task"] == "regression" and report["chosen"] == "ridge:identity"
    assert set(report["not_run"]) == {"multilayer", "finetune"}
    page = (tmp_path / "fit" / "report.html").read_text()  # saved with the model, as a classifier's fit is
    assert "R²" in page and "confusion" not in page.lower()


def test_verify_scores_by_r2_over_seeds(housing_csv):
    data = json.loads(run("verify", housing_csv, "--backbone", "identity", "--label-column", "MedHouseVal",
                          "--seeds", "3", "--json").stdout)
    assert data["task"] == "regression" and data["metric"] == "r2" and data["baseline"] == "mean"
    assert data["verdict"] == "positive transfer" and len(data["arms"]["probe"]["test_r2"]) == 3


def test_a_number_from_each_image_of_a_table(tmp_path):
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    (tmp_path / "img").mkdir()
    lines = ["image,brightness,split"]
    for i in range(60):
        value = float(rng.uniform(10, 245))
        Image.fromarray(np.clip(value + rng.normal(0, 8, (16, 16, 3)), 0, 255).astype(np.uint8)).save(tmp_path / "img" / f"{i}.png")
        lines.append(f"img/{i}.png,{value:.2f},{'test' if i % 4 == 0 else 'train'}")
    (tmp_path / "t.csv").write_text("\n".join(lines) + "\n")
    args = ("--image-column", "image", "--label-column", "brightness")
    data = json.loads(run("probe", tmp_path / "t.csv", *args, "--backbone", "test_cnn", "--out", tmp_path / "m",
                          "--json").stdout)
    assert data["task"] == "regression" and data["metrics"]["test"]["r2"] > 0.8
    result = json.loads(run("evaluate", tmp_path / "m", tmp_path / "t.csv", *args, "--json").stdout)
    assert result["n"] == 15 and result["residuals"]["largest"][0]["item"].endswith(".png")
    value = json.loads(run("predict", tmp_path / "m", tmp_path / "img" / "0.png", "--json").stdout)[0]["value"]
    assert abs(value - float(lines[1].split(",")[1])) < 40
