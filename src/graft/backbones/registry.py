"""``@register_backbone`` / ``create_backbone`` / ``list_backbones``: the zoo's one factory."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Protocol

from graft._registry import Registry
from graft.backbones.spec import BackboneSpec
from graft.errors import UsageError

if TYPE_CHECKING:
    from graft.backbones.base import Backbone


class Builder(Protocol):
    def __call__(
        self, spec: BackboneSpec, weights: Path | None, allow_download: bool, **kwargs: Any
    ) -> "Backbone": ...


_SPECS: Registry[BackboneSpec] = Registry("backbone")
_BUILDERS: dict[str, Builder] = {}
# Modules whose import registers zoo entries; imported on first use so `graft --help` stays instant.
_ZOO_MODULES = (
    "graft.backbones.testing",
    "graft.backbones.vision",
    "graft.backbones.text",
    "graft.backbones.wordvec",
    "graft.backbones.whisper",
)
# Generic sources, by prefix: "timm:resnet50", "torchvision:vgg16", "hf:bert-base-uncased",
# "st:all-mpnet-base-v2", "vectors:/path/glove.txt". Each resolver is registered by its module.
_RESOLVERS: dict[str, Callable[..., "Backbone"]] = {}
_loaded = False


def register_backbone(spec: BackboneSpec) -> Callable[[Builder], Builder]:
    """Register a builder function for one backbone spec.

    Example:
        >>> @register_backbone(BackboneSpec(name="my_net", modality="image", architecture="x",
        ...                                 feature_dim=8, input=InputSpec(image_size=32)))
        ... def build(spec, weights, allow_download, **kw): ...
    """

    def decorator(fn: Builder) -> Builder:
        _SPECS.add(spec.name, spec, overwrite=True)
        _BUILDERS[spec.name] = fn
        return fn

    return decorator


def register_resolver(prefix: str) -> Callable[[Callable[..., "Backbone"]], Callable[..., "Backbone"]]:
    def decorator(fn: Callable[..., "Backbone"]) -> Callable[..., "Backbone"]:
        _RESOLVERS[prefix] = fn
        return fn

    return decorator


def _ensure_loaded() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for module in _ZOO_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if not exc.name or not exc.name.startswith("graft."):
                raise


def list_backbones(pattern: str | None = None, modality: str | None = None) -> list[str]:
    """Names of registered backbones, filtered by a glob pattern and/or modality.

    Example:
        >>> list_backbones("efficientnet_lite*")
        ['efficientnet_lite0', 'efficientnet_lite1', 'efficientnet_lite2']
    """
    _ensure_loaded()
    names = [n for n in _SPECS.names(pattern) if not n.startswith("test_") or (pattern or "").startswith("test")]
    return [n for n in names if modality is None or _SPECS.get(n).modality == modality]


def get_spec(name: str) -> BackboneSpec:
    _ensure_loaded()
    return _SPECS.get(name)


def is_registered(name: str) -> bool:
    _ensure_loaded()
    return name in _SPECS


def create_backbone(
    name: str,
    weights: str | Path | None = None,
    allow_download: bool = False,
    **kwargs: Any,
) -> "Backbone":
    """Build a backbone by zoo name or generic source, with its pretrained weights.

    Args:
        name: a zoo name (``list_backbones()``), a generic source ``"timm:ARCH"``,
            ``"torchvision:ARCH"``, ``"hf:MODEL_ID_OR_DIR"``, ``"st:MODEL_ID_OR_DIR"``,
            ``"vectors:FILE"``, or a bare timm / torchvision architecture name (``"resnet50"``).
        weights: a local checkpoint (``.safetensors`` or a plain-tensor ``.pt``/``.pth``) to load
            instead of the registered weights; ``"random"`` for random initialisation.
        allow_download: permit fetching weights from a hub. Off by default: nothing downloads silently.
        **kwargs: builder options such as ``image_size``.

    Example:
        >>> bb = create_backbone("mobilenet_v2", image_size=96)
        >>> bb.feature_dim
        1280
    """
    return _create(name, weights, allow_download, **kwargs).eval()  # inference mode until a trainer says otherwise


def _create(name: str, weights: str | Path | None, allow_download: bool, **kwargs: Any) -> "Backbone":
    _ensure_loaded()
    weights_path = None if weights is None or weights == "random" else Path(weights).expanduser()
    if weights_path is not None and not weights_path.exists():
        raise UsageError(f"--weights {weights}: file not found")
    if name in _SPECS:
        spec = _SPECS.get(name)
        return _BUILDERS[name](spec, weights_path, allow_download, random_init=weights == "random", **kwargs)
    prefix, sep, rest = name.partition(":")
    if sep and prefix in _RESOLVERS:
        return _RESOLVERS[prefix](rest, weights=weights, allow_download=allow_download, **kwargs)
    for prefix in ("torchvision", "timm"):
        if prefix in _RESOLVERS and _architecture_exists(prefix, name):
            return _RESOLVERS[prefix](name, weights=weights, allow_download=allow_download, **kwargs)
    if Path(name).is_dir() and "hf" in _RESOLVERS:
        return _RESOLVERS["hf"](name, weights=weights, allow_download=allow_download, **kwargs)
    raise UsageError(
        _SPECS.unknown_message(name)
        + " Generic sources: timm:ARCH, torchvision:ARCH, hf:MODEL_ID_OR_DIR, st:MODEL_ID_OR_DIR, vectors:FILE."
    )


def _architecture_exists(prefix: str, name: str) -> bool:
    if prefix == "torchvision":
        import torchvision

        return name in torchvision.models.list_models()
    import timm

    return name in timm.list_models()
