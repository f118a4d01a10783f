"""graft transfer-table / predict through typer's CliRunner, and the diamonds / adult pairs."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from graft.cli.main import app

FAST = ["--folds", "3", "--repeats", "1", "--n-estimators", "20", "--max-source-rows", "300"]


@pytest.fixture(scope="module")
def files(make, tmp_path_factory):
    root = tmp_path_factory.mktemp("tables")
    source, target, test = make("classification", n_target=30)
    for name, frame in (("source.csv", source), ("target.csv", target), ("test.csv", test)):
        frame.to_csv(root / name, index=False)
    source.to_parquet(root / "source.parquet")
    return root


def run(*args: object, code: int = 0):
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == code, f"exit {result.exit_code}, wanted {code}\n{result.output}\n{result.exception!r}"
    return result


def test_transfer_table_prints_the_table_and_verdict(files, tmp_path):
    result = run("transfer-table", "--source", files / "source.parquet", "--target", files / "target.csv", "--label", "y",
                 "--out", tmp_path / "m", *FAST)
    assert "target accuracy, out-of-fold over the labelled target rows" in result.output
    for method in ("target_only", "tradaboost", "continue_boosting", "weight_kmm"):
        assert method in result.output
    assert "verdict:" in result.output and "saved" in result.output
    assert (tmp_path / "m" / "config.json").is_file()


def test_transfer_table_json_then_predict(files, tmp_path):
    result = run("transfer-table", "--source", files / "source.csv", "--target", files / "target.csv", "--label", "y",
                 "--out", tmp_path / "m", "--method", "tradaboost", "-o", "n_rounds=4", "--json", *FAST)
    report = json.loads(result.output)
    assert report["chosen"] == "tradaboost" and report["task"] == "classification"
    assert {r["method"] for r in report["table"]} == {"target_only", "tradaboost", "source_only"}
    assert report["verdict"]["verdict"] in ("positive transfer", "negative transfer", "inconclusive")
    predicted = run("predict", tmp_path / "m", files / "test.csv", "--out", tmp_path / "p.csv", "--json")
    rows = json.loads(predicted.output)
    assert len(rows) == 200 and rows[0]["label"] in ("high", "low")
    written = pd.read_csv(tmp_path / "p.csv")
    assert len(written) == 200 and list(written.columns) == ["input", "label", "high", "low"]


def test_usage_errors_exit_2(files, tmp_path):
    result = run("transfer-table", "--source", files / "source.csv", "--target", files / "target.csv", "--label",
                 "nope", "--out", tmp_path / "m", code=2)
    assert "no label column 'nope'" in result.output
    result = run("transfer-table", "--source", files / "source.csv", "--target", files / "target.csv", "--label", "y",
                 "--out", tmp_path / "m", "--method", "tradaboost_r2", code=2)
    assert "for classification use tradaboost" in result.output


@pytest.mark.parametrize("name, label, classes", [("diamonds", "price", False), ("adult", "income", True)])
def test_builtin_pairs(name, label, classes, tmp_path):
    from graft.data import make_dataset

    root = make_dataset(name, tmp_path / name, per_class=20)
    source, target, test = (pd.read_csv(root / f"{f}.csv") for f in ("source", "target", "target_test"))
    assert len(target) == 20 and list(source.columns) == list(target.columns) == list(test.columns)
    assert label in source.columns
    manifest = json.loads((root / "DATASET.json").read_text())
    assert manifest["license"].split()[0] in ("MIT", "CC")
    if name == "diamonds":
        assert set(target["cut"]) == {"Fair"} and "Fair" not in set(source["cut"])
        assert len(source) == 52330 and len(target) + len(test) == 1610
    else:
        assert set(source["native-country"]) == {"United-States"} and "United-States" not in set(target["native-country"])
        assert set(source["income"]) == {"<=50K", ">50K"} and "?" not in set(source["workclass"].dropna())
