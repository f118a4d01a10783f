"""The network being trained: a backbone + a new linear head; freezing by named group."""

from __future__ import annotations

import logging
from typing import Any

import torch
from torch import nn

from graft.backbones.base import Backbone

log = logging.getLogger(__name__)


class TransferModel(nn.Module):
    """``head(dropout(backbone features))``. ``start`` runs only the groups from that index, for
    inputs that are cached outputs of the frozen prefix."""

    def __init__(self, backbone: Backbone, n_classes: int, dropout: float = 0.0, freeze_bn_stats: bool = False) -> None:
        super().__init__()
        self.freeze_bn_stats = freeze_bn_stats
        self.backbone = backbone
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(backbone.feature_dim, n_classes)

    def features(self, batch: Any, start: int = 0) -> torch.Tensor:
        """Pooled backbone features of ``batch``, which holds the outputs of the first ``start`` groups."""
        n = len(self.backbone.layer_groups())
        if start >= n:  # the whole backbone is frozen: inputs are pooled features
            return batch
        if start == 0:
            return self.backbone.forward_features(batch)
        return self.backbone.pool(self.backbone.run_groups(batch, start))

    def forward(self, batch: Any, start: int = 0) -> torch.Tensor:
        return self.head(self.dropout(self.features(batch, start)))

    def set_trainable(self, groups: list[int]) -> None:
        """Only the listed backbone groups (and the head) train. Frozen groups — BatchNorm
        included — stay in eval mode, so their running statistics never move."""
        wanted = set(groups)
        for i, group in enumerate(self.backbone.layer_groups()):
            for p in group.module.parameters():
                p.requires_grad_(i in wanted)
        for p in self.head.parameters():
            p.requires_grad_(True)
        self.train_mode(groups)

    def train_mode(self, groups: list[int]) -> None:
        self.train()
        wanted = set(groups)
        for i, group in enumerate(self.backbone.layer_groups()):
            if i not in wanted:
                group.module.eval()
        if self.freeze_bn_stats:  # BatchNorm keeps its pretrained statistics; its affine weights still train
            for module in self.backbone.modules():
                if isinstance(module, nn.modules.batchnorm._BatchNorm):
                    module.eval()

    def parameter_counts(self) -> dict[str, int]:
        total = sum(p.numel() for p in self.parameters())
        trainable = sum(p.numel() for p in self.parameters() if p.requires_grad)
        return {"trainable": trainable, "total": total}

    def init_head(self, weight: torch.Tensor, bias: torch.Tensor) -> None:
        with torch.no_grad():
            self.head.weight.copy_(weight)
            self.head.bias.copy_(bias)


def no_decay(name: str, param: nn.Parameter) -> bool:
    """Biases and normalisation weights (1-D tensors) get no weight decay."""
    return param.ndim <= 1 or name.endswith(".bias")


def param_groups(model: TransferModel, group_lrs: list[float], head_lr: float, weight_decay: float) -> list[dict[str, Any]]:
    """One optimiser group per (layer group × decay/no-decay) plus the head's, each with its own LR.

    Every group is present from the start (frozen parameters simply get no gradient), so the
    optimiser and its checkpoint keep one shape across phases.
    """
    groups: list[dict[str, Any]] = []
    named = [(f"g{i}", g.module) for i, g in enumerate(model.backbone.layer_groups())] + [("head", model.head)]
    lrs = list(group_lrs) + [head_lr]
    seen: set[int] = set()
    for (tag, module), lr in zip(named, lrs):
        decay, plain = [], []
        for name, p in module.named_parameters():
            if id(p) in seen:
                continue
            seen.add(id(p))
            (plain if no_decay(name, p) else decay).append(p)
        groups.append({"params": decay, "weight_decay": weight_decay, "base_lr": lr, "lr": lr, "tag": tag})
        groups.append({"params": plain, "weight_decay": 0.0, "base_lr": lr, "lr": lr, "tag": tag})
    return groups


def set_lrs(optimizer: torch.optim.Optimizer, group_lrs: list[float], head_lr: float, factor: float) -> None:
    """Two optimiser groups per layer group, then the head's two; any further group (an auxiliary
    objective's) follows the head's LR."""
    lrs = list(group_lrs) + [head_lr]
    for i, group in enumerate(optimizer.param_groups):
        group["lr"] = lrs[min(i // 2, len(lrs) - 1)] * factor


class L2SP:
    """L2-SP (Li et al. 2018): ``alpha/2 · ||w - w_pretrained||²`` over the backbone's weights."""

    def __init__(self, model: TransferModel, alpha: float) -> None:
        self.alpha = alpha
        self.anchor = {n: p.detach().clone() for n, p in model.backbone.named_parameters()} if alpha > 0 else {}

    def __call__(self, model: TransferModel) -> torch.Tensor | float:
        if not self.anchor:
            return 0.0
        total = sum(((p - self.anchor[n]) ** 2).sum() for n, p in model.backbone.named_parameters() if p.requires_grad)
        return 0.5 * self.alpha * total if not isinstance(total, int) else 0.0
