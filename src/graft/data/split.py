"""Deterministic, stratified splits that do not depend on the order in which items were listed.

Each item gets a sort key ``blake2b(seed, key)`` where ``key`` names the item by what it is (a file's
path relative to the dataset root, a text's content, an array row's bytes). Within each class the items
with the smallest keys go to the held-out split. So the same input gives the same split whatever the
order of ``os.listdir``, and adding a file moves no other file from train to val.
"""

from __future__ import annotations

import hashlib
from typing import Sequence

import numpy as np

from graft.errors import UsageError


def split_key(key: str, seed: int) -> str:
    """The hash that orders one item for splitting and subsampling."""
    return hashlib.blake2b(f"{seed}\x1f{key}".encode("utf-8"), digest_size=12).hexdigest()


def held_out_count(n: int, fraction: float) -> int:
    """How many of ``n`` items of one class go to the held-out split.

    At least one item stays in train; at least one is held out when the class has two or more items
    (so every class appears in validation), else the rounded share.
    """
    if n < 2 or fraction <= 0:
        return 0
    return int(min(max(int(n * fraction + 0.5), 1), n - 1))


def stratified_split(
    keys: Sequence[str], labels: Sequence[int] | np.ndarray, fraction: float, seed: int = 0
) -> np.ndarray:
    """Boolean mask of the items to hold out, ``fraction`` of each class.

    Args:
        keys: one stable name per item (relative path, text, content hash); order-independent.
        labels: class index per item; items labelled ``-1`` are split as one group of their own.
        fraction: share of each class to hold out, in ``[0, 1)``.
        seed: changes which items are held out, deterministically.

    Returns:
        ``mask`` with ``mask[i]`` True when item ``i`` is held out.

    Example:
        >>> int(stratified_split(["a", "b", "c", "d"], [0, 0, 1, 1], 0.5).sum())
        2
    """
    if not 0 <= fraction < 1:
        raise UsageError(f"val_fraction must be in [0, 1), got {fraction}")
    labels = np.asarray(labels)
    if len(keys) != len(labels):
        raise ValueError("keys and labels must have the same length")
    mask = np.zeros(len(labels), dtype=bool)
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        chosen = pick(keys, members, held_out_count(len(members), fraction), seed)
        mask[chosen] = True
    return mask


def pick(keys: Sequence[str], members: np.ndarray, n: int, seed: int) -> np.ndarray:
    """The ``n`` members with the smallest split keys (ties broken by the key itself)."""
    order = sorted(members.tolist(), key=lambda i: (split_key(keys[i], seed), keys[i]))
    return np.asarray(order[:n], dtype=np.int64)


def order_by_key(keys: Sequence[str], seed: int) -> list[int]:
    """Indices of ``keys`` in split-key order: a deterministic shuffle independent of input order."""
    return sorted(range(len(keys)), key=lambda i: (split_key(keys[i], seed), keys[i]))


def sample_rows(labels: np.ndarray, limit: int, seed: int = 0) -> np.ndarray:
    """All row indices, or a stratified seeded sample of ``limit`` of them (sorted)."""
    if len(labels) <= limit:
        return np.arange(len(labels))
    from sklearn.model_selection import train_test_split

    everything = np.arange(len(labels))
    try:
        chosen, _ = train_test_split(everything, train_size=limit, stratify=labels, random_state=seed)
    except ValueError:  # a class too rare to stratify
        chosen = np.random.default_rng(seed).choice(everything, size=limit, replace=False)
    return np.sort(chosen)
