"""Saved models: four plain files, written atomically, loaded without pickle, predicting the same."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest

import graft
from graft.errors import GraftError, UsageError
from graft.models import SavedModel


@pytest.fixture(scope="module")
def probed(tiny_images, tmp_path_factory):
    """A test_cnn probe trained on the tiny colour dataset, saved once for the module."""
    out = tmp_path_factory.mktemp("models") / "colours"
    model = graft.probe(tiny_images, "test_cnn", out=out)
    return model, out


def _items(tiny_images: Path) -> list[Path]:
    return sorted((tiny_images / "test").rglob("*.png"))


def _front_matter(card: str) -> dict:
    import yaml

    assert card.startswith("---\n")
    return yaml.safe_load(card.split("---\n")[1])


def test_save_writes_the_four_files(probed):
    _, out = probed
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "config.json", "lineage.json", "model.safetensors",
                                                     "reference.safetensors", "training_items.safetensors"]
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")], "temp dirs left behind"


def test_config_names_backbone_classes_head_and_preprocessing(probed):
    _, out = probed
    config = json.loads((out / "config.json").read_text())
    assert config["classes"] == ["blue", "green", "red"]
    assert config["backbone"]["name"] == "test_cnn"
    assert config["backbone"]["weights_sha256"]
    assert config["method"] == "probe" and config["head"]["type"] == "linear" and config["head"]["C"] > 0
    assert config["preprocess"]["image_size"] == 32
    assert config["format_version"] == 1


def test_model_card_has_hugging_face_metadata(probed, tiny_images):
    _, out = probed
    card = (out / "README.md").read_text()
    meta = _front_matter(card)
    assert meta["base_model"] == "test_cnn"
    assert meta["license"] == "apache-2.0"
    assert len(meta["datasets"]) == 1
    metrics = meta["model-index"][0]["results"][0]["metrics"]
    names = {m["name"] for m in metrics}
    assert {"val accuracy", "test accuracy", "test macro_f1"} <= names
    assert all(0.0 <= m["value"] <= 1.0 for m in metrics)
    assert "`blue`, `green`, `red`" in card and "graft.load" in card


def test_lineage_records_parent_data_versions_and_metrics(probed, tiny_images):
    model, out = probed
    lineage = json.loads((out / "lineage.json").read_text())
    assert lineage["parent"]["backbone"] == "test_cnn"
    assert lineage["dataset"]["fingerprint"] == graft.read(tiny_images).fingerprint
    assert lineage["dataset"]["splits"] == {"train": 24, "val": 6, "test": 12}
    assert {"python", "graft", "numpy", "torch"} <= set(lineage["versions"])
    assert set(lineage["metrics"]) == {"val", "test"}
    assert lineage["metrics"]["test"]["n"] == 12
    assert lineage["settings"]["chosen_C"] == model.config.head["C"]
    assert lineage["created"]


def test_saved_weights_hash_is_the_backbone_weights_sha256(tiny_images, tmp_path):
    """config.json promises the backbone's *weights* sha256 (issue 2, §5), so a user can check
    which weights a model was built on; with a checkpoint file it must be that file's hash."""
    import torch

    from graft.backbones import create_backbone
    from graft.backbones.weights import sha256_file

    ckpt = tmp_path / "cnn.pt"
    torch.save(create_backbone("test_cnn", seed=1).state_dict(), ckpt)
    model = graft.probe(tiny_images, "test_cnn", weights=ckpt)
    assert model.config.backbone.weights_sha256 == sha256_file(ckpt)


def test_round_trip_gives_identical_predictions(probed, tiny_images):
    model, out = probed
    items = _items(tiny_images)
    loaded = graft.load(out)
    assert loaded.classes == model.classes
    assert loaded.predict(items) == model.predict(items)
    np.testing.assert_allclose(loaded.predict_proba(items), model.predict_proba(items), atol=1e-5)
    # saved → loaded → saved again → loaded: bit-identical
    again = SavedModel.load(loaded.save(out.parent / "copy"))
    np.testing.assert_array_equal(again.predict_proba(items), loaded.predict_proba(items))
    # and the colours are actually learned
    truth = [p.parent.name for p in items]
    assert np.mean(np.array(loaded.predict(items)) == np.array(truth)) >= 0.75


def test_loading_never_unpickles(probed, tiny_images, monkeypatch):
    import torch

    def forbidden(*args, **kwargs):
        raise AssertionError("loading a saved model must not unpickle anything")

    for target, name in ((pickle, "load"), (pickle, "loads"), (torch, "load")):
        monkeypatch.setattr(target, name, forbidden)
    model = SavedModel.load(probed[1])
    assert len(model.predict(_items(tiny_images)[:2])) == 2


def test_a_failed_save_leaves_the_old_model_intact(probed, tmp_path, monkeypatch):
    import graft.models.saved as saved

    model, _ = probed
    target = model.save(tmp_path / "model")
    before = {p.name: p.read_bytes() for p in target.iterdir()}

    def crash(*args, **kwargs):
        raise OSError("disk full while writing the card")

    monkeypatch.setattr(saved, "render_card", crash)
    model.head.bias = model.head.bias + 1.0  # a changed model that must not half-replace the old one
    try:
        with pytest.raises(OSError, match="disk full"):
            model.save(target, overwrite=True)
    finally:
        model.head.bias = model.head.bias - 1.0
    assert {p.name: p.read_bytes() for p in target.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["model"], "temp dirs left behind"


def test_overwriting_a_model_replaces_only_graft_files(probed, tmp_path):
    model, _ = probed
    target = model.save(tmp_path / "model")
    (target / "notes.txt").write_text("the user's own notes")
    (target / "model.safetensors").write_bytes(b"an older graft file")  # graft's own: replaced
    model.save(target, overwrite=True)
    assert (target / "notes.txt").read_text() == "the user's own notes"
    assert graft.load(target).classes == model.classes
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_saving_over_a_folder_that_is_not_a_model_is_refused(probed, tmp_path):
    model, _ = probed
    precious = tmp_path / "my-photos"
    precious.mkdir()
    (precious / "holiday.jpg").write_bytes(b"not a model")
    with pytest.raises(UsageError, match="not a graft model"):
        model.save(precious)
    assert (precious / "holiday.jpg").read_bytes() == b"not a model"


def test_saving_refuses_an_existing_model_by_default(probed, tmp_path):
    model, _ = probed
    target = model.save(tmp_path / "model")
    with pytest.raises(UsageError, match="--overwrite"):
        model.save(target)


@pytest.mark.parametrize("damage", ["missing_dir", "no_config", "bad_json", "unknown_field", "no_weights",
                                    "bad_weights", "wrong_tensors"])
def test_a_bad_model_directory_is_a_clear_error(probed, tmp_path, damage):
    import shutil

    _, out = probed
    target = tmp_path / "model"
    if damage != "missing_dir":
        shutil.copytree(out, target)
    if damage == "no_config":
        (target / "config.json").unlink()
    elif damage == "bad_json":
        (target / "config.json").write_text("{not json")
    elif damage == "unknown_field":
        config = json.loads((target / "config.json").read_text())
        config["colour"] = "blue"
        (target / "config.json").write_text(json.dumps(config))
    elif damage == "no_weights":
        (target / "model.safetensors").unlink()
    elif damage == "bad_weights":
        (target / "model.safetensors").write_bytes(b"\x00" * 64)
    elif damage == "wrong_tensors":
        from safetensors.numpy import save_file

        save_file({"something.else": np.zeros(3, np.float32)}, str(target / "model.safetensors"))
    with pytest.raises(GraftError) as info:
        graft.load(target)
    assert str(target) in str(info.value)


def test_changed_backbone_weights_travel_in_the_model(tmp_path, tiny_images):
    """A model whose backbone was trained stores those weights and uses them on load."""
    import torch

    from graft.backbones import create_backbone
    from graft.heads.linear import LinearHead
    from graft.models import BackboneRef, ModelConfig

    trained = create_backbone("test_cnn")
    with torch.no_grad():
        for p in trained.parameters():
            p.add_(0.05)
    state = {k: v.numpy().copy() for k, v in trained.state_dict().items()}
    rng = np.random.default_rng(0)
    head = LinearHead(rng.normal(size=(3, 16)), np.zeros(3), np.zeros(16), np.ones(16))
    config = ModelConfig(classes=["a", "b", "c"], method="finetune:test", backbone=BackboneRef(
        name="test_cnn", weights_sha256="trained-1", in_model=True, license="Apache-2.0"))
    path = SavedModel(config, head, {"metrics": {}}, backbone_state=state).save(tmp_path / "ft")
    loaded = SavedModel.load(path)
    items = _items(tiny_images)[:5]
    with torch.inference_mode():
        expected = trained.forward_features(torch.stack([trained.preprocess(i) for i in items])).numpy()
    np.testing.assert_allclose(loaded.embed(items), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(loaded.predict_proba(items), head.predict_proba(expected), atol=1e-5)
