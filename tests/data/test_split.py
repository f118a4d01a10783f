"""Splits are stratified and deterministic; fingerprints follow content."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

from graft.data import from_arrays, read
from graft.data.split import held_out_count, stratified_split
from graft.errors import UsageError


def test_stratified_split_holds_out_the_fraction_of_each_class():
    labels = np.repeat([0, 1, 2], [50, 30, 10])
    keys = [f"item-{i}" for i in range(len(labels))]
    mask = stratified_split(keys, labels, 0.2, seed=0)
    assert np.bincount(labels[mask]).tolist() == [10, 6, 2]


def test_split_is_independent_of_listing_order():
    labels = np.repeat([0, 1], 40)
    keys = [f"file{i}.png" for i in range(80)]
    held = {k for k, m in zip(keys, stratified_split(keys, labels, 0.25, seed=3)) if m}
    perm = np.random.default_rng(1).permutation(80)
    shuffled = [keys[i] for i in perm]
    held_shuffled = {k for k, m in zip(shuffled, stratified_split(shuffled, labels[perm], 0.25, seed=3)) if m}
    assert held == held_shuffled


def test_seed_changes_the_split_and_adding_an_item_moves_few_others():
    labels = np.zeros(100, dtype=int)
    keys = [f"k{i}" for i in range(100)]
    a = set(np.flatnonzero(stratified_split(keys, labels, 0.2, seed=0)))
    b = set(np.flatnonzero(stratified_split(keys, labels, 0.2, seed=1)))
    assert a != b
    grown = set(np.flatnonzero(stratified_split(keys + ["new"], np.zeros(101, dtype=int), 0.2, seed=0)))
    assert len(a & grown) >= 19


def test_small_classes_keep_one_in_train_and_one_in_val():
    assert [held_out_count(n, 0.2) for n in (0, 1, 2, 3, 10)] == [0, 0, 1, 1, 2]
    assert held_out_count(5, 0.0) == 0
    with pytest.raises(UsageError):
        stratified_split(["a"], [0], 1.0)


def test_read_twice_gives_the_same_dataset_and_fingerprint(image_folder):
    root = image_folder({"a": 12, "b": 9})
    first, second = read(root), read(root)
    assert first.items == second.items
    assert first.splits.tolist() == second.splits.tolist()
    assert first.fingerprint == second.fingerprint


def test_fingerprint_changes_when_a_file_changes_or_the_split_changes(image_folder, png):
    root = image_folder({"a": 6, "b": 6})
    before = read(root).fingerprint
    assert read(root, seed=5).fingerprint != before  # other val items
    target = root / "a" / "a_000.png"
    stat = target.stat()
    png(target, value=999)
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert read(root).fingerprint != before


def test_fingerprint_does_not_depend_on_the_folder_location(image_folder, tmp_path):
    import shutil

    root = image_folder({"a": 4, "b": 4})
    copy = shutil.copytree(root, tmp_path / "elsewhere")
    time.sleep(0.01)
    assert read(root).fingerprint == read(copy).fingerprint


def test_array_fingerprint_is_stable():
    X = np.arange(20.0).reshape(10, 2)
    y = [0, 1] * 5
    assert from_arrays(X, y, val_fraction=0.2).fingerprint == from_arrays(X.copy(), list(y), val_fraction=0.2).fingerprint
