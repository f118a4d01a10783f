"""Issue 9 §2, as a careless user: nothing graft reads back can silently be the wrong thing: a
checkpoint of other data, corrupted weights, a config that does not fit its head, an embeddings
pair from two runs, inputs of another kind than the model's, scores on the training items."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import graft
from graft.cli.main import app
from graft.errors import DataError, GraftError, UsageError


@pytest.fixture(scope="module")
def image_model(tiny_images, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("integrity") / "colours"
    graft.probe(tiny_images, "test_cnn", out=out)
    return out


def fresh_copy(model: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(model, tmp_path / "model"))


# --- resume --------------------------------------------------------------------------------------
def test_resume_refuses_a_checkpoint_of_other_data(make_images, tmp_path, monkeypatch):
    from graft.train.config import TrainConfig
    from graft.train.finetune import finetune
    from graft.train.loop import Trainer

    config = TrainConfig(epochs=1, batch_size=8, augment=False)
    a = make_images(tmp_path / "a", {"train": 6}, seed=1)
    b = make_images(tmp_path / "b", {"train": 6}, seed=2)  # same 3 classes, other images
    out = tmp_path / "model"
    monkeypatch.setattr(Trainer, "_clear_checkpoint", lambda self: None)  # as if killed after the epoch
    finetune(a, "test_cnn", "full", out=out, config=config)
    assert (tmp_path / ".model.train" / "checkpoint.pt").is_file()

    with pytest.raises(UsageError, match="other data") as info:
        finetune(b, "test_cnn", "full", out=out, config=config, resume=True)
    assert "--resume" in str(info.value)

    two = tmp_path / "two"
    for name in ("red", "green"):  # a dataset with one class fewer
        shutil.copytree(b / "train" / name, two / name)
    with pytest.raises(UsageError, match="3 classes"):
        finetune(two, "test_cnn", "full", out=out, config=config, resume=True)


# --- weights hashes ------------------------------------------------------------------------------
def test_corrupted_weights_are_an_error_naming_the_file(image_model, tiny_images, tmp_path):
    target = fresh_copy(image_model, tmp_path)
    weights = target / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-40:-8] = bytes(32)  # bytes inside the tensor data, the header still parses
    weights.write_bytes(bytes(data))
    with pytest.raises(GraftError, match="corrupted") as info:
        graft.load(target)
    assert str(weights) in str(info.value)
    result = CliRunner().invoke(app, ["predict", str(target), str(tiny_images / "test")])
    assert result.exit_code == 1 and "corrupted" in result.stderr


def test_a_model_saved_without_checksums_loads_with_a_warning(image_model, tmp_path, caplog):
    target = fresh_copy(image_model, tmp_path)
    config = json.loads((target / "config.json").read_text())
    del config["files"]
    (target / "config.json").write_text(json.dumps(config))
    with caplog.at_level(logging.WARNING):
        model = graft.load(target)
    assert model.classes == ["blue", "green", "red"]
    assert "without checksums" in caplog.text


# --- config.json against the head -----------------------------------------------------------------
@pytest.mark.parametrize("change, message", [
    (lambda c: c.update(classes=c["classes"][:2]), "2 classes but the head"),
    (lambda c: c.update(classes=c["classes"] + ["purple"]), "4 classes but the head"),
    (lambda c: c.update(classes=["blue", "blue", "red"]), "more than once"),
    (lambda c: c.update(format_version=99), "format_version 99"),
    (lambda c: c.update(format_version="one"), "format_version 'one'"),
])
def test_a_config_that_does_not_fit_the_model_is_refused(image_model, tmp_path, change, message):
    target = fresh_copy(image_model, tmp_path)
    config = json.loads((target / "config.json").read_text())
    change(config)
    (target / "config.json").write_text(json.dumps(config))
    with pytest.raises(GraftError, match=message) as info:
        graft.load(target)
    assert "config.json" in str(info.value)


# --- embeddings pair --------------------------------------------------------------------------------
def test_an_embeddings_file_and_a_sidecar_of_another_run_are_refused(tiny_images, tiny_image_copy, tmp_path):
    from graft.adapt.driver import read_embeddings_file
    from graft.api import embed_to_file, load_embeddings

    out = tmp_path / "p.npy"
    embed_to_file(tiny_images, out, "test_cnn")
    X, meta = load_embeddings(out)
    assert X.shape[0] == len(meta["labels"]) == 42
    old_sidecar = (tmp_path / "p.json").read_bytes()
    embed_to_file(tiny_image_copy, out, "test_cnn", overwrite=True)
    (tmp_path / "p.json").write_bytes(old_sidecar)  # a kill between the two renames leaves this pair
    with pytest.raises(DataError, match="describe different data"):
        load_embeddings(out)
    with pytest.raises(DataError, match="describe different data"):
        read_embeddings_file(out)  # what graft adapt reads .npy sources with


# --- modality ---------------------------------------------------------------------------------------
def test_inputs_of_another_kind_than_the_models_are_refused(image_model, tiny_text_csv, tiny_images, tmp_path):
    text_model = graft.probe(tiny_text_csv, "test_text")
    some_file = next((tiny_images / "test").rglob("*.png"))
    with pytest.raises(UsageError, match="text model"):
        graft.predict(text_model, [str(some_file)])
    texts = ["ripe banana and mango", "engine " * 80, "a\x00b"]  # a text too long for a file name, a NUL
    assert len(graft.predict(text_model, texts)) == 3
    with pytest.raises(UsageError, match="table"):
        graft.predict(image_model, [str(tiny_text_csv)])
    with pytest.raises(UsageError, match="input not found"):
        graft.predict(image_model, ["engine " * 80])  # a text given to an image model
    with pytest.raises(UsageError, match="text data"):
        graft.evaluate(image_model, tiny_text_csv)
    result = CliRunner().invoke(app, ["predict", str(image_model), str(tiny_text_csv)])
    assert result.exit_code == 2 and "image model" in result.stderr


# --- evaluating on the training data -------------------------------------------------------------------
def test_evaluate_on_the_training_items_says_so(tiny_image_copy, tiny_images, image_model, tmp_path):
    out = tmp_path / "m"
    graft.probe(tiny_image_copy, "test_cnn", out=out)  # no test split: all 18 items train or validate
    r = graft.evaluate(out, tiny_image_copy)
    assert r["seen_in_training"] == {"n": 18, "fraction": 1.0}
    assert "used to train this model" in r["note"]
    cli = CliRunner().invoke(app, ["evaluate", str(out), str(tiny_image_copy)])
    assert cli.exit_code == 0 and "used to train this model" in cli.stderr

    held_out = graft.evaluate(image_model, tiny_images)  # its test split: never trained on
    assert held_out["seen_in_training"]["n"] == 0 and "note" not in held_out
    np.testing.assert_equal(held_out["n"], 12)
