"""Cheap views: registry per modality, deterministic, cached under their own key."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from graft.errors import UsageError
from graft.features.extract import embed_items
from graft.features.store import FeatureStore
from graft.features.views import apply_view, check_view, views_for


def test_images_have_hflip_and_other_modalities_none():
    assert views_for("image") == ["hflip"]
    assert views_for("text") == [] and views_for("audio") == []


def test_hflip_mirrors_the_width_axis_only():
    x = torch.arange(12.0).reshape(1, 3, 4)
    flipped = apply_view("hflip", x)
    assert torch.equal(flipped[0, :, 0], x[0, :, 3]) and torch.equal(apply_view("hflip", flipped), x)
    assert apply_view(None, x) is x


def test_unknown_view_names_the_allowed_ones():
    with pytest.raises(UsageError, match="hflip"):
        check_view("vflip", "image")
    with pytest.raises(UsageError, match="none"):
        check_view("hflip", "text")


def test_embed_items_caches_a_view_separately(tmp_path):
    rng = np.random.default_rng(0)
    images = [(rng.random((20, 20, 3)) * 255).astype(np.uint8) for _ in range(3)]
    store = FeatureStore(tmp_path)
    plain = embed_items(images, "test_cnn", store=store)
    flipped = embed_items(images, "test_cnn", store=store, view="hflip")
    assert len([p for p in store.root.iterdir() if p.is_dir()]) == 2
    assert not np.allclose(plain, flipped)
    np.testing.assert_array_equal(embed_items(images, "test_cnn", store=store, view="hflip"), flipped)
