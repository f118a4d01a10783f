"""Cheap deterministic views of a preprocessed input: extra training rows and test-time averaging.

A view is a function of the tensor ``Backbone.preprocess`` returns (after resizing and
normalisation), so it costs no decoding and no extra I/O, and the same item always gives the same
view: its features are cached like any other (the FeatureStore key names the view).

Registered views, per modality:

* ``image``: ``"hflip"`` (horizontal flip of the (C, H, W) tensor).
* other modalities: none yet (a cheap label-preserving view of text or audio is task-specific).

Example:
    >>> import torch
    >>> apply_view("hflip", torch.arange(4.0).reshape(1, 1, 4)).tolist()
    [[[3.0, 2.0, 1.0, 0.0]]]
    >>> views_for("image"), views_for("text")
    (['hflip'], [])
"""

from __future__ import annotations

from typing import Any, Callable

from graft.errors import UsageError

ViewFn = Callable[[Any], Any]


def _hflip(tensor: Any) -> Any:
    import torch

    return torch.flip(tensor, dims=[-1])


# modality -> view name -> function of one preprocessed item (no batch dimension)
_VIEWS: dict[str, dict[str, ViewFn]] = {"image": {"hflip": _hflip}}


def register_view(modality: str, name: str, fn: ViewFn) -> None:
    """Add a view for a modality (a deterministic function of one preprocessed item)."""
    _VIEWS.setdefault(modality, {})[name] = fn


def views_for(modality: str) -> list[str]:
    """Names of the views registered for ``modality`` (empty when it has none)."""
    return sorted(_VIEWS.get(modality, {}))


def check_view(name: str | None, modality: str) -> None:
    """Raise a UsageError unless ``name`` is ``None`` or a view registered for ``modality``."""
    if name is None or name in _VIEWS.get(modality, {}):
        return
    allowed = ", ".join(views_for(modality)) or "none"
    raise UsageError(f"view {name!r} is not available for {modality} data (views for {modality}: {allowed})")


def apply_view(name: str | None, item: Any, modality: str = "image") -> Any:
    """``item`` (one preprocessed input) seen through view ``name``; ``None`` is the item itself."""
    if name is None:
        return item
    check_view(name, modality)
    return _VIEWS[modality][name](item)
