"""The ``graft`` command line: thin, scriptable (--json), honest exit codes, and a fast --help."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from graft.cli.main import app

GRAFT = shutil.which("graft", path=str(Path(sys.executable).parent)) or "graft"


@pytest.fixture(scope="module")
def runner() -> CliRunner:
    return CliRunner()


def run(runner: CliRunner, *args: str, code: int = 0):
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == code, f"exit {result.exit_code}, wanted {code}\n{result.output}\n{result.exception!r}"
    return result


def run_json(runner: CliRunner, *args: str):
    return json.loads(run(runner, *args, "--json").stdout)


@pytest.fixture(scope="module")
def cli_model(runner, tiny_images, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("cli") / "model"
    result = run_json(runner, "probe", tiny_images, "--backbone", "test_cnn", "--out", out)
    return out, result


# --- help, without torch -------------------------------------------------------------------------

def test_graft_help_answers_without_importing_torch():
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    result = subprocess.run([sys.executable, "-X", "importtime", "-c",
                             "import sys; from graft.cli.main import main; sys.argv = ['graft', '--help']; main()"],
                            capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "probe" in result.stdout and "evaluate" in result.stdout
    imported = {line.split("|")[-1].strip() for line in result.stderr.splitlines() if "|" in line}
    heavy = sorted(m for m in imported if m.split(".")[0] in {"torch", "torchvision", "timm", "transformers", "sklearn"})
    assert not heavy, f"graft --help imported {heavy[:5]}"


def test_the_installed_graft_command_runs():
    result = subprocess.run([GRAFT, "--help"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "Usage" in result.stdout


@pytest.mark.parametrize("command", ["models", "datasets", "datasets make", "embed", "probe", "evaluate",
                                     "predict", "demo"])
def test_every_command_has_help(runner, command):
    result = run(runner, *command.split(), "--help")
    assert "Usage" in result.stdout


# --- the zoo and the built-in data -------------------------------------------------------------------

def test_models_json_lists_the_zoo_with_offline_status(runner):
    rows = run_json(runner, "models")
    by_name = {r["name"]: r for r in rows}
    assert {"mobilenet_v2", "efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"} <= set(by_name)
    for row in rows:
        assert isinstance(row["offline"], bool) and row["feature_dim"] > 0 and row["license"]
        assert row["offline"] or row["install"]
    assert not any(n.startswith("test_") for n in by_name)


def test_models_table_and_pattern(runner):
    result = runner.invoke(app, ["models", "efficientnet*"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "efficientnet_lite1" in result.stdout and "mobilenet_v2" not in result.stdout


def test_datasets_json_lists_the_builtins(runner):
    names = {r["name"] for r in run_json(runner, "datasets")}
    assert {"fashion_mnist", "digits"} <= names


def test_datasets_make_digits(runner, tmp_path):
    target = tmp_path / "digits"
    result = run(runner, "datasets", "make", "digits", target, "--per-class", "5")
    assert str(target) in result.stdout
    pngs = list(target.rglob("*.png"))
    classes = {p.parent.name for p in pngs}
    assert len(classes) == 10 and len(pngs) <= 10 * 5 * 2  # at most 5 per class and split
    assert all(len([p for p in pngs if p.parent == c]) <= 5 for c in {p.parent for p in pngs})


def test_datasets_make_unknown_name_is_a_usage_error(runner, tmp_path):
    result = run(runner, "datasets", "make", "cifar10", tmp_path / "x", code=2)
    assert "unknown dataset" in result.stderr


# --- the main job: probe → evaluate → predict, and embed ---------------------------------------------

def test_probe_json(cli_model):
    out, result = cli_model
    assert result["model"] == str(out)
    assert {"val", "test"} <= set(result["metrics"])
    assert result["metrics"]["test"]["accuracy"] >= 0.75
    assert (out / "config.json").is_file() and (out / "model.safetensors").is_file()


def test_probe_table(runner, tiny_images, tmp_path):
    result = run(runner, "probe", tiny_images, "--backbone", "test_cnn", "--out", tmp_path / "m", "--C", "1.0")
    assert "accuracy" in result.stdout and "test" in result.stdout
    assert json.loads((tmp_path / "m" / "config.json").read_text())["head"]["C"] == 1.0


def test_evaluate_json(runner, cli_model, tiny_images):
    report = run_json(runner, "evaluate", cli_model[0], tiny_images)
    assert report["n"] == 12
    assert np.array(report["confusion_matrix"]).sum() == 12
    assert set(report["per_class"]) == {"blue", "green", "red"}


def test_evaluate_table(runner, cli_model, tiny_images):
    result = run(runner, "evaluate", cli_model[0], tiny_images)
    assert "macro-F1" in result.stdout and "confusion matrix" in result.stdout


def test_predict_json_and_csv(runner, cli_model, tiny_images, tmp_path):
    folder = tiny_images / "test" / "red"
    rows = run_json(runner, "predict", cli_model[0], folder, "--out", tmp_path / "p.csv")
    assert len(rows) == 4 and all(r["label"] in {"blue", "green", "red"} for r in rows)
    lines = (tmp_path / "p.csv").read_text().splitlines()
    assert lines[0] == "input,label,blue,green,red" and len(lines) == 5


def test_embed_to_file(runner, tiny_images, tmp_path):
    result = run_json(runner, "embed", tiny_images, "--backbone", "test_cnn", "--out", tmp_path / "x.npy")
    x = np.load(tmp_path / "x.npy")
    assert x.shape == (42, 16) == tuple(result["shape"])
    sidecar = json.loads((tmp_path / "x.json").read_text())
    assert len(sidecar["labels"]) == 42 and sidecar["classes"] == ["blue", "green", "red"]
    np.testing.assert_allclose(x, __import__("graft").embed(tiny_images, backbone="test_cnn"), rtol=1e-6)


def test_embed_without_out_prints_the_shape(runner, tiny_images):
    result = run(runner, "embed", tiny_images, "--backbone", "test_cnn", "--image-size", "40")
    assert "[42, 16]" in result.stdout


# --- exit codes: 1 runtime error, 2 usage error ----------------------------------------------------

def test_missing_data_folder_is_a_runtime_error(runner, tmp_path):
    result = run(runner, "probe", tmp_path / "nowhere", "--backbone", "test_cnn", "--out", tmp_path / "m", code=1)
    assert "error:" in result.stderr and "nowhere" in result.stderr
    assert "Traceback" not in result.output


def test_unknown_backbone_is_a_usage_error(runner, tiny_images, tmp_path):
    result = run(runner, "probe", tiny_images, "--backbone", "mobilenet_v22", "--out", tmp_path / "m", code=2)
    assert "Did you mean" in result.stderr and "mobilenet_v2" in result.stderr


def test_missing_argument_is_a_usage_error(runner):
    run(runner, "probe", code=2)
    run(runner, "evaluate", code=2)


def test_missing_weights_is_a_runtime_error_naming_the_fix(runner, tiny_images, tmp_path):
    result = run(runner, "embed", tiny_images, "--backbone", "timm:resnet18", code=1)
    assert "--allow-download" in result.stderr


def test_evaluating_a_folder_that_is_not_a_model_is_a_usage_error(runner, tiny_images, tmp_path):
    result = run(runner, "evaluate", tmp_path, tiny_images, code=2)
    assert "not a graft model directory" in result.stderr


def test_probe_out_over_a_data_folder_is_refused(runner, tiny_images, tmp_path, make_images):
    data = make_images(tmp_path / "data", {"train": 3})
    result = run(runner, "probe", data, "--backbone", "test_cnn", "--out", data, code=2)
    assert "not a graft model directory" in result.stderr
    assert len(list(data.rglob("*.png"))) == 9


def test_models_lists_one_modality_and_refuses_an_unknown_one():
    result = CliRunner().invoke(app, ["models", "--modality", "text", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert rows and {r["modality"] for r in rows} == {"text"} and "minilm_l6" in {r["name"] for r in rows}
    bad = CliRunner().invoke(app, ["models", "--modality", "tabular"])
    assert bad.exit_code == 2 and "choose image, text or audio" in bad.output
