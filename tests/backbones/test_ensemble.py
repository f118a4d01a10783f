"""Several image backbones as one (``ensemble:a+b``): what graft fit ships when the several-backbones
arm wins — probed, saved, loaded, predicted like any model; export refuses it clearly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import graft
from graft.backbones import BackboneSpec, InputSpec, create_backbone, get_spec, is_registered, register_backbone
from graft.errors import UsageError
from graft.heads.multilayer import MultiLayerConfig

NAME = "ensemble:test_cnn+test_cnn_b"


@pytest.fixture(scope="module", autouse=True)
def second_image_backbone():
    """A second tiny image and text backbone (test_cnn's and test_text's architectures, other
    seed), for this module only."""
    from graft.backbones import registry
    from graft.backbones.testing import build_test_cnn, build_test_text

    register_backbone(BackboneSpec(name="test_cnn_b", modality="image", architecture="graft:test_cnn",
                                   feature_dim=16, input=InputSpec(image_size=32), license="MIT",
                                   groups=("stem", "stage1", "stage2")),
                      builder=lambda spec, weights, allow_download, **kw: build_test_cnn(spec, weights, allow_download,
                                                                                         seed=1, **kw))
    text = get_spec("test_text")
    register_backbone(text.replace(name="test_text_b", architecture="graft:test_text"),
                      builder=lambda spec, weights, allow_download, **kw: build_test_text(spec, weights, allow_download,
                                                                                          seed=1, **kw))
    yield
    for name in ("test_cnn_b", "test_text_b"):
        registry._SPECS._items.pop(name, None)
        registry._BUILDERS.pop(name, None)
    registry.clear_shared_backbones()


def test_members_side_by_side_with_their_taps_named_by_member(tiny_images: Path):
    bb = create_backbone(NAME, image_size=32)
    a, b = create_backbone("test_cnn", image_size=32), create_backbone("test_cnn_b", image_size=32)
    assert is_registered(NAME) and get_spec(NAME).feature_dim == 32 and "MIT" in get_spec(NAME).license
    assert bb.tap_names() == [f"test_cnn/{t}" for t, _ in a.tap_points()] + [f"test_cnn_b/{t}" for t, _ in b.tap_points()]
    image = sorted(tiny_images.rglob("*.png"))[0]
    with torch.inference_mode():
        both = bb.forward_features(bb.collate([bb.preprocess(image)]))
        alone = [m.forward_features(m.collate([m.preprocess(image)])) for m in (a, b)]
    torch.testing.assert_close(both, torch.cat(alone, dim=1))


@pytest.mark.parametrize("bad", ["ensemble:test_cnn", "ensemble:test_cnn+test_cnn", "ensemble:test_cnn+nope",
                                 "ensemble:test_cnn+test_text"])
def test_a_bad_ensemble_name_says_what_an_ensemble_is(bad):
    with pytest.raises(UsageError, match="ensemble"):
        create_backbone(bad)
    assert bad == "ensemble:test_cnn+test_text" or not is_registered(bad)  # a question, not an error


def test_an_ensemble_probe_saves_loads_predicts_and_refuses_export(tiny_images: Path, tmp_path: Path):
    config = MultiLayerConfig(C=1.0, keep=0.5)
    model = graft.probe(tiny_images, NAME, layers="all", config=config, image_size=32, out=tmp_path / "m")
    head = model.config.head
    assert {t.split("/")[0] for t in head["columns"]} <= {"test_cnn", "test_cnn_b"}
    loaded = graft.load(tmp_path / "m")
    images = sorted(tiny_images.rglob("*.png"))[:6]
    np.testing.assert_allclose(loaded.predict_proba(images), model.predict_proba(images), atol=1e-5)
    assert loaded.config.backbone.name == NAME
    with pytest.raises(UsageError, match="ensemble"):
        graft.export_model(tmp_path / "m", out=tmp_path / "onnx")


def test_fit_ships_the_several_backbones_arm_as_an_ensemble_model(colour_images: Path):
    from graft.autofit.config import FitConfig
    from graft.autofit.budget import Budget
    from graft.autofit.context import Context
    from graft.autofit.multi import EnsembleArm

    ds = graft.read(colour_images)
    ctx = Context(ds, FitConfig(backbones=["test_cnn", "test_cnn_b"], trials=1), Budget(600))
    ctx.main_backbone, ctx.study_base = "test_cnn", "ensemble-test"
    outcome = EnsembleArm(["test_cnn", "test_cnn_b"], 32).run(ctx)
    assert outcome.build is not None and outcome.row["val_accuracy"] is not None
    model = outcome.build()
    assert model.config.backbone.name == NAME
    selected = {t for t in model.config.head["columns"]}
    assert selected and all("/" in t and not t.endswith("source_logits") for t in selected)
    assert model.lineage["metrics"]["test"]["accuracy"] >= 0.9  # colours: both members see them
    loaded_proba = model.predict_proba(list(ds.test.items))
    assert (loaded_proba.argmax(1) == ds.test.labels).mean() == model.lineage["metrics"]["test"]["accuracy"]


def test_an_ensemble_is_folded_member_by_member_with_the_same_features(tiny_images: Path):
    from graft.backbones.fuse import fold_batchnorm

    bb = create_backbone(NAME, image_size=32)
    folded = fold_batchnorm(bb)
    assert folded is not bb and not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    batch = bb.collate([bb.preprocess(p) for p in sorted(tiny_images.rglob("*.png"))[:3]])
    with torch.inference_mode():
        torch.testing.assert_close(folded.forward_features(batch), bb.forward_features(batch), atol=1e-4, rtol=1e-4)


def test_an_ensemble_reads_and_writes_its_members_tap_cache(tiny_images: Path, monkeypatch):
    """The several-backbones arm extracted each member alone; shipping the ensemble re-runs neither
    (and an ensemble's extraction serves a member later, but for its source logits)."""
    from graft.features import taps as taps_module
    from graft.features.taps import tap_features

    images = sorted(tiny_images.rglob("*.png"))
    alone = {m: tap_features(images[:4], m, image_size=32) for m in ("test_cnn", "test_cnn_b")}

    def no_forward(*args, **kwargs):
        raise AssertionError("the members' cached taps were extracted again")

    with monkeypatch.context() as patched:
        patched.setattr(taps_module, "_iterate_taps", no_forward)
        both = tap_features(images[:4], NAME, image_size=32)
    assert list(both) == [f"{m}/{t}" for m in alone for t in alone[m] if t != "source_logits"]
    for name, values in both.items():
        member, tap = name.split("/", 1)
        np.testing.assert_array_equal(values, alone[member][tap])

    later = tap_features(images[4:6], NAME, image_size=32)  # computed through the ensemble, once
    with monkeypatch.context() as patched:
        patched.setattr(taps_module, "_iterate_taps", no_forward)
        member = tap_features(images[4:6], "test_cnn_b", taps=[t.split("/")[1] for t in later if "test_cnn_b/" in t],
                              image_size=32)
    for tap, values in member.items():
        np.testing.assert_array_equal(values, later[f"test_cnn_b/{tap}"])


def test_a_fine_tuned_ensemble_saves_and_loads_its_trained_weights(tiny_images: Path, tmp_path: Path):
    """The trained members' weights are restored into a randomly initialised ensemble (as for any
    trained backbone); a pretrained ensemble and weights=random differ."""
    from graft.train.config import TrainConfig

    images = sorted(tiny_images.rglob("*.png"))[:6]
    model = graft.finetune(tiny_images, NAME, "full", out=tmp_path / "ft", image_size=32,
                           config=TrainConfig(epochs=1, batch_size=8, augment=False))
    loaded = graft.load(tmp_path / "ft")
    np.testing.assert_allclose(loaded.predict_proba(images), model.predict_proba(images), atol=1e-5)
    pretrained, scratch = create_backbone(NAME, image_size=32), create_backbone(NAME, weights="random", image_size=32)
    assert scratch.weights_sha256 == "random" and not torch.equal(
        next(iter(pretrained.state_dict().values())), next(iter(scratch.state_dict().values())))
    with pytest.raises(UsageError, match="or --weights random"):
        create_backbone(NAME, weights=tmp_path / "ft" / "model.safetensors")


TEXT = "ensemble:test_text+test_text_b"


def test_a_text_ensemble_pools_each_tap_by_its_member_with_its_part_of_the_batch():
    from graft.features.taps import run_taps

    texts = ["a short one", "a much longer sentence with padding for the other one", "mid length text"]
    both = create_backbone(TEXT)
    batch = both.collate([both.preprocess(t) for t in texts])
    got = run_taps(both, batch, both.tap_names())
    for name in ("test_text", "test_text_b"):
        member = create_backbone(name)
        alone = run_taps(member, member.collate([member.preprocess(t) for t in texts]), member.tap_names())
        for tap, values in alone.items():
            torch.testing.assert_close(got[f"{name}/{tap}"], values)
    assert get_spec(TEXT).modality == "text"


def test_a_text_ensemble_probe_saves_loads_and_predicts(tiny_text_csv: Path, tmp_path: Path):
    model = graft.probe(tiny_text_csv, TEXT, layers="all", config=MultiLayerConfig(C=1.0, keep=0.5),
                        out=tmp_path / "m")
    texts = ["the kernel panicked", "bake the bread"]
    np.testing.assert_allclose(graft.load(tmp_path / "m").predict_proba(texts), model.predict_proba(texts),
                               atol=1e-5)
    assert {t.split("/")[0] for t in model.config.head["columns"]} <= {"test_text", "test_text_b"}


def test_fit_ships_a_text_ensemble_and_scores_only_a_mixed_one(tiny_text_csv: Path, monkeypatch):
    from graft.autofit.arms import Outcome
    from graft.autofit.budget import Budget
    from graft.autofit.config import FitConfig
    from graft.autofit.context import Context
    from graft.autofit.multi import EnsembleArm, MultiLayerArm

    ds = graft.read(tiny_text_csv)
    ctx = Context(ds, FitConfig(backbones=["test_text", "test_text_b"], trials=1), Budget(600))
    ctx.main_backbone, ctx.study_base = "test_text", "ensemble-text-test"
    outcome = EnsembleArm(["test_text", "test_text_b"], None).run(ctx)
    assert outcome.build is not None and outcome.build().config.backbone.name == TEXT
    # whether the scored arm can ship: decided by the members alone (the scoring itself stubbed)
    monkeypatch.setattr(MultiLayerArm, "run", lambda self, ctx: Outcome({"method": self.name}, lambda: None))
    scored = EnsembleArm(["test_text", "test_audio"], None).run(ctx)
    assert scored.build is None and "scored only" in scored.row["note"] and "not of text" in scored.row["note"]


def test_a_random_ensemble_never_reads_its_pretrained_members_cache(tiny_images: Path):
    from graft.features.taps import tap_features

    images = sorted(tiny_images.rglob("*.png"))[:3]
    pretrained = tap_features(images, NAME, image_size=32)
    scratch = tap_features(images, NAME, weights="random", image_size=32)
    assert not np.allclose(pretrained["test_cnn/stage2"], scratch["test_cnn/stage2"])
