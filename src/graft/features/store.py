"""Content-addressed, atomic, verified on-disk store of per-item arrays (embeddings, prefix outputs).

Layout: ``<root>/<key>/<shard>.npz`` where ``key`` identifies backbone + weights + preprocessing
(+ layer-group prefix) and each shard holds the item content hashes and their arrays. A shard's
file name is the sha256 of its bytes, so a corrupted shard is detected on read, removed, and its
items are recomputed. Shards are written to a temp file and renamed: a killed run leaves only
whole shards behind, and the next run computes only what is missing.

Imports numpy only: a fully cached run needs neither torch nor the model.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from graft._config import atomic_write_bytes
from graft._files import clean_stale_in
from graft.errors import GraftError

log = logging.getLogger(__name__)

def default_cache_dir() -> Path:
    """``$GRAFT_CACHE``, else ``$XDG_CACHE_HOME/graft``, else ``~/.cache/graft``."""
    if os.environ.get("GRAFT_CACHE"):
        return Path(os.environ["GRAFT_CACHE"]).expanduser()
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "graft"


#: Item keys of shards verified in this process, by path, inode, size and change times; the oldest go first.
_VERIFIED_KEYS: dict[tuple[str, int, int, int, int], np.ndarray] = {}
_VERIFIED_LIMIT = 4096


class FeatureStore:
    """Per-item arrays cached on disk under a key.

    Example:
        >>> store = FeatureStore("/tmp/graft-cache")
        >>> x = store.get_or_compute("k", ["a", "b"], lambda positions: [np.ones((2, 3))])
        >>> x.shape
        (2, 3)
    """

    def __init__(self, root: str | Path | None = None, shard_size: int = 2048) -> None:
        # where the root came from, for error messages: the setting a user would change
        self.origin = ("given" if root is not None else "env" if os.environ.get("GRAFT_CACHE") else "default")
        self.root = Path(root) if root is not None else default_cache_dir() / "features"
        self.shard_size = shard_size
        self._writable = False

    def check_writable(self) -> None:
        """Fail before any item is computed when the results could not be stored (a cache path that
        is a file, cannot be created, or is read-only), naming the setting to change."""
        if self._writable:
            return
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            if not os.access(self.root, os.W_OK | os.X_OK):
                raise PermissionError("no write permission")
        except OSError as exc:
            where = {"env": f"; it comes from GRAFT_CACHE={os.environ.get('GRAFT_CACHE')}", "given": "",
                     "default": " (the default cache folder)"}[self.origin]
            raise GraftError(f"the feature cache cannot be written at {self.root} ({exc.strerror or exc}){where}: "
                             "point GRAFT_CACHE at a folder graft can create and write in") from exc
        self._writable = True

    def key_dir(self, key: str) -> Path:
        return self.root / key

    def index(self, key: str) -> dict[str, tuple[Path, int]]:
        """Item hash → (shard path, row) for every verified shard of ``key``."""
        index: dict[str, tuple[Path, int]] = {}
        folder = self.key_dir(key)
        if not folder.is_dir():
            return index
        for shard in sorted(folder.glob("*.npz")):
            keys = self._read_keys(shard)
            if keys is not None:
                for row, h in enumerate(keys.tolist()):
                    index[h] = (shard, row)
        return index

    def _read_keys(self, shard: Path) -> np.ndarray | None:
        try:
            stat = shard.stat()
            # shards are written once, atomically, under their checksum: one verified with the same
            # size and modification time in this process need not be read and hashed again
            seen = (str(shard), stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)
            if seen in _VERIFIED_KEYS:
                return _VERIFIED_KEYS[seen]
            data = shard.read_bytes()
            if hashlib.sha256(data).hexdigest()[:32] != shard.stem:
                raise ValueError("checksum mismatch")
            with np.load(io.BytesIO(data), allow_pickle=False) as npz:
                keys = npz["keys"]
            if len(_VERIFIED_KEYS) >= _VERIFIED_LIMIT:
                _VERIFIED_KEYS.pop(next(iter(_VERIFIED_KEYS)))
            _VERIFIED_KEYS[seen] = keys
            return keys
        except Exception as exc:  # corrupt, truncated or foreign file: drop it, recompute its items
            log.warning("cache shard %s is corrupt (%s); removing it, its items will be recomputed", shard, exc)
            shard.unlink(missing_ok=True)
            return None

    def write_shard(self, key: str, item_hashes: Sequence[str], values: np.ndarray) -> Path:
        buffer = io.BytesIO()
        np.savez(buffer, keys=np.asarray(item_hashes, dtype=str), values=values)
        data = buffer.getvalue()
        path = self.key_dir(key) / f"{hashlib.sha256(data).hexdigest()[:32]}.npz"
        atomic_write_bytes(path, data)
        return path

    def missing(self, key: str, item_hashes: Sequence[str]) -> list[int]:
        """Positions of items with no cached value (first occurrence of each hash)."""
        index = self.index(key)
        seen: set[str] = set()
        out = []
        for i, h in enumerate(item_hashes):
            if h not in index and h not in seen:
                seen.add(h)
                out.append(i)
        return out

    def get_or_compute(
        self,
        key: str,
        item_hashes: Sequence[str],
        compute: Callable[[list[int]], Iterable[np.ndarray]],
        out: np.ndarray | None = None,
    ) -> np.ndarray:
        """Return the arrays for ``item_hashes`` in order, computing only the missing ones.

        Args:
            key: identifies what is stored (backbone + weights + preprocessing [+ prefix]).
            item_hashes: content hash per item (``graft.data.hashing.item_hash``).
            compute: given positions of missing items, yields their arrays in that order, in
                chunks; each chunk is written as shards as soon as it arrives (so an interrupted
                run keeps what it finished).
            out: optional preallocated array (e.g. a ``np.lib.format.open_memmap``) to fill,
                so memory does not grow with the dataset.
        """
        todo = self.missing(key, item_hashes)
        if todo:
            self.fill(key, item_hashes, todo, compute)
        return self.gather(key, item_hashes, out)

    def fill(self, key: str, item_hashes: Sequence[str], positions: list[int],
             compute: Callable[[list[int]], Iterable[np.ndarray]]) -> None:
        """Compute and store the items at ``positions`` (e.g. one rank's share of the missing ones)."""
        self.check_writable()
        clean_stale_in(self.key_dir(key))  # shards a killed run was writing
        hashes = [item_hashes[i] for i in positions]
        pending: list[np.ndarray] = []
        done = 0
        for chunk in compute(positions):
            pending.append(np.asarray(chunk))
            size = sum(len(p) for p in pending)
            if size >= self.shard_size:
                values = np.concatenate(pending)
                self.write_shard(key, hashes[done: done + size], values)
                done += size
                pending = []
        if pending:
            values = np.concatenate(pending)
            self.write_shard(key, hashes[done: done + len(values)], values)
            done += len(values)
        if done != len(hashes):
            raise RuntimeError(f"compute produced {done} rows for {len(hashes)} items")

    def gather(self, key: str, item_hashes: Sequence[str], out: np.ndarray | None = None) -> np.ndarray:
        index = self.index(key)
        by_shard: dict[Path, list[tuple[int, int]]] = {}
        for pos, h in enumerate(item_hashes):
            if h not in index:
                raise KeyError(f"item {h} is not in the cache under {key}")
            shard, row = index[h]
            by_shard.setdefault(shard, []).append((pos, row))
        for shard, pairs in by_shard.items():
            with np.load(shard, allow_pickle=False) as npz:
                values = npz["values"]
            if out is None:
                out = np.empty((len(item_hashes), *values.shape[1:]), dtype=values.dtype)
            pos, rows = map(np.asarray, zip(*pairs))
            out[pos] = values[rows]
        if out is None:
            out = np.empty((0, 0), dtype=np.float32)
        return out

    def clear(self, key: str | None = None) -> None:
        import shutil

        target = self.key_dir(key) if key else self.root
        shutil.rmtree(target, ignore_errors=True)
