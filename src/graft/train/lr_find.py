"""Learning-rate range test (Smith 2015; fastai's lr_find): raise the LR exponentially over a few
hundred steps, record the smoothed loss, suggest the LR where it falls fastest."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from graft.train.inputs import array_batches, raw_batches

log = logging.getLogger(__name__)


@dataclass
class LRFindConfig:
    start_lr: float = field(default=1e-7, metadata={"help": "first LR of the sweep"})
    end_lr: float = field(default=10.0, metadata={"help": "last LR of the sweep (above start_lr)"})
    steps: int = field(default=100, metadata={"help": "LRs tried, log-spaced"})
    smoothing: float = field(default=0.05, metadata={"help": "exponential moving average weight of the newest loss"})
    diverge: float = field(default=4.0, metadata={"help": "stop once the smoothed loss exceeds this × its minimum"})
    trainable: str = field(default="head", metadata={"help": "head (frozen backbone, cached features) | all"})

    def __post_init__(self) -> None:
        from graft._config import check_ranges
        from graft.errors import UsageError

        check_ranges(self, {"start_lr": "(0, 100]", "end_lr": "(0, 100]", "steps": "[5, 100000]",
                            "smoothing": "(0, 1]", "diverge": "(1, inf)"})
        if self.end_lr <= self.start_lr:
            raise UsageError(f"LRFindConfig: end_lr={self.end_lr} must be above start_lr={self.start_lr}")
        if self.trainable not in ("head", "all"):
            raise UsageError(f"--trainable {self.trainable!r} must be head or all")


@dataclass
class LRFindResult:
    lrs: list[float]
    losses: list[float]
    suggestion: float
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"lrs": self.lrs, "losses": self.losses, "suggestion": self.suggestion, "reason": self.reason}


def suggest(lrs: list[float], losses: list[float]) -> tuple[float, str]:
    """The LR at the steepest descent of the smoothed loss (in log-LR), within the part of the
    sweep before the minimum."""
    if len(lrs) < 5:
        return lrs[int(np.argmin(losses))] / 10, "too few points: a tenth of the minimum-loss LR"
    stop = int(np.argmin(losses)) + 1
    x, y = np.log10(lrs[:stop]), np.asarray(losses[:stop])
    if stop < 3:
        return lrs[0], "loss rose from the start: the smallest LR tried"
    grads = np.gradient(y, x)
    i = int(np.argmin(grads))
    return float(lrs[i]), f"steepest descent of the loss at lr={lrs[i]:.2e} (minimum at {lrs[stop - 1]:.2e})"


def lr_find(trainer: Any, config: LRFindConfig | None = None) -> LRFindResult:
    """Run the range test on a Trainer's model and training split; the model is left untouched."""
    import copy

    config = config or LRFindConfig()
    model = trainer.model
    saved = copy.deepcopy(model.state_dict())
    n = trainer.n_groups
    trainable = [] if config.trainable == "head" else list(range(n))
    model.set_trainable(trainable)
    start = min(trainable) if trainable else n
    inputs = trainer._inputs(trainer.train_split, start, training=True)
    model.train_mode(trainable)  # extraction for the cache leaves the model in eval mode
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.start_lr, weight_decay=0.0)
    labels = torch.as_tensor(trainer.train_split.labels, dtype=torch.long)
    ratio = (config.end_lr / config.start_lr) ** (1 / max(config.steps - 1, 1))
    lrs, losses, smooth, best = [], [], None, math.inf
    step, epoch = 0, 0
    while step < config.steps:
        order = np.random.default_rng((trainer.config.seed, epoch)).permutation(len(trainer.train_split.items))
        batches = (array_batches(inputs.arrays, order, trainer.config.batch_size) if inputs.arrays is not None else
                   raw_batches(model.backbone, trainer.train_split, order, trainer.config, epoch, trainer.config.augment))
        for batch, idx in batches:
            lr = config.start_lr * ratio ** step
            for group in optimizer.param_groups:
                group["lr"] = lr
            loss = trainer.loss_fn(model(batch, start=inputs.start), labels[torch.from_numpy(idx)])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            value = float(loss.detach())
            smooth = value if smooth is None else config.smoothing * value + (1 - config.smoothing) * smooth
            corrected = smooth
            lrs.append(lr)
            losses.append(corrected)
            best = min(best, corrected)
            step += 1
            if step >= config.steps or not math.isfinite(corrected) or corrected > config.diverge * best:
                step = config.steps
                break
        epoch += 1
    model.load_state_dict(saved)
    suggestion, reason = suggest(lrs, losses)
    return LRFindResult(lrs, losses, suggestion, reason)


def plot(result: LRFindResult, path: str | Path) -> Path:
    """Loss vs LR (log scale) with the suggestion marked, written atomically as a PNG."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from graft._config import atomic_write_bytes

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(result.lrs, result.losses)
    ax.axvline(result.suggestion, color="red", linestyle="--", label=f"suggested {result.suggestion:.1e}")
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("smoothed training loss")
    ax.legend()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())
    return Path(path)
