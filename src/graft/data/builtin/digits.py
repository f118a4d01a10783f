"""scikit-learn's handwritten digits (8x8, values 0..16) as PNG class folders with a test split."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from graft.data.builtin._output import Counts, check_per_class, materialise, save_png
from graft.data.builtin.registry import DATASETS, BuiltinDataset
from graft.data.split import order_by_key, stratified_split

TEST_FRACTION = 0.25
LAYOUT = (
    "train/<digit>/<index>.png and test/<digit>/<index>.png, 8x8 grey (0..16 scaled to 0..255); "
    "<index> is the row in sklearn.datasets.load_digits()"
)


def to_uint8(images: np.ndarray) -> np.ndarray:
    """load_digits values 0..16 → 0..255 (the same scale font_digits uses)."""
    return np.rint(np.asarray(images, dtype=np.float64) * (255.0 / 16.0)).astype(np.uint8)


def make(out_dir: Path, per_class: int | None = None, seed: int = 0) -> Path:
    """Write the digits, a stratified 25 % test split, at most ``per_class`` per class and split."""
    check_per_class(per_class)
    params = {"per_class": per_class, "seed": seed}
    return materialise(SPEC, out_dir, params, lambda tmp: _build(tmp, per_class, seed), LAYOUT)


def _build(tmp: Path, per_class: int | None, seed: int) -> tuple[Counts, dict[str, Any]]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images, target = to_uint8(bunch.images), bunch.target
    keys = [f"digits-{i}" for i in range(len(target))]
    is_test = stratified_split(keys, target, TEST_FRACTION, seed)
    counts: Counts = {}
    for split, mask in (("train", ~is_test), ("test", is_test)):
        counts[split] = {}
        for digit in range(10):
            members = np.flatnonzero(mask & (target == digit))
            order = order_by_key([keys[i] for i in members], seed)[:per_class]
            for index in sorted(members[order]):
                save_png(images[index], tmp / split / str(digit) / f"{index:04d}.png")
            counts[split][str(digit)] = len(order)
    return counts, {"test_fraction": TEST_FRACTION}


SPEC = BuiltinDataset(
    name="digits",
    modality="image",
    description="Handwritten digits 0-9, 8x8 (scikit-learn load_digits / UCI optdigits test set)",
    license="CC BY 4.0 (UCI ML repository)",
    requires=("pip:scikit-learn",),
    make=make,
    default_per_class=None,
    source="sklearn.datasets.load_digits (UCI Optical Recognition of Handwritten Digits)",
)
DATASETS.add(SPEC.name, SPEC)
