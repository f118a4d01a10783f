"""Finer grid poolings of image taps (grid3, grid4: the finest grid within the width cap) and several
poolings from one forward pass, cached exactly as single-pooling extraction caches them."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from graft.backbones import create_backbone
from graft.backbones.base import pool_by_shape
from graft.errors import UsageError
from graft.features.store import FeatureStore
from graft.features.taps import pooling_grid, tap_features, tap_features_by_pooling


def _images(n: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [(rng.random((24, 24, 3)) * 255).astype(np.uint8) for _ in range(n)]


class _Counter:
    def __init__(self, backbone) -> None:
        self.calls = 0
        backbone.layer_groups()[0].module.register_forward_hook(lambda *a: self._hit())

    def _hit(self) -> None:
        self.calls += 1


def test_a_grid_falls_back_to_the_finest_grid_within_the_width_cap():
    x = torch.randn(2, 8, 6, 6)
    assert pool_by_shape(x, grid=4, max_width=1024).shape == (2, 8 * 16)
    assert pool_by_shape(x, grid=4, max_width=100).shape == (2, 8 * 9)  # 4x4 = 128 columns > 100: 3x3
    assert pool_by_shape(x, grid=4, max_width=40).shape == (2, 8 * 4)
    assert pool_by_shape(x, grid=4, max_width=31).shape == (2, 8)
    # grid2 keeps its meaning: 2x2, or the plain mean when 4C is over the cap
    assert pool_by_shape(x, grid=2, max_width=31).shape == (2, 8)
    cells = pool_by_shape(x, grid=3, max_width=1024).reshape(2, 8, 3, 3)
    torch.testing.assert_close(cells[:, :, 0, 0], x[:, :, :2, :2].mean(dim=(2, 3)))


def test_pooling_names_map_to_grids_and_unknown_names_are_refused():
    assert [pooling_grid(p) for p in ("mean", "grid2", "grid3", "grid4")] == [1, 2, 3, 4]
    with pytest.raises(UsageError, match="grid4"):
        pooling_grid("grid9")


def test_several_poolings_come_from_one_pass_and_match_single_pooling_extraction(tmp_path):
    bb = create_backbone("test_cnn")
    counter = _Counter(bb)
    items = _images(5)
    store = FeatureStore(tmp_path / "a")
    both = tap_features_by_pooling(items, bb, poolings=("mean", "grid4"), store=store, batch_size=8)
    assert counter.calls == 1  # one batch, one forward pass for both poolings
    for tap in ("stem", "stage1", "stage2"):
        assert both["grid4"][tap].shape[1] > both["mean"][tap].shape[1]
    np.testing.assert_array_equal(both["mean"]["source_logits"], both["grid4"]["source_logits"])
    # cached under the same keys tap_features uses: reading them back runs nothing
    again = tap_features(items, bb, pooling="grid4", store=store)
    assert counter.calls == 1
    for tap, values in both["grid4"].items():
        np.testing.assert_array_equal(again[tap], values)
    # and a fresh store computing one pooling alone gives the same numbers
    alone = tap_features(items, bb, pooling="grid4", store=FeatureStore(tmp_path / "b"))
    for tap, values in both["grid4"].items():
        np.testing.assert_array_equal(alone[tap], values)


def test_only_the_missing_pooling_is_computed(tmp_path):
    bb = create_backbone("test_cnn")
    counter = _Counter(bb)
    items = _images(4, seed=1)
    store = FeatureStore(tmp_path)
    tap_features(items, bb, pooling="mean", store=store)
    calls = counter.calls
    tap_features_by_pooling(items, bb, poolings=("mean", "grid2"), store=store)
    assert counter.calls == calls + 1  # grid2 was missing
    tap_features_by_pooling(items, bb, poolings=("mean", "grid2"), store=store)
    assert counter.calls == calls + 1  # everything cached now


def test_a_grid4_multilayer_model_predicts_and_exports_as_it_was_fitted(tiny_images, tmp_path):
    import json

    import graft
    from graft.heads.multilayer import MultiLayerConfig

    config = MultiLayerConfig(pooling="grid4", max_tap_width=64, keep=1.0)
    model = graft.probe(tiny_images, "test_cnn", config=config, out=tmp_path / "model")
    head = json.loads((tmp_path / "model" / "config.json").read_text())["head"]
    assert head["pooling"] == "grid4" and head["max_tap_width"] == 64
    files = sorted((tiny_images / "test").rglob("*.png"))
    loaded = graft.load(tmp_path / "model")
    np.testing.assert_allclose(loaded.predict_proba(files), model.predict_proba(files), atol=1e-5)
    # the exported graph pools each tap with the same grid fallback (parity is checked on export)
    result = graft.export_model(tmp_path / "model", tmp_path / "onnx")
    assert result["parity"]["max_abs_difference"] <= 1e-4
