"""Models to serve (tiny test backbones) and a TestClient that waits until they are ready."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

import graft

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from serve_helpers import TOKEN, wait_ready  # noqa: E402


@pytest.fixture(scope="session")
def image_model(tiny_images: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("serve-models") / "colours"
    graft.probe(tiny_images, "test_cnn", out=out)
    return out


@pytest.fixture(scope="session")
def text_model(tiny_text_csv: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("serve-models") / "topics"
    graft.probe(tiny_text_csv, "test_text", out=out)
    return out


@pytest.fixture(scope="module")
def client(image_model: Path, text_model: Path) -> Iterator:
    from fastapi.testclient import TestClient

    from graft.serve import ServeSettings, create_app

    app = create_app([image_model, text_model], ServeSettings(token=TOKEN, max_body_bytes=64 * 1024, max_inputs=8))
    with TestClient(app) as c:
        wait_ready(c)
        yield c
