"""Extraction never changes the caller's grad mode, even when several streams interleave (the
multi-layer probe zips one stream per test-time view): training after it must still get gradients."""

from __future__ import annotations

import gc

import torch

from graft.backbones import create_backbone
from graft.features.extract import extract
from graft.features.taps import iterate_taps

def test_interleaved_tap_streams_leave_grad_mode_alone(tiny_images) -> None:
    backbone = create_backbone("test_cnn", image_size=32)
    items = sorted(tiny_images.rglob("*.png"))[:5]
    taps = backbone.tap_names()[-1:]
    before = (torch.is_grad_enabled(), torch.is_inference_mode_enabled())
    streams = [iterate_taps(backbone, items, taps, batch_size=2, view=view) for view in (None, "hflip")]
    for _ in zip(*streams):  # zip stops at the first exhausted stream: the other is left suspended
        pass
    del streams  # closing the suspended stream runs its exit code: that is where the mode was restored wrongly
    gc.collect()
    assert (torch.is_grad_enabled(), torch.is_inference_mode_enabled()) == before

def test_abandoned_extraction_leaves_grad_mode_alone(tiny_images) -> None:
    backbone = create_backbone("test_cnn", image_size=32)
    items = sorted(tiny_images.rglob("*.png"))[:6]
    stream = extract(backbone, items, batch_size=2)
    next(stream)  # a caller that stops early
    assert torch.is_grad_enabled() and not torch.is_inference_mode_enabled()
