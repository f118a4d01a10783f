"""Lineage through every hop: zoo weights (a non-commercial licence) → probe → fine-tune from that
model → probe from the fine-tuned one; the chain, every licence, the restriction it inherits, the card."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

import graft
from graft.backbones import BackboneSpec, InputSpec, backbone_key, register_backbone
from graft.models.lineage import dataset_licence, licence_restriction, lineage_chain
from graft.train.config import TrainConfig

NC_LICENCE = "CC-BY-NC-4.0"
COLOURS = {"red": (200, 40, 40), "green": (40, 180, 60), "blue": (40, 60, 200)}


def _register_nc_backbone() -> str:
    """A tiny test backbone whose weights carry a non-commercial licence."""
    register_backbone(BackboneSpec(
        name="test_cnn_nc", modality="image", architecture="graft:test_cnn", feature_dim=16,
        input=InputSpec(image_size=32, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5)), license=NC_LICENCE,
        groups=("stem", "stage1", "stage2"), source_classes="test-5", description="test_cnn under a CC-BY-NC licence",
    ), builder="graft.backbones.testing:build_test_cnn")
    return "test_cnn_nc"


def _images(root: Path, seed: int, per_split: dict[str, int]) -> Path:
    from PIL import Image

    rng = np.random.default_rng(seed)
    for split, n in per_split.items():
        for name, colour in COLOURS.items():
            (root / split / name).mkdir(parents=True, exist_ok=True)
            for i in range(n):
                pixels = np.clip(np.array(colour) + rng.normal(0, 25, (24, 24, 3)), 0, 255).astype(np.uint8)
                Image.fromarray(pixels, "RGB").save(root / split / name / f"{name}_{i}.png")
    return root


@pytest.fixture(scope="module")
def chain(tmp_path_factory) -> dict[str, Path]:
    """Three hops, three datasets: one with a LICENSE file, one made like a built-in (DATASET.json),
    one with nothing (unknown user data)."""
    root = tmp_path_factory.mktemp("chain")
    zoo = _register_nc_backbone()
    first = _images(root / "first", 1, {"train": 8, "test": 3})
    (first / "LICENSE").write_text("MIT License\n\nCopyright (c) the photographers\n")
    second = _images(root / "second", 2, {"train": 8, "test": 3})
    (second / "DATASET.json").write_text(json.dumps({"name": "colours", "license": "CC BY 4.0"}))
    third = _images(root / "third", 3, {"train": 6, "test": 3})
    graft.probe(first, zoo, out=root / "m1")
    graft.finetune(second, f"model:{root / 'm1'}", "full", out=root / "m2",
                   config=TrainConfig(epochs=1, lr=1e-2, batch_size=8, early_stopping=0, augment=False))
    graft.probe(third, f"model:{root / 'm2'}", out=root / "m3")
    return {"root": root, "first": first, "second": second, "third": third, "m1": root / "m1", "m2": root / "m2",
            "m3": root / "m3"}


def _front_matter(card: str) -> dict:
    return yaml.safe_load(card.split("---\n")[1])


def test_the_chain_reaches_the_root_with_data_method_settings_and_metrics_per_hop(chain):
    story = lineage_chain(chain["m3"])
    hops = story["hops"]
    assert [h["method"] for h in hops] == ["probe", "finetune:full", "probe"]
    assert [h["model"] for h in hops] == [str(chain[m].absolute()) for m in ("m3", "m2", "m1")]
    assert all(h["status"] == "present" for h in hops)
    assert [h["data"]["fingerprint"] for h in hops] == [graft.read(chain[d]).fingerprint for d in ("third", "second", "first")]
    assert hops[1]["settings"]["schedule"] == "full" and hops[1]["settings"]["epochs"] == 1
    assert "chosen_C" in hops[0]["settings"] and "test" in hops[2]["metrics"]
    assert [h["relation"] for h in hops] == ["finetune"] * 3
    assert story["root"] == {"kind": "zoo", "backbone": "test_cnn_nc", "weights_sha256": "test-seed0", "license": NC_LICENCE}


def test_every_licence_is_listed_and_the_non_commercial_one_is_inherited(chain):
    story = lineage_chain(chain["m3"])
    licences = {(i["hop"], i["license"]) for i in story["licences"]}
    assert licences == {("root", NC_LICENCE), (2, "MIT License"), (1, "CC BY 4.0"), (0, "unknown (user data)")}
    restricted = {i["restriction"] for i in story["restrictions"]}
    assert restricted == {"non-commercial", "unknown"}
    assert "Weights of test_cnn_nc (root): non-commercial licence (CC-BY-NC-4.0); this model inherits that restriction" \
        in story["statement"]
    assert "(hop 0): licence unknown (user data); check it" in story["statement"]


def test_the_card_names_the_parent_with_hugging_face_fields_and_states_every_licence(chain):
    card = (chain["m3"] / "README.md").read_text()
    meta = _front_matter(card)
    assert meta["base_model"] == "m2" and meta["base_model_relation"] == "finetune"
    assert meta["license"] == "cc-by-nc-4.0"  # the derivative inherits the non-commercial licence
    assert str(chain["m2"].absolute()) in card
    for licence in (NC_LICENCE, "MIT License", "CC BY 4.0", "unknown (user data)"):
        assert licence in card
    assert "**Licence restrictions (non-commercial, unknown)**" in card
    first = _front_matter((chain["m1"] / "README.md").read_text())
    assert first["base_model"] == "test_cnn_nc" and first["license"] == "cc-by-nc-4.0"


def test_lineage_json_names_the_parent_by_content_hash_and_nests_its_lineage(chain):
    record = json.loads((chain["m3"] / "lineage.json").read_text())
    parent = record["parent"]
    assert parent["kind"] == "model" and parent["model"] == str(chain["m2"].absolute())
    assert parent["model_sha256"] == json.loads((chain["m2"] / "config.json").read_text())["files"]["model.safetensors"]
    assert parent["lineage"] == json.loads((chain["m2"] / "lineage.json").read_text())
    assert parent["lineage"]["parent"]["lineage"]["parent"]["kind"] == "zoo"


def test_cache_keys_differ_between_parent_and_child(chain):
    keys = [backbone_key("test_cnn_nc"), backbone_key(f"model:{chain['m1']}"), backbone_key(f"model:{chain['m2']}"),
            backbone_key(f"model:{chain['m3']}")]
    assert len(set(keys)) == 4


def test_the_fine_tuned_hop_loads_without_its_parent_and_the_chain_survives_a_missing_folder(chain, tmp_path):
    record = json.loads((chain["m3"] / "lineage.json").read_text())
    record["parent"]["model"] = str(tmp_path / "gone")  # as if m2 had been deleted: its record is nested
    story = lineage_chain(record)
    assert [h["status"] for h in story["hops"]] == [None, "missing", "present"]
    assert story["root"]["backbone"] == "test_cnn_nc" and len(story["licences"]) == 4
    copy = tmp_path / "m2"
    shutil.copytree(chain["m2"], copy)  # m2 holds its whole trained backbone: it needs no m1
    config = json.loads((copy / "config.json").read_text())
    assert config["backbone"]["name"] == "test_cnn_nc" and config["backbone"]["in_model"]
    items = sorted((chain["third"] / "test").rglob("*.png"))[:3]
    assert graft.load(copy).predict(items) == graft.load(chain["m2"]).predict(items)


def test_an_int8_export_names_its_source_model_as_quantized_parent(chain, tmp_path):
    pytest.importorskip("onnxruntime")
    out = tmp_path / "export"
    graft.export_model(chain["m1"], out=out, quantize="dynamic", force=True)
    story = lineage_chain(out)
    assert story["hops"][0]["relation"] == "quantized" and story["hops"][0]["method"].startswith("export:onnx+int8")
    assert story["hops"][1]["model"] == str(chain["m1"].absolute()) and story["hops"][1]["method"] == "probe"
    assert story["root"]["license"] == NC_LICENCE
    meta = _front_matter((out / "README.md").read_text())
    assert meta["base_model"] == "m1" and meta["base_model_relation"] == "quantized"


@pytest.mark.parametrize("text, expected", [
    ("CC-BY-NC-4.0", "non-commercial"), ("CC BY-NC-SA 4.0", "non-commercial"), ("research only", "non-commercial"),
    ("CC BY-ND 4.0", "no-derivatives"), ("unknown (user data)", "unknown"), ("see the weights' source", "unknown"),
    ("Apache-2.0", None), ("BSD-3-Clause (torchvision weights)", None), ("MIT (Expat)", None),
    ("per font (DejaVu: Bitstream Vera licence; Liberation: OFL-1.1)", None),
])
def test_licence_restrictions(text, expected):
    assert licence_restriction(text) == expected


def test_dataset_licences_come_from_the_folder_or_are_unknown(tmp_path):
    (tmp_path / "a").mkdir()
    assert dataset_licence(tmp_path / "a")["license"] == "unknown (user data)"
    (tmp_path / "a" / "README.md").write_text("# pets\n\n- Licence: CC BY-NC 4.0\n")
    assert dataset_licence(tmp_path / "a")["license"] == "CC BY-NC 4.0"
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "DATASET.json").write_text(json.dumps({"name": "fashion_mnist", "license": "MIT (Expat)"}))
    table = tmp_path / "b" / "train.csv"
    table.write_text("text,label\n")
    found = dataset_licence(table)
    assert found["license"] == "MIT (Expat)" and "fashion_mnist" in found["license_from"]


def test_every_dataset_of_a_hop_counts_each_task_and_the_adaptation_target():
    zoo = {"kind": "zoo", "backbone": "test_cnn", "weights_sha256": "test-seed0", "license": "Apache-2.0"}
    multi = {"parent": zoo, "method": "finetune:lp-ft", "dataset": {"source": "/a + /b", "fingerprint": "ab"},
             "tasks": {"colour": {"dataset": {"source": "/a", "fingerprint": "a", "license": "CC BY 4.0"}},
                       "warmth": {"dataset": {"source": "/b", "fingerprint": "b", "license": "CC-BY-NC-4.0"}}}}
    story = lineage_chain(multi)
    assert [(i["what"], i["license"]) for i in story["licences"][1:]] == [("task colour data /a", "CC BY 4.0"),
                                                                           ("task warmth data /b", "CC-BY-NC-4.0")]
    assert [i["restriction"] for i in story["restrictions"]] == ["non-commercial"]
    adapted = {"parent": zoo, "method": "adapt:coral", "dataset": {"source": "/s", "fingerprint": "s", "license": "MIT"},
               "adaptation": {"target": {"source": "/t", "fingerprint": "t", "license": "unknown (user data)"}}}
    story = lineage_chain(adapted)
    assert {i["what"]: i["restriction"] for i in story["licences"][1:]} == {
        "training data /s": None, "adaptation target (unlabelled) data /t": "unknown"}


def test_a_table_transfer_lists_its_source_table_and_a_regression_hop_its_scores():
    features = {"kind": "features", "relation": "transfer"}
    record = {"parent": features, "method": "pooled",
              "dataset": {"source": "/t.csv", "fingerprint": "t", "rows": 100, "license": "MIT"},
              "source_table": {"source": "/s.csv", "fingerprint": "s", "rows": 52330, "license": "CC-BY-NC-4.0"},
              "metrics": {"test": {"r2": 0.92, "rmse": 410.0, "mae": 250.0, "n": 1510}}}
    story = lineage_chain(record)
    hop = story["hops"][0]
    assert hop["datasets"]["source table"]["rows"] == 52330
    assert hop["metrics"] == {"test": {"r2": 0.92, "rmse": 410.0, "mae": 250.0, "n": 1510}}
    assert [i["restriction"] for i in story["restrictions"]] == ["non-commercial"]  # the source table's licence counts
