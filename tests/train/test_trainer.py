"""The training loop on a learnable tiny task (classes differ by colour) with the tiny test CNN."""

import numpy as np
import pytest
import torch

import graft
from graft.backbones import create_backbone
from graft.train.config import TrainConfig
from graft.train.finetune import build_trainer, finetune, find_lr


def _config(**kw):
    base = dict(epochs=3, lr=1e-2, batch_size=8, early_stopping=0, augment=False)
    return TrainConfig(**{**base, **kw})


def test_finetune_learns_saves_and_reloads(colour_images, tmp_path):
    out = tmp_path / "model"
    model = finetune(colour_images, "test_cnn", "fastai", out=out, config=_config())
    assert model.lineage["metrics"]["test"]["accuracy"] >= 0.9
    names = {p.name for p in out.iterdir()}
    assert {"config.json", "model.safetensors", "history.json", "lineage.json", "README.md"} <= names
    history = model.lineage["settings"]["phases"]
    assert [p["name"] for p in history] == ["frozen", "unfrozen"]
    reloaded = graft.evaluate(out, colour_images)
    assert reloaded["accuracy"] == pytest.approx(model.lineage["metrics"]["test"]["accuracy"])


def test_frozen_groups_and_batchnorm_statistics_do_not_move(colour_images):
    ds = graft.read(colour_images)
    trainer, _ = build_trainer(ds, "test_cnn", _config(schedule="gradual", epochs=2))
    before = {k: v.clone() for k, v in trainer.model.backbone.state_dict().items()}
    trainer.run()
    after = trainer.model.backbone.state_dict()
    stem = [k for k in before if k.startswith("stages.stem")]
    assert all(torch.equal(before[k], after[k]) for k in stem)  # never unfrozen
    assert all(torch.equal(before[k], after[k]) for k in before if "running_" in k)  # BN stats kept
    top = [k for k in before if k.startswith("stages.stage2") and k.endswith("weight")]
    assert any(not torch.equal(before[k], after[k]) for k in top)  # the unfrozen group trained
    counts = [h["trainable_params"] for h in trainer.state.history]
    assert counts[0] < counts[1] < trainer.model.parameter_counts()["total"]


def test_frozen_prefix_cache_gives_the_same_model_as_running_the_prefix(colour_images):
    ds = graft.read(colour_images)
    weights = []
    for cache in (True, False):
        trainer, _ = build_trainer(ds, "test_cnn", _config(schedule="gradual", epochs=3, cache_prefix=cache))
        trainer.run()
        weights.append(trainer.model.state_dict())
    for key in weights[0]:
        assert torch.allclose(weights[0][key].float(), weights[1][key].float(), atol=1e-5), key


def test_early_stopping_stops_and_restores_the_best_epoch(colour_images):
    ds = graft.read(colour_images)
    trainer, _ = build_trainer(ds, "test_cnn", _config(schedule="full", epochs=6, early_stopping=1, lr=0.0))
    result = trainer.run()
    assert result.stopped_early and len(result.history) == 2 and result.best_epoch == 0


def test_lr_find_suggests_a_rate_and_leaves_the_model_alone(colour_images, tmp_path):
    result = find_lr(colour_images, "test_cnn", steps=40, plot_path=tmp_path / "lr.png")
    assert 1e-7 <= result["suggestion"] <= 10
    assert len(result["lrs"]) == len(result["losses"]) > 5
    assert (tmp_path / "lr.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_scratch_schedule_starts_from_random_weights(colour_images):
    ds = graft.read(colour_images)
    trainer, _ = build_trainer(ds, "test_cnn", _config(schedule="scratch", epochs=1))
    pretrained = create_backbone("test_cnn").state_dict()
    assert any(not torch.equal(pretrained[k], v) for k, v in trainer.model.backbone.state_dict().items()
               if k.endswith("weight"))
    assert not trainer.model.freeze_bn_stats  # random-init BatchNorm must learn its statistics


def test_image_augmentation_follows_its_settings():
    from graft.train.augment import augment_batch

    x = torch.rand(4, 3, 16, 16)
    same = augment_batch(x, "image", torch.Generator().manual_seed(0),
                         TrainConfig(hflip=False, crop_scale=1.0, color_jitter=0.0))
    assert torch.allclose(same, x, atol=1e-6)  # every transform switched off: the input comes back
    a = augment_batch(x, "image", torch.Generator().manual_seed(0), TrainConfig())
    b = augment_batch(x, "image", torch.Generator().manual_seed(0), TrainConfig())
    assert torch.equal(a, b) and not torch.allclose(a, x)  # seeded, and the defaults change the images
