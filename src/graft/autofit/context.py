"""What every arm of one ``fit`` run shares: the data, its splits, the budget, the progress callback,
and the features already extracted (in memory for this run; on disk in the FeatureStore)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from graft.autofit.budget import Budget
from graft.autofit.config import FitConfig

if TYPE_CHECKING:
    from graft.data.dataset import Dataset

SPLITS = ("train", "val", "test")
Notify = Callable[[dict[str, Any]], None]


def _quiet(event: dict[str, Any]) -> None:
    """The default progress callback: the library never prints."""


@dataclass
class Context:
    ds: "Dataset"
    config: FitConfig
    budget: Budget
    weights: str | Path | None = None
    allow_download: bool = False
    notify: Notify = _quiet
    study_base: str = "graft-fit"
    main_backbone: str = ""
    #: spatial pooling of the multi-layer arms' image taps (``graft.autofit.screen`` chooses it)
    pooling: str = "mean"
    #: whether the screen chose the multi-layer probe's setting (then that arm runs first)
    screened: bool = False
    _taps: dict[tuple[str, int | None, str | None, str], dict[str, dict[str, np.ndarray]]] = field(default_factory=dict)
    _hashes: list[str] | None = None

    @property
    def n_classes(self) -> int:
        return len(self.ds.classes)

    def labels(self, split: str) -> np.ndarray:
        return self.ds.labels[self.ds.splits == split]

    def n(self, split: str) -> int:
        return int((self.ds.splits == split).sum())

    def size_option(self, size: int | None) -> int | None:
        return size if self.ds.modality == "image" else None

    def weights_for(self, backbone: str) -> str | Path | None:
        """``--weights`` belongs to the first backbone given; the others use their registered weights."""
        return self.weights if backbone == self.main_backbone else None

    def last_features(self, backbone: str, size: int | None) -> tuple[dict[str, np.ndarray], bool]:
        """The backbone's features (``forward_features``) per split, and whether they came from the
        tap extraction the multi-layer probe reads.

        When the last tap pooled is the backbone's embedding (checked on a few items: true of the
        zoo's CNNs, not of encoders that normalise their output), the one extraction serves both
        probes; otherwise the embeddings are extracted (and cached) on their own.
        """
        from graft.api import embed
        from graft.backbones.base import SOURCE_LOGITS

        if self.ds.modality == "array":  # numeric rows are their own features
            x = embed(self.ds, backbone)
            return {s: x[self.ds.splits == s] for s in SPLITS}, False
        taps = self.tap_features(backbone, size)
        last = [t for t in taps["train"] if t != SOURCE_LOGITS][-1]
        sample = [self.ds.items[i] for i in np.flatnonzero(self.ds.splits == "train")[:4]]
        reference = embed(sample, backbone, weights=self.weights_for(backbone), image_size=self.size_option(size),
                          allow_download=self.allow_download)
        tapped = taps["train"][last][: len(sample)]
        if tapped.shape == reference.shape and np.allclose(tapped, reference, atol=2e-3 * max(np.abs(reference).max(), 1e-6)):
            return {s: taps[s][last] for s in SPLITS}, True
        x = embed(self.ds, backbone, weights=self.weights_for(backbone), image_size=self.size_option(size),
                  allow_download=self.allow_download)
        return {s: x[self.ds.splits == s] for s in SPLITS}, False

    def feature_dim(self, backbone: str) -> int:
        from graft.backbones import get_spec, is_registered

        if self.ds.modality == "array":
            return int(np.asarray(self.ds.items[0]).size)

        return int(get_spec(backbone).feature_dim) if is_registered(backbone) else 1024

    def n_groups(self, backbone: str) -> int:
        from graft.backbones import get_spec, is_registered

        if is_registered(backbone) and get_spec(backbone).groups:
            return len(get_spec(backbone).groups)
        from graft.backbones import create_backbone

        return len(create_backbone(backbone, weights=self.weights_for(backbone), allow_download=self.allow_download)
                   .layer_groups())

    def tap_features(self, backbone: str, size: int | None, view: str | None = None,
                     splits: tuple[str, ...] = SPLITS, pooling: str = "mean") -> dict[str, dict[str, np.ndarray]]:
        """Every tap's pooled features per split (``{split: {tap: array}}``), cached per tap on disk.

        Without a view, the mean (the last-layer probe's) and the chosen pooling come from one pass.
        """
        together = (pooling,) if view is not None else tuple(dict.fromkeys((pooling, "mean", self.pooling)))
        return self.tap_features_by_pooling(backbone, size, together, view, splits)[pooling]

    def tap_features_by_pooling(self, backbone: str, size: int | None, poolings: tuple[str, ...],
                                view: str | None = None, splits: tuple[str, ...] = SPLITS,
                                ) -> dict[str, dict[str, dict[str, np.ndarray]]]:
        """``{pooling: {split: {tap: array}}}``; what is missing comes from one forward pass."""
        from graft.features.taps import tap_features_by_pooling

        if self.ds.modality != "image":  # only feature maps pool by a grid: one extraction serves all
            poolings = tuple(dict.fromkeys(poolings))
            first = self._tap_features_by_pooling(backbone, size, ("mean",), view, splits, tap_features_by_pooling)
            return {p: first["mean"] for p in poolings}
        return self._tap_features_by_pooling(backbone, size, poolings, view, splits, tap_features_by_pooling)

    def _tap_features_by_pooling(self, backbone: str, size: int | None, poolings: tuple[str, ...], view: str | None,
                                 splits: tuple[str, ...], extract: Any) -> dict[str, dict[str, dict[str, np.ndarray]]]:
        have = {p: self._taps.setdefault((backbone, size, view, p), {}) for p in poolings}
        todo = [s for s in splits if any(s not in have[p] for p in poolings)]
        if todo:
            mask = np.isin(self.ds.splits, todo)
            items = [it for it, m in zip(self.ds.items, mask) if m]
            feats = extract(items, backbone, poolings=poolings, weights=self.weights_for(backbone),
                            image_size=self.size_option(size), allow_download=self.allow_download, view=view)
            sub = self.ds.splits[mask]
            for p in poolings:
                for s in todo:
                    have[p][s] = {t: v[sub == s] for t, v in feats[p].items()}
        return {p: {s: have[p][s] for s in splits} for p in poolings}

    def items_to_extract(self, backbone: str, size: int | None, view: str | None = None,
                         splits: tuple[str, ...] = SPLITS, pooling: str = "mean") -> int:
        """Items a tap extraction would still push through the network: 0 once done in this run,
        else those the on-disk cache lacks (a re-run on the same data costs no extraction)."""
        pooling = pooling if self.ds.modality == "image" else "mean"
        done = self._taps.get((backbone, size, view, pooling), {})
        todo = [s for s in splits if s not in done]
        if not todo:
            return 0
        mask = np.isin(self.ds.splits, todo)
        return self._missing_on_disk(backbone, size, view, [h for h, m in zip(self.item_hashes(), mask) if m], pooling)

    def item_hashes(self) -> list[str]:
        """Content hashes of every item (the feature cache's keys), computed once per run."""
        if self._hashes is None:
            from graft.data.hashing import item_hash

            self._hashes = [item_hash(it) for it in self.ds.items]
        return self._hashes

    def _missing_on_disk(self, backbone: str, size: int | None, view: str | None, hashes: list[str],
                         pooling: str = "mean") -> int:
        from graft.backbones.base import SOURCE_LOGITS
        from graft.backbones.registry import backbone_key
        from graft.features.store import FeatureStore
        from graft.features.taps import available_taps, tap_key

        options = {"image_size": self.size_option(size)} if self.size_option(size) else {}
        names = available_taps(backbone, weights=self.weights_for(backbone), allow_download=self.allow_download,
                               **options)
        last = [t for t in names if t != SOURCE_LOGITS][-1]
        key = tap_key(backbone_key(backbone, self.weights_for(backbone), **options), last, pooling, view=view)
        return len(FeatureStore().missing(key, hashes))

    def deadline(self) -> float:
        return time.perf_counter() + max(self.budget.left(), 0.0)
