"""Input checks shared by every score and distance: one place, one wording for each mistake.

All checks return float64 copies (or views) that the numerical code can trust: 2-D, finite, non-empty,
labels re-coded to 0..C-1.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from graft.errors import UsageError

# Softmax outputs in float16/float32 miss 1 by ~1e-3 at worst; logits miss it by far more.
_PROB_SUM_ATOL = 1e-3


def as_matrix(x: Any, name: str) -> np.ndarray:
    """A finite, non-empty (n, d) float64 array, or a UsageError that names ``name``."""
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"{name} must be a numeric (n, d) array: {exc}") from None
    if arr.ndim != 2:
        hint = " (a single feature? use x.reshape(-1, 1))" if arr.ndim == 1 else ""
        raise UsageError(f"{name} must be a 2-D (n, d) array, got shape {arr.shape}{hint}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise UsageError(f"{name} is empty (shape {arr.shape}); it needs at least one row and one column")
    _check_finite(arr, name)
    return arr


def as_vector(x: Any, name: str) -> np.ndarray:
    """A finite 1-D float64 array (one number per item), or a UsageError that names ``name``."""
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"{name} must be a 1-D array of numbers: {exc}") from None
    if arr.ndim != 1:
        raise UsageError(f"{name} must be a 1-D array of numbers, got shape {arr.shape}")
    _check_finite(arr, name)
    return arr


def as_labels(
    labels: Any, n: int | None, name: str = "labels", *, min_classes: int = 2
) -> tuple[np.ndarray, int]:
    """Labels re-coded to 0..C-1 (sorted order of the original values) and the class count C.

    Any sortable class values are accepted (ints, strings, floats); only their identity matters.
    ``n`` is the number of samples they must match (None: no check).
    """
    arr = np.asarray(labels)
    if arr.ndim != 1:
        hint = " (one-hot? pass y.argmax(1))" if arr.ndim == 2 else ""
        raise UsageError(f"{name} must be a 1-D array of class values, got shape {arr.shape}{hint}")
    if n is not None and len(arr) != n:
        raise UsageError(f"{name} has {len(arr)} entries but there are {n} samples; they must match")
    if arr.dtype.kind == "f":
        _check_finite(arr, name)
    try:
        classes, codes = np.unique(arr, return_inverse=True)
    except TypeError as exc:
        raise UsageError(f"{name} mixes values that cannot be compared: {exc}") from None
    if len(classes) < min_classes:
        raise UsageError(
            f"{name} has {len(classes)} distinct class(es) ({classes[:5].tolist()}); "
            f"at least {min_classes} are needed to score anything"
        )
    return codes.reshape(-1).astype(np.intp), len(classes)


def as_probabilities(probs: Any, name: str = "source_probs") -> np.ndarray:
    """An (n, Z) float64 matrix of rows on the simplex (re-normalised to sum exactly to 1)."""
    p = as_matrix(probs, name)
    if p.min() < 0:
        row = int(np.argwhere(p < 0)[0, 0])
        raise UsageError(
            f"{name} has negative entries (row {row}); pass softmax probabilities, not logits"
        )
    sums = p.sum(axis=1)
    bad = np.flatnonzero(np.abs(sums - 1.0) > _PROB_SUM_ATOL)
    if bad.size:
        raise UsageError(
            f"{name} rows must sum to 1, but {bad.size} do not (row {bad[0]} sums to {sums[bad[0]]:.4g}); "
            "pass softmax probabilities, not logits or scores"
        )
    return p / sums[:, None]


def as_pair(x: Any, y: Any, names: tuple[str, str] = ("X", "Y")) -> tuple[np.ndarray, np.ndarray]:
    """Two embedding matrices with the same feature size (two samples to compare)."""
    a, b = as_matrix(x, names[0]), as_matrix(y, names[1])
    if a.shape[1] != b.shape[1]:
        raise UsageError(
            f"{names[0]} and {names[1]} must have the same feature size, got {a.shape[1]} and {b.shape[1]} "
            "(were they embedded by the same backbone?)"
        )
    return a, b


def _check_finite(arr: np.ndarray, name: str) -> None:
    finite = np.isfinite(arr)
    if not finite.all():
        bad = np.argwhere(~finite)
        where = f"row {bad[0][0]}" if arr.ndim == 2 else f"index {bad[0][0]}"
        raise UsageError(
            f"{name} contains {len(bad)} NaN or inf value(s) (first at {where}); remove or impute them first"
        )
