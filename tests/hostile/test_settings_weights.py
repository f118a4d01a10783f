"""Issue 9 §4: a bad --weights or an unknown hub architecture is a clear error (exit 2) naming the
thing and the fix, never a traceback, and never blamed on something else."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from graft.backbones import create_backbone
from graft.cli.main import app
from graft.errors import UsageError


def cli(*args: object):
    return CliRunner().invoke(app, [str(a) for a in args])


def test_weights_that_do_not_exist_name_the_file_and_what_to_pass(tiny_images, tmp_path: Path):
    result = cli("probe", tiny_images, "--out", tmp_path / "m", "-b", "test_cnn", "--weights", tmp_path / "nope.safetensors")
    assert result.exit_code == 2, result.output
    assert "nope.safetensors: no such file" in result.output and "'random'" in result.output
    assert not isinstance(result.exception, FileNotFoundError)


def test_weights_that_are_a_folder_say_so(tiny_images, tmp_path: Path):
    folder = tmp_path / "ckpt"
    folder.mkdir()
    result = cli("probe", tiny_images, "--out", tmp_path / "m", "-b", "test_cnn", "--weights", folder)
    assert result.exit_code == 2, result.output
    assert "is a folder, not a weights file" in result.output


def test_weights_random_is_accepted_as_deliberate_random_init(tiny_images, tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no file named "random" here
    result = cli("probe", tiny_images, "--out", tmp_path / "m", "-b", "test_cnn", "--weights", "random", "--json")
    assert result.exit_code == 0, result.output
    config = (tmp_path / "m" / "config.json").read_text()
    assert '"weights_sha256": "random"' in config
    help_text = " ".join(cli("probe", "--help").output.replace("│", " ").split())
    assert "or 'random' for deliberate random initialisation" in help_text


def test_the_api_treats_a_path_named_random_like_the_word(monkeypatch, tmp_path: Path):
    monkeypatch.chdir(tmp_path)
    assert create_backbone("test_cnn", weights=Path("random")).weights_sha256 == "random"


def test_a_model_probed_with_path_random_records_the_word_and_predicts(tiny_images, monkeypatch, tmp_path: Path):
    import json

    import graft

    monkeypatch.chdir(tmp_path)
    model = graft.probe(tiny_images, "test_cnn", weights=Path("random"), out=tmp_path / "m")
    assert json.loads((tmp_path / "m" / "config.json").read_text())["backbone"]["weights_file"] == "random"
    assert len(graft.load(tmp_path / "m").predict(sorted((tiny_images / "test").rglob("*.png"))[:2])) == 2


@pytest.mark.parametrize("download", [False, True])
def test_unknown_timm_name_blames_the_name_not_the_weights(download):
    with pytest.raises(UsageError, match="timm has no architecture named 'does_not_exist'") as caught:
        create_backbone("timm:does_not_exist", allow_download=download)
    assert "weights" not in str(caught.value).split("List them")[0]


def test_unknown_name_suggests_close_real_names():
    with pytest.raises(UsageError, match="Did you mean: resnet50"):
        create_backbone("timm:resnet5", allow_download=True)
    with pytest.raises(UsageError, match="torchvision has no architecture named 'resnet5'"):
        create_backbone("torchvision:resnet5")


def test_unknown_hub_name_on_the_cli_exits_2(tiny_images, tmp_path: Path):
    result = cli("embed", tiny_images, "-b", "timm:does_not_exist", "--allow-download")
    assert result.exit_code == 2 and "no architecture named 'does_not_exist'" in result.output
