"""``model:DIR``: a saved graft model as the backbone of the next one.

Any folder written by ``graft probe / finetune / adapt / fewshot / fit`` (``config.json`` +
``model.safetensors``) is a backbone source: ``create_backbone("model:models/fm-probe")`` rebuilds the
model's base backbone (the ``backbone`` reference in its config.json, itself possibly another
``model:DIR``), puts its trained backbone weights back (``backbone.*`` tensors) or merges its LoRA
adapters into the base weights (W + alpha/r · B·A, so the result is a plain backbone), and turns its
classifier into the ``source_head``: LEEP and NCE then rank the model's own task as a source task, and
a multi-layer probe can read its logits as the ``source_logits`` tap. Preprocessing and layer groups
are those of the base backbone: it is the same Backbone object underneath.

Why backbones/ reads the model folder itself rather than models/ registering a resolver: the
format is data (JSON + safetensors), like the Hugging Face folders ``hf:DIR`` reads; reading it here
keeps every arrow pointing down with no import-order registration (``features/`` and ``rank/`` build
``model:DIR`` without anything having imported ``graft.models``), it needs neither torch nor the
model's classes to answer ``get_spec`` / ``backbone_key``, and merging LoRA by arithmetic needs no
``graft.train`` (where PEFT injection lives). What it shares with ``graft.models.saved`` is small and
checked by tests: the file names, ``format_version`` and the sha256 of the weights file that
config.json records.

Cache keys follow the real weights: the key of ``model:DIR`` covers the base architecture, the
identity of the backbone weights the model's features come from (``weights_sha256`` of a trained
backbone, base identity + adapter hash for LoRA) and the hash of ``model.safetensors`` (its head
is the source head, read by the ``source_logits`` tap). Moving a model folder keeps its cache.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from graft.errors import GraftError, UsageError

if TYPE_CHECKING:
    import numpy as np
    from torch import nn

    from graft.backbones.base import Backbone
    from graft.backbones.spec import BackboneSpec

log = logging.getLogger(__name__)

PREFIX = "model:"
CONFIG, WEIGHTS = "config.json", "model.safetensors"
# graft.models.config.FORMAT_VERSION (backbones/ does not import models/; a test checks they agree)
MODEL_FORMAT_VERSION = 1


def is_model_source(name: Any) -> bool:
    """Whether a backbone name is a saved graft model (``"model:DIR"``)."""
    return isinstance(name, str) and name.startswith(PREFIX)


def model_dir(name: str) -> Path:
    """The absolute folder of ``"model:DIR"``."""
    return Path(name[len(PREFIX):]).expanduser().absolute()


@dataclass(frozen=True)
class ModelSource:
    """What config.json says about a saved model used as a backbone source (read without torch).

    Attributes:
        path: the model folder (absolute).
        config: config.json as a dict.
        root: the first backbone in the chain that is not a graft model (e.g. ``"mobilenet_v2"``).
        options: the options the model's backbone was built with (e.g. ``{"image_size": 96}``).
        identity: the identity of the backbone weights its features come from (see module docs).
        model_sha256: sha256 of its model.safetensors as config.json recorded it (or as read).
    """

    path: Path
    config: dict[str, Any]
    root: str
    options: dict[str, Any] = field(default_factory=dict)
    identity: str = ""
    model_sha256: str = ""

    @property
    def ref(self) -> dict[str, Any]:
        return self.config["backbone"]

    @property
    def classes(self) -> list[str]:
        return list(self.config.get("classes") or [])


def read_source(name: str, _depth: int = 0) -> ModelSource:
    """Read and check the config.json of ``"model:DIR"`` (and of every model it was built on).

    Raises:
        UsageError: not a graft model folder, an exported (ONNX) folder, or a model of feature rows.
        GraftError: config.json unreadable or written by a newer graft.
    """
    path = model_dir(name)
    config = _read_config(path)
    ref = config.get("backbone")
    if not isinstance(ref, dict) or not isinstance(ref.get("name"), str):
        raise GraftError(f"{path / CONFIG} names no backbone; the folder is damaged; save the model again")
    if ref.get("modality") == "array" or ref["name"] == "identity":
        raise UsageError(f"{path} was trained on rows of numbers, not on a backbone's features: it cannot be the "
                         "backbone of another model; give a model trained on images, texts or audio")
    base, options = ref["name"], dict(ref.get("options") or {})
    if is_model_source(base):  # a model trained from another model: its options carry down the chain
        if _depth >= 100:
            raise GraftError(f"{path / CONFIG}: its chain of models names itself or runs over 100 hops; save it again")
        parent = read_source(base, _depth + 1)
        root, options = parent.root, parent.options | options
    else:
        root = base
    return ModelSource(path, config, root, options, _identity(ref), _model_sha256(path, config))


def _read_config(path: Path) -> dict[str, Any]:
    if not (path / CONFIG).is_file():
        raise UsageError(f"model:{path}: no graft model there (no {CONFIG}); pass the folder a graft command "
                         "wrote with --out, e.g. --backbone model:models/my-probe")
    try:
        config = json.loads((path / CONFIG).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise GraftError(f"{path / CONFIG} is not valid JSON ({exc}); save the model again") from exc
    if not isinstance(config, dict):
        raise GraftError(f"{path / CONFIG} is not a graft model config; save the model again")
    if "format" in config:
        parent = (config.get("parent") or {}).get("path")
        raise UsageError(f"{path} is an exported ({config['format']}) model: it cannot be a training source; use the "
                         f"saved model it was exported from{f' ({parent})' if parent else ''}")
    version = config.get("format_version", MODEL_FORMAT_VERSION)
    if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= MODEL_FORMAT_VERSION:
        raise GraftError(f"{path / CONFIG}: format_version {version!r} is not one this graft reads "
                         f"(1..{MODEL_FORMAT_VERSION}); upgrade graft (pip install -U graft)")
    return config


def _identity(ref: dict[str, Any]) -> str:
    """The identity of the backbone weights a model's features come from."""
    lora = ref.get("lora")
    base = str(ref.get("weights_sha256") or "unknown")
    if lora:  # the adapters on top of the base weights they were trained on
        return hashlib.sha256(f"{lora.get('base_sha256') or base}+lora-{lora.get('sha256', '')}".encode()).hexdigest()
    return base


def _model_sha256(path: Path, config: dict[str, Any]) -> str:
    recorded = (config.get("files") or {}).get(WEIGHTS)
    if recorded:
        return str(recorded)
    from graft.backbones.weights import sha256_file

    return sha256_file(path / WEIGHTS) if (path / WEIGHTS).is_file() else "missing"


def source_identity(name: str) -> str:
    """``weights_identity`` of ``"model:DIR"``: the identity of the model's backbone weights."""
    return read_source(name).identity


def source_key(name: str, version: int, **options: Any) -> str:
    """The cache key of ``create_backbone("model:DIR", **options)`` (see the module docs)."""
    src = read_source(name)
    chosen = src.options | {k: v for k, v in options.items() if v is not None}
    payload = {"name": src.root, "weights": src.identity, "source_model": src.model_sha256,
               "options": dict(sorted(chosen.items())), "v": version}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:32]


def source_spec(name: str) -> "BackboneSpec":
    """The spec of ``"model:DIR"``: its base backbone's (input as the model was built, groups,
    licence of the base weights), named ``model:DIR``, with the model's classes as source classes."""
    from graft.backbones.registry import get_spec, is_registered

    src = read_source(name)
    if is_registered(src.root):
        spec = get_spec(src.root)
        size = src.options.get("image_size")
        spec = spec.with_input(image_size=int(size)) if size and spec.input.image_size else spec
    else:  # a generic source (timm:ARCH, hf:DIR): what the model's config says about it
        spec = _generic_spec(src)
    return _named(spec, src)


def _named(spec: "BackboneSpec", src: ModelSource) -> "BackboneSpec":
    return spec.replace(name=f"{PREFIX}{src.path}", source_classes=f"{len(src.classes)} classes of {src.path.name}",
                        description=f"graft model {src.path.name} ({src.config.get('method', '?')}) on {src.root}")


def check_unchanged(name: str, recorded: str, user: Any) -> None:
    """A model built on ``model:DIR`` (a probe, LoRA adapters) needs that model's backbone weights as
    they were when it trained: refuse when the folder now holds others (retrained in place)."""
    now = source_identity(name)
    if recorded and now != recorded:
        raise GraftError(f"{user} was trained on {name} with backbone weights {recorded[:12]}…, but that folder "
                         f"now holds {now[:12]}…; restore the parent model, or train this one again")


def _generic_spec(src: ModelSource) -> "BackboneSpec":
    from graft.backbones.spec import BackboneSpec, InputSpec

    known = set(InputSpec.__dataclass_fields__)
    pre = {k: tuple(v) if isinstance(v, list) else v for k, v in (src.config.get("preprocess") or {}).items() if k in known}
    return BackboneSpec(name=src.root, modality=src.ref.get("modality", "image"), architecture=src.root,
                        feature_dim=_feature_dim(src), input=InputSpec(**pre), license=src.ref.get("license", "unknown"))


def _feature_dim(src: ModelSource) -> int:
    """The feature size, from the shape of the head's standardisation (the safetensors header only)."""
    from safetensors import safe_open

    tasks = src.config.get("tasks") or {}
    prefix = next(iter(tasks.values()), {}).get("prefix", "head.")  # a multi-task model: its first task's head
    with safe_open(str(src.path / WEIGHTS), "numpy") as fh:
        name = f"{prefix}mean"
        return int(fh.get_slice(name).get_shape()[0]) if name in fh.keys() else 0


def child_reference(name: str, in_model: bool) -> tuple[str, dict[str, Any]]:
    """The backbone name and options a model trained from ``"model:DIR"`` records in its config.

    A model that stores its whole trained backbone (``in_model``) needs only the architecture: it
    names the root backbone with the chain's options, so it loads even when its ancestors' folders
    are gone. Any other (a probe, LoRA adapters) needs the parent's weights: it names
    ``model:ABSOLUTE_DIR``, like a weights file, and loading checks the parent is unchanged.
    """
    src = read_source(name)
    return (src.root, dict(src.options)) if in_model else (f"{PREFIX}{src.path}", {})


# --- building -------------------------------------------------------------------------------------
def build_model_source(rest: str, weights: Any = None, allow_download: bool = False, **options: Any) -> "Backbone":
    """The ``model`` resolver: ``create_backbone("model:DIR")`` → the model's trained backbone, its
    classifier as ``source_head``. ``weights="random"`` builds the same architecture randomly initialised."""
    from graft.backbones.registry import create_backbone

    name = f"{PREFIX}{rest}"
    src = read_source(name)
    if weights not in (None, "random"):
        raise UsageError(f"{name} brings its own trained weights; drop --weights (or train from the base "
                         f"backbone {src.root} with those weights)")
    ref, chosen = src.ref, dict(ref_options(src, options))
    if weights == "random":  # the same architecture, as the whole chain built it, from scratch
        given = {k: v for k, v in options.items() if v is not None}
        return create_backbone(src.root, weights="random", allow_download=allow_download, **(src.options | given))
    tensors = _verified_tensors(src)
    if ref.get("in_model"):
        bb = create_backbone(ref["name"], weights="random", allow_download=allow_download, **chosen)
        restore_state(bb, _strip(tensors, "backbone."), f"{src.path / WEIGHTS}")
    else:
        _check_parent_weights(ref, src)
        bb = create_backbone(ref["name"], weights=ref.get("weights_file"), allow_download=allow_download, **chosen)
    if ref.get("lora"):
        merge_lora(bb, ref["lora"], _strip(tensors, "lora."), src.path)
    _attach_head(bb, src, tensors)
    bb.spec = _named(bb.spec, src)
    bb.weights_sha256 = src.identity
    return bb.eval()


def ref_options(src: ModelSource, options: dict[str, Any]) -> dict[str, Any]:
    """The model's own backbone options, overridden by the ones given now (e.g. another image_size)."""
    return dict(src.ref.get("options") or {}) | {k: v for k, v in options.items() if v is not None}


def _verified_tensors(src: ModelSource) -> dict[str, "np.ndarray"]:
    from safetensors.numpy import load

    try:
        data = (src.path / WEIGHTS).read_bytes()
    except OSError as exc:
        raise GraftError(f"{src.path / WEIGHTS}: cannot read the model's weights ({exc.strerror or exc}); the "
                         "folder is damaged or incomplete") from exc
    recorded = (src.config.get("files") or {}).get(WEIGHTS)
    if recorded and hashlib.sha256(data).hexdigest() != recorded:
        raise GraftError(f"{src.path / WEIGHTS} is corrupted: its sha256 differs from the one {CONFIG} recorded when "
                         "the model was saved; restore the folder from a backup or train the model again")
    if not recorded:
        log.warning("%s was saved without checksums (by an older graft): its weights cannot be verified", src.path)
    return load(data)


def _strip(tensors: dict[str, "np.ndarray"], prefix: str) -> dict[str, "np.ndarray"]:
    return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}


def _check_parent_weights(ref: dict[str, Any], src: ModelSource) -> None:
    if is_model_source(ref["name"]):
        check_unchanged(ref["name"], str(ref.get("weights_sha256") or ""), src.path)


def source_head_module(weight: "np.ndarray", bias: "np.ndarray", mean: "np.ndarray", scale: "np.ndarray") -> "nn.Module":
    """A saved model's classifier (graft.heads.linear.LinearHead) as a module over pooled features:
    ``logits = ((x - mean) / scale) @ weight.T + bias``, held in buffers (the source task's classifier
    is frozen by nature; its tensors are part of the backbone's state as ``source_head.*``)."""
    import torch

    module = _head_class()()
    for key, value in (("weight", weight), ("bias", bias), ("mean", mean), ("scale", scale)):
        module.register_buffer(key, torch.as_tensor(value, dtype=torch.float32).clone())
    return module


_HEAD_CLASS: Any = None


def _head_class() -> Any:
    """The module class, defined on first use so that importing this file needs no torch."""
    global _HEAD_CLASS
    if _HEAD_CLASS is None:
        from torch import nn

        class SourceTaskHead(nn.Module):
            """A saved graft model's classifier over pooled features (standardisation, then linear)."""

            def forward(self, x: Any) -> Any:
                z = (x.to(self.mean.dtype) - self.mean) / self.scale
                return z @ self.weight.T + self.bias

        _HEAD_CLASS = SourceTaskHead
    return _HEAD_CLASS


def _attach_head(bb: "Backbone", src: ModelSource, tensors: dict[str, "np.ndarray"]) -> None:
    """The model's classifier becomes the source head (the default task's, for a multi-task model)."""
    tasks = src.config.get("tasks") or {}
    first = next(iter(tasks.values()), {})  # a multi-task model: head.<task>.* per task, default task first
    head = _strip(tensors, first.get("prefix", "head."))
    kind = (src.config.get("head") or {}).get("type", "linear")
    if kind != "linear" or not {"weight", "bias", "mean", "scale"} <= set(head) or head["mean"].shape[0] != bb.feature_dim:
        # a multi-layer probe's head reads selected taps, not the pooled features a source head gets
        log.info("%s: its %s head does not read the pooled features; no source head (LEEP/NCE skip it)", src.path, kind)
        bb.source_head, bb.source_classes = None, None
        return
    bb.source_head = source_head_module(head["weight"], head["bias"], head["mean"], head["scale"])
    bb.source_classes = list(first.get("classes") or src.classes)


def restore_state(bb: "Backbone", state: dict[str, "np.ndarray"], source: str = "the saved backbone state") -> None:
    """Load a saved backbone state (``backbone.*`` tensors of a model folder) into ``bb``.

    A backbone trained from a ``model:DIR`` source carried that model's classifier as its source
    head, so its state holds ``source_head.{weight,bias,mean,scale}``: that head is rebuilt first,
    and the state then loads strictly.
    """
    import numpy as np
    import torch

    from graft.backbones.weights import load_into

    if "source_head.scale" in state and "source_head.mean" in state:
        bb.source_head = source_head_module(*(np.asarray(state[f"source_head.{k}"]) for k in ("weight", "bias", "mean", "scale")))
        bb.source_classes = None
    load_into(bb, {k: torch.from_numpy(np.array(v)) for k, v in state.items()}, source)


def merge_lora(bb: "Backbone", lora: dict[str, Any], state: dict[str, "np.ndarray"], path: Path) -> None:
    """Merge saved LoRA adapters into the base weights: W ← W + (alpha / r) · B · A for each adapted
    Linear (PEFT's eval-mode update, dropout off). The backbone stays a plain one: it trains, embeds
    and exports like any other, and the next model starts from the adapted weights."""
    import torch

    if lora.get("base_sha256") and bb.weights_sha256 != lora["base_sha256"]:
        raise GraftError(f"{path}: its LoRA adapters were trained on base weights {lora['base_sha256'][:12]}…, but "
                         f"{bb.spec.name!r} loaded {bb.weights_sha256[:12]}…; install the base weights it was trained with")
    pairs = sorted(k for k in state if ".lora_A." in k)
    if not pairs or any(k.replace(".lora_A.", ".lora_B.") not in state for k in pairs):
        raise GraftError(f"{path / WEIGHTS}: config.json names LoRA adapters but the A/B tensors are missing or "
                         "unpaired; the folder is damaged or incomplete")
    scale = float(lora.get("alpha", 16.0)) / float(lora.get("r", 8))
    with torch.no_grad():
        for key in pairs:
            layer = _submodule(bb, key.split(".lora_A.")[0], path)
            a = torch.from_numpy(state[key].astype("float32"))
            b = torch.from_numpy(state[key.replace(".lora_A.", ".lora_B.")].astype("float32"))
            layer.weight += (scale * (b @ a)).to(layer.weight.dtype)


def _submodule(bb: "Backbone", name: str, path: Path) -> Any:
    try:
        layer = bb.get_submodule(name)
    except AttributeError as exc:
        raise GraftError(f"{path}: its LoRA adapters name {name!r}, which the base backbone does not have; the "
                         "folder is from another backbone or graft version") from exc
    if not hasattr(layer, "weight") or layer.weight.dim() != 2:
        raise GraftError(f"{path}: LoRA adapters on {name!r} ({type(layer).__name__}): only Linear layers merge")
    return layer
