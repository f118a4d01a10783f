"""Saved models to export: tiny test backbones, probed once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

import graft

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")


@pytest.fixture(scope="session")
def cnn_model(tiny_images: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A probe on ``test_cnn`` over the tiny colour images (train 10 / test 4 per class)."""
    out = tmp_path_factory.mktemp("cnn") / "model"
    graft.probe(tiny_images, "test_cnn", out=out)
    return out


@pytest.fixture(scope="session")
def text_model(tiny_text_csv: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A probe on ``test_text`` (hashed words) over the two-topic CSV."""
    out = tmp_path_factory.mktemp("text") / "model"
    graft.probe(tiny_text_csv, "test_text", out=out)
    return out


@pytest.fixture(scope="session")
def cnn_export(cnn_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``cnn_model`` exported with static int8 (read-only for tests)."""
    out = tmp_path_factory.mktemp("cnn-export") / "onnx"
    graft.export_model(cnn_model, out, quantize="static")
    return out
