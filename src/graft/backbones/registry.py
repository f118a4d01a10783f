"""``@register_backbone`` / ``create_backbone`` / ``list_backbones``: the zoo's one factory."""

from __future__ import annotations

import importlib
from collections import OrderedDict
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


def _for_tests(name: str) -> bool:
    """``test_*`` backbones serve graft's own tests: they resolve, but are not offered to users."""
    return name.startswith("test_")


_SPECS: Registry[BackboneSpec] = Registry("backbone", hidden=_for_tests)
# Builders are callables or "module:function" strings imported on first use, so that the zoo's
# catalog (graft.backbones.catalog) imports no torch.
_BUILDERS: dict[str, Builder | str] = {}
# Generic sources, by prefix: "timm:resnet50", "torchvision:vgg16", "hf:bert-base-uncased",
# "st:all-mpnet-base-v2", "vectors:/path/glove.txt".
_RESOLVERS: dict[str, Callable[..., "Backbone"] | str] = {}
# "model:DIR": a saved graft model as the backbone of the next one (graft.backbones.saved_model reads
# the model folder itself, so no upper layer has to register anything first)
_RESOLVERS["model"] = "graft.backbones.saved_model:build_model_source"
_loaded = False


def register_backbone(spec: BackboneSpec, builder: Builder | str | None = None) -> Callable[[Builder], Builder]:
    """Register a builder for one backbone spec: directly, or as a decorator.

    Example:
        >>> @register_backbone(BackboneSpec(name="my_net", modality="image", architecture="x",
        ...                                 feature_dim=8, input=InputSpec(image_size=32)))
        ... def build(spec, weights, allow_download, **kw): ...
    """

    def decorator(fn: Builder) -> Builder:
        _SPECS.add(spec.name, spec, overwrite=True)
        _BUILDERS[spec.name] = fn
        clear_shared_backbones()  # a name may now build something else
        return fn

    if builder is not None:
        decorator(builder)  # type: ignore[arg-type]
    return decorator


def register_resolver(prefix: str, resolver: Callable[..., "Backbone"] | str | None = None) -> Any:
    """Register a generic source (``prefix:NAME``): a callable or ``"module:function"`` string, or
    use as a decorator when ``resolver`` is omitted."""
    if resolver is not None:
        _RESOLVERS[prefix] = resolver
        return resolver

    def decorator(fn: Callable[..., "Backbone"]) -> Callable[..., "Backbone"]:
        _RESOLVERS[prefix] = fn
        return fn

    return decorator


def _import(target: Callable[..., Any] | str) -> Callable[..., Any]:
    if not isinstance(target, str):
        return target
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def _ensure_loaded() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        importlib.import_module("graft.backbones.catalog")


def list_backbones(pattern: str | None = None, modality: str | None = None) -> list[str]:
    """Names of registered backbones, filtered by a glob pattern and/or modality.

    Example:
        >>> list_backbones("efficientnet_lite*")
        ['efficientnet_lite0', 'efficientnet_lite1', 'efficientnet_lite2']
    """
    _ensure_loaded()
    names = [n for n in _SPECS.names(pattern) if not _for_tests(n) or (pattern or "").startswith("test")]
    return [n for n in names if modality is None or _SPECS.get(n).modality == modality]


def get_spec(name: str) -> BackboneSpec:
    """The spec of a zoo name, or of a saved graft model (``"model:DIR"``: its base backbone's)."""
    from graft.backbones.ensemble_spec import ensemble_spec, is_ensemble
    from graft.backbones.saved_model import is_model_source, source_spec

    _ensure_loaded()
    if is_model_source(name):
        return source_spec(name)
    if is_ensemble(name):
        return ensemble_spec(name)
    return _SPECS.get(name)


def is_registered(name: str) -> bool:
    """Whether ``get_spec(name)`` knows ``name``: a zoo name, or ``"model:DIR"`` of an existing model."""
    from graft.backbones.ensemble_spec import is_ensemble, members_of
    from graft.backbones.saved_model import CONFIG, is_model_source, model_dir

    _ensure_loaded()
    if is_model_source(name):
        return (model_dir(name) / CONFIG).is_file()
    if is_ensemble(name):
        try:
            return all(m in _SPECS for m in members_of(name))
        except UsageError:  # a malformed ensemble name: not registered (get_spec / create_backbone say why)
            return False
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
            ``"vectors:FILE"``, ``"model:DIR"`` (a saved graft model: its trained backbone, its
            classifier as ``source_head``; see ``graft.backbones.saved_model``), or a bare timm /
            torchvision architecture name (``"resnet50"``).
        weights: a local checkpoint (``.safetensors`` or a plain-tensor ``.pt``/``.pth``) to load
            instead of the registered weights; ``"random"`` for random initialisation.
        allow_download: permit fetching weights from a hub. Off by default: nothing downloads silently.
        **kwargs: builder options such as ``image_size``.

    Example:
        >>> bb = create_backbone("mobilenet_v2", image_size=96)
        >>> bb.feature_dim
        1280
    """
    backbone = _create(name, weights, allow_download, **kwargs)
    backbone.key = backbone_key(name, weights, **kwargs)
    return backbone.eval()  # inference mode until a trainer says otherwise


#: Backbones built for reading only (extraction, ranking, timing), by cache key, newest last.
_SHARED: "OrderedDict[str, Backbone]" = OrderedDict()
#: How many of them stay built: ``graft fit`` ranks the offline zoo of a modality (up to four), then
#: reads the best again and again.
SHARED_BACKBONES = 4


def shared_backbone(name: str, weights: str | Path | None = None, allow_download: bool = False,
                    **kwargs: Any) -> "Backbone":
    """``create_backbone`` for callers that only run the network forward in eval mode (feature
    extraction, ranking, timing): the last ``SHARED_BACKBONES`` built are reused, so one ``fit`` run
    builds each backbone once instead of once per extraction. Callers that train, move parameters
    or register lasting hooks use ``create_backbone`` (a fresh copy) instead. Image networks come
    with batch norm folded into their convolutions (``graft.backbones.fuse``)."""
    from graft.backbones.fuse import fold_batchnorm

    def build() -> "Backbone":  # folded in place (this copy is ours); unfolded if the check fails
        folded = fold_batchnorm(create_backbone(name, weights, allow_download, **kwargs), in_place=True)
        return folded if folded is not None else create_backbone(name, weights, allow_download, **kwargs)

    if str(weights) == "random":  # a random draw each time, as create_backbone gives: never shared
        return build()
    key = backbone_key(name, weights, **kwargs)
    if key in _SHARED:
        _SHARED.move_to_end(key)
        return _SHARED[key].eval()
    backbone = build()
    _SHARED[key] = backbone
    while len(_SHARED) > SHARED_BACKBONES:
        _SHARED.popitem(last=False)
    return backbone


def clear_shared_backbones() -> None:
    """Release the backbones ``shared_backbone`` keeps built."""
    _SHARED.clear()


# Bump when preprocessing code changes what a backbone produces: old cache entries then miss.
PREPROCESS_VERSION = 1


def weights_identity(name: str, weights: str | Path | None = None, seed: int = 0) -> str:
    """What identifies the weights ``create_backbone(name, weights)`` loads, without loading them:
    the sha256 of a user's file or of the packaged file (pinned in the spec), the sha256 of a local
    model folder, ``"random"``, or ``"hub:NAME"`` for weights that would come from a hub."""
    from graft.backbones.engine import engine_identity
    from graft.backbones.ensemble_spec import is_ensemble
    from graft.backbones.ensemble_spec import weights_identity as ensemble_identity
    from graft.backbones.saved_model import is_model_source, source_identity
    from graft.backbones.weights import check_weights_arg, find_local, sha256_file

    _ensure_loaded()
    weights = check_weights_arg(weights)
    if weights == "random":
        return "random"
    if weights is not None:
        return sha256_file(weights)
    if name.startswith("test_") and name in _SPECS:
        return f"test-seed{seed}"
    if is_model_source(name):
        return source_identity(name)
    if is_ensemble(name):
        return ensemble_identity(name)
    if name in _SPECS:
        found = [(s, p) for s in _SPECS.get(name).weights if (p := find_local(s)) is not None]
        identity = (found[0][0].sha256 or sha256_file(found[0][1])) if found else f"hub:{name}"
        return engine_identity(_SPECS.get(name), identity)  # frozen engines: + engine version, preprocessing
    return _local_source_hash(name) or f"hub:{name}"


def backbone_key(name: str, weights: str | Path | None = None, **kwargs: Any) -> str:
    """Cache key of ``create_backbone(name, weights, **kwargs)`` — computed without building it.

    It covers the backbone name, the identity of its weights (``weights_identity``) and every
    option that changes preprocessing, so a cached run needs neither torch nor the model.
    """
    import hashlib
    import json

    from graft.backbones.saved_model import is_model_source, source_key

    if is_model_source(name) and weights is None:  # the model's weights, its head and its chain's options
        return source_key(name, PREPROCESS_VERSION, **kwargs)
    weights_id = weights_identity(name, weights, seed=kwargs.get("seed", 0))
    options = {k: v for k, v in sorted(kwargs.items()) if v is not None}
    payload = {"name": name, "weights": weights_id, "options": options, "v": PREPROCESS_VERSION}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:32]


def _create(name: str, weights: str | Path | None, allow_download: bool, **kwargs: Any) -> "Backbone":
    from graft.backbones.weights import check_weights_arg

    _ensure_loaded()
    weights = check_weights_arg(weights)
    weights_path = None if weights is None or weights == "random" else Path(weights)
    if name in _SPECS:
        spec = _SPECS.get(name)
        build = _import(_BUILDERS[name])
        return build(spec, weights_path, allow_download, random_init=weights == "random", **kwargs)
    prefix, sep, rest = name.partition(":")
    if sep and prefix in _RESOLVERS:
        return _import(_RESOLVERS[prefix])(rest, weights=weights, allow_download=allow_download, **kwargs)
    for prefix in ("torchvision", "timm"):
        if prefix in _RESOLVERS and _architecture_exists(prefix, name):
            return _import(_RESOLVERS[prefix])(name, weights=weights, allow_download=allow_download, **kwargs)
    if Path(name).is_dir() and "hf" in _RESOLVERS:
        return _import(_RESOLVERS["hf"])(name, weights=weights, allow_download=allow_download, **kwargs)
    raise UsageError(
        _SPECS.unknown_message(name)
        + " Generic sources: timm:ARCH, torchvision:ARCH, hf:MODEL_ID_OR_DIR, st:MODEL_ID_OR_DIR, vectors:FILE,"
        " model:DIR (a saved graft model)."
    )


def _local_source_hash(name: str) -> str | None:
    """For ``hf:DIR`` / ``st:DIR`` / ``vectors:FILE`` / a bare directory: the hash of the local files,
    so retraining a model into the same folder never serves stale cached features."""
    from graft.backbones.weights import sha256_dir, sha256_file

    prefix, sep, rest = name.partition(":")
    path = Path(rest if sep and prefix in _RESOLVERS else name).expanduser()
    if path.is_dir():
        return sha256_dir(path)
    if path.is_file():
        return sha256_file(path)
    return None


def _architecture_exists(prefix: str, name: str) -> bool:
    if prefix == "torchvision":
        import torchvision

        return name in torchvision.models.list_models()
    import timm

    return name in timm.list_models()
