"""LoRA (low-rank adapters, Hu et al. 2021) for transformer backbones, through PEFT.

Adapters are injected **in place** with ``peft.inject_adapter_in_model`` on the backbone module:
each targeted ``nn.Linear`` (e.g. BERT's ``query`` / ``value``, Whisper's ``q_proj`` / ``v_proj``) is
swapped, inside its parent, for a ``lora.Linear`` that wraps it. graft's layer groups hold
references to the same transformer layers, so every group sees the adapters and freezing by group,
discriminative learning rates and prefix caching keep working unchanged. (``get_peft_model`` would
instead wrap the inner Hugging Face model in a ``PeftModel`` whose ``forward`` graft never calls, and
would not reach backbones such as Whisper's encoder that graft assembles itself.)

The base weights stay frozen; only the adapters (in the groups a schedule unfreezes) and the new head
train. A saved model keeps only the adapter tensors (``lora.*`` in ``model.safetensors``) and their
settings (``backbone.lora`` in ``config.json``); loading builds the backbone from its packaged
weights and puts the adapters back on top.

Example:
    >>> bb = create_backbone("minilm_l6")                                      # doctest: +SKIP
    >>> settings = inject_lora(bb, LoraSettings(r=8))                          # doctest: +SKIP
    >>> settings.targets                                                       # doctest: +SKIP
    ['query', 'value']
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from torch import nn

from graft.backbones.weights import state_sha256
from graft.errors import GraftError, UsageError, require
from graft.train.model import TransferModel

if TYPE_CHECKING:
    from graft.backbones.base import Backbone
    from graft.train.config import TrainConfig
    from graft.train.schedules import Phase

log = logging.getLogger(__name__)

# Attention query/value projections, by naming convention: BERT-family, then Whisper / BART / T5-style
# / most decoders, then DistilBERT. The first pair a backbone has is the default target.
DEFAULT_TARGETS: tuple[tuple[str, ...], ...] = (("query", "value"), ("q_proj", "v_proj"), ("q_lin", "v_lin"))
ADAPTER = "default"  # PEFT's adapter name; part of the saved tensor names
PREFIX = "lora."  # saved tensors: "lora." + the parameter's name in the backbone


@dataclass
class LoraSettings:
    """The adapters' shape; saved as ``backbone.lora`` in a model's ``config.json``."""

    r: int = field(default=8, metadata={"help": "rank of the update B·A"})
    alpha: float = field(default=16.0, metadata={"help": "scale: the update is multiplied by alpha / r"})
    dropout: float = field(default=0.1, metadata={"help": "dropout on the adapters' input"})
    targets: list[str] = field(default_factory=list, metadata={"help": "module names adapted (empty: detect)"})
    base_sha256: str = field(default="", metadata={"help": "hash of the base weights the adapters were trained on"})
    sha256: str = field(default="", metadata={"help": "hash of the adapter tensors"})

    @classmethod
    def from_train_config(cls, config: "TrainConfig") -> "LoraSettings":
        return cls(r=config.lora, alpha=config.lora_alpha, dropout=config.lora_dropout,
                   targets=list(config.lora_targets or []))


def is_lora_param(name: str) -> bool:
    return "lora_" in name


def default_targets(backbone: nn.Module) -> list[str]:
    """The attention query/value projections of ``backbone``, found by module name."""
    leaves = {name.rsplit(".", 1)[-1] for name, m in backbone.named_modules() if isinstance(m, nn.Linear)}
    for pair in DEFAULT_TARGETS:
        if set(pair) <= leaves:
            return list(pair)
    known = ", ".join("/".join(p) for p in DEFAULT_TARGETS)
    raise UsageError(f"LoRA: backbone {getattr(getattr(backbone, 'spec', None), 'name', '?')!r} has no attention "
                     f"projections named {known}; LoRA is for transformer backbones (text, audio). "
                     "Name the Linear modules to adapt with lora_targets, or fine-tune without LoRA.")


def inject_lora(backbone: "Backbone", settings: LoraSettings) -> LoraSettings:
    """Add adapters to ``backbone`` in place and freeze its base weights.

    Returns the settings with ``targets`` and ``base_sha256`` filled in. The adapters start as a zero
    update (B = 0), so the backbone's outputs — and its feature-cache key — are unchanged until training.
    """
    peft = require("peft", "train")
    if settings.r <= 0:
        raise UsageError(f"LoRA rank must be positive, got {settings.r}")
    targets = list(settings.targets) or default_targets(backbone)
    config = peft.LoraConfig(r=settings.r, lora_alpha=settings.alpha, lora_dropout=settings.dropout,
                             target_modules=targets, bias="none")
    try:
        peft.inject_adapter_in_model(config, backbone, adapter_name=ADAPTER)
    except ValueError as exc:  # PEFT: "Target modules {...} not found in the base model"
        raise UsageError(f"LoRA targets {targets}: {exc}") from exc
    for name, p in backbone.named_parameters():
        p.requires_grad_(is_lora_param(name))
    settings = LoraSettings(settings.r, settings.alpha, settings.dropout, targets, backbone.weights_sha256)
    log.info("LoRA r=%d on %s: %d adapter parameters", settings.r, targets, count_lora(backbone))
    return settings


def count_lora(backbone: nn.Module) -> int:
    return sum(p.numel() for n, p in backbone.named_parameters() if is_lora_param(n))


def lora_state(backbone: nn.Module) -> dict[str, np.ndarray]:
    """The adapter tensors only, by their names in the backbone (what a saved model stores)."""
    return {k: v.detach().cpu().numpy() for k, v in backbone.state_dict().items() if is_lora_param(k)}


def load_lora(backbone: "Backbone", settings: LoraSettings, state: dict[str, np.ndarray]) -> None:
    """Put saved adapters back on a backbone built from its base weights (by parameter name).

    Raises:
        GraftError: the base weights differ from the ones the adapters were trained on, or the
            saved adapters do not match the backbone's.
    """
    import torch

    if settings.base_sha256 and backbone.weights_sha256 != settings.base_sha256:
        raise GraftError(f"the LoRA adapters were trained on base weights {settings.base_sha256[:12]}…, but "
                         f"{backbone.spec.name!r} loaded {backbone.weights_sha256[:12]}…; install the base "
                         "weights the model was trained with")
    inject_lora(backbone, LoraSettings(settings.r, settings.alpha, settings.dropout, list(settings.targets)))
    expected = {k for k in backbone.state_dict() if is_lora_param(k)}
    if set(state) != expected:
        missing, extra = sorted(expected - set(state))[:3], sorted(set(state) - expected)[:3]
        raise GraftError(f"saved LoRA adapters do not fit the backbone (missing {missing}, unexpected {extra}); "
                         "the model folder is damaged or from another graft version")
    backbone.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in state.items()}, strict=False)


class LoraTransferModel(TransferModel):
    """A TransferModel whose "trainable" groups train only their LoRA adapters; base weights stay frozen."""

    def __init__(self, backbone: "Backbone", n_classes: int, settings: LoraSettings, dropout: float = 0.0,
                 freeze_bn_stats: bool = False) -> None:
        super().__init__(backbone, n_classes, dropout, freeze_bn_stats)
        self.lora_settings = settings

    def set_trainable(self, groups: list[int]) -> None:
        super().set_trainable(groups)
        for name, p in self.backbone.named_parameters():
            if not is_lora_param(name):
                p.requires_grad_(False)

    def adapters(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """What a saved model keeps: the adapter tensors and their settings (with the tensors' hash)."""
        from graft._config import to_dict

        state = lora_state(self.backbone)
        settings = to_dict(self.lora_settings) | {"sha256": state_sha256(state)}
        return state, settings


def lora_model(backbone: "Backbone", n_classes: int, config: "TrainConfig", pretrained: bool = True,
               freeze_bn_stats: bool = False) -> LoraTransferModel:
    """Inject adapters into ``backbone`` as ``config`` says and put a new head on it."""
    if not pretrained:
        raise UsageError("LoRA adapts pretrained weights, but schedule 'scratch' starts from random ones; "
                         "drop --lora or choose another schedule")
    settings = inject_lora(backbone, LoraSettings.from_train_config(config))
    return LoraTransferModel(backbone, n_classes, settings, config.dropout, freeze_bn_stats)


def scale_lrs(phases: list["Phase"], factor: float) -> None:
    """Backbone-group LRs × ``factor`` (the head's unchanged): the schedules' backbone LRs are set for
    full fine-tuning, ~10x lower than LoRA adapters need to move within a few epochs."""
    for phase in phases:
        phase.group_lrs = [lr * factor for lr in phase.group_lrs]


def lora_summary(model: TransferModel) -> dict[str, Any]:
    """Trainable vs total parameters with every adapter unfrozen (for logs and the lineage)."""
    adapters = count_lora(model.backbone)
    head = sum(p.numel() for p in model.head.parameters())
    total = sum(p.numel() for p in model.parameters())
    return {"adapter_params": adapters, "head_params": head, "trainable": adapters + head, "total": total}
