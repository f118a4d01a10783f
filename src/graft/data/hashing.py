"""Content hashes of items: the cache and the dataset fingerprint key on content, not on names."""

from __future__ import annotations

import hashlib
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np


@lru_cache(maxsize=1 << 18)
def _file_hash(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def item_hash(item: Any) -> str:
    """Hash of one item: file bytes for ``Path``, UTF-8 for ``str`` (text), dtype+shape+bytes for arrays.

    Readers give file-based items as ``pathlib.Path`` so a sentence is never mistaken for a file name.
    """
    if isinstance(item, Path):
        st = os.stat(item)
        return "f" + _file_hash(os.fspath(item), st.st_size, st.st_mtime_ns)
    if isinstance(item, str):
        return "t" + hashlib.blake2b(item.encode("utf-8"), digest_size=16).hexdigest()
    if isinstance(item, np.ndarray):
        digest = hashlib.blake2b(digest_size=16)
        digest.update(f"{item.dtype.str}{item.shape}".encode())
        digest.update(np.ascontiguousarray(item).tobytes())
        return "a" + digest.hexdigest()
    if hasattr(item, "tobytes") and hasattr(item, "size"):  # PIL image
        digest = hashlib.blake2b(digest_size=16)
        digest.update(f"{item.mode}{item.size}".encode())
        digest.update(item.tobytes())
        return "i" + digest.hexdigest()
    raise TypeError(f"cannot hash item of type {type(item).__name__}")

