"""The arms ``verify`` compares, each trained on the same splits under the same settings.

- scratch: the backbone's architecture at random initialisation, every layer trained.
- probe: a linear head on frozen pretrained features (deterministic: one run stands for all seeds).
- finetune: the pretrained backbone under a fine-tuning schedule.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from graft.data.dataset import Dataset
    from graft.models.saved import SavedModel
    from graft.train.config import TrainConfig

log = logging.getLogger(__name__)


@dataclass
class Run:
    """One training run of one arm.

    Attributes:
        seed: the TrainConfig seed (initialisation, data order, augmentation); None for the probe.
        val: the metric on the validation split (what selection may look at).
        test: the metric on the test split (what the verdict is about).
        seconds: wall time of the run.
        epochs: epochs actually trained (early stopping and the time budget can cut them short).
        model: the trained model (kept in memory only, not serialised).
    """

    seed: int | None
    val: float
    test: float
    seconds: float
    epochs: int | None = None
    model: "SavedModel | None" = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {"seed": self.seed, "val": self.val, "test": self.test, "seconds": self.seconds, "epochs": self.epochs}


@dataclass(frozen=True)
class Setup:
    """What every arm shares: the data, the backbone and the training settings."""

    data: "Dataset"
    backbone: str
    config: "TrainConfig"
    metric: str = "accuracy"
    weights: str | Path | None = None
    image_size: int | None = None
    allow_download: bool = False
    progress: bool = False


def run_probe(setup: Setup) -> Run:
    from graft.api import probe

    start = time.perf_counter()
    model = probe(setup.data, setup.backbone, weights=setup.weights, image_size=setup.image_size,
                  allow_download=setup.allow_download, progress=setup.progress)
    return _run(model, None, start, setup.metric)


def run_schedule(setup: Setup, schedule: str, seed: int) -> Run:
    """``schedule`` ("scratch" included) with ``seed``, under the shared config and time budget."""
    from graft.train.finetune import finetune

    start = time.perf_counter()
    config = dataclasses.replace(setup.config, seed=seed, schedule=schedule)
    model = finetune(setup.data, setup.backbone, schedule, config=config, weights=setup.weights,
                     image_size=setup.image_size, allow_download=setup.allow_download, progress=setup.progress)
    run = _run(model, seed, start, setup.metric)
    run.epochs = len(_history(model))
    log.info("%s seed %d: val %.4f, test %.4f (%d epochs, %.1f s)", schedule, seed, run.val, run.test,
             run.epochs, run.seconds)
    return run


def _run(model: "SavedModel", seed: int | None, start: float, metric: str) -> Run:
    from graft.errors import UsageError

    metrics = model.lineage.get("metrics", {})
    if "test" not in metrics or "val" not in metrics:
        raise UsageError("verify needs a validation and a test split (train/, val/ and test/ folders or a split column)")
    return Run(seed, float(metrics["val"][metric]), float(metrics["test"][metric]),
               round(time.perf_counter() - start, 2), model=model)


def _history(model: "SavedModel") -> list[Any]:
    import json

    raw = model.extra_files.get("history.json")
    return json.loads(raw) if raw else []
