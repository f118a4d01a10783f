"""Multi-layer features: pooled outputs of every block ("tap") of a frozen backbone, cached per tap.

A multi-layer probe (``graft.heads.multilayer``, after Head2Toe, Evci et al. 2022) reads the
pooled activations of every block, not only the last layer's. This module extracts them:

* Tap names come from the backbone (``Backbone.tap_names()``: e.g. MobileNetV2's ``"stage3.2"``,
  MiniLM's ``"layer_4"``, plus ``"source_logits"`` where the weights have a classifier). Forward
  hooks collect each tap's output in one pass, ``Backbone.pool_tap`` pools it by shape, and the
  pass stops after the deepest tap asked for (a probe that uses early blocks never runs the rest).
* Each tap is cached in the FeatureStore under its own key (backbone key + tap + pooling [+ view]),
  stored as float16. Asking for taps A and B reads only their shards; a call computes every
  missing requested tap in one pass over the items that miss any of them.
* Memory is bounded: per tap, at most one shard (``store.shard_size`` rows) waits to be written;
  only the taps asked for are returned.

Public API (stable; ``graft.fit`` builds on it):

* ``available_taps(backbone, *, weights=None, image_size=None, allow_download=False, store=None,
  **backbone_options) -> list[str]`` — tap names in input → output order (cached: a later call
  needs no model).
* ``tap_features(data_or_items, backbone, *, taps=None, weights=None, image_size=None,
  allow_download=False, view=None, progress=False, pooling="mean", max_tap_width=1024,
  store=None, batch_size=64, num_workers=None, device=None, dtype=np.float32, lazy=False,
  **backbone_options) -> dict[str, np.ndarray]`` — ``taps=None`` means all; arrays in item order;
  ``dtype=np.float16`` returns the cached values without a float32 copy, ``lazy=True`` a
  ``StoredTaps`` mapping that reads each tap from the cache when accessed.
* ``tap_features_by_pooling(data_or_items, backbone, *, poolings=("mean", "grid4"), ...) ->
  {pooling: {tap: array}}`` — several poolings of the same taps from one forward pass (a search
  over the pooling pays for the network once).
* ``pooling_grid(pooling) -> int`` — the grid a pooling name asks for (``"mean"`` 1, ``"gridN"`` N);
  each tap gets the finest g × g grid, g ≤ N, whose width C·g² stays within ``max_tap_width``.
* ``normalise_tap(x, mode) -> np.ndarray`` — per-tap normalisation (``"l2"`` rows, ``"standard"``
  leaves columns to the head's standardisation).
* ``combine_taps(features, columns, mode, out=None) -> np.ndarray`` — each tap normalised, the
  given columns kept, concatenated into one float32 array allocated once (or ``out``), a block of
  rows of one tap at a time.
* ``selected_features(items, backbone, selection, ...) -> np.ndarray`` — a multi-layer model's
  features: the selected columns of the selected taps, normalised, concatenated, averaged over its
  test-time views; computed up to the deepest selected tap and cached under one key per selection
  (one shard per prediction, as for last-layer embeddings). ``selection`` is the ``head`` dict of a
  saved multi-layer model's config.json.
* ``LazyBackbone(name_or_backbone, weights=None, allow_download=False, options=None)`` — pass it
  instead of a name to build the model at most once across calls.

Example:
    >>> feats = tap_features(["a.png", "b.png"], "mobilenet_v2", image_size=96)   # doctest: +SKIP
    >>> sorted(feats)[:2], feats["stage3.2"].shape                                # doctest: +SKIP
    (['head.0', 'head.1'], (2, 64))
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Literal, Mapping, Sequence

import numpy as np

from graft.data.hashing import item_hash
from graft.errors import UsageError
from graft.features.store import FeatureStore

if TYPE_CHECKING:
    import torch

    from graft.backbones.base import Backbone

log = logging.getLogger(__name__)

TapPooling = Literal["mean", "grid2", "grid3", "grid4"]
#: Spatial poolings of image taps: the mean, or the means of a g x g grid (the finest g <= N whose
#: width C·g² fits ``max_tap_width``; taps that are not feature maps are pooled as usual). Finer
#: grids keep where things are, which matters on small centred images: on Fashion-MNIST-100 with
#: mobilenet_v2 at 96 px (refit on train + val) mean 0.860, grid2 0.879, grid4 0.891 test accuracy.
POOLINGS = ("mean", "grid2", "grid3", "grid4")
Normalisation = Literal["l2", "standard"]
NORMALISATIONS = ("l2", "standard")
_FLOAT16_MAX = float(np.finfo(np.float16).max)


class _StopForward(Exception):
    """Raised by the hook of the deepest tap needed: the rest of the network is not run."""


# --- keys ------------------------------------------------------------------------------------


def tap_key(backbone_key: str, tap: str, pooling: str = "mean", max_tap_width: int = 1024,
            view: str | None = None) -> str:
    """The FeatureStore key of one tap's pooled outputs."""
    payload = {"backbone": backbone_key, "tap": tap, "pooling": pooling, "view": view, "format": "float16"}
    if pooling != "mean":
        payload["max_width"] = int(max_tap_width)  # only a grid pooling depends on the width cap
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:32]


def _backbone_key(backbone: "str | Backbone", weights: Any, options: dict[str, Any]) -> str:
    if isinstance(backbone, str):
        from graft.backbones.registry import backbone_key

        return backbone_key(backbone, weights, **options)
    return backbone.cache_key()


def _options(image_size: int | None, backbone_options: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in {"image_size": image_size, **backbone_options}.items() if v is not None}


class LazyBackbone:
    """A backbone built only when something must be computed (a cached run needs no model), and
    then kept: pass one to ``tap_features`` / ``selected_features`` to reuse it across calls.

    Args:
        backbone: a name (``create_backbone``) or a built ``Backbone``.
        weights, allow_download, options: as for ``create_backbone``.
        build: optional function that returns the built backbone (e.g. a saved model's own);
            its cache key must be the one ``backbone``/``weights``/``options`` give.
    """

    def __init__(self, backbone: "str | Backbone", weights: Any = None, allow_download: bool = False,
                 options: dict[str, Any] | None = None, build: Any = None) -> None:
        self.source, self.weights, self.allow_download = backbone, weights, allow_download
        self.options = dict(options or {})
        self._build = build
        self._built: "Backbone | None" = None if isinstance(backbone, str) else backbone
        self._members: "dict[str, LazyBackbone] | None" = None

    def key(self) -> str:
        return _backbone_key(self.source, self.weights, self.options)

    def members(self) -> "dict[str, LazyBackbone]":
        """An ensemble's members (``graft.backbones.ensemble``) by name; empty for one network."""
        if self._members is None:
            from graft.backbones.ensemble_spec import is_ensemble, members_of

            if isinstance(self.source, str):
                names = members_of(self.source) if is_ensemble(self.source) else []
                # each member with the ensemble's weights: None (its own) or "random" (every member random)
                self._members = {m: LazyBackbone(m, self.weights, self.allow_download, self.options) for m in names}
            else:
                built = self.source.members if is_ensemble(self.source.spec.name) else {}
                self._members = {m: LazyBackbone(b) for m, b in built.items()}
        return self._members

    def tap_key(self, tap: str, pooling: str, max_tap_width: int, view: str | None) -> str:
        """The store key of one tap. An ensemble's ``"member/tap"`` is its member's tap, cached under
        the member's key: what a member extracted alone serves the ensemble, and the other way round."""
        member, _, inner = tap.partition("/")
        if inner and member in self.members():
            return self.members()[member].tap_key(inner, pooling, max_tap_width, view)
        return tap_key(self.key(), tap, pooling, max_tap_width, view)

    def modality(self) -> str:
        from graft.features.extract import _modality

        return _modality(self.source)

    def get(self) -> "Backbone":
        if self._built is None and self._build is not None:
            self._built = self._build()
        if self._built is None:
            from graft.backbones.registry import shared_backbone

            self._built = shared_backbone(str(self.source), weights=self.weights,
                                          allow_download=self.allow_download, **self.options)
        return self._built


def _lazy(backbone: "str | Backbone | LazyBackbone", weights: Any, allow_download: bool,
          options: dict[str, Any]) -> LazyBackbone:
    if isinstance(backbone, LazyBackbone):
        return backbone
    return LazyBackbone(backbone, weights, allow_download, options)


# --- tap names -------------------------------------------------------------------------------


def available_taps(backbone: "str | Backbone", *, weights: str | Path | None = None, image_size: int | None = None,
                   allow_download: bool = False, store: FeatureStore | None = None,
                   **backbone_options: Any) -> list[str]:
    """Names of a backbone's taps, input → output (``"source_logits"`` last where it has a classifier).

    For a backbone given by name the list is remembered beside the feature cache, so asking again
    (e.g. a fully cached run) does not build the model.
    """
    lazy = _lazy(backbone, weights, allow_download, _options(image_size, backbone_options))
    return _tap_names(lazy, store or FeatureStore())


def _tap_names(lazy: LazyBackbone, store: FeatureStore) -> list[str]:
    if not isinstance(lazy.source, str):
        return lazy.get().tap_names()
    if lazy.members():  # the members' taps (their source logits are not the ensemble's)
        from graft.backbones.base import SOURCE_LOGITS

        return [f"{m}/{t}" for m, member in lazy.members().items() for t in _tap_names(member, store)
                if t != SOURCE_LOGITS]
    sidecar = store.root / "taps" / f"{lazy.key()}.json"
    if sidecar.is_file():
        return list(json.loads(sidecar.read_text(encoding="utf-8")))
    from graft._config import atomic_write_text

    names = lazy.get().tap_names()
    atomic_write_text(sidecar, json.dumps(names))
    return names


def _check_taps(wanted: Sequence[str], names: Sequence[str], backbone: Any) -> None:
    unknown = [t for t in wanted if t not in names]
    if unknown:
        label = backbone if isinstance(backbone, str) else backbone.spec.name
        raise UsageError(f"unknown tap(s) {unknown} for backbone {label}; its taps are: {', '.join(names)}")


# --- one forward pass with hooks -------------------------------------------------------------


def pooling_grid(pooling: str) -> int:
    """The grid a pooling name asks for: ``"mean"`` → 1, ``"gridN"`` → N."""
    if pooling not in POOLINGS:
        raise UsageError(f"pooling={pooling!r}: choose one of {', '.join(POOLINGS)}")
    return 1 if pooling == "mean" else int(pooling[len("grid"):])


def run_taps(backbone: "Backbone", batch: Any, taps: Sequence[str], pooling: TapPooling = "mean",
             max_tap_width: int = 1024) -> dict[str, "torch.Tensor"]:
    """Pooled (B, width) outputs of ``taps`` for one collated batch, in one forward pass.

    The pass stops after the deepest tap asked for, unless that is the network's last block or
    the source logits are wanted (they need the pooled features).
    """
    return _run_taps(backbone, batch, taps, (pooling,), max_tap_width)[pooling]


def _run_taps(backbone: "Backbone", batch: Any, taps: Sequence[str], poolings: Sequence[str],
              max_tap_width: int) -> dict[str, dict[str, "torch.Tensor"]]:
    """``run_taps`` for several poolings at once: ``{pooling: {tap: (B, width)}}``."""
    from graft.backbones.base import SOURCE_LOGITS

    points = backbone.tap_points()
    order = {name: i for i, (name, _) in enumerate(points)}
    wanted = [t for t in taps if t != SOURCE_LOGITS]
    want_logits = SOURCE_LOGITS in taps
    deepest = max((order[t] for t in wanted), default=-1)
    stop_early = not want_logits and deepest < len(points) - 1
    grids = {p: pooling_grid(p) for p in poolings}
    outputs: dict[str, dict[str, torch.Tensor]] = {p: {} for p in poolings}
    handles = []

    def hook_for(name: str) -> Any:
        pool = backbone.tap_pooler(name)

        def hook(module: Any, inputs: Any, output: Any) -> None:
            for p, grid in grids.items():
                outputs[p][name] = pool(output, batch, grid, max_tap_width).float()
            if stop_early and order[name] == deepest:
                raise _StopForward

        return hook

    for name in wanted:
        handles.append(points[order[name]][1].register_forward_hook(hook_for(name)))
    try:
        features = backbone.forward_features(batch)
        if want_logits:
            logits = backbone.source_logits(features).float()
            for p in poolings:
                outputs[p][SOURCE_LOGITS] = logits
    except _StopForward:
        pass
    finally:
        for handle in handles:
            handle.remove()
    missing = [t for t in taps if t not in outputs[poolings[0]]]
    if missing:
        raise RuntimeError(f"{backbone.spec.name}: tap(s) {missing} produced no output in the forward pass")
    return {p: {t: outputs[p][t] for t in taps} for p in poolings}


def iterate_taps(backbone: "Backbone", items: Sequence[Any], taps: Sequence[str], *, pooling: TapPooling = "mean",
                 max_tap_width: int = 1024, view: str | None = None, batch_size: int = 64,
                 num_workers: int | None = None, device: "str | torch.device | None" = None,
                 progress: bool = False) -> Iterator[dict[str, np.ndarray]]:
    """Yield ``{tap: float32 (b, width)}`` per batch of ``items``, in order (no caching)."""
    for chunk in _iterate_taps(backbone, items, taps, poolings=(pooling,), max_tap_width=max_tap_width, view=view,
                               batch_size=batch_size, num_workers=num_workers, device=device, progress=progress):
        yield chunk[pooling]


def _iterate_taps(backbone: "Backbone", items: Sequence[Any], taps: Sequence[str], *, poolings: Sequence[str],
                  max_tap_width: int, view: str | None, batch_size: int, num_workers: int | None,
                  device: "str | torch.device | None", progress: bool) -> Iterator[dict[str, dict[str, np.ndarray]]]:
    """``iterate_taps`` for several poolings at once: ``{pooling: {tap: array}}`` per batch."""
    import torch

    from graft.features.extract import _progress, cpu_batch_size, iterate_batches

    device = torch.device(device or "cpu")
    backbone.eval().to(device)
    bar = _progress(len(items), progress, f"multi-layer features with {backbone.spec.name}")
    batch_size = cpu_batch_size(backbone, batch_size, device)
    for batch in iterate_batches(backbone, items, batch_size, num_workers, view):
        # inference mode only around the computation, never across a yield: a consumer that
        # interleaves several of these generators (zip over views) would otherwise leave it on
        with torch.inference_mode():
            outputs = _run_taps(backbone, backbone.move_batch(batch, device), taps, poolings, max_tap_width)
            chunk = {p: {t: v.cpu().numpy() for t, v in per_tap.items()} for p, per_tap in outputs.items()}
        bar.update(len(next(iter(chunk[poolings[0]].values()))))
        yield chunk
    bar.close()


# --- cached extraction -----------------------------------------------------------------------


def _as_float16(values: np.ndarray) -> np.ndarray:
    # pooled activations are far below float16's limit; clipping keeps a rare outlier finite
    return np.clip(values, -_FLOAT16_MAX, _FLOAT16_MAX).astype(np.float16)


def _fill_taps(store: FeatureStore, keys: dict[Any, str], hashes: list[str],
               chunks: Iterator[dict[Any, np.ndarray]]) -> None:
    """Write each tap's rows as shards as they arrive; at most one shard per tap waits in memory.
    ``keys`` and the chunks are keyed alike (by tap, or by (pooling, tap))."""
    pending: dict[str, list[np.ndarray]] = {t: [] for t in keys}
    done = {t: 0 for t in keys}

    def flush(tap: str) -> None:
        values = np.concatenate(pending[tap])
        store.write_shard(keys[tap], hashes[done[tap]: done[tap] + len(values)], values)
        done[tap] += len(values)
        pending[tap] = []

    for chunk in chunks:
        for tap, values in chunk.items():
            pending[tap].append(_as_float16(values))
            if sum(len(p) for p in pending[tap]) >= store.shard_size:
                flush(tap)
    for tap in keys:
        if pending[tap]:
            flush(tap)
        if done[tap] != len(hashes):
            raise RuntimeError(f"tap {tap}: extraction produced {done[tap]} rows for {len(hashes)} items")


def extract_taps(items: Sequence[Any], backbone: "str | Backbone", taps: Sequence[str], *,
                 weights: str | Path | None = None, image_size: int | None = None, allow_download: bool = False,
                 view: str | None = None, pooling: TapPooling = "mean", max_tap_width: int = 1024,
                 store: FeatureStore | None = None, batch_size: int = 64, num_workers: int | None = None,
                 device: str | None = None, progress: bool = False, **backbone_options: Any) -> dict[str, str]:
    """Make sure the FeatureStore holds ``taps`` for every item; return ``{tap: store key}``.

    Missing taps are computed together in one pass over the items that miss any of them.
    """
    from graft.features.extract import _files_as_paths

    lazy = _lazy(backbone, weights, allow_download, _options(image_size, backbone_options))
    items = _files_as_paths(items, backbone)
    return _extract(lazy, items, [item_hash(it) for it in items], taps, view=view, pooling=pooling,
                    max_tap_width=max_tap_width, store=store or FeatureStore(), batch_size=batch_size,
                    num_workers=num_workers, device=device, progress=progress)


def _extract(lazy: LazyBackbone, items: Sequence[Any], hashes: list[str], taps: Sequence[str], *,
             view: str | None, pooling: str, max_tap_width: int, store: FeatureStore, batch_size: int,
             num_workers: int | None, device: str | None, progress: bool) -> dict[str, str]:
    return _extract_poolings(lazy, items, hashes, taps, view=view, poolings=(pooling,), max_tap_width=max_tap_width,
                             store=store, batch_size=batch_size, num_workers=num_workers, device=device,
                             progress=progress)[pooling]


def _extract_poolings(lazy: LazyBackbone, items: Sequence[Any], hashes: list[str], taps: Sequence[str], *,
                      view: str | None, poolings: Sequence[str], max_tap_width: int, store: FeatureStore,
                      batch_size: int, num_workers: int | None, device: str | None,
                      progress: bool) -> dict[str, dict[str, str]]:
    """Make sure the store holds every (pooling, tap); what is missing is computed in one pass over
    the items that miss any of it. Returns ``{pooling: {tap: store key}}``."""
    for pooling in poolings:
        pooling_grid(pooling)  # refuses an unknown name
    if view is not None:
        from graft.features.views import check_view

        check_view(view, lazy.modality())
    keys = {(p, t): lazy.tap_key(t, p, max_tap_width, view) for p in poolings for t in taps}
    missing = {pt: set(store.missing(key, hashes)) for pt, key in keys.items()}
    todo = [pt for pt in keys if missing[pt]]
    if todo:
        todo_taps = [t for t in taps if any(pt[1] == t for pt in todo)]
        todo_poolings = [p for p in poolings if any(pt[0] == p for pt in todo)]
        positions = sorted(set().union(*(missing[pt] for pt in todo)))
        if all(isinstance(items[i], str) for i in positions):
            positions.sort(key=lambda i: len(items[i]))  # texts of similar length batch together
        log.info("extracting %d tap(s) x %d pooling(s) for %d item(s)", len(todo_taps), len(todo_poolings),
                 len(positions))
        chunks = _iterate_taps(lazy.get(), [items[i] for i in positions], todo_taps, poolings=todo_poolings,
                               max_tap_width=max_tap_width, view=view, batch_size=batch_size,
                               num_workers=num_workers, device=device, progress=progress)
        flat = ({(p, t): v for p, per_tap in chunk.items() for t, v in per_tap.items() if (p, t) in todo}
                for chunk in chunks)
        # a (pooling, tap) already complete is recomputed with the others but not rewritten
        _fill_taps(store, {pt: keys[pt] for pt in todo}, [hashes[i] for i in positions], flat)
    return {p: {t: keys[(p, t)] for t in taps} for p in poolings}


def tap_features(data_or_items: Any, backbone: "str | Backbone", *, taps: Sequence[str] | None = None,
                 weights: str | Path | None = None, image_size: int | None = None, allow_download: bool = False,
                 view: str | None = None, progress: bool = False, pooling: TapPooling = "mean",
                 max_tap_width: int = 1024, store: FeatureStore | None = None, batch_size: int = 64,
                 num_workers: int | None = None, device: str | None = None, dtype: Any = np.float32,
                 lazy: bool = False, **backbone_options: Any) -> "dict[str, np.ndarray] | StoredTaps":
    """Pooled per-tap features of a dataset (all splits, item order) or a list of raw items.

    Args:
        data_or_items: a ``Dataset``, a dataset path, or a list of raw items.
        backbone: a zoo name / generic source, or a built ``Backbone``.
        taps: tap names (``available_taps``); ``None`` for all.
        weights, image_size, allow_download, **backbone_options: as for ``create_backbone``.
        view: a cheap view of every item (``graft.features.views``), cached separately.
        pooling: ``"mean"`` (spatial mean) or ``"gridN"`` (N = 2, 3, 4: the means of the finest
            g × g grid, g ≤ N, with C·g² ≤ ``max_tap_width``).
        dtype: of the returned arrays (the cache holds float16: ``np.float16`` returns it without a
            copy, half the memory of float32).
        lazy: return a ``StoredTaps`` mapping instead, which reads a tap from the cache each time
            it is accessed and keeps nothing (everything is extracted first, as without it): a
            consumer that takes one tap at a time (``combine_taps``) then never holds every tap
            of every row, e.g. the selected taps of 60,000 training images.

    Returns:
        ``{tap: (N, width) array}`` in the order of ``taps``.
    """
    source = _lazy(backbone, weights, allow_download, _options(image_size, backbone_options))
    return _tap_features(source, _items_of(data_or_items), taps, view=view, progress=progress, pooling=pooling,
                         max_tap_width=max_tap_width, store=store or FeatureStore(), batch_size=batch_size,
                         num_workers=num_workers, device=device, dtype=dtype, on_access=lazy)


class StoredTaps(Mapping):
    """``{tap: (N, width) array}`` read from the FeatureStore on each access; holds no arrays.

    Returned by ``tap_features(lazy=True)``: code that reads one tap at a time (``combine_taps``)
    then needs memory for one tap, not for all of them.
    """

    def __init__(self, store: FeatureStore, keys: dict[str, str], hashes: list[str], dtype: Any) -> None:
        self.store, self.keys, self.hashes, self.dtype = store, dict(keys), list(hashes), dtype

    def __getitem__(self, tap: str) -> np.ndarray:
        return self.store.gather(self.keys[tap], self.hashes).astype(self.dtype, copy=False)

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys)

    def __len__(self) -> int:
        return len(self.keys)

    def width(self, tap: str) -> int:
        """Columns of one tap (reads one item's row, not the tap)."""
        return int(self.store.gather(self.keys[tap], self.hashes[:1]).shape[1])

    @property
    def rows(self) -> int:
        """Rows of every tap (the items asked for)."""
        return len(self.hashes)


def _tap_features(lazy: LazyBackbone, items: Sequence[Any], taps: Sequence[str] | None, *, view: str | None,
                  progress: bool, pooling: str, max_tap_width: int, store: FeatureStore, batch_size: int,
                  num_workers: int | None = None, device: str | None = None,
                  dtype: Any = np.float32, on_access: bool = False) -> "dict[str, np.ndarray] | StoredTaps":
    from graft.features.extract import _files_as_paths

    names = _tap_names(lazy, store)
    taps = list(names if taps is None else taps)
    _check_taps(taps, names, lazy.source)
    items = _files_as_paths(items, lazy.source)
    hashes = [item_hash(it) for it in items]
    keys = _extract(lazy, items, hashes, taps, view=view, pooling=pooling, max_tap_width=max_tap_width,
                    store=store, batch_size=batch_size, num_workers=num_workers, device=device, progress=progress)
    if on_access:
        return StoredTaps(store, {t: keys[t] for t in taps}, hashes, dtype)
    return {t: store.gather(keys[t], hashes).astype(dtype, copy=False) for t in taps}


def tap_features_by_pooling(data_or_items: Any, backbone: "str | Backbone | LazyBackbone", *,
                            poolings: Sequence[str] = ("mean", "grid4"), taps: Sequence[str] | None = None,
                            weights: str | Path | None = None, image_size: int | None = None,
                            allow_download: bool = False, view: str | None = None, progress: bool = False,
                            max_tap_width: int = 1024, store: FeatureStore | None = None, batch_size: int = 64,
                            dtype: Any = np.float32, **backbone_options: Any) -> dict[str, dict[str, np.ndarray]]:
    """``tap_features`` for several poolings from one forward pass: ``{pooling: {tap: array}}``.

    Each (pooling, tap) is cached under its own key, exactly as ``tap_features(pooling=...)``
    caches it, so either function reads what the other wrote.

    Example:
        >>> feats = tap_features_by_pooling(items, "mobilenet_v2", poolings=("mean", "grid4"),
        ...                                 image_size=96)                         # doctest: +SKIP
        >>> feats["grid4"]["stem.1"].shape                                          # doctest: +SKIP
        (2, 256)
    """
    from graft.features.extract import _files_as_paths

    lazy = _lazy(backbone, weights, allow_download, _options(image_size, backbone_options))
    store = store or FeatureStore()
    names = _tap_names(lazy, store)
    taps = list(names if taps is None else taps)
    _check_taps(taps, names, lazy.source)
    poolings = list(dict.fromkeys(poolings))
    if not poolings:
        raise UsageError("tap_features_by_pooling: give at least one pooling (" + ", ".join(POOLINGS) + ")")
    items = _files_as_paths(_items_of(data_or_items), lazy.source)
    hashes = [item_hash(it) for it in items]
    keys = _extract_poolings(lazy, items, hashes, taps, view=view, poolings=poolings, max_tap_width=max_tap_width,
                             store=store, batch_size=batch_size, num_workers=None, device=None, progress=progress)
    return {p: {t: store.gather(keys[p][t], hashes).astype(dtype, copy=False) for t in taps} for p in poolings}


def _items_of(data: Any) -> Sequence[Any]:
    from graft.data.dataset import Dataset

    if isinstance(data, Dataset):
        return data.items
    if isinstance(data, (str, Path)):
        from graft.data import read

        return read(data).items
    return list(data)


# --- per-tap normalisation and a saved model's features --------------------------------------


def normalise_tap(x: np.ndarray, mode: Normalisation = "l2") -> np.ndarray:
    """Per-tap normalisation before the taps are concatenated.

    ``"l2"``: each row of the tap scaled to unit length (taps of very different widths and scales
    then weigh alike; the recipe of Head2Toe's pooled features). ``"standard"``: no row operation;
    the head standardises every column (mean 0, variance 1 on the training rows).

    Returns float32 (``x`` may be the cache's float16): one new array, scaled in place, so a wide
    tap costs one float32 copy and no temporaries of its size.
    """
    if mode == "standard":
        return np.asarray(x, dtype=np.float32)
    if mode != "l2":
        raise UsageError(f"normalisation={mode!r}: choose one of {', '.join(NORMALISATIONS)}")
    x = np.array(x, dtype=np.float32)  # always a copy: the caller's array is left as it was
    norms = np.sqrt(np.einsum("ij,ij->i", x, x))[:, None]  # no squared copy of x
    x /= np.maximum(norms, np.float32(1e-12))
    return x


#: Rows normalised at a time by ``combine_taps``: bounds its float32 temporaries to one block of
#: one tap (8192 x 1024 x 4 bytes = 32 MiB) whatever the number of rows.
_COMBINE_ROWS = 8192


def combine_taps(features: "Mapping[str, np.ndarray]", columns: dict[str, Sequence[int]], mode: Normalisation,
                 out: np.ndarray | None = None) -> np.ndarray:
    """Normalise each tap (over all its columns), keep ``columns[tap]``, concatenate in ``columns``' order.

    Memory: the result is allocated once (or is ``out``, a float32 (rows, total columns) array or
    view to fill) and each tap is normalised a block of rows at a time into it, so the peak is the
    result plus one block, never a float32 copy of every tap (the taps may stay float16). Each tap
    is read from ``features`` once, in order: a mapping that reads taps on access
    (``tap_features(lazy=True)``) then holds one tap at a time.
    """
    width = sum(len(c) for c in columns.values())
    offset = 0
    for tap, cols in columns.items():
        values = features[tap]
        if out is None:
            out = np.empty((len(values), width), np.float32)
        index = np.asarray(cols, dtype=np.int64)
        for start in range(0, len(values), _COMBINE_ROWS):
            block = normalise_tap(values[start: start + _COMBINE_ROWS], mode)
            np.take(block, index, axis=1, out=out[start: start + len(block), offset: offset + len(index)], mode="clip")
        offset += len(index)
        del values
    if out is None:
        rows = len(next(iter(features.values()))) if features else 0
        out = np.zeros((rows, 0), np.float32)
    return out


def selection_key(backbone_key: str, selection: dict[str, Any]) -> str:
    """The FeatureStore key of a multi-layer model's prepared features (its selection and views)."""
    payload = {"backbone": backbone_key, "columns": {t: list(map(int, c)) for t, c in selection["columns"].items()},
               "normalisation": selection.get("normalisation", "l2"), "pooling": selection.get("pooling", "mean"),
               "max_tap_width": int(selection.get("max_tap_width", 1024)), "tta_views": list(selection.get("tta_views", [])),
               "kind": "selected-v1"}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:32]


def selected_features(items: Sequence[Any], backbone: "str | Backbone | LazyBackbone", selection: dict[str, Any], *,
                      weights: str | Path | None = None, allow_download: bool = False,
                      store: FeatureStore | None = None, batch_size: int = 64, progress: bool = False,
                      use_cache: bool = True, **backbone_options: Any) -> np.ndarray:
    """The features a multi-layer head reads: the selected columns of the selected taps, per-tap
    normalised, concatenated, averaged over the test-time views.

    Prediction computes only what it uses: one pass per view that stops after the deepest selected
    tap. The result is cached under one key per selection (``selection_key``), like last-layer
    embeddings, so a prediction writes one shard, not one per tap. Taps are rounded through
    float16 as in the per-tap cache the head was fitted on, so predictions do not depend on what
    happens to be cached.

    Args:
        items: raw items.
        backbone: name, built backbone, or a ``LazyBackbone`` kept across calls.
        selection: ``{"columns": {tap: [column, ...]}, "pooling", "max_tap_width", "normalisation",
            "tta_views": [view, ...]}`` — the ``head`` dict of a multi-layer model's config.json.
        use_cache: False computes the features without reading or writing the store (a server's
            one-off requests).

    Returns:
        (N, total selected columns) float32.
    """
    from graft.features.extract import _files_as_paths

    lazy = _lazy(backbone, weights, allow_download, _options(None, backbone_options))
    items = _files_as_paths(list(items), lazy.source)
    if not use_cache:
        chunks = list(_prepared_batches(lazy.get(), items, selection, batch_size, progress))
        width = sum(len(c) for c in selection["columns"].values())
        return np.concatenate(chunks) if chunks else np.empty((0, width), np.float32)
    store = store or FeatureStore()
    hashes = [item_hash(it) for it in items]
    key = selection_key(lazy.key(), selection)
    todo = store.missing(key, hashes)
    if todo:
        store.fill(key, hashes, todo, lambda positions: _prepared_batches(
            lazy.get(), [items[i] for i in positions], selection, batch_size, progress))
    return store.gather(key, hashes).astype(np.float32, copy=False)


def cache_selected(items: Sequence[Any], backbone: "str | Backbone | LazyBackbone", selection: dict[str, Any],
                   features: np.ndarray, *, weights: str | Path | None = None, store: FeatureStore | None = None,
                   **backbone_options: Any) -> None:
    """Store prepared features computed elsewhere (e.g. a probe's test split from the per-tap cache)
    under the selection's key, so that evaluating the saved model on them reads instead of recomputing."""
    from graft.features.extract import _files_as_paths

    lazy = _lazy(backbone, weights, False, _options(None, backbone_options))
    store = store or FeatureStore()
    hashes = [item_hash(it) for it in _files_as_paths(list(items), lazy.source)]
    key = selection_key(lazy.key(), selection)
    todo = store.missing(key, hashes)
    if todo:
        store.fill(key, hashes, todo, lambda positions: [np.asarray(features[positions], dtype=np.float32)])


def _prepared_batches(backbone: "Backbone", items: Sequence[Any], selection: dict[str, Any], batch_size: int,
                      progress: bool) -> Iterator[np.ndarray]:
    """Per batch: the prepared features, averaged over the original and the test-time views."""
    columns = {t: list(c) for t, c in selection["columns"].items()}
    views = [None, *selection.get("tta_views", [])]
    streams = [iterate_taps(backbone, items, list(columns), pooling=selection.get("pooling", "mean"),
                            max_tap_width=int(selection.get("max_tap_width", 1024)), view=view,
                            batch_size=batch_size, progress=progress and view is None) for view in views]
    mode = selection.get("normalisation", "l2")
    for chunks in zip(*streams):
        prepared = [combine_taps({t: _as_float16(v) for t, v in chunk.items()}, columns, mode)
                    for chunk in chunks]
        yield np.mean(prepared, axis=0).astype(np.float32)
