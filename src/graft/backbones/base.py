"""The one backbone interface every modality speaks.

A backbone is an ``nn.Module`` whose computation is a chain of named **layer groups** from input to
output, followed by a pooling step that gives one fixed-size embedding per input::

    state = collate([preprocess(item) for item in items])
    for group in groups: state = group(state)
    features = pool(state)                       # (B, feature_dim)

Freezing by group, discriminative learning rates, prefix caching and LEEP (through ``source_head``)
are written once against this interface.

**Taps** (multi-layer probes, ``graft.features.taps``) are also written once here: ``tap_points()``
lists named modules from input to output whose outputs a probe may read — the blocks inside a group
when the group is a ``Sequential`` of composite blocks (MobileNetV2's inverted residuals,
EfficientNet's blocks), else the group itself (each transformer / Whisper layer) — and
``pool_tap(output, batch, grid, max_width)`` turns one tap's output into a (B, width) matrix by shape:
(B, C, H, W) → spatial mean (or the finest g × g grid mean, g ≤ ``grid``, with C·g² ≤ ``max_width``), (B, T, D) →
mean over T. Backbones whose states carry a mask (text, Whisper, word vectors) override ``pool_tap``.
``tap_names()`` adds ``"source_logits"`` where the weights have a classifier.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Sequence

import torch
from torch import nn

if TYPE_CHECKING:
    from graft.backbones.spec import BackboneSpec


@dataclass
class LayerGroup:
    """A named slice of the network. ``module`` maps the previous group's state to the next one."""

    name: str
    module: nn.Module

    def parameters(self) -> list[nn.Parameter]:
        return list(self.module.parameters())

    def num_params(self) -> int:
        return sum(p.numel() for p in self.module.parameters())


class Backbone(nn.Module):
    """Base class. Subclasses implement ``preprocess``, ``layer_groups`` and ``pool``.

    Attributes:
        spec: the registered metadata (input spec, licence, feature dim, ...).
        weights_sha256: hash of the weights actually loaded ("random" for random init).
        source_head: the classifier that came with the weights, or ``None``.
        source_classes: names of the source classes (e.g. ImageNet lemmas), or ``None``.
    """

    def __init__(self, spec: "BackboneSpec", weights_sha256: str = "random") -> None:
        super().__init__()
        self.spec = spec
        self.weights_sha256 = weights_sha256
        self.source_head: nn.Module | None = None
        self.source_classes: list[str] | None = None

    # --- to implement -------------------------------------------------------------------------
    def preprocess(self, item: Any) -> Any:
        """One raw item (path, PIL image, array, string, waveform) → tensor(s) without batch dim."""
        raise NotImplementedError

    def layer_groups(self) -> list[LayerGroup]:
        """Named groups from input to output; running them in order then ``pool`` gives features."""
        raise NotImplementedError

    def pool(self, state: Any) -> torch.Tensor:
        """Last group's state → (B, feature_dim) embedding."""
        return state

    # --- shared behaviour ---------------------------------------------------------------------
    def collate(self, samples: Sequence[Any]) -> Any:
        """Preprocessed samples → one batch. Text backbones override this to pad."""
        return torch.stack(list(samples))

    @property
    def groups(self) -> list[LayerGroup]:
        return self.layer_groups()

    @property
    def group_names(self) -> list[str]:
        return [g.name for g in self.layer_groups()]

    @property
    def feature_dim(self) -> int:
        return self.spec.feature_dim

    @property
    def modality(self) -> str:
        return self.spec.modality

    def run_groups(self, state: Any, start: int = 0, stop: int | None = None) -> Any:
        """Run groups ``start:stop`` on ``state`` (used for prefix caching)."""
        for group in self.layer_groups()[start:stop]:
            state = group.module(state)
        return state

    def forward_features(self, batch: Any) -> torch.Tensor:
        return self.pool(self.run_groups(batch))

    def forward(self, batch: Any) -> torch.Tensor:
        return self.forward_features(batch)

    def source_logits(self, features: torch.Tensor) -> torch.Tensor:
        if self.source_head is None:
            raise ValueError(f"backbone {self.spec.name!r} has no source classifier")
        return self.source_head(features)

    def preprocess_config(self) -> dict[str, Any]:
        """Everything that changes what ``preprocess`` produces; part of every cache key."""
        from graft._config import to_dict

        return {"input": to_dict(self.spec.input), "class": type(self).__name__}

    key: str | None = None  # set by create_backbone: see registry.backbone_key

    def cache_key(self) -> str:
        """Backbone + weights hash + preprocessing, as one hex digest."""
        if self.key is not None:
            return self.key
        payload = {
            "name": self.spec.name,
            "architecture": self.spec.architecture,
            "weights": self.weights_sha256,
            "preprocess": self.preprocess_config(),
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:32]

    # --- taps: what a multi-layer probe reads (graft.features.taps) ------------------------------
    def tap_points(self) -> list[tuple[str, nn.Module]]:
        """Named modules whose outputs a multi-layer probe reads, in execution order.

        A group that is a ``Sequential`` of two or more composite blocks contributes each block
        (``"stage3.2"``); any other group contributes itself (``"layer_4"``). Every output passes
        through the hook of its module, so the same code serves every architecture.
        """
        points: list[tuple[str, nn.Module]] = []
        for group in self.layer_groups():
            # a ModuleList only lists what a wrapped model runs (timm / torchvision): tap its members
            members = (list(group.module.named_children()) if isinstance(group.module, nn.ModuleList)
                       else [("", group.module)])
            for i, (member, module) in enumerate(members):
                name = f"{group.name}.{member}" if member else group.name
                blocks = _blocks(module)
                if blocks:
                    points += [(f"{name}.{n}", m) for n, m in blocks]
                elif not member or i == len(members) - 1 or _composite(module):
                    points.append((name, module))
        return points

    def tap_names(self) -> list[str]:
        """Names of every tap, from input to output; ``"source_logits"`` last where there is a source head."""
        names = [name for name, _ in self.tap_points()]
        return names + [SOURCE_LOGITS] if self.source_head is not None else names

    def pool_tap(self, output: Any, batch: Any, grid: int = 1, max_width: int = 1024) -> torch.Tensor:
        """One tap's output → (B, width). ``batch`` is the network's input (for masks, if needed)."""
        return pool_by_shape(output, grid, max_width)

    def tap_pooler(self, tap: str) -> Callable[[Any, Any, int, int], torch.Tensor]:
        """What pools ``tap``'s output: ``pool_tap`` (an ensemble hands each tap to its member)."""
        return self.pool_tap

    def num_params(self, trainable_only: bool = False) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)

    def move_batch(self, batch: Any, device: torch.device | str) -> Any:
        if isinstance(batch, torch.Tensor):
            return batch.to(device, non_blocking=True)
        if isinstance(batch, dict):
            return {k: self.move_batch(v, device) for k, v in batch.items()}
        return batch


SOURCE_LOGITS = "source_logits"  # the tap holding the source classifier's logits


def _blocks(module: nn.Module) -> list[tuple[str, nn.Module]]:
    """The composite children of a ``Sequential`` (each has submodules of its own), when there are
    two or more and nothing else; otherwise none (a stem of conv + norm is one tap, not three)."""
    if not isinstance(module, nn.Sequential):
        return []
    children = list(module.named_children())
    if len(children) < 2 or not all(_composite(child) for _, child in children):
        return []
    return children


def _composite(module: nn.Module) -> bool:
    return any(True for _ in module.children())


def pool_by_shape(output: Any, grid: int = 1, max_width: int = 1024) -> torch.Tensor:
    """Pool a tap output by its shape: (B, C, H, W) spatial mean or the means of the finest g x g grid
    (g <= ``grid``) with C·g² <= ``max_width`` (``grid=2``: 2x2 or the mean), (B, T, D) mean over T,
    (B, D) as is. Tuples and lists pool their first element (the hidden states)."""
    if isinstance(output, (tuple, list)):
        output = output[0]
    if isinstance(output, dict) and "hidden" in output:
        output = output["hidden"]
    if not isinstance(output, torch.Tensor):
        raise TypeError(f"cannot pool a tap output of type {type(output).__name__}")
    if output.dim() == 4:
        channels = output.shape[1]
        while grid > 1 and channels * grid * grid > max_width:  # the finest grid within the width cap
            grid -= 1
        if grid > 1:
            return nn.functional.adaptive_avg_pool2d(output, grid).flatten(1)
        return output.mean(dim=(2, 3))
    if output.dim() == 3:
        return output.mean(dim=1)
    if output.dim() == 2:
        return output
    return output.flatten(1)
