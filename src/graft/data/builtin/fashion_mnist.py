"""Fashion-MNIST from the Debian package, as PNG class folders ``train/<class>/`` and ``test/<class>/``."""

from __future__ import annotations

import gzip
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from graft.data.builtin._output import Counts, cap, check_per_class, materialise, require_file, save_png
from graft.data.builtin.registry import DATASETS, BuiltinDataset
from graft.errors import DataError

ROOT = Path("/usr/share/datasets/fashion-mnist")
PACKAGE = "dataset-fashion-mnist"
#: The 10 classes in label order (0..9), as folder-safe names.
CLASSES = ("tshirt_top", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle_boot")
FILES = {"train": "train", "test": "t10k"}
LAYOUT = (
    "train/<class>/<index>.png and test/<class>/<index>.png, 28x28 grey; "
    "<index> is the position in the original IDX file"
)


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (``.gz``) as an array: 2 zero bytes, a dtype code, ndim, then big-endian dims."""
    with gzip.open(path, "rb") as fh:
        data = fh.read()
    if len(data) < 4 or data[:2] != b"\0\0" or data[2] != 0x08:
        raise DataError(f"{path} is not an unsigned-byte IDX file; reinstall {PACKAGE}")
    ndim = data[3]
    shape = tuple(int(d) for d in np.frombuffer(data, ">i4", count=ndim, offset=4))
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(shape)


@lru_cache(maxsize=2)
def load_split(split: str, root: Path = ROOT) -> tuple[np.ndarray, np.ndarray]:
    """Images ``(N, 28, 28)`` uint8 and labels ``(N,)`` of the ``train`` or ``test`` split."""
    stem = FILES[split]
    images, labels = root / f"{stem}-images-idx3-ubyte.gz", root / f"{stem}-labels-idx1-ubyte.gz"
    for path in (images, labels):
        require_file(path, PACKAGE, "fashion_mnist")
    return read_idx(images), read_idx(labels)


def make(out_dir: Path, per_class: int | None = None, seed: int = 0) -> Path:
    """Write ``per_class`` images per class and split (default 100; a large number for all)."""
    per_class = SPEC.default_per_class if per_class is None else per_class
    check_per_class(per_class)
    require_file(ROOT, PACKAGE, "fashion_mnist")
    params = {"per_class": per_class, "seed": seed}
    return materialise(SPEC, out_dir, params, lambda tmp: _build(tmp, per_class, seed), LAYOUT)


def _build(tmp: Path, per_class: int | None, seed: int) -> tuple[Counts, dict[str, Any]]:
    counts: Counts = {}
    for split_id, split in enumerate(FILES):
        images, labels = load_split(split)
        counts[split] = {}
        for label, name in enumerate(CLASSES):
            chosen = cap(np.flatnonzero(labels == label), per_class, [seed, split_id, label])
            for index in chosen:
                save_png(images[index], tmp / split / name / f"{index:05d}.png")
            counts[split][name] = len(chosen)
    return counts, {"classes": list(CLASSES)}


SPEC = BuiltinDataset(
    name="fashion_mnist",
    modality="image",
    description="Fashion-MNIST: 28x28 grey photos of clothing, 10 classes (Zalando Research)",
    license="MIT (Expat)",
    requires=(f"apt:{PACKAGE}",),
    make=make,
    default_per_class=100,
    source=f"{ROOT} (Debian {PACKAGE}; https://github.com/zalandoresearch/fashion-mnist)",
)
DATASETS.add(SPEC.name, SPEC)
