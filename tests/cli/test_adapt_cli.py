"""``graft adapt`` / ``fewshot`` / ``cluster`` / ``drift``: thin commands, --json, honest exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from graft.cli.main import app

COLOURS = {"red": (200, 40, 40), "green": (40, 180, 60), "blue": (40, 60, 200)}


@pytest.fixture(scope="module")
def runner() -> CliRunner:
    return CliRunner()


def run(runner: CliRunner, *args, code: int = 0):
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == code, f"exit {result.exit_code}, wanted {code}\n{result.output}\n{result.exception!r}"
    return result


def write_images(root: Path, n: int, *, gain: float = 1.0, offset: float = 0.0, seed: int = 0, flat: bool = False) -> Path:
    """Colour-class images (24 px); ``gain``/``offset`` shift the domain; ``flat`` writes no class folders."""
    rng = np.random.default_rng(seed)
    for name, colour in COLOURS.items():
        folder = root if flat else root / name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(n):
            pixels = np.clip(np.array(colour) * gain + offset + rng.normal(0, 25, (24, 24, 3)), 0, 255)
            Image.fromarray(pixels.astype(np.uint8), "RGB").save(folder / f"{name}_{i}.png")
    return root


@pytest.fixture(scope="module")
def domains(tmp_path_factory):
    root = tmp_path_factory.mktemp("domains")
    return {"source": write_images(root / "source", 10),
            "target": write_images(root / "target", 8, gain=0.5, offset=90, seed=1, flat=True),
            "target_eval": write_images(root / "target_eval", 6, gain=0.5, offset=90, seed=2),
            "same": write_images(root / "same", 6, seed=3)}


@pytest.fixture(scope="module")
def probe_model(runner, domains, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("drift") / "model"
    run(runner, "probe", domains["source"], "--backbone", "test_cnn", "--out", out, "--json")
    return out


def test_adapt_writes_a_model_and_reports_the_choice(runner, domains, tmp_path):
    out = tmp_path / "adapted"
    result = run(runner, "adapt", "--source", domains["source"], "--target", domains["target"], "--backbone", "test_cnn",
                 "--method", "coral", "--option", "eps=0.1", "--target-eval", domains["target_eval"], "--out", out, "--json")
    report = json.loads(result.stdout)
    assert report["chosen"] == "coral(eps=0.1)" and report["n_target"] == 24
    assert {"accuracy", "macro_f1"} <= set(report["target_eval"]) and report["source_only"]["n"] == 18
    lineage = json.loads((out / "lineage.json").read_text())
    assert lineage["method"] == "adapt:coral" and lineage["adaptation"]["target"]["labels_used"] is False


def test_adapt_auto_explains_itself_in_the_table_output(runner, domains, tmp_path):
    result = run(runner, "adapt", "--source", domains["source"], "--target", domains["target"], "--backbone", "test_cnn",
                 "--out", tmp_path / "auto", "--option", 'candidates=[["coral", {}], ["sa", {"n_components": 4}]]')
    assert "why:" in result.stdout and "label-free evidence" in result.stdout


def test_adapt_bad_input_is_a_usage_error(runner, domains, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no images here")
    result = run(runner, "adapt", "--source", domains["source"], "--target", empty, "--backbone", "test_cnn",
                 "--out", tmp_path / "m", code=1)
    assert "no image or audio files" in result.output
    result = run(runner, "adapt", "--source", domains["source"], "--target", domains["target"], "--method", "dan",
                 "--out", tmp_path / "m", code=2)
    assert "dann" in result.output


def test_drift_exit_code_tells_scripts_what_happened(runner, probe_model, domains):
    same = json.loads(run(runner, "drift", probe_model, domains["same"], "--json").stdout)
    assert same["severity"] == "none" and same["drifted"] is False
    shifted = run(runner, "drift", probe_model, domains["target_eval"], "--json", code=3)
    report = json.loads(shifted.stdout)
    assert report["severity"] in ("mild", "strong") and min(report["mmd_p_value"], report["domain_p_value"]) < 0.005
    assert report["most_shifted_classes"]


def test_drift_adapt_saves_a_model_whose_parent_is_the_old_one(runner, probe_model, domains, tmp_path):
    out = tmp_path / "readapted"
    result = run(runner, "drift", probe_model, domains["target_eval"], "--adapt", "--out", out, "--json", code=3)
    readapt = json.loads(result.stdout)["readapt"]
    assert readapt["source"]["kind"] == "training data"  # the probe's data folder still exists, unchanged
    lineage = json.loads((out / "lineage.json").read_text())
    assert lineage["parent"]["model"] == str(probe_model.absolute())
    assert len(lineage["parent"]["model_sha256"]) == 64 and lineage["adaptation"]["drift"]["drifted"]
    assert "--adapt needs --out" in run(runner, "drift", probe_model, domains["same"], "--adapt", code=2).output


def test_drift_help_documents_the_exit_code(runner):
    assert "3 drift found" in run(runner, "drift", "--help").stdout


def test_cluster_writes_assignments_and_central_examples(runner, domains, tmp_path):
    result = run(runner, "cluster", domains["source"], "--backbone", "test_cnn", "--k", "3", "--out", tmp_path, "--json")
    report = json.loads(result.stdout)
    assert report["embedding"]["k"] == 3 and report["raw"]["k"] == 3
    assert 0 <= report["embedding"]["nmi"] <= 1 and report["raw"]["nmi"] is not None
    rows = (tmp_path / "assignments.csv").read_text().splitlines()
    assert rows[0] == "item,cluster,distance_to_centre,label" and len(rows) == 31
    assert len((tmp_path / "central.csv").read_text().splitlines()) == 1 + 3 * 5


def test_fewshot_reports_intervals_and_refuses_k_larger_than_a_class(runner, domains):
    result = run(runner, "fewshot", domains["source"], "--backbone", "test_cnn", "--n-way", "3", "--k-shot", "2",
                 "--n-query", "3", "--episodes", "5", "--json")
    methods = json.loads(result.stdout)["methods"]
    assert set(methods) == {"protonet", "probe"}
    assert methods["protonet"]["ci95"][0] <= methods["protonet"]["mean"] <= methods["protonet"]["ci95"][1]
    bad = run(runner, "fewshot", domains["source"], "--backbone", "test_cnn", "--n-way", "3", "--k-shot", "12", code=2)
    assert "has 10 example(s)" in bad.output and "k_shot + n_query" in bad.output


def test_fewshot_setfit_trains_and_saves_a_text_model(runner, tmp_path, tiny_text_csv):
    result = run(runner, "fewshot", tiny_text_csv, "--method", "setfit", "--backbone", "test_text", "--k-shot", "3",
                 "--out", tmp_path / "m", "--json")
    report = json.loads(result.stdout)
    assert report["n_train"] == 6 and (tmp_path / "m" / "config.json").is_file()
    assert "give --out" in run(runner, "fewshot", tiny_text_csv, "--method", "setfit", code=2).output
