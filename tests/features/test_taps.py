"""Multi-layer features: tap names per backbone, pooling by shape, per-tap float16 cache, early stop."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from graft.backbones import create_backbone
from graft.backbones.base import pool_by_shape
from graft.errors import UsageError
from graft.features.store import FeatureStore
from graft.features.taps import available_taps, run_taps, selected_features, tap_features


def _images(n: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [(rng.random((24, 24, 3)) * 255).astype(np.uint8) for _ in range(n)]


class _Counter:
    """Counts forward passes of a backbone's first group (each batch that runs the network)."""

    def __init__(self, backbone) -> None:
        self.calls = 0
        backbone.layer_groups()[0].module.register_forward_hook(lambda *a: self._hit())

    def _hit(self) -> None:
        self.calls += 1


def test_tap_names_follow_the_groups_and_end_with_source_logits():
    assert create_backbone("test_cnn").tap_names() == ["stem", "stage1", "stage2", "source_logits"]
    assert create_backbone("test_text").tap_names() == ["embeddings", "layer_0", "layer_1"]
    assert create_backbone("test_audio").tap_names() == ["conv0", "conv1"]


def test_pooling_by_shape_bounds_the_width():
    x = torch.randn(2, 8, 5, 5)
    assert pool_by_shape(x).shape == (2, 8)
    assert pool_by_shape(x, grid=2, max_width=64).shape == (2, 32)
    assert pool_by_shape(x, grid=2, max_width=16).shape == (2, 8)  # 8 x 4 cells > 16: plain mean
    assert pool_by_shape((torch.randn(2, 7, 3), None)).shape == (2, 3)


def test_last_tap_equals_the_backbones_own_features(tmp_path):
    bb = create_backbone("test_text")
    texts = ["apple banana", "engine wheel gearbox turbo", "x"]
    feats = tap_features(texts, bb, store=FeatureStore(tmp_path))
    batch = bb.collate([bb.preprocess(t) for t in texts])
    with torch.inference_mode():
        expected = bb.forward_features(batch).numpy()
    # float16 storage: about three significant digits
    np.testing.assert_allclose(feats["layer_1"], expected, rtol=2e-3, atol=2e-3)


def test_taps_are_cached_separately_as_float16_and_reused(tmp_path):
    store = FeatureStore(tmp_path)
    bb = create_backbone("test_cnn")
    counter = _Counter(bb)
    images = _images(5)
    first = tap_features(images, bb, taps=["stem", "stage2"], store=store, batch_size=2)
    assert counter.calls == 3  # 5 items in batches of 2
    again = tap_features(images, bb, taps=["stage2"], store=store)
    assert counter.calls == 3  # read from the cache: the network did not run
    np.testing.assert_array_equal(again["stage2"], first["stage2"])
    shards = list(store.root.rglob("*.npz"))
    assert len(shards) == 2  # one key (folder) per tap
    with np.load(shards[0]) as npz:
        assert npz["values"].dtype == np.float16
    tap_features(images + _images(1, seed=9), bb, taps=["stem", "source_logits"], store=store)
    assert counter.calls == 4  # one pass for the new item (stem) and every item (source logits)


def test_the_pass_stops_after_the_deepest_tap():
    bb = create_backbone("test_cnn")
    reached = []
    bb.stages["stage2"].register_forward_hook(lambda *a: reached.append(True))
    batch = bb.collate([bb.preprocess(im) for im in _images(2)])
    with torch.inference_mode():
        out = run_taps(bb, batch, ["stem", "stage1"])
        assert not reached and set(out) == {"stem", "stage1"}
        run_taps(bb, batch, ["stem", "source_logits"])
    assert reached  # the logits need the whole network


def test_views_get_their_own_cache_entries(tmp_path):
    store = FeatureStore(tmp_path)
    images = _images(3)
    plain = tap_features(images, "test_cnn", taps=["stem"], store=store)["stem"]
    flipped = tap_features(images, "test_cnn", taps=["stem"], view="hflip", store=store)["stem"]
    mirrored = tap_features([im[:, ::-1].copy() for im in images], "test_cnn", taps=["stem"], store=store)["stem"]
    assert not np.allclose(plain, flipped)
    np.testing.assert_allclose(flipped, mirrored, atol=2e-3)  # the flip of the tensor = the flipped picture
    with pytest.raises(UsageError, match="hflip"):
        tap_features(["a text"], "test_text", view="hflip", store=store)


def test_unknown_tap_names_the_available_ones(tmp_path):
    with pytest.raises(UsageError, match="stage1"):
        tap_features(_images(1), "test_cnn", taps=["nope"], store=FeatureStore(tmp_path))


def test_tap_names_are_remembered_beside_the_cache(tmp_path, monkeypatch):
    store = FeatureStore(tmp_path)
    names = available_taps("test_cnn", store=store)
    import graft.backbones

    monkeypatch.setattr(graft.backbones, "create_backbone", lambda *a, **k: pytest.fail("built the model"))
    assert available_taps("test_cnn", store=store) == names


def test_audio_and_text_taps_pool_over_time_and_tokens(tmp_path):
    store = FeatureStore(tmp_path)
    audio = tap_features([np.zeros(4000, np.float32), np.ones(8000, np.float32)], "test_audio", store=store)
    assert {k: v.shape for k, v in audio.items()} == {"conv0": (2, 8), "conv1": (2, 16)}
    text = tap_features(["one two", "three four five six"], "test_text", store=store)
    assert all(v.shape == (2, 16) for v in text.values())


def test_selected_features_run_only_up_to_the_deepest_selected_tap(tmp_path):
    store = FeatureStore(tmp_path)
    bb = create_backbone("test_cnn")
    reached = []
    bb.stages["stage2"].register_forward_hook(lambda *a: reached.append(True))
    selection = {"columns": {"stem": [0, 3], "stage1": [1]}, "normalisation": "l2", "pooling": "mean"}
    x = selected_features(_images(4), bb, selection, store=store)
    assert x.shape == (4, 3) and not reached  # stage2 and the logits were never computed
    per_tap = tap_features(_images(4), bb, taps=["stem", "stage1"], store=store)
    from graft.features.taps import combine_taps

    # the same numbers as the per-tap cache the head is fitted on
    np.testing.assert_allclose(x, combine_taps(per_tap, selection["columns"], "l2"), atol=1e-6)
    assert len([p for p in store.root.iterdir() if p.is_dir()]) == 3  # one key per tap + one for the selection
