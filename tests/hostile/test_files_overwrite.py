"""Issue 9 §1, as a careless user: re-running a command onto an existing output never deletes or
replaces the user's files. Without --overwrite it is a clear error naming the folder and the flag;
with it graft replaces only what it wrote itself."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import graft
from graft.cli.main import app
from graft.errors import UsageError


def run(*args: object, code: int = 0):
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == code, f"exit {result.exit_code}, wanted {code}\n{result.output}\n{result.exception!r}"
    return result


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_datasets_make_over_an_earlier_build_keeps_the_users_files(tmp_path):
    root = tmp_path / "digits"
    run("datasets", "make", "digits", root, "--per-class", "2")
    class_dir = next(p for p in (root / "train").iterdir() if p.is_dir())
    (root / "notes.md").write_text("my notes")
    (root / "train" / "my-extra-class").mkdir()
    (root / "train" / "my-extra-class" / "x.png").write_bytes(b"user image")
    (class_dir / "added-by-me.png").write_bytes(b"user image 2")
    before = snapshot(root)

    refused = run("datasets", "make", "digits", root, "--per-class", "3", code=2)
    assert str(root) in refused.stderr and "--overwrite" in refused.stderr
    assert snapshot(root) == before  # nothing touched

    run("datasets", "make", "digits", root, "--per-class", "3", "--overwrite")
    assert json.loads((root / "DATASET.json").read_text())["per_class"] == 3
    assert (root / "notes.md").read_text() == "my notes"
    assert (root / "train" / "my-extra-class" / "x.png").read_bytes() == b"user image"
    assert (class_dir / "added-by-me.png").read_bytes() == b"user image 2"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "temp folders left behind"


def test_probe_onto_an_existing_model_needs_overwrite_and_keeps_extra_files(tiny_images, tiny_text_csv, tmp_path):
    out = tmp_path / "model"
    run("probe", tiny_images, "--backbone", "test_cnn", "--out", out)
    (out / "my-notes.txt").write_text("keep me")
    before = snapshot(out)

    refused = run("probe", tiny_text_csv, "--backbone", "test_text", "--out", out, code=2)
    assert str(out) in refused.stderr and "--overwrite" in refused.stderr
    assert snapshot(out) == before  # still the 3-class image model, notes included

    run("probe", tiny_text_csv, "--backbone", "test_text", "--out", out, "--overwrite")
    assert graft.load(out).classes == ["cars", "fruit"]
    assert (out / "my-notes.txt").read_text() == "keep me"


@pytest.mark.parametrize("command", [
    ["probe"], ["finetune"], ["fit"], ["adapt"], ["drift"], ["embed"], ["predict"], ["verify"], ["lr-find"],
    ["cluster"], ["fewshot"], ["demo"], ["datasets", "make"]])
def test_every_command_that_writes_has_the_overwrite_flag(command):
    assert "--overwrite" in run(*command, "--help").stdout


def test_file_outputs_are_refused_without_overwrite(tiny_images, tmp_path):
    npy = tmp_path / "emb.npy"
    run("embed", tiny_images, "--backbone", "test_cnn", "--out", npy)
    first = npy.read_bytes()
    refused = run("embed", tiny_images, "--backbone", "test_cnn", "--out", npy, code=2)
    assert str(npy) in refused.stderr and "--overwrite" in refused.stderr
    assert npy.read_bytes() == first
    run("embed", tiny_images, "--backbone", "test_cnn", "--out", npy, "--overwrite")
    (tmp_path / "notes.json").write_text("{}")  # a user's JSON where the sidecar would go
    run("embed", tiny_images, "--backbone", "test_cnn", "--out", tmp_path / "notes.npy", code=2)
    assert (tmp_path / "notes.json").read_text() == "{}" and not (tmp_path / "notes.npy").exists()

    model = tmp_path / "m"
    graft.probe(tiny_images, "test_cnn", out=model)
    csv = tmp_path / "p.csv"
    csv.write_text("my spreadsheet")
    refused = run("predict", model, tiny_images / "test", "--out", csv, code=2)
    assert "--overwrite" in refused.stderr and csv.read_text() == "my spreadsheet"


def test_overwriting_never_replaces_a_folder_of_other_files(tiny_images, tmp_path):
    precious = tmp_path / "photos"
    precious.mkdir()
    (precious / "holiday.jpg").write_bytes(b"not a model")
    result = run("probe", tiny_images, "--backbone", "test_cnn", "--out", precious, "--overwrite", code=2)
    assert "not a graft model directory" in result.stderr
    assert snapshot(precious) == {"holiday.jpg": b"not a model"}


def test_a_user_file_with_a_name_graft_now_writes_is_not_lost(tiny_images, tmp_path):
    """An older model folder plus a user file named like one the new model writes: refuse, keep it."""
    model = graft.probe(tiny_images, "test_cnn")
    target = model.save(tmp_path / "m")
    config = json.loads((target / "config.json").read_text())
    config["files"].pop("reference.safetensors")  # as if the earlier save wrote no reference
    (target / "config.json").write_text(json.dumps(config))
    (target / "reference.safetensors").unlink()
    model.extra_files["notes.txt"] = b"graft's notes"
    (target / "notes.txt").write_text("the user's notes")
    with pytest.raises(UsageError, match="notes.txt"):
        model.save(target, overwrite=True)
    assert (target / "notes.txt").read_text() == "the user's notes"
