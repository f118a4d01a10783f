"""``graft rank``, ``graft shift``, ``graft verify``: thin commands, tables or JSON, honest exit codes."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from graft.cli.main import app


@pytest.fixture(scope="module")
def runner() -> CliRunner:
    return CliRunner()


def run(runner: CliRunner, *args, code: int = 0):
    result = runner.invoke(app, [str(a) for a in args], env={"COLUMNS": "160"})  # a wide terminal: no "…" in tables
    assert result.exit_code == code, f"exit {result.exit_code}, wanted {code}\n{result.output}\n{result.exception!r}"
    return result


@pytest.mark.parametrize("command", ["rank", "shift", "verify"])
def test_commands_are_registered_with_help(runner, command):
    assert "Usage" in run(runner, command, "--help").output


def test_rank_prints_a_ranked_table_and_a_recommendation(runner, tiny_images):
    result = run(runner, "rank", tiny_images, "--backbones", "test_cnn", "--sample", "12")
    assert "LogME" in result.output and "test_cnn" in result.output
    assert "Start from test_cnn" in result.output


def test_rank_json(runner, tiny_images):
    data = json.loads(run(runner, "rank", tiny_images, "--backbones", "test_cnn", "--by", "knn",
                          "--scores", "logme,knn", "--json").stdout)
    assert data["best"] == "test_cnn" and data["by"] == "knn" and set(data["rows"][0]["scores"]) == {"logme", "knn"}


def test_rank_refuses_backbones_and_modality_together(runner, tiny_images):
    result = run(runner, "rank", tiny_images, "--backbones", "test_cnn", "--modality", "image", code=2)
    assert "not both" in result.output


def test_shift_json_and_table(runner, tiny_images, make_images, tmp_path):
    other = make_images(tmp_path / "other", {"train": 6}, seed=9)
    data = json.loads(run(runner, "shift", tiny_images, other, "--backbone", "test_cnn", "--permutations", "50",
                          "--json").stdout)
    assert data["backbone"] == "test_cnn" and 0 <= data["proxy_a_distance"] <= 2 and data["size_b"] == 18
    table = run(runner, "shift", tiny_images, other, "--backbone", "test_cnn", "--permutations", "50").output
    assert "proxy A-distance" in table and "p-value" in table


def test_verify_saves_the_verdict_with_the_model(runner, tiny_images, tmp_path):
    out = tmp_path / "verified"
    data = json.loads(run(runner, "verify", tiny_images, "--backbone", "test_cnn", "--seeds", "2", "--epochs", "1",
                          "--schedule", "lp-ft", "--batch-size", "8", "--out", out, "--json").stdout)
    assert data["verdict"] in {"positive transfer", "negative transfer", "inconclusive"}
    assert set(data["arms"]) == {"scratch", "probe", "finetune"} and data["model"] == str(out)
    lineage = json.loads((out / "lineage.json").read_text())
    assert lineage["verdict"]["verdict"] == data["verdict"]
    assert "Did transfer help?" in (out / "README.md").read_text()


def test_verify_without_a_test_split_is_a_runtime_error(runner, tiny_image_copy):
    result = run(runner, "verify", tiny_image_copy, "--backbone", "test_cnn", code=1)
    assert "test split" in result.output


def test_rank_counts_parameters_and_shows_a_dash_for_none_pytorch_can_count():
    from graft.cli.choose import _count

    assert [_count(n) for n in (0, 16_000, 2_200_000)] == ["—", "16.0k", "2.2M"]
