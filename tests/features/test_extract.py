"""Streaming extraction through the cache: same numbers as a hand loop, computed once."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

import graft.features.extract as extract_module
from graft.backbones import create_backbone
from graft.features.extract import embed_items, extract, iterate_batches
from graft.features.store import FeatureStore


@pytest.fixture
def store(tmp_path) -> FeatureStore:
    return FeatureStore(tmp_path / "cache")


@pytest.fixture
def counting_extract(monkeypatch):
    """Wraps ``extract`` to record how many items each call was asked to compute."""
    calls: list[int] = []
    real = extract_module.extract

    def counted(backbone, items, *args, **kwargs):
        calls.append(len(items))
        return real(backbone, items, *args, **kwargs)

    monkeypatch.setattr(extract_module, "extract", counted)
    return calls


def _image_items(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.png"))


def hand_loop(backbone, items, batch_size):
    import torch

    out = []
    with torch.inference_mode():
        for start in range(0, len(items), batch_size):
            batch = torch.stack([backbone.preprocess(i) for i in items[start: start + batch_size]])
            out.append(backbone.forward_features(batch).numpy())
    return np.concatenate(out)


def test_extraction_equals_a_hand_written_loop(tiny_images):
    items = _image_items(tiny_images)
    bb = create_backbone("test_cnn")
    expected = hand_loop(bb, items, 5)
    chunks = list(extract(bb, items, batch_size=5))
    assert [len(c) for c in chunks] == [5] * (len(items) // 5) + ([len(items) % 5] if len(items) % 5 else [])
    got = np.concatenate(chunks)
    assert got.dtype == np.float32 and got.shape == (len(items), 16)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(embed_items(items, bb, batch_size=7, use_cache=False), expected, rtol=1e-5, atol=1e-6)


def test_batches_come_in_item_order_with_and_without_workers(tiny_images):
    import torch

    items = _image_items(tiny_images)[:9]
    bb = create_backbone("test_cnn")
    threaded = torch.cat(list(iterate_batches(bb, items, batch_size=4)))
    loader = torch.cat(list(iterate_batches(bb, items, batch_size=4, num_workers=1)))
    expected = torch.stack([bb.preprocess(i) for i in items])
    assert torch.equal(threaded, expected) and torch.equal(loader, expected)


def test_second_run_reads_the_cache_without_building_the_backbone(tiny_images, store, counting_extract, monkeypatch):
    items = _image_items(tiny_images)
    first = embed_items(items, "test_cnn", store=store, batch_size=8)
    assert counting_extract == [len(items)]

    import graft.backbones

    def no_build(*args, **kwargs):
        raise AssertionError("a fully cached run must not build the backbone")

    monkeypatch.setattr(graft.backbones, "create_backbone", no_build)
    second = embed_items(items, "test_cnn", store=store, batch_size=8)
    assert counting_extract == [len(items)]
    np.testing.assert_array_equal(first, second)


def test_adding_files_computes_only_the_new_ones(tiny_image_copy, store, counting_extract):
    from PIL import Image

    items = _image_items(tiny_image_copy)
    before = embed_items(items, "test_cnn", store=store)
    new = [tiny_image_copy / "red" / "extra_a.png", tiny_image_copy / "blue" / "extra_b.png"]
    for path, value in zip(new, (17, 230)):
        Image.new("RGB", (20, 20), (value, 90, 255 - value)).save(path)
    after = embed_items(_image_items(tiny_image_copy), "test_cnn", store=store)
    assert counting_extract == [len(items), 2]
    assert after.shape == (len(items) + 2, 16)
    by_path = dict(zip(_image_items(tiny_image_copy), after))
    np.testing.assert_array_equal(np.stack([by_path[p] for p in items]), before)


def test_changing_a_backbone_option_recomputes(tiny_images, store, counting_extract):
    items = _image_items(tiny_images)[:6]
    embed_items(items, "test_cnn", store=store)
    embed_items(items, "test_cnn", store=store, image_size=40)
    embed_items(items, "test_cnn", store=store, image_size=40)
    assert counting_extract == [6, 6]


def test_identical_content_under_another_name_hits_the_cache(tiny_images, tmp_path, store, counting_extract):
    items = _image_items(tiny_images)[:4]
    copies = []
    for i, item in enumerate(items):
        copies.append(tmp_path / f"renamed_{i}.png")
        shutil.copy(item, copies[-1])
    a = embed_items(items, "test_cnn", store=store)
    b = embed_items(copies, "test_cnn", store=store)
    assert counting_extract == [4]
    np.testing.assert_array_equal(a, b)


def test_an_edited_file_is_recomputed(tiny_image_copy, store, counting_extract):
    items = _image_items(tiny_image_copy)
    before = embed_items(items, "test_cnn", store=store)
    from PIL import Image

    Image.new("RGB", (24, 24), (250, 250, 0)).save(items[0])  # same name, new content
    after = embed_items(items, "test_cnn", store=store)
    assert counting_extract == [len(items), 1]
    assert not np.allclose(after[0], before[0])
    np.testing.assert_array_equal(after[1:], before[1:])
    # content-addressed: a file that now equals another one needs no compute at all
    shutil.copy(items[-1], items[1])
    np.testing.assert_array_equal(embed_items(items, "test_cnn", store=store)[1], before[-1])
    assert counting_extract == [len(items), 1]


def test_a_corrupted_cache_entry_is_recomputed_with_the_same_values(tiny_images, store, counting_extract):
    items = _image_items(tiny_images)
    first = embed_items(items, "test_cnn", store=store)
    for shard in store.root.rglob("*.npz"):
        shard.write_bytes(shard.read_bytes()[:100])
    second = embed_items(items, "test_cnn", store=store)
    assert counting_extract == [len(items), len(items)]
    np.testing.assert_allclose(first, second, rtol=1e-6)


def test_no_cache_mode_writes_nothing(tiny_images, store):
    embed_items(_image_items(tiny_images)[:3], "test_cnn", store=store, use_cache=False)
    assert not store.root.exists() or not any(store.root.rglob("*.npz"))


def test_default_store_lives_under_GRAFT_CACHE(tiny_images, tmp_path, monkeypatch):
    monkeypatch.setenv("GRAFT_CACHE", str(tmp_path / "my-cache"))
    embed_items(_image_items(tiny_images)[:2], "test_cnn")
    assert list((tmp_path / "my-cache").rglob("*.npz"))


def test_text_items_go_through_the_same_cache(tiny_text_csv, store, counting_extract):
    texts = ["apple banana", "engine wheel", "apple banana"]
    x = embed_items(texts, "test_text", store=store)
    y = embed_items(texts[:2] + ["a new sentence"], "test_text", store=store)
    assert x.shape == (3, 16)
    np.testing.assert_array_equal(x[0], x[2])
    np.testing.assert_array_equal(x[:2], y[:2])
    assert counting_extract == [2, 1]


def test_embedding_into_a_memmap(tiny_images, tmp_path, store):
    items = _image_items(tiny_images)
    out = np.lib.format.open_memmap(tmp_path / "x.npy", mode="w+", dtype=np.float32, shape=(len(items), 16))
    result = embed_items(items, "test_cnn", store=store, out=out)
    assert result is out
    np.testing.assert_allclose(np.asarray(out), embed_items(items, "test_cnn", store=store), rtol=1e-6)


def test_file_paths_given_as_strings_are_keyed_on_content(tmp_path, store):
    """``graft.embed(["a.png"])`` must not serve stale features after a.png is edited."""
    from PIL import Image

    path = tmp_path / "a.png"
    Image.new("RGB", (24, 24), (255, 0, 0)).save(path)
    red = embed_items([str(path)], "test_cnn", store=store)
    Image.new("RGB", (24, 24), (0, 0, 255)).save(path)
    blue = embed_items([str(path)], "test_cnn", store=store)
    np.testing.assert_array_equal(blue, embed_items([path], "test_cnn", store=store))
    assert not np.allclose(red, blue)
    # for a text backbone a string stays a sentence, even one that looks like a path
    np.testing.assert_array_equal(embed_items([str(path)], "test_text", store=store),
                                  embed_items([str(path)], "test_text", store=store, use_cache=False))
