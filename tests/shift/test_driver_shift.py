"""``measure_shift`` on embeddings and ``dataset_shift`` on datasets: one result, both measures."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from graft.data import from_arrays
from graft.errors import UsageError
from graft.shift import ShiftResult, dataset_shift, measure_shift


def test_same_distribution_is_not_a_shift():
    rng = np.random.default_rng(0)
    r = measure_shift(rng.normal(size=(150, 6)), rng.normal(size=(120, 6)), n_permutations=200)
    assert isinstance(r, ShiftResult)
    assert not r.shifted and r.p_value > 0.05 and r.proxy_a_distance < 0.5
    assert (r.n_a, r.n_b, r.size_a, r.size_b, r.feature_dim) == (150, 120, 150, 120, 6)
    assert "no significant difference" in r.summary


def test_a_moved_distribution_is_a_large_shift():
    rng = np.random.default_rng(1)
    r = measure_shift(rng.normal(size=(150, 6)), rng.normal(size=(150, 6)) + 2.0, n_permutations=200)
    assert r.shifted and r.p_value < 0.01 and r.proxy_a_distance > 1.5 and r.domain_auc > 0.95
    assert "differ" in r.summary and "large" in r.summary


def test_the_cap_applies_to_both_measures():
    rng = np.random.default_rng(2)
    r = measure_shift(rng.normal(size=(300, 4)), rng.normal(size=(80, 4)), max_samples=100, n_permutations=0)
    assert (r.n_a, r.n_b, r.size_a) == (100, 80, 300) and r.p_value is None and not r.shifted


def test_datasets_are_compared_in_a_backbones_feature_space(tiny_images, make_images, tmp_path):
    same = dataset_shift(tiny_images, make_images(tmp_path / "again", {"train": 10, "test": 4}, seed=5),
                         "test_cnn", n_permutations=200)
    grey = tmp_path / "grey"  # a flat folder: an unlabelled set, as met in use
    grey.mkdir()
    for i in range(30):
        Image.fromarray(np.full((24, 24, 3), 90 + i, np.uint8)).save(grey / f"{i}.png")
    moved = dataset_shift(tiny_images, grey, "test_cnn", n_permutations=200)
    assert same.backbone == "test_cnn" and same.size_a == same.n_a == 42
    assert not same.shifted and moved.shifted and moved.proxy_a_distance > same.proxy_a_distance
    assert json.loads(json.dumps(moved.to_dict()))["summary"] == moved.summary


def test_items_lists_and_array_data_work_too(tiny_images, tmp_path):
    items = sorted(tiny_images.rglob("*.png"))
    r = dataset_shift(items[:20], items[20:], "test_cnn", n_permutations=50, max_samples=15)
    assert (r.n_a, r.n_b, r.size_a, r.size_b) == (15, 15, 20, len(items) - 20)
    rng = np.random.default_rng(3)
    a = from_arrays(rng.normal(size=(60, 5)), np.repeat([0, 1], 30))
    b = from_arrays(rng.normal(size=(60, 5)) + 3, np.repeat([0, 1], 30))
    assert dataset_shift(a, b, n_permutations=50).shifted  # numeric rows are their own embedding


def test_mismatched_embeddings_are_refused():
    with pytest.raises(UsageError, match="same feature size"):
        measure_shift(np.zeros((10, 3)), np.zeros((10, 4)))
