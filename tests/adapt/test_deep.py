"""Deep domain adaptation through the fine-tuning engine: the objectives behave as their papers
say, and ``adapt(method=dann|deep-coral|mmd)`` saves a fine-tuned model that reloads."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from graft.adapt.deep import DANN, coral_loss, dann_schedule, mk_mmd, reverse_gradient
from graft.adapt.driver import adapt
from graft.models import SavedModel
from graft.train.config import TrainConfig

from test_driver_adapt import write_colour_images  # noqa: E402  (same folder)


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def test_gradient_reversal_flips_and_scales_the_gradient():
    x = torch.ones(3, requires_grad=True)
    reverse_gradient(x, 0.5).sum().backward()
    assert torch.equal(x.grad, torch.full((3,), -0.5))
    assert dann_schedule(0.0) == 0.0 and 0.99 < dann_schedule(1.0) <= 1.0


def test_coral_and_mmd_are_zero_for_equal_batches_and_grow_with_the_shift():
    x = torch.randn(64, 8, generator=torch.Generator().manual_seed(0))
    assert float(coral_loss(x, x)) == 0.0 and float(coral_loss(x, 3 * x)) > 0
    assert float(mk_mmd(x, x)) == pytest.approx(0.0, abs=1e-6)
    assert float(mk_mmd(x, x + 0.5)) < float(mk_mmd(x, x + 2.0))


def test_dann_trains_its_classifier_and_pushes_features_apart_from_it():
    torch.manual_seed(0)  # the classifier's init and the features: a fixed, checked case
    feats_s, feats_t = torch.randn(16, 4), torch.randn(16, 4) + 1.0
    objective = DANN(target=None, feature_dim=4, hidden=8)
    src = feats_s.clone().requires_grad_(True)
    loss = objective.loss(src, feats_t, progress=1.0)
    loss.backward()
    head = objective.classifier[0].weight.grad
    assert head is not None and head.abs().sum() > 0  # the domain classifier learns
    # the features get the reversed gradient: a step along -grad *raises* the domain loss
    with torch.no_grad():
        stepped = objective.loss(src - 0.05 * src.grad, feats_t, progress=1.0)
    assert float(stepped) > float(loss.detach()) - 1e-6


@pytest.mark.parametrize("method", ["dann", "deep-coral", "mmd"])
def test_deep_methods_save_a_fine_tuned_model(method, tmp_path):
    source = write_colour_images(tmp_path / "src", 0, n=6)
    target = write_colour_images(tmp_path / "tgt", 60, n=6)
    config = TrainConfig(epochs=2, batch_size=8, augment=False, early_stopping=0, schedule="full")
    model, report = adapt(source, target, "test_cnn", method=method, out=tmp_path / "m", target_eval=target,
                          train_config=config)
    loaded = SavedModel.load(tmp_path / "m")
    assert loaded.config.backbone.in_model and loaded.backbone_state
    files = sorted((target / "blue").glob("*.png"))
    np.testing.assert_allclose(loaded.predict_proba(files), model.predict_proba(files), atol=1e-4)
    lineage = json.loads((tmp_path / "m" / "lineage.json").read_text())
    assert lineage["method"] == f"adapt:{method}" and len(lineage["settings"]["phases"]) == 1
    assert 0 <= report["target_eval"]["accuracy"] <= 1 and loaded.reference["embeddings"].shape == (18, 16)


def test_deep_methods_refuse_embeddings_files(tmp_path):
    from test_driver_adapt import write_embeddings

    rng = np.random.default_rng(0)
    src = write_embeddings(tmp_path / "s.npy", rng.normal(size=(30, 4)), "test_cnn", np.repeat([0, 1, 2], 10))
    tgt = write_embeddings(tmp_path / "t.npy", rng.normal(size=(20, 4)), "test_cnn")
    from graft.errors import UsageError

    with pytest.raises(UsageError, match="needs the raw data"):
        adapt(src, tgt, method="dann")
