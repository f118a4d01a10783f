"""Batch norm folded into convolutions for eval-only backbones (``graft.backbones.fuse``)."""

from __future__ import annotations

import pytest
import torch

from graft.backbones import create_backbone
from graft.backbones import fuse
from graft.backbones.registry import clear_shared_backbones, shared_backbone


def _with_statistics(backbone):
    """Random running statistics and affine parameters, so that a wrong fold shows."""
    generator = torch.Generator().manual_seed(1)
    for module in backbone.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            n = module.num_features
            module.running_mean.copy_(torch.randn(n, generator=generator) * 0.5)
            module.running_var.copy_(torch.rand(n, generator=generator) + 0.5)
            module.weight.data.copy_(torch.rand(n, generator=generator) + 0.5)
            module.bias.data.copy_(torch.randn(n, generator=generator) * 0.1)
    return backbone


@pytest.mark.parametrize("name", ["mobilenet_v2", "efficientnet_lite0"])
def test_folded_network_gives_the_same_features_and_taps_without_batch_norm(name):
    backbone = _with_statistics(create_backbone(name, weights="random", image_size=32))
    folded = fuse.fold_batchnorm(backbone)
    assert folded is not backbone
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in backbone.modules())  # the original is untouched
    assert folded.tap_names() == backbone.tap_names()  # tap cache keys are by name
    x = torch.randn(3, 3, 32, 32)
    with torch.inference_mode():
        torch.testing.assert_close(folded.forward_features(x), backbone.eval().forward_features(x), atol=1e-4, rtol=1e-4)
    assert not any(p.requires_grad for p in folded.parameters())


def test_a_fold_that_changes_the_features_is_refused(monkeypatch):
    backbone = _with_statistics(create_backbone("mobilenet_v2", weights="random", image_size=32))
    monkeypatch.setattr(fuse, "TOLERANCE", -1.0)  # any difference at all counts as a wrong fold
    assert fuse.fold_batchnorm(backbone) is backbone
    assert fuse.fold_batchnorm(backbone, in_place=True) is None  # the folded original is not handed out
    shared = shared_backbone("mobilenet_v2", weights="random", image_size=32)  # rebuilt unfolded instead
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in shared.modules())


def test_folding_in_place_gives_the_same_features_without_a_copy():
    backbone = _with_statistics(create_backbone("mobilenet_v2", weights="random", image_size=32))
    x = torch.randn(2, 3, 32, 32)
    with torch.inference_mode():
        expected = backbone.eval().forward_features(x)
    assert fuse.fold_batchnorm(backbone, in_place=True) is backbone
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in backbone.modules())
    with torch.inference_mode():
        torch.testing.assert_close(backbone.forward_features(x), expected, atol=1e-4, rtol=1e-4)


@pytest.mark.weights
def test_shared_backbones_are_built_once_and_folded():
    clear_shared_backbones()
    first = shared_backbone("mobilenet_v2", image_size=32)
    assert shared_backbone("mobilenet_v2", image_size=32) is first
    assert shared_backbone("mobilenet_v2", image_size=48) is not first  # other options: other key
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in first.modules())
    fresh = create_backbone("mobilenet_v2", image_size=32)  # what trainers get
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in fresh.modules()) and fresh is not first
    clear_shared_backbones()


def test_random_weights_are_a_new_draw_each_time_never_shared():
    torch.manual_seed(0)
    a = shared_backbone("mobilenet_v2", weights="random", image_size=32)
    torch.manual_seed(1)
    b = shared_backbone("mobilenet_v2", weights="random", image_size=32)
    assert a is not b and not torch.equal(next(a.parameters()), next(b.parameters()))


def test_a_network_that_takes_no_image_tensor_is_left_as_it_is():
    """A custom image backbone whose input is not a tensor (a frozen engine reading paths) is not folded."""
    from torch import nn

    backbone = create_backbone("mobilenet_v2", weights="random", image_size=32)
    backbone.forward_features = lambda batch: (_ for _ in ()).throw(TypeError("expects file paths"))
    assert fuse.fold_batchnorm(backbone) is backbone and fuse.fold_batchnorm(backbone, in_place=True) is backbone
    assert any(isinstance(m, nn.BatchNorm2d) for m in backbone.modules())
