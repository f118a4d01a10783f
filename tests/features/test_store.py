"""The on-disk feature cache: reads what it has, computes what it lacks, never trusts a broken file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from graft.features.store import FeatureStore, default_cache_dir


class CountingCompute:
    """A compute function that records which positions it was asked for, yielding in chunks."""

    def __init__(self, values: np.ndarray, chunk: int = 3, fail_after: int | None = None) -> None:
        self.values, self.chunk, self.fail_after = values, chunk, fail_after
        self.calls: list[list[int]] = []

    def __call__(self, positions: list[int]):
        self.calls.append(list(positions))
        for n, start in enumerate(range(0, len(positions), self.chunk)):
            if self.fail_after is not None and n >= self.fail_after:
                raise RuntimeError("killed mid-run")
            yield self.values[positions[start: start + self.chunk]]

    @property
    def computed(self) -> list[int]:
        return [p for call in self.calls for p in call]


def _data(n: int, d: int = 4) -> tuple[list[str], np.ndarray]:
    values = np.arange(n * d, dtype=np.float32).reshape(n, d)
    return [f"item{i}" for i in range(n)], values


def test_second_run_reads_the_cache(tmp_path):
    store = FeatureStore(tmp_path, shard_size=4)
    hashes, values = _data(10)
    first = CountingCompute(values)
    np.testing.assert_array_equal(store.get_or_compute("k", hashes, first), values)
    assert sorted(first.computed) == list(range(10))

    second = CountingCompute(values)
    np.testing.assert_array_equal(FeatureStore(tmp_path, shard_size=4).get_or_compute("k", hashes, second), values)
    assert second.calls == []


def test_new_items_are_the_only_ones_computed(tmp_path):
    store = FeatureStore(tmp_path)
    hashes, values = _data(12)
    store.get_or_compute("k", hashes[:8], CountingCompute(values[:8]))
    more = CountingCompute(values)
    result = store.get_or_compute("k", hashes, lambda pos: more(pos))
    np.testing.assert_array_equal(result, values)
    assert more.computed == [8, 9, 10, 11]


def test_keys_do_not_share_entries(tmp_path):
    store = FeatureStore(tmp_path)
    hashes, values = _data(3)
    store.get_or_compute("backbone-a", hashes, CountingCompute(values))
    other = CountingCompute(values + 1)
    np.testing.assert_array_equal(store.get_or_compute("backbone-b", hashes, other), values + 1)
    assert other.computed == [0, 1, 2]


def test_duplicate_items_are_computed_once_and_returned_in_order(tmp_path):
    store = FeatureStore(tmp_path)
    hashes = ["a", "b", "a", "c", "b"]
    compute = CountingCompute(np.array([[1.0], [2.0], [1.0], [3.0], [2.0]], dtype=np.float32))
    result = store.get_or_compute("k", hashes, compute)
    assert compute.computed == [0, 1, 3]
    np.testing.assert_array_equal(result[:, 0], [1, 2, 1, 3, 2])


@pytest.mark.parametrize("damage", ["flip_byte", "truncate", "empty", "garbage_name"])
def test_a_corrupted_shard_is_detected_and_recomputed(tmp_path, damage, caplog):
    store = FeatureStore(tmp_path, shard_size=4)
    hashes, values = _data(10)
    store.get_or_compute("k", hashes, CountingCompute(values))
    shards = sorted((tmp_path / "k").glob("*.npz"))
    assert len(shards) >= 2  # shards close once they hold shard_size rows
    victim = shards[0]
    data = bytearray(victim.read_bytes())
    if damage == "flip_byte":
        data[len(data) // 2] ^= 0xFF
        victim.write_bytes(bytes(data))
    elif damage == "truncate":
        victim.write_bytes(bytes(data[: len(data) // 3]))
    elif damage == "empty":
        victim.write_bytes(b"")
    else:
        (tmp_path / "k" / ("0" * 32 + ".npz")).write_bytes(b"PK\x03\x04 not a real shard")
    lost = FeatureStore(tmp_path).index("k")
    again = CountingCompute(values)
    np.testing.assert_array_equal(store.get_or_compute("k", hashes, again), values)
    if damage == "garbage_name":
        assert again.calls == []
    else:
        assert len(again.computed) == 10 - len(lost) > 0
        assert "corrupt" in caplog.text
    # the bad file is gone; a third run computes nothing
    third = CountingCompute(values)
    store.get_or_compute("k", hashes, third)
    assert third.calls == []


def test_an_interrupted_run_keeps_finished_shards_and_leaves_no_partial_file(tmp_path):
    store = FeatureStore(tmp_path, shard_size=4)
    hashes, values = _data(10)
    # chunks of 2 rows; dies after 3 chunks: one 4-row shard written, 2 rows pending and lost
    dying = CountingCompute(values, chunk=2, fail_after=3)
    with pytest.raises(RuntimeError, match="killed"):
        store.get_or_compute("k", hashes, dying)
    files = sorted(p.name for p in (tmp_path / "k").iterdir())
    assert len(files) == 1 and files[0].endswith(".npz") and not files[0].startswith(".")
    assert len(store.index("k")) == 4

    resume = CountingCompute(values)
    np.testing.assert_array_equal(store.get_or_compute("k", hashes, resume), values)
    assert resume.computed == [4, 5, 6, 7, 8, 9]


def test_a_write_that_fails_leaves_no_temp_file(tmp_path, monkeypatch):
    import os

    store = FeatureStore(tmp_path)
    hashes, values = _data(3)

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        store.get_or_compute("k", hashes, CountingCompute(values))
    monkeypatch.undo()
    assert list((tmp_path / "k").iterdir()) == []


def test_compute_that_returns_too_few_rows_is_an_error(tmp_path):
    store = FeatureStore(tmp_path)
    hashes, values = _data(5)
    with pytest.raises(RuntimeError, match="3 rows for 5 items"):
        store.get_or_compute("k", hashes, lambda positions: [values[:3]])


def test_memmap_output_is_filled_in_place(tmp_path):
    store = FeatureStore(tmp_path / "cache", shard_size=3)
    hashes, values = _data(7)
    out = np.lib.format.open_memmap(tmp_path / "x.npy", mode="w+", dtype=np.float32, shape=values.shape)
    assert store.get_or_compute("k", hashes, CountingCompute(values), out=out) is out
    out.flush()
    np.testing.assert_array_equal(np.load(tmp_path / "x.npy"), values)


def test_cache_location_follows_GRAFT_CACHE(tmp_path, monkeypatch):
    monkeypatch.setenv("GRAFT_CACHE", str(tmp_path / "elsewhere"))
    assert default_cache_dir() == tmp_path / "elsewhere"
    store = FeatureStore()
    hashes, values = _data(2)
    store.get_or_compute("k", hashes, CountingCompute(values))
    assert list((tmp_path / "elsewhere" / "features" / "k").glob("*.npz"))


def test_cache_location_default_is_the_user_cache(monkeypatch, tmp_path):
    monkeypatch.delenv("GRAFT_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "graft"


def test_the_test_session_never_uses_the_home_cache():
    assert Path(default_cache_dir()).resolve() != (Path.home() / ".cache" / "graft").resolve()


def test_a_verified_shard_is_not_read_again_until_it_changes(tmp_path, monkeypatch):
    """``index`` verifies each shard's checksum once per process; a shard rewritten since is read again."""
    import hashlib as hashlib_module

    from graft.features import store as store_module

    store = FeatureStore(tmp_path, shard_size=4)
    hashes, values = _data(8)
    store.get_or_compute("k", hashes, CountingCompute(values))
    store.index("k")
    digests = []
    real = hashlib_module.sha256
    monkeypatch.setattr(store_module.hashlib, "sha256", lambda data=b"": digests.append(len(data)) or real(data))
    index = store.index("k")
    assert len(index) == 8 and digests == []  # nothing read or hashed again
    shard = sorted((tmp_path / "k").glob("*.npz"))[0]
    in_shard = sum(1 for path, _ in index.values() if path == shard)
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF
    import os
    import time

    time.sleep(0.01)
    shard.write_bytes(bytes(data))
    os.utime(shard, ns=(time.time_ns(), time.time_ns()))
    assert len(store.index("k")) == 8 - in_shard and len(digests) == 1  # the changed shard was checked, dropped
