"""The one backbone interface every modality speaks.

A backbone is an ``nn.Module`` whose computation is a chain of named **layer groups** from input to
output, followed by a pooling step that gives one fixed-size embedding per input::

    state = collate([preprocess(item) for item in items])
    for group in groups: state = group(state)
    features = pool(state)                       # (B, feature_dim)

Freezing by group, discriminative learning rates, prefix caching and LEEP (through ``source_head``)
are written once against this interface.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

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

    def num_params(self, trainable_only: bool = False) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)

    def move_batch(self, batch: Any, device: torch.device | str) -> Any:
        if isinstance(batch, torch.Tensor):
            return batch.to(device, non_blocking=True)
        if isinstance(batch, dict):
            return {k: self.move_batch(v, device) for k, v in batch.items()}
        return batch
