"""``FitConfig``: the settings of ``graft fit``'s budgeted search (API, CLI and fit.json share it)."""

from __future__ import annotations

from dataclasses import dataclass, field

from graft.errors import UsageError
from graft.train.schedules import SCHEDULES

#: Arms in the order the search considers them: cheapest expected gain per second first.
ARM_KINDS = ("probe", "multilayer", "resolution", "views", "ensemble", "finetune")


@dataclass
class FitConfig:
    """How ``graft fit`` spends its time budget.

    Example:
        >>> FitConfig(time_budget=120, arms=["probe", "multilayer"]).time_budget
        120
    """

    time_budget: float = field(default=900.0, metadata={
        "help": "seconds for the whole search (> 0); an arm estimated to overrun what is left is skipped"})
    backbones: list[str] | None = field(default=None, metadata={
        "help": "backbones to use (the first is the main one; the others join the several-backbones arm); "
                "None: rank the offline zoo of the data's modality on a sample and keep the top max_backbones"})
    max_backbones: int = field(default=2, metadata={"help": "backbones kept from the ranking (1..4)"})
    rank_sample: int = field(default=100, metadata={"help": "training items the ranking scores (20..5000)"})
    image_sizes: list[int] | None = field(default=None, metadata={
        "help": "input resolutions to try, first = start (16..1024 px each); None: chosen from the data's native size"})
    arms: list[str] = field(default_factory=lambda: list(ARM_KINDS), metadata={
        "help": "arm kinds the search may run: " + ", ".join(ARM_KINDS)})
    schedules: list[str] = field(default_factory=lambda: ["lp-ft"], metadata={
        "help": "fine-tuning schedules of the finetune arm: lp-ft, gradual, fastai, full (lp-ft keeps the frozen prefix cached)"})
    frozen_groups: int | None = field(default=None, metadata={
        "help": "layer groups nearest the input lp-ft keeps frozen (their outputs cached); None: half of them"})
    epochs: int = field(default=6, metadata={"help": "epochs per fine-tuning run (1..200)"})
    augment: bool = field(default=False, metadata={"help": "augment fine-tuning inputs (short runs on small data fit better without)"})
    trials: int = field(default=4, metadata={"help": "Optuna trials per probe arm: C, kept fraction (1..200)"})
    finetune_trials: int = field(default=1, metadata={"help": "Optuna trials of the finetune arm: LR, epochs (1..50); "
                                                             "the first is the default LR"})
    min_gain_se: float = field(default=1.0, metadata={
        "help": "an optional arm runs only if its expected gain is at least this many validation standard errors "
                "(a smaller gain could not change the choice); 0 runs every arm the budget allows"})
    storage: str | None = field(default=None, metadata={
        "help": "Optuna storage URL shared by several workers (sqlite:///fit.db; a database server for several "
                "machines); None: in memory"})
    study_name: str | None = field(default=None, metadata={"help": "Optuna study name; None: from the data fingerprint and settings"})
    seed: int = field(default=0, metadata={"help": "seeds the samplers, splits and training"})

    def __post_init__(self) -> None:
        checks = {
            "time_budget": self.time_budget > 0, "max_backbones": 1 <= self.max_backbones <= 4,
            "rank_sample": 20 <= self.rank_sample <= 5000, "epochs": 1 <= self.epochs <= 200,
            "trials": 1 <= self.trials <= 200, "finetune_trials": 1 <= self.finetune_trials <= 50,
            "min_gain_se": 0 <= self.min_gain_se <= 10,
            "image_sizes": self.image_sizes is None or (len(self.image_sizes) > 0
                                                       and all(16 <= int(s) <= 1024 for s in self.image_sizes)),
            "arms": len(self.arms) > 0 and all(a in ARM_KINDS for a in self.arms),
            "backbones": self.backbones is None or len(self.backbones) > 0,
            "frozen_groups": self.frozen_groups is None or self.frozen_groups >= 0,
            "schedules": len(self.schedules) > 0 and all(s in SCHEDULES for s in self.schedules),
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise UsageError("invalid fit settings: " + "; ".join(
                f"{name}={getattr(self, name)!r} ({FitConfig.__dataclass_fields__[name].metadata['help']})"
                for name in bad))
        if "probe" not in self.arms and "multilayer" not in self.arms:
            raise UsageError(f"invalid fit settings: arms={self.arms!r} needs 'probe' or 'multilayer' "
                             "(every other arm builds on one of them)")
