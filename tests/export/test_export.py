"""ONNX export: one graph to probabilities, parity with PyTorch, preprocessing as data, and an
exported folder that graft.load / predict / evaluate use like the saved model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from typer.testing import CliRunner

import graft
from graft.cli.main import app
from graft.errors import GraftError, UsageError
from graft.export.driver import ExportSettings, export_model
from graft.export.preprocess import Preprocessor
from graft.export.runtime import ExportedModel

runner = CliRunner()


def _images(root: Path) -> list[Path]:
    return sorted((root / "test").rglob("*.png"))


def test_export_writes_a_checked_graph_with_preprocessing_classes_and_card(cnn_export, cnn_model, tiny_images):
    info = json.loads((cnn_export / "config.json").read_text())
    onnx.checker.check_model(str(cnn_export / "model.onnx"), full_check=True)
    assert info["format"] == "graft-onnx" and info["classes"] == ["blue", "green", "red"]
    assert info["inputs"] == [{"name": "pixel_values", "datatype": "FP32", "shape": ["batch", 3, 32, 32]}]
    assert info["preprocess"]["kind"] == "image" and info["preprocess"]["crop"] == [32, 32]
    assert info["parity"]["max_abs_difference"] <= 1e-4 and info["parity"]["n"] == len(graft.read(tiny_images).train)
    assert info["parent"]["path"] == str(cnn_model) and len(info["parent"]["model_sha256"]) == 64
    card = (cnn_export / "README.md").read_text()
    assert str(cnn_model) in card and "test_cnn" in card and "## int8 (static)" in card
    assert (cnn_export / "lineage.json").is_file() and not any(p.name.startswith(".") for p in cnn_export.parent.iterdir())


def test_graph_has_a_dynamic_batch_axis_and_runs_with_onnxruntime_alone(cnn_export, tiny_images):
    """What a client does: preprocess from config.json, run the file with onnxruntime."""
    info = json.loads((cnn_export / "config.json").read_text())
    pre = Preprocessor(info["preprocess"], cnn_export)
    session = ort.InferenceSession(str(cnn_export / "model.onnx"), providers=["CPUExecutionProvider"])
    files = _images(tiny_images)
    for n in (1, 5):
        proba = session.run(None, pre(files[:n]))[0]
        assert proba.shape == (n, 3) and np.allclose(proba.sum(1), 1, atol=1e-5)
    labels = [info["classes"][i] for i in session.run(None, pre(files))[0].argmax(1)]
    assert labels == [f.parent.name for f in files]  # colours are easy for the probe


def test_exported_folder_predicts_and_evaluates_like_the_saved_model(cnn_export, cnn_model, tiny_images):
    files = _images(tiny_images)
    exported, saved = graft.load(cnn_export), graft.load(cnn_model)
    assert isinstance(exported, ExportedModel)
    assert np.abs(exported.predict_proba(files) - saved.predict_proba(files)).max() <= 1e-4
    rows_onnx, rows_torch = graft.predict(cnn_export, [tiny_images / "test"]), graft.predict(cnn_model, [tiny_images / "test"])
    assert [r["label"] for r in rows_onnx] == [r["label"] for r in rows_torch]
    e_onnx, e_torch = graft.evaluate(cnn_export, tiny_images), graft.evaluate(cnn_model, tiny_images)
    assert e_onnx["accuracy"] == e_torch["accuracy"] and e_onnx["confusion_matrix"] == e_torch["confusion_matrix"]
    result = runner.invoke(app, ["predict", str(cnn_export), str(files[0]), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)[0]["label"] == files[0].parent.name
    result = runner.invoke(app, ["evaluate", str(cnn_export), str(tiny_images), "--json"])
    assert result.exit_code == 0 and json.loads(result.output)["accuracy"] == e_torch["accuracy"]
    with pytest.raises(UsageError, match="not embeddings; use the saved model"):
        exported.embed(files)


def test_static_int8_is_judged_on_the_test_split_and_recorded(cnn_export, tiny_images):
    info = json.loads((cnn_export / "config.json").read_text())
    q = info["quantization"]
    assert q["method"] == "static" and q["split"] == "test" and q["n"] == 12 and q["calibration_items"] == len(graft.read(tiny_images).train)
    assert q["top1_agreement"] >= 0.99 and q["accepted"] and info["files"]["int8"] == "model.int8.onnx"
    assert "accuracy_change" in q and f"{q['top1_agreement']:.2%}" in (cnn_export / "README.md").read_text()
    int8 = ExportedModel.load(cnn_export, variant="int8")
    onnx_model = onnx.load(str(cnn_export / "model.int8.onnx"))
    assert any(node.op_type == "QuantizeLinear" for node in onnx_model.graph.node)  # QDQ format
    files = _images(tiny_images)
    assert int8.predict(files) == ExportedModel.load(cnn_export).predict(files)


def test_text_export_with_dynamic_int8_keeps_predictions(text_model, tiny_text_csv, tmp_path):
    out = tmp_path / "onnx"
    result = export_model(text_model, out, quantize="dynamic")
    assert result["parity"]["max_abs_difference"] <= 1e-4
    info = json.loads((out / "config.json").read_text())
    assert [i["name"] for i in info["inputs"]] == ["input_ids", "attention_mask"]
    assert info["inputs"][0]["shape"] == ["batch", "sequence"]
    texts = ["fresh mango and cherry pie", "turbo gearbox", "", "a much longer sentence about engine oil and tyres"]
    assert np.abs(graft.load(out).predict_proba(texts) - graft.load(text_model).predict_proba(texts)).max() <= 1e-4
    assert result["quantization"]["method"] == "dynamic" and result["quantization"]["split"] == "val"


def test_parity_failure_names_the_largest_difference_and_writes_nothing(cnn_model, tmp_path):
    out = tmp_path / "onnx"
    with pytest.raises(GraftError, match=r"differ by .* on item \d+ .*class '(blue|green|red)'"):
        export_model(cnn_model, out, settings=ExportSettings(tolerance=1e-15))
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_int8_below_agreement_is_refused_keeping_fp32_unless_forced(cnn_model, tmp_path, monkeypatch):
    """A quantised graph that disagrees on half the test items (simulated) must not ship."""
    from graft.export import quantize

    real = quantize.judge

    def half_wrong(fp32, int8, labels):
        result = real(fp32, int8, labels)
        return {**result, "top1_agreement": 0.5}

    monkeypatch.setattr(quantize, "judge", half_wrong)
    out = tmp_path / "onnx"
    result = runner.invoke(app, ["export", str(cnn_model), "--out", str(out), "--quantize", "static"])
    assert result.exit_code == 1 and "50.00%" in result.output and "--force" in result.output
    info = json.loads((out / "config.json").read_text())
    assert (out / "model.onnx").is_file() and not (out / "model.int8.onnx").exists()
    assert info["files"]["int8"] is None and info["quantization"]["accepted"] is False
    assert "**Refused**" in (out / "README.md").read_text()
    result = runner.invoke(app, ["export", str(cnn_model), "--out", str(out), "--quantize", "static", "--force"])
    assert result.exit_code == 2 and "--overwrite" in result.output  # an earlier export is not replaced silently
    result = runner.invoke(app, ["export", str(cnn_model), "--out", str(out), "--quantize", "static", "--force", "--overwrite"])
    assert result.exit_code == 0, result.output
    assert (out / "model.int8.onnx").is_file() and json.loads((out / "config.json").read_text())["quantization"]["forced"]


def test_export_refuses_bad_options_and_missing_data(cnn_model, tmp_path):
    with pytest.raises(UsageError, match="--quantize"):
        export_model(cnn_model, tmp_path / "a", quantize="int4")
    with pytest.raises(UsageError, match="only onnx"):
        export_model(cnn_model, tmp_path / "a", format="tflite")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(UsageError, match="not a model folder"):
        export_model(cnn_model, tmp_path / "mine")
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"
    moved = tmp_path / "model"
    import shutil

    shutil.copytree(cnn_model, moved)
    lineage = json.loads((moved / "lineage.json").read_text())
    lineage["dataset"]["source"] = str(tmp_path / "gone")
    (moved / "lineage.json").write_text(json.dumps(lineage))
    with pytest.raises(UsageError, match="--data"):
        export_model(moved, tmp_path / "b")


def test_default_out_is_beside_the_model_and_data_option_is_used(cnn_model, tiny_image_copy, tmp_path):
    import shutil

    model = tmp_path / "fashion"
    shutil.copytree(cnn_model, model)
    result = runner.invoke(app, ["export", str(model), "--data", str(tiny_image_copy), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["path"] == str(tmp_path / "fashion-onnx")
    assert json.loads(result.output)["parity"]["n"] == len(graft.read(tiny_image_copy).train)


def test_a_killed_exports_leftover_temp_is_cleaned_by_the_next_export(cnn_model, tmp_path):
    stale = tmp_path / ".onnx.tmp-999999999-deadbeef"  # named as graft's temps are: this pid is not running
    stale.mkdir()
    (stale / "model.onnx").write_bytes(b"half-written")
    export_model(cnn_model, tmp_path / "onnx")
    assert not stale.exists() and (tmp_path / "onnx" / "model.onnx").is_file()
