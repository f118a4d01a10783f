"""Streaming feature extraction: batched, in inference mode, preprocessing overlapped with the
forward pass, memory bounded by the batch, results cached per item in the FeatureStore."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Sequence

import numpy as np

from graft.data.hashing import item_hash
from graft.errors import UsageError
from graft.features.store import FeatureStore

if TYPE_CHECKING:
    import torch

    from graft.backbones.base import Backbone

log = logging.getLogger(__name__)


def _preprocess(backbone: "Backbone", item: Any, view: str | None) -> Any:
    if view is None:
        return backbone.preprocess(item)
    from graft.features.views import apply_view

    return apply_view(view, backbone.preprocess(item), backbone.modality)


def _make_batch(backbone: "Backbone", items: Sequence[Any], view: str | None = None) -> Any:
    return backbone.collate([_preprocess(backbone, item, view) for item in items])


#: On CPU a batch of images holds about this many pixels at most: a larger batch's activations
#: overflow the caches (ms per image, 2-core host, channels-last: efficientnet_lite0 at 96 px 1.32
#: at batch 32 vs 1.59 at 64; mobilenet_v2 at 224 px 6.75 at 16 vs 10.85 at 64). GPUs keep theirs.
CPU_BATCH_PIXELS = 400_000


def cpu_batch_size(backbone: "Backbone", batch_size: int, device: Any) -> int:
    """``batch_size``, or for images on CPU the power of two nearest to ``CPU_BATCH_PIXELS`` /
    pixels per image when that is smaller (32 at 96 px, 16 at 160 px, 8 at 224 px)."""
    import math

    size = getattr(getattr(backbone.spec, "input", None), "image_size", None)
    if str(device).split(":")[0] != "cpu" or backbone.spec.modality != "image" or not size:
        return batch_size
    fitting = 2 ** round(math.log2(max(CPU_BATCH_PIXELS / (size * size), 1.0)))
    return max(1, min(batch_size, fitting))


def iterate_batches(backbone: "Backbone", items: Sequence[Any], batch_size: int = 64,
                    num_workers: int | None = None, view: str | None = None) -> Iterator[Any]:
    """Preprocessed, collated batches of ``items`` in order (seen through ``view``, see
    ``graft.features.views``, when given).

    With ``num_workers`` > 0 a torch DataLoader runs preprocessing in worker processes (for GPU
    hosts with cores to spare). By default one background thread prepares the next batch while
    the network runs on the current one: decoding and resizing release the GIL, and on a small
    CPU host a second process would only steal cores from the forward pass.
    """
    starts = range(0, len(items), batch_size)
    if num_workers:
        yield from _dataloader_batches(backbone, items, batch_size, num_workers, view)
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = None
        for start in starts:
            future = pool.submit(_make_batch, backbone, items[start: start + batch_size], view)
            if pending is not None:
                yield pending.result()
            pending = future
        if pending is not None:
            yield pending.result()


class _Preprocessed:
    def __init__(self, backbone: "Backbone", items: Sequence[Any], view: str | None = None) -> None:
        self.backbone, self.items, self.view = backbone, items, view

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> Any:
        return _preprocess(self.backbone, self.items[i], self.view)


def _dataloader_batches(backbone: "Backbone", items: Sequence[Any], batch_size: int, workers: int,
                        view: str | None = None) -> Iterator[Any]:
    import torch

    loader = torch.utils.data.DataLoader(
        _Preprocessed(backbone, items, view), batch_size=batch_size, shuffle=False, num_workers=workers,
        collate_fn=backbone.collate, prefetch_factor=4,
    )
    yield from loader


def extract(backbone: "Backbone", items: Sequence[Any], batch_size: int = 64, num_workers: int | None = None,
            device: "str | torch.device | None" = None, stop_group: int | None = None,
            progress: bool = False, view: str | None = None) -> Iterator[np.ndarray]:
    """Yield float32 feature arrays, one per batch, for ``items`` in order.

    ``stop_group`` returns the state after that many layer groups instead of pooled features
    (prefix outputs for training the rest of the network on a frozen prefix). ``view`` names a
    cheap view of each preprocessed item (``graft.features.views``, e.g. ``"hflip"``).
    """
    import torch

    device = torch.device(device or "cpu")
    backbone.eval().to(device)
    bar = _progress(len(items), progress, f"embedding with {backbone.spec.name}")
    batch_size = cpu_batch_size(backbone, batch_size, device)
    for batch in iterate_batches(backbone, items, batch_size, num_workers, view):
        with torch.inference_mode():  # not across the yield: the caller's grad mode stays its own
            batch = backbone.move_batch(batch, device)
            if stop_group is None:
                out = backbone.forward_features(batch)
            else:
                out = backbone.run_groups(batch, 0, stop_group)
            out = out.float().cpu().numpy()
        bar.update(len(out))
        yield out
    bar.close()


def _progress(total: int, enabled: bool, desc: str) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="item", disable=not enabled, leave=False)


def embed_items(
    items: Sequence[Any],
    backbone: "str | Backbone",
    *,
    weights: str | Path | None = None,
    allow_download: bool = False,
    store: FeatureStore | None = None,
    batch_size: int = 64,
    num_workers: int | None = None,
    device: str | None = None,
    progress: bool = False,
    out: np.ndarray | None = None,
    use_cache: bool = True,
    view: str | None = None,
    **backbone_options: Any,
) -> np.ndarray:
    """Embeddings of raw items, through the on-disk cache.

    ``backbone`` is a name (built only if something is missing from the cache) or a built
    ``Backbone``. Returns an (N, feature_dim) float32 array (``out`` when given). ``view`` embeds
    a cheap view of each item instead (``graft.features.views``: ``"hflip"`` for images), cached
    under its own key.
    """
    from graft.backbones.registry import backbone_key

    built: list[Backbone] = [] if isinstance(backbone, str) else [backbone]

    def get_backbone() -> "Backbone":
        if not built:
            from graft.backbones.registry import shared_backbone

            built.append(shared_backbone(str(backbone), weights=weights, allow_download=allow_download,
                                         **backbone_options))
        return built[0]

    def compute(positions: list[int]) -> Iterator[np.ndarray]:
        return extract(get_backbone(), [items[i] for i in positions], batch_size, num_workers, device,
                       progress=progress, view=view)

    items = _files_as_paths(items, backbone)
    if not use_cache:
        chunks = list(compute(list(range(len(items)))))
        return np.concatenate(chunks) if chunks else np.empty((0, get_backbone().feature_dim), np.float32)
    key = backbone_key(backbone, weights, **backbone_options) if isinstance(backbone, str) else backbone.cache_key()
    if view is not None:
        from graft.features.views import check_view

        check_view(view, _modality(backbone))
        key = view_key(key, view)
    hashes = [item_hash(it) for it in items]
    store = store or FeatureStore()
    todo = store.missing(key, hashes)
    if todo and all(isinstance(items[i], str) for i in todo):
        # texts of similar length batch together: less padding, ~1.7x faster on mixed lengths
        todo.sort(key=lambda i: len(items[i]))
    if todo:
        store.fill(key, hashes, todo, compute)
    return store.gather(key, hashes, out)


def _files_as_paths(items: Sequence[Any], backbone: "str | Backbone") -> Sequence[Any]:
    """For image and audio backbones a string names a file: make it a ``Path`` so the cache keys
    on the file's content, not on its name (an edited file must not get stale features). Items of
    another modality than the backbone's are refused first (``check_items``)."""
    check_items(items, backbone)
    if not any(isinstance(item, str) for item in items) or _modality(backbone) not in ("image", "audio"):
        return items
    return [Path(item) if isinstance(item, str) else item for item in items]


def check_items(items: Sequence[Any], backbone: "str | Backbone") -> None:
    """Refuse, before any work, items a backbone cannot read: text for an image or audio backbone,
    files for a text one, audio files for an image one and the other way round. The first item
    stands for all (a dataset holds one modality)."""
    from graft.data.audio import AUDIO_EXTENSIONS
    from graft.data.images import IMAGE_EXTENSIONS

    if not len(items) or (isinstance(backbone, str) and not _named_modality(backbone)):
        return  # a name whose modality is only a guess: its resolver speaks for it
    item, modality = items[0], _modality(backbone)
    name = backbone if isinstance(backbone, str) else backbone.spec.name
    if modality == "text" and isinstance(item, Path):
        kind = "audio" if item.suffix.lower() in AUDIO_EXTENSIONS else "image"
        raise UsageError(f"{name} is a text backbone, but the data are files ({item}); for {kind} data choose an "
                         f"{kind} backbone (`graft models --modality {kind}`)")
    if modality not in ("image", "audio"):
        return
    if isinstance(item, str) and not _is_file(item):
        raise UsageError(f"{name} is an {modality} backbone and reads {modality} files, but got {item[:60]!r}"
                         f"{'...' if len(item) > 60 else ''}, not a file; for text data choose a text backbone "
                         "(`graft models --modality text`)")
    if isinstance(item, (str, Path)):
        suffix = Path(item).suffix.lower()
        other = "audio" if modality == "image" else "image"
        if suffix in (AUDIO_EXTENSIONS if other == "audio" else IMAGE_EXTENSIONS):
            raise UsageError(f"{name} is an {modality} backbone, but the data are {other} files ({item}); choose an "
                             f"{other} backbone (`graft models --modality {other}`)")


def _is_file(text: str) -> bool:
    try:
        return "\n" not in text and len(text) <= 4096 and Path(text).is_file()
    except (OSError, ValueError):  # a name too long for the file system, or with a NUL
        return False


def _named_modality(name: str) -> bool:
    """Whether a backbone name says its modality: a registered one, or a source prefix of one kind."""
    from graft.backbones.registry import is_registered

    return is_registered(name) or name.partition(":")[0] in ("timm", "torchvision", "hf", "st", "vectors")


def _modality(backbone: "str | Backbone") -> str:
    if not isinstance(backbone, str):
        return backbone.modality
    from graft.backbones.registry import get_spec, is_registered

    if is_registered(backbone):
        return get_spec(backbone).modality
    prefix, sep, rest = backbone.partition(":")
    if sep:
        return "image" if prefix in ("timm", "torchvision") else "text"
    return "text" if Path(backbone).is_dir() else "image"  # a local HF model folder, else an architecture


def view_key(key: str, view: str) -> str:
    """The cache key of ``view``'s features, derived from the backbone's key."""
    import hashlib

    return hashlib.sha256(f"{key}+view-{view}".encode()).hexdigest()[:32]
