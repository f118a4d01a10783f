"""Data of another modality than the backbone's is refused before any work, saying what to choose."""

from __future__ import annotations

import wave
from pathlib import Path

import pytest
from typer.testing import CliRunner

import graft
from graft.cli.main import app
from graft.errors import UsageError
from graft.features.extract import check_items


def _wav(path: Path) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(16000), w.writeframes(b"\0\0" * 1600)
    return path


@pytest.mark.parametrize("backbone, items, says", [
    ("test_cnn", ["the senate passed the bill"], "test_cnn is an image backbone and reads image files, but got "
                                                 "'the senate passed the bill', not a file; for text data"),
    ("test_audio", ["the senate passed the bill"], "test_audio is an audio backbone"),
    ("test_text", "image", "test_text is a text backbone, but the data are files"),
    ("test_cnn", "audio", "test_cnn is an image backbone, but the data are audio files"),
    ("test_audio", "image", "test_audio is an audio backbone, but the data are image files"),
])
def test_items_of_another_modality_are_refused_naming_what_to_choose(backbone, items, says, tiny_images, tmp_path):
    if items == "image":
        items = sorted(tiny_images.rglob("*.png"))[:2]
    elif items == "audio":
        items = [_wav(tmp_path / "a.wav")]
    with pytest.raises(UsageError, match="graft models --modality") as caught:
        check_items(items, backbone)
    assert says in str(caught.value)


def test_items_the_backbone_reads_pass(tiny_images, tmp_path):
    check_items(sorted(tiny_images.rglob("*.png"))[:2], "test_cnn")
    check_items([str(p) for p in sorted(tiny_images.rglob("*.png"))[:2]], "test_cnn")
    check_items([_wav(tmp_path / "a.wav")], "test_audio")
    check_items(["a sentence"], "test_text")
    check_items([], "test_cnn")


def test_probe_fit_and_finetune_refuse_text_for_an_image_backbone_with_exit_2(tiny_text_csv, tmp_path):
    for args in (["probe", str(tiny_text_csv), "-b", "test_cnn", "--out", str(tmp_path / "p")],
                 ["fit", str(tiny_text_csv), "-b", "test_cnn", "--out", str(tmp_path / "f")],
                 ["finetune", str(tiny_text_csv), "-b", "test_cnn", "--epochs", "1", "--out", str(tmp_path / "t")]):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        assert "test_cnn is an image backbone" in result.output and "--modality text" in result.output
    assert not any((tmp_path / d).exists() for d in "pft")
    with pytest.raises(UsageError, match="an image backbone"):
        graft.embed(tiny_text_csv, "test_cnn")
