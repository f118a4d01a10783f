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
                                                           "are cached when inputs repeat); at most the backbone's "
                                                           "number of groups"})

    def __post_init__(self) -> None:
        _check(self, {"finetune_lr_factor": "(0, 10]", "layer_decay": "(0, 1]", "frozen_groups": "[0, 1000]"})


@dataclass
class GradualConfig:
    """ULMFiT: train the head, then unfreeze one group per epoch from the top, with discriminative LRs."""

    head_epochs: int = field(default=1, metadata={"help": "epochs training only the head, before any unfreezing"})
    groups_per_epoch: int = field(default=1, metadata={"help": "groups unfrozen per epoch, from the top"})
    lr_factor: float = field(default=2.6, metadata={"help": "ULMFiT's ratio between successive groups' LRs"})

    def __post_init__(self) -> None:
        _check(self, {"head_epochs": "[0, 100000]", "groups_per_epoch": "[1, 1000]", "lr_factor": "[1, 100]"})


@dataclass
class FastaiConfig:
    """fastai's fine_tune: freeze N epochs (head only, one-cycle), then unfreeze all with LRs spread
    from lr/100 (first group) to lr/2 (last), one-cycle."""

    freeze_epochs: int = field(default=1, metadata={"help": "epochs with the backbone frozen (head only)"})
    base_lr_div: float = field(default=2.0, metadata={"help": "the last group's LR is lr / this"})
    lr_mult: float = field(default=100.0, metadata={"help": "ratio between the last and the first group's LR"})

    def __post_init__(self) -> None:
        _check(self, {"freeze_epochs": "[0, 100000]", "base_lr_div": "[1, 10000]", "lr_mult": "[1, 1000000]"})


@dataclass
class FullConfig:
    """Everything trainable from the start, one LR (with warmup + cosine)."""

    backbone_lr_factor: float = field(default=0.1, metadata={"help": "backbone LR = lr × this"})

    def __post_init__(self) -> None:
        _check(self, {"backbone_lr_factor": "(0, 10]"})


def _check(config: Any, ranges: dict[str, str]) -> None:
    from graft._config import check_ranges

    check_ranges(config, ranges)


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
    frozen = cfg.frozen_groups  # in [0, n]: checked by plan()
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
    return SCHEDULES.get(schedule).build(schedule_config(schedule, options, n_groups), epochs, n_groups, lr)


def schedule_config(schedule: str, options: dict[str, Any] | None = None, n_groups: int | None = None) -> Any:
    """The schedule's config built from ``options``, with every type and range checked (against the
    backbone's ``n_groups`` when known): what callers run before reading any data."""
    from graft._config import from_dict

    options = options or {}
    if n_groups is not None:  # the backbone's own range is the one to state, also for negative values
        check_groups(schedule, options.get("frozen_groups"), n_groups)
    return from_dict(SCHEDULES.get(schedule).config_cls, options)


def check_groups(schedule: str, frozen: Any, n_groups: int) -> None:
    """Settings that count backbone groups must fit the backbone: ``frozen_groups`` in [0, n_groups]."""
    from graft.errors import UsageError

    if isinstance(frozen, int) and not isinstance(frozen, bool) and not 0 <= frozen <= n_groups:
        raise UsageError(f"{schedule}: frozen_groups={frozen} is outside its allowed range [0, {n_groups}] "
                         f"for this backbone, which has {n_groups} layer groups")


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
