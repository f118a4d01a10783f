"""``model:DIR``: a saved graft model as the backbone of the next one — its trained weights, its
classifier as the source head (LEEP ranks it as a source task), its own cache key."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

import graft
from graft.backbones import backbone_key, create_backbone, get_spec, is_registered
from graft.backbones.saved_model import MODEL_FORMAT_VERSION
from graft.errors import GraftError, UsageError
from graft.features.extract import embed_items
from graft.rank.driver import source_probabilities
from graft.rank.scores import leep
from graft.train.config import TrainConfig

FAST = dict(epochs=2, lr=1e-2, batch_size=8, early_stopping=0, augment=False)


def colour_folder(root: Path, per_split: dict[str, int], seed: int = 0) -> Path:
    """``root/<split>/<class>/*.png``: three colour classes a tiny random CNN tells apart."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for split, n in per_split.items():
        for name, colour in {"red": (200, 40, 40), "green": (40, 180, 60), "blue": (40, 60, 200)}.items():
            (root / split / name).mkdir(parents=True, exist_ok=True)
            for i in range(n):
                pixels = np.clip(np.array(colour) + rng.normal(0, 25, (24, 24, 3)), 0, 255).astype(np.uint8)
                Image.fromarray(pixels, "RGB").save(root / split / name / f"{name}_{i}.png")
    return root


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return colour_folder(tmp_path_factory.mktemp("colours"), {"train": 8, "test": 3}, seed=1)


@pytest.fixture(scope="module")
def probe_dir(data, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("models") / "colour-probe"
    graft.probe(data, "test_cnn", out=out)
    return out


@pytest.fixture(scope="module")
def finetuned_dir(data, probe_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("models") / "colour-ft"
    graft.finetune(data, f"model:{probe_dir}", "full", out=out, config=TrainConfig(**FAST))
    return out


def _items(data: Path) -> list[Path]:
    return sorted((data / "test").rglob("*.png"))


def test_a_probe_as_source_has_the_zoo_features_and_its_classifier_as_source_head(data, probe_dir):
    items = _items(data)
    bb = create_backbone(f"model:{probe_dir}")
    zoo = create_backbone("test_cnn")
    features = embed_items(items, bb, use_cache=False)
    np.testing.assert_allclose(features, embed_items(items, zoo, use_cache=False), atol=1e-6)  # the probe left them as they were
    assert bb.source_classes == ["blue", "green", "red"]
    model = graft.load(probe_dir)
    np.testing.assert_allclose(source_probabilities(bb, features), model.predict_proba(items), atol=1e-5)
    assert bb.group_names == zoo.group_names and bb.spec.input == zoo.spec.input  # groups and preprocessing carry over


def test_get_spec_and_is_registered_know_model_sources(probe_dir, tmp_path):
    spec = get_spec(f"model:{probe_dir}")
    assert (spec.modality, spec.feature_dim, spec.license) == ("image", 16, "Apache-2.0")
    assert spec.groups == get_spec("test_cnn").groups and spec.input.image_size == 32
    assert is_registered(f"model:{probe_dir}") and not is_registered(f"model:{tmp_path / 'nothing'}")
    with pytest.raises(UsageError, match="no graft model there"):
        create_backbone(f"model:{tmp_path / 'nothing'}")
    assert MODEL_FORMAT_VERSION == graft.models.config.FORMAT_VERSION


def test_rank_puts_a_model_beside_zoo_backbones_with_leep_from_its_own_head(data, probe_dir):
    result = graft.rank_backbones(data, ["test_cnn", f"model:{probe_dir}"], scores=("leep", "logme"), by="leep")
    rows = {r.backbone: r for r in result.rows}
    assert set(rows) == {"test_cnn", f"model:{probe_dir}"}
    ds = graft.read(data)
    train = ds.train
    expected = leep(graft.load(probe_dir).predict_proba(list(train.items)), train.labels)
    assert rows[f"model:{probe_dir}"].scores["leep"] == pytest.approx(expected, abs=1e-6)
    # a model trained on this very task is the better source task than 5 random "source" classes
    assert result.best == f"model:{probe_dir}"


def test_a_finetuned_model_as_source_restores_its_trained_weights_under_its_own_key(data, probe_dir, finetuned_dir):
    items = _items(data)
    config = json.loads((finetuned_dir / "config.json").read_text())
    assert config["backbone"]["name"] == "test_cnn" and config["backbone"]["in_model"]  # self-contained
    bb = create_backbone(f"model:{finetuned_dir}")
    np.testing.assert_allclose(embed_items(items, bb, use_cache=False), graft.load(finetuned_dir).embed(items), atol=1e-5)
    keys = {backbone_key("test_cnn"), backbone_key(f"model:{probe_dir}"), backbone_key(f"model:{finetuned_dir}")}
    assert len(keys) == 3
    assert bb.source_classes == ["blue", "green", "red"] and bb.weights_sha256 == config["backbone"]["weights_sha256"]
    # the parent's classifier rode along in the trained state: the fine-tuned model still loads strictly
    assert "backbone.source_head.scale" in load_file(str(finetuned_dir / "model.safetensors"))


def test_a_moved_model_keeps_its_cache_key_and_a_retrained_one_does_not(probe_dir, tmp_path):
    moved = tmp_path / "moved"
    shutil.copytree(probe_dir, moved)
    assert backbone_key(f"model:{moved}") == backbone_key(f"model:{probe_dir}")  # the key follows the weights
    config = json.loads((moved / "config.json").read_text())
    config["files"]["model.safetensors"] = "0" * 64  # as if another head had been saved there
    (moved / "config.json").write_text(json.dumps(config))
    assert backbone_key(f"model:{moved}") != backbone_key(f"model:{probe_dir}")


def test_a_child_probe_refuses_a_parent_whose_weights_changed(data, probe_dir, tmp_path):
    parent = tmp_path / "parent"
    shutil.copytree(probe_dir, parent)
    child = graft.probe(data, f"model:{parent}", out=tmp_path / "child")
    assert child.config.backbone.name == f"model:{parent}"
    assert graft.load(tmp_path / "child").predict(_items(data)[:2])
    config = json.loads((parent / "config.json").read_text())
    config["backbone"]["weights_sha256"] = "f" * 64  # the parent folder now holds other backbone weights
    (parent / "config.json").write_text(json.dumps(config))
    with pytest.raises(GraftError, match="now holds"):
        graft.load(tmp_path / "child").predict(_items(data)[:2])


def test_corrupted_weights_exports_and_feature_models_are_refused(probe_dir, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(probe_dir, broken)
    raw = bytearray((broken / "model.safetensors").read_bytes())
    raw[-1] ^= 0xFF
    (broken / "model.safetensors").write_bytes(bytes(raw))
    with pytest.raises(GraftError, match="corrupted"):
        create_backbone(f"model:{broken}")
    (tmp_path / "onnx").mkdir()
    (tmp_path / "onnx" / "config.json").write_text(json.dumps({"format": "graft-onnx", "parent": {"path": str(probe_dir)}}))
    with pytest.raises(UsageError, match="exported.*saved model it was exported from"):
        create_backbone(f"model:{tmp_path / 'onnx'}")
    with pytest.raises(UsageError, match="brings its own trained weights"):
        create_backbone(f"model:{probe_dir}", weights=probe_dir / "model.safetensors")


def test_a_multilayer_probe_as_source_gives_features_but_no_source_head(data, tmp_path):
    out = tmp_path / "ml"
    graft.probe(data, "test_cnn", out=out, layers="all")
    bb = create_backbone(f"model:{out}")
    assert bb.source_head is None and bb.feature_dim == 16
    result = graft.rank_backbones(data, [f"model:{out}"], scores=("leep", "logme"))
    assert result.rows[0].scores["leep"] is None and "no source head" in result.rows[0].notes[0]


def test_lora_adapters_are_merged_into_the_source_backbone(tmp_path):
    transformers = pytest.importorskip("transformers")
    pytest.importorskip("peft")
    import csv

    import torch

    words = "apple banana cherry mango pear plum engine wheel gearbox diesel turbo tyres".split()
    bert = tmp_path / "bert"
    bert.mkdir()
    (bert / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]) + "\n")
    transformers.BertTokenizer(str(bert / "vocab.txt")).save_pretrained(str(bert))
    torch.manual_seed(0)
    transformers.BertModel(transformers.BertConfig(vocab_size=5 + len(words), hidden_size=32, num_hidden_layers=2,
                                                   num_attention_heads=2, intermediate_size=64,
                                                   max_position_embeddings=32)).save_pretrained(str(bert))
    rows = [(" ".join(words[i % 6: i % 6 + 3]), "fruit") for i in range(8)] + \
           [(" ".join(words[6 + i % 4: 6 + i % 4 + 2]), "cars") for i in range(8)]
    table = tmp_path / "topics.csv"
    with table.open("w", newline="") as fh:
        csv.writer(fh).writerows([("text", "label"), *rows])
    out = tmp_path / "lora"
    graft.finetune(table, f"hf:{bert}", "full", out=out, config=TrainConfig(**{**FAST, "lora": 2, "epochs": 1}))
    bb = create_backbone(f"model:{out}")
    texts = [r[0] for r in rows]
    assert not any("lora" in name for name, _ in bb.named_parameters())  # merged: a plain backbone
    np.testing.assert_allclose(embed_items(texts, bb, use_cache=False), graft.load(out).embed(texts), atol=1e-4)
    assert backbone_key(f"model:{out}") != backbone_key(f"hf:{bert}")
    assert json.loads((out / "lineage.json").read_text())["parent"]["relation"] == "adapter"
    assert "base_model_relation: adapter" in (out / "README.md").read_text()
