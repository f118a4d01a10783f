"""Memory of multi-layer features: float16 taps are normalised into one float32 matrix, and a
lazy mapping reads taps from the cache one at a time (60,000 rows of every grid4 tap never sit in RAM)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from graft.backbones import create_backbone
from graft.features.store import FeatureStore
from graft.features.taps import StoredTaps, combine_taps, normalise_tap, tap_features
from memory import traced_peak


def _reference(features: dict[str, np.ndarray], columns: dict[str, list[int]]) -> np.ndarray:
    parts = []
    for tap, cols in columns.items():
        x = features[tap].astype(np.float32)
        parts.append((x / np.linalg.norm(x, axis=1, keepdims=True))[:, cols])
    return np.concatenate(parts, axis=1)


def test_combine_taps_normalises_float16_taps_into_one_float32_matrix_without_stacking_copies():
    rng = np.random.default_rng(0)
    feats = {t: rng.normal(size=(20000, 64)).astype(np.float16) for t in "abcd"}
    columns = {t: list(range(0, 64, 2)) if t == "b" else list(range(64)) for t in feats}
    x, peak = traced_peak(lambda: combine_taps(feats, columns, "l2"))
    assert x.dtype == np.float32 and x.shape == (20000, 224)
    np.testing.assert_allclose(x, _reference(feats, columns), rtol=1e-6, atol=1e-6)
    # the result plus one block of one tap; a float32 copy of every tap and a stack of the parts
    # (what it did before) is twice the result
    assert peak < 1.4 * x.nbytes


def test_combine_taps_fills_a_given_array_in_place():
    rng = np.random.default_rng(1)
    feats = {"a": rng.normal(size=(30, 5)).astype(np.float16), "b": rng.normal(size=(30, 7)).astype(np.float16)}
    columns = {"a": [0, 3], "b": [1, 2, 6]}
    out = np.full((40, 5), -7.0, np.float32)
    returned = combine_taps(feats, columns, "l2", out=out[10:])
    assert np.shares_memory(returned, out)
    np.testing.assert_allclose(out[10:], _reference(feats, columns), rtol=1e-6, atol=1e-6)
    assert (out[:10] == -7.0).all()  # rows outside the slice are left alone


def test_normalise_tap_returns_float32_unit_rows_and_leaves_its_input_alone():
    x = np.array([[3.0, 4.0], [0.0, 0.0]], np.float16)
    y = normalise_tap(x, "l2")
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, [[0.6, 0.8], [0.0, 0.0]], rtol=1e-6)
    assert x[0, 0] == 3.0


def test_lazy_tap_features_read_each_tap_from_the_cache_on_access(tmp_path):
    store = FeatureStore(tmp_path)
    bb = create_backbone("test_cnn")
    rng = np.random.default_rng(0)
    images = [(rng.random((24, 24, 3)) * 255).astype(np.uint8) for _ in range(5)]
    eager = tap_features(images, bb, store=store, dtype=np.float16)
    lazy = tap_features(images, bb, store=store, dtype=np.float16, lazy=True)
    assert isinstance(lazy, StoredTaps) and isinstance(lazy, Mapping)
    assert list(lazy) == list(eager) and lazy.rows == 5
    assert not any(isinstance(v, np.ndarray) for v in vars(lazy).values())  # holds no features
    for tap, values in eager.items():
        assert values.dtype == np.float16  # the cache's values, no float32 copy
        assert lazy.width(tap) == values.shape[1]
        np.testing.assert_array_equal(lazy[tap], values)
    columns = {t: list(range(v.shape[1])) for t, v in eager.items()}
    np.testing.assert_array_equal(combine_taps(lazy, columns, "l2"), combine_taps(eager, columns, "l2"))
