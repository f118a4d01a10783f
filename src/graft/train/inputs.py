"""What the trainable part of the network sees: raw items, cached frozen-prefix outputs, or cached
pooled features. Cached outputs are valid only while the prefix still has its pretrained weights."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator, Sequence

import numpy as np
import torch

from graft.backbones.base import Backbone
from graft.features.extract import extract, iterate_batches
from graft.features.store import FeatureStore
from graft.train.augment import augment_batch
from graft.train.config import TrainConfig


@dataclass
class Split:
    items: Sequence[Any]
    labels: np.ndarray
    hashes: list[str]


@dataclass
class Inputs:
    """Training inputs for one phase. ``start`` is where the network picks up: 0 for raw items,
    k for outputs of the first k groups, n_groups for pooled features."""

    start: int
    arrays: np.ndarray | None  # cached outputs (None for raw items)


def cached_outputs(backbone: Backbone, key: str, split: Split, stop: int, store: FeatureStore,
                   batch_size: int, process_index: int = 0, num_processes: int = 1, barrier: Any = None) -> np.ndarray:
    """Outputs of the first ``stop`` groups (all groups: pooled features), through the store.

    Under torch.distributed each rank computes its share of the missing items; all then read.
    """
    n = len(backbone.layer_groups())
    full = stop >= n
    cache_key = key if full else f"{key}-prefix{stop}"
    missing = store.missing(cache_key, split.hashes)
    mine = missing[process_index::num_processes]
    if mine:
        def compute(positions: list[int]) -> Iterator[np.ndarray]:
            return extract(backbone, [split.items[i] for i in positions], batch_size, stop_group=None if full else stop)

        store.fill(cache_key, split.hashes, mine, compute)
    if barrier is not None:
        barrier()
    return store.gather(cache_key, split.hashes)


def raw_batches(backbone: Backbone, split: Split, order: np.ndarray, config: TrainConfig, epoch: int,
                augment: bool) -> Iterator[tuple[Any, np.ndarray]]:
    """(batch, indices) in ``order``, preprocessed, and when ``augment`` augmented as ``config`` says
    with a generator seeded by (seed, epoch, batch) so that a resumed epoch sees the same augmentations."""
    items = [split.items[i] for i in order]
    size = config.batch_size
    for b, batch in enumerate(iterate_batches(backbone, items, size, config.num_workers or None)):
        idx = order[b * size: (b + 1) * size]
        if augment:
            g = torch.Generator().manual_seed(hash((config.seed, epoch, b)) % (2**63))
            batch = augment_batch(batch, backbone.modality, g, config)
        yield batch, idx


def array_batches(arrays: np.ndarray, order: np.ndarray, batch_size: int) -> Iterator[tuple[torch.Tensor, np.ndarray]]:
    for start in range(0, len(order), batch_size):
        idx = order[start: start + batch_size]
        yield torch.from_numpy(np.ascontiguousarray(arrays[idx])), idx
