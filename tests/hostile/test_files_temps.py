"""Issue 9 §5 (the files half): temp files a killed run left are cleaned on the next write of the
same target (a live writer's are not), a model swapped out by an interrupted save comes back, and
what graft writes respects the umask."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

import graft
from graft._config import atomic_write_text


def dead_pid() -> int:
    """The id of a process that has exited."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def leftover(path: Path, old: bool = False, folder: bool = False) -> Path:
    """A temp file (or folder) as a write left it; ``old``: last touched an hour ago."""
    if folder:
        path.mkdir()
        (path / "model.safetensors").write_bytes(b"half a model")
    else:
        path.write_bytes(b"half an array")
    if old:
        then = time.time() - 3600
        os.utime(path, (then, then))
    return path


@pytest.fixture(scope="module")
def probed(tiny_images):
    return graft.probe(tiny_images, "test_cnn")


def test_stale_temps_of_the_same_target_are_cleaned_and_live_ones_kept(tiny_images, tmp_path):
    from graft.api import embed_to_file

    dead = dead_pid()
    stale = [leftover(tmp_path / f".k.npy.tmp-{dead}-0123abcd.npy"),
             leftover(tmp_path / ".k.npy.x1y2z3w4.npy", old=True)]  # an older graft's name, an hour old
    live = leftover(tmp_path / f".k.npy.tmp-{os.getppid()}-89abcdef.npy")  # a running process's write
    recent_legacy = leftover(tmp_path / ".k.npy.abcdefgh.npy")  # no pid and fresh: might be live, keep it
    other_target = leftover(tmp_path / f".other.npy.tmp-{dead}-0123abcd.npy")
    embed_to_file(tiny_images, tmp_path / "k.npy", "test_cnn")
    assert not any(p.exists() for p in stale)
    assert live.exists() and recent_legacy.exists() and other_target.exists()


def test_stale_model_temps_are_cleaned_and_a_swapped_out_model_restored(probed, tmp_path):
    dead = dead_pid()
    half = leftover(tmp_path / f".M.tmp-{dead}-0123abcd", folder=True)
    legacy = leftover(tmp_path / ".M.tmp-q1w2e3r4", old=True, folder=True)
    probed.save(tmp_path / "M")
    assert not half.exists() and not legacy.exists()

    # an interrupted save between its two renames: the old model sits in .M.old-<pid>-..., M is gone
    old = tmp_path / f".M.old-{dead}-4567cdef"
    (tmp_path / "M").rename(old)
    with pytest.raises(graft.errors.UsageError, match="--overwrite"):
        probed.save(tmp_path / "M")  # the restored model counts as an existing one
    assert not old.exists() and graft.load(tmp_path / "M").classes == probed.classes
    assert sorted(p.name for p in tmp_path.iterdir()) == ["M"]


def test_saved_files_respect_the_umask(probed, tmp_path):
    previous = os.umask(0o022)
    try:
        target = probed.save(tmp_path / "model")
        atomic_write_text(tmp_path / "table.csv", "a,b\n")
    finally:
        os.umask(previous)
    assert stat.S_IMODE(target.stat().st_mode) == 0o755
    assert {stat.S_IMODE(p.stat().st_mode) for p in target.iterdir()} == {0o644}
    assert stat.S_IMODE((tmp_path / "table.csv").stat().st_mode) == 0o644


def test_a_killed_cache_write_leaves_no_temp_once_the_cache_is_written_again(tmp_path):
    import numpy as np

    from graft.features.store import FeatureStore

    store = FeatureStore(tmp_path / "cache")
    store.key_dir("k").mkdir(parents=True)
    stray = leftover(store.key_dir("k") / f".{'0' * 32}.npz.tmp-{dead_pid()}-0123abcd")
    out = store.get_or_compute("k", ["a", "b"], lambda positions: [np.ones((len(positions), 3))])
    assert out.shape == (2, 3) and not stray.exists()
