"""Fine-tuning schedules: which layer groups train in which epochs, at which learning rates.

A schedule turns (config, number of backbone groups) into a list of **phases**. Each phase names the
backbone groups that are trainable (the new head always is), a learning-rate curve and the
per-group learning rates (discriminative: lower for groups nearer the input). Phases are plain data,
so a checkpoint can record where a run is and resume it without re-freezing anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Literal

from graft._registry import Registry

Curve = Literal["one-cycle", "cosine", "constant"]


@dataclass
class Phase:
    name: str
    epochs: int
    trainable: list[int]  # backbone group indices that train in this phase
    head_lr: float
    group_lrs: list[float]  # one per backbone group (ignored for frozen groups)
    curve: Curve = "cosine"
    warmup: float = 0.1  # fraction of the phase's steps
    probe_init: bool = False  # initialise the head from a linear probe on cached features first


@dataclass
class LPFTConfig:
    """Linear probe first (head on cached features), then fine-tune everything from that head at a low LR."""

    finetune_lr_factor: float = field(default=0.1, metadata={"help": "fine-tuning LR = lr × this"})
    layer_decay: float = field(default=0.8, metadata={"help": "LR multiplier per group going toward the input"})
    frozen_groups: int = field(default=0, metadata={"help": "groups nearest the input kept frozen (their outputs "
                                                           "are cached when inputs repeat)"})


@dataclass
class GradualConfig:
    """ULMFiT: train the head, then unfreeze one group per epoch from the top, with discriminative LRs."""

    head_epochs: int = 1
    groups_per_epoch: int = 1
    lr_factor: float = field(default=2.6, metadata={"help": "ULMFiT's ratio between successive groups' LRs"})


@dataclass
class FastaiConfig:
    """fastai's fine_tune: freeze N epochs (head only, one-cycle), then unfreeze all with LRs spread
    from lr/100 (first group) to lr/2 (last), one-cycle."""

    freeze_epochs: int = 1
    base_lr_div: float = 2.0
    lr_mult: float = 100.0


@dataclass
class FullConfig:
    """Everything trainable from the start, one LR (with warmup + cosine)."""

    backbone_lr_factor: float = 0.1


@dataclass
class ScheduleEntry:
    config_cls: type
    build: Callable[[Any, int, int, float], list[Phase]]  # (schedule config, epochs, n_groups, lr)
    pretrained: bool = True  # False: random init of the same architecture (the scratch baseline)


SCHEDULES: Registry[ScheduleEntry] = Registry("schedule")


def _decay(n: int, top_lr: float, factor: float) -> list[float]:
    """Group LRs from input (small) to output (top_lr): top_lr / factor**(distance from the top)."""
    return [top_lr / factor ** (n - 1 - i) for i in range(n)]


def _lpft(cfg: LPFTConfig, epochs: int, n: int, lr: float) -> list[Phase]:
    ft_lr = lr * cfg.finetune_lr_factor
    frozen = min(max(cfg.frozen_groups, 0), n)
    return [Phase("finetune", epochs, list(range(frozen, n)), ft_lr, _decay(n, ft_lr, 1 / cfg.layer_decay), "cosine",
                  0.1, probe_init=True)]


def _gradual(cfg: GradualConfig, epochs: int, n: int, lr: float) -> list[Phase]:
    phases = [Phase("head", min(cfg.head_epochs, epochs), [], lr, [0.0] * n, "one-cycle", 0.3)]
    left, unfrozen = epochs - phases[0].epochs, 0
    while left > 0:
        unfrozen = min(n, unfrozen + cfg.groups_per_epoch)
        last = unfrozen == n
        span = left if last else 1
        lrs = _decay(n, lr / 2, cfg.lr_factor)
        phases.append(Phase(f"unfreeze-{unfrozen}", span, list(range(n - unfrozen, n)), lr / 2, lrs, "one-cycle", 0.25))
        left -= span
    return phases


def _fastai(cfg: FastaiConfig, epochs: int, n: int, lr: float) -> list[Phase]:
    frozen = min(cfg.freeze_epochs, epochs)
    top = lr / cfg.base_lr_div
    spread = [top / cfg.lr_mult * (cfg.lr_mult ** (i / max(n - 1, 1))) for i in range(n)]  # geometric, fastai's slice
    phases = [Phase("frozen", frozen, [], lr, [0.0] * n, "one-cycle", 0.25)]
    if epochs > frozen:
        phases.append(Phase("unfrozen", epochs - frozen, list(range(n)), top, spread, "one-cycle", 0.25))
    return phases


def _full(cfg: FullConfig, epochs: int, n: int, lr: float) -> list[Phase]:
    return [Phase("full", epochs, list(range(n)), lr, [lr * cfg.backbone_lr_factor] * n, "cosine", 0.1)]


def _scratch(cfg: FullConfig, epochs: int, n: int, lr: float) -> list[Phase]:
    return [Phase("scratch", epochs, list(range(n)), lr, [lr] * n, "cosine", 0.1)]


SCHEDULES.add("lp-ft", ScheduleEntry(LPFTConfig, _lpft))
SCHEDULES.add("gradual", ScheduleEntry(GradualConfig, _gradual))
SCHEDULES.add("fastai", ScheduleEntry(FastaiConfig, _fastai))
SCHEDULES.add("full", ScheduleEntry(FullConfig, _full))
SCHEDULES.add("scratch", ScheduleEntry(FullConfig, _scratch, pretrained=False))


def plan(schedule: str, epochs: int, n_groups: int, lr: float, options: dict[str, Any] | None = None) -> list[Phase]:
    """The phases of ``schedule`` for a backbone with ``n_groups`` groups.

    Example:
        >>> [p.name for p in plan("fastai", 4, 3, 1e-3)]
        ['frozen', 'unfrozen']
    """
    from graft._config import from_dict

    entry = SCHEDULES.get(schedule)
    cfg = from_dict(entry.config_cls, options or {})
    return entry.build(cfg, epochs, n_groups, lr)


def phase_at(phases: list[Phase], epoch: int) -> tuple[int, Phase, int]:
    """(phase index, phase, epoch within the phase) for a global epoch index."""
    start = 0
    for i, phase in enumerate(phases):
        if epoch < start + phase.epochs:
            return i, phase, epoch - start
        start += phase.epochs
    raise IndexError(f"epoch {epoch} is past the schedule ({start} epochs)")


def lr_factor(curve: Curve, warmup: float, step: int, total: int) -> float:
    """Multiplier of the phase's peak LRs at ``step`` of ``total`` (warmup, then the curve)."""
    import math

    total = max(total, 1)
    warm = max(int(total * warmup), 1) if curve != "constant" else 0
    if step < warm:
        return (step + 1) / warm
    if curve == "constant":
        return 1.0
    progress = (step - warm) / max(total - warm, 1)
    floor = 0.0 if curve == "cosine" else 1e-4  # one-cycle anneals to ~0 too (fastai: lr/1e4... of peak)
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
