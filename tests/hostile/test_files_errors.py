"""Issue 9 §4 (the files half), as a careless user: each of these was a traceback; now a clear
error (exit 1 or 2) that names the thing and the fix, or a skipped file with a note."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

import graft
from graft.cli.main import app


def run(*args: object, code: int = 0):
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == code, f"exit {result.exit_code}, wanted {code}\n{result.output}\n{result.exception!r}"
    assert "Traceback" not in result.output
    return result


@pytest.fixture(scope="module")
def image_model(tiny_images, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("errors") / "colours"
    graft.probe(tiny_images, "test_cnn", out=out)
    return out


def test_predict_out_naming_a_folder(image_model, tiny_images, tmp_path):
    result = run("predict", image_model, tiny_images / "test", "--out", tmp_path, code=2)
    assert "is a folder" in result.stderr and "predictions.csv" in result.stderr


def test_predict_on_an_empty_folder(image_model, tmp_path):
    (tmp_path / "empty").mkdir()
    result = run("predict", image_model, tmp_path / "empty", code=2)
    assert str(tmp_path / "empty") in result.stderr and "no image files" in result.stderr


def test_predict_with_an_empty_string_does_not_walk_the_current_folder(image_model, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run("predict", image_model, "", code=2)
    assert "empty string" in result.stderr


def test_predict_on_a_folder_with_one_non_image_file_skips_it(image_model, tiny_images, tmp_path):
    folder = Path(shutil.copytree(tiny_images / "test", tmp_path / "incoming"))
    (folder / "red" / "notes.txt").write_text("not an image")
    (folder / "red" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    result = run("predict", image_model, folder, "--json")
    assert len(__import__("json").loads(result.stdout)) == 12  # every image, and only images
    assert "notes.txt" in result.stderr and "broken.png" in result.stderr and "skipped" in result.stderr


@pytest.mark.parametrize("kind", ["a file", "under a file"])
def test_an_unusable_graft_cache_fails_before_any_item_is_embedded(tiny_images, tmp_path, monkeypatch, kind):
    import graft.features.extract as extract

    blocker = tmp_path / "cache-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("GRAFT_CACHE", str(blocker if kind == "a file" else blocker / "sub"))

    def no_work(*args, **kwargs):
        raise AssertionError("items were embedded before the cache was checked")

    monkeypatch.setattr(extract, "extract", no_work)
    result = run("embed", tiny_images, "--backbone", "test_cnn", code=1)
    assert "GRAFT_CACHE" in result.stderr and str(blocker) in result.stderr
