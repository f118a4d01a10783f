"""The time budget: a clock, and cost estimates made by timing a few batches before an arm runs.

An arm's cost is estimated from the measured seconds per item of its backbone at its input size
(one warm-up batch, then one timed batch), times the items it still has to push through the
network; an arm whose estimate exceeds what is left of the budget is skipped and reported, so the
search ends within the budget (it can overrun only by an estimate's error on the last arm run).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

log = logging.getLogger(__name__)

#: Forward + backward + optimiser step per item, in forward passes (a common rule of thumb, ~3x).
TRAIN_STEP_FORWARDS = 3.0
#: Seconds per cell (``fit_cells``) of one logistic-regression fit, before the first probe has been
#: timed on this machine (measured on 2 cores: 800 x 1280 features 0.1 s, 800 x 13,672 0.3 s).
PROBE_SECONDS_PER_CELL = 1.5e-7


def fit_cells(rows: int, dim: int) -> float:
    """The size of one probe fit for the cost model: rows x columns, where a fit wider than
    ``ROW_SPACE_RATIO`` x its rows works in the rows' span (``graft.heads.probe._row_space``) and
    costs as if it had that many columns."""
    from graft.heads.probe import ROW_SPACE_RATIO

    return float(rows) * min(float(dim), ROW_SPACE_RATIO * rows)


@dataclass
class Budget:
    """Seconds allowed for the whole search, counted from construction."""

    seconds: float
    started: float = field(default_factory=time.perf_counter)
    probe_rate: float = PROBE_SECONDS_PER_CELL
    _speed: dict[tuple[str, int | None, bool], float] = field(default_factory=dict)

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def left(self) -> float:
        return self.seconds - self.elapsed()

    def allows(self, estimate: float) -> bool:
        """Whether an arm estimated at ``estimate`` seconds fits in what is left."""
        return estimate <= self.left()

    def learn_probe_rate(self, seconds: float, rows: int, dim: int) -> None:
        """Calibrate the probe-cost estimate from a fit of ``rows`` x ``dim`` that just took ``seconds``."""
        cells = fit_cells(rows, dim)
        if cells > 0 and seconds > 0:
            self.probe_rate = seconds / cells

    def probe_cost(self, rows: int, dim: int, fits: int) -> float:
        """Seconds of ``fits`` probe fits of ``rows`` x ``dim``."""
        return self.probe_rate * fit_cells(rows, dim) * fits

    def seconds_per_item(self, backbone: str, image_size: int | None, items: Sequence[Any], *,
                         weights: str | Path | None = None, allow_download: bool = False,
                         training: bool = False) -> float:
        """Forward seconds per item of ``backbone`` at ``image_size``, timed once per pair: through
        the eval-only network extraction uses, or (``training``) the unfolded one a trainer gets."""
        key = (backbone, image_size, training)
        if key not in self._speed:
            self._speed[key] = time_forward(backbone, image_size, items, weights=weights, allow_download=allow_download,
                                            training=training)
            log.info("%s at %s px: %.4f s per item", backbone, image_size, self._speed[key])
        return self._speed[key]


def time_forward(backbone: str, image_size: int | None, items: Sequence[Any], *, batch_size: int = 16,
                 weights: str | Path | None = None, allow_download: bool = False, training: bool = False) -> float:
    """Seconds per item for preprocessing + forward pass, from one timed batch after a warm-up one."""
    import torch

    from graft.api import backbone_options
    from graft.backbones.registry import create_backbone, shared_backbone

    build = create_backbone if training else shared_backbone  # training: batch norm not folded
    bb = build(backbone, weights=weights, allow_download=allow_download, **backbone_options(image_size)).eval()
    sample = list(items[: max(1, min(batch_size, len(items)))])
    seconds = []
    with torch.inference_mode():
        for _ in range(2):  # the first batch pays one-off costs (allocation, kernel selection)
            start = time.perf_counter()
            bb.forward_features(bb.collate([bb.preprocess(item) for item in sample]))
            seconds.append(time.perf_counter() - start)
    return seconds[-1] / len(sample)


def finetune_cost(per_item: float, n_train: int, n_val: int, epochs: int, trainable_share: float = 1.0) -> float:
    """Seconds of an lp-ft run: one pass to cache the frozen prefix and the probe's features, then
    per epoch a training pass over the trainable share of the network and a validation pass."""
    first = per_item * (n_train + n_val)
    per_epoch = per_item * trainable_share * (TRAIN_STEP_FORWARDS * n_train + n_val)
    return first + epochs * per_epoch
