"""Multi-layer ridge probe: a number predicted from every block of the backbone.

The taps are read as for the multi-layer classification probe (:mod:`graft.heads.multilayer`,
after Head2Toe): the pooled output of every block, each tap L2-normalised over its columns. A ridge
fit on the training rows ranks the columns by the size of their (standardised) weights; the kept
fraction of columns and the ridge strength are chosen together by validation R², and the head is
refitted on train + val over the kept columns. The saved head is a multi-layer head (its
``config.json`` entry names the taps and columns, so prediction reads them through
``graft.features.taps.selected_features``) with the ridge strength and the target scaling beside.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from graft.errors import UsageError
from graft.heads.linear import LinearHead
from graft.heads.regression import RidgeConfig, _fit_one, fit_ridge, target_scaling

if TYPE_CHECKING:
    from graft.data.dataset import Dataset

log = logging.getLogger(__name__)


@dataclass
class MultiLayerRidgeConfig:
    """Settings of the multi-layer ridge probe (the API, the CLI and the saved config.json)."""

    alpha_grid: tuple[float, ...] = field(default=(0.1, 1.0, 10.0, 100.0, 1000.0, 10000.0),
                                          metadata={"help": "L2 strengths tried"})
    keep_grid: tuple[float, ...] = field(default=(0.05, 0.1, 0.25, 0.5, 1.0),
                                         metadata={"help": "fractions of the columns kept, most relevant first"})
    rank_alpha: float = field(default=100.0, metadata={"help": "L2 strength of the ridge fit that ranks the columns"})
    pooling: str = field(default="mean", metadata={"help": "how a tap's spatial / token outputs are pooled"})
    max_tap_width: int = field(default=1024, metadata={"help": "widest tap kept at full width"})

    def __post_init__(self) -> None:
        from graft._config import check_ranges

        check_ranges(self, {"alpha_grid": "(0, inf)", "keep_grid": "(0, 1]", "rank_alpha": "(0, inf)",
                            "max_tap_width": "[1, 1000000]"})
        if not self.alpha_grid or not self.keep_grid:
            raise UsageError("MultiLayerRidgeConfig: alpha_grid and keep_grid need at least one value each")


@dataclass
class MultiLayerRidgeResult:
    """The fitted head over the kept columns, its ``config.json`` entry and its scores."""

    head: LinearHead
    head_config: dict[str, Any]
    search: list[dict[str, float]]
    metrics: dict[str, Any]


def probe_multilayer_ridge(ds: "Dataset", backbone: str, config: MultiLayerRidgeConfig | None = None, *,
                           weights: str | Path | None = None, image_size: int | None = None,
                           allow_download: bool = False, batch_size: int = 64,
                           progress: bool = False) -> MultiLayerRidgeResult:
    """Extract every tap of ``ds``, choose the kept columns and strength on val, score test."""
    from graft.api import backbone_options
    from graft.features.taps import tap_features
    from graft.metrics import regression_metrics

    config = config or MultiLayerRidgeConfig()
    if ds.modality == "array":
        raise UsageError("the multi-layer probe reads a backbone's blocks; numeric rows have none (use layers='last')")
    taps = tap_features(ds, backbone, weights=weights, allow_download=allow_download, progress=progress,
                        pooling=config.pooling, max_tap_width=config.max_tap_width, batch_size=batch_size,
                        **backbone_options(image_size))
    split = {s: {t: v[ds.splits == s] for t, v in taps.items()} for s in ("train", "val", "test")}
    y = {s: ds.split(s).targets for s in ("train", "val", "test")}
    if not len(y["val"]):
        raise UsageError(f"{ds.source}: the multi-layer probe chooses its columns on a validation split; give one "
                         "(a val split, or val_fraction > 0)")
    columns, search, best = _choose(split, y, config)
    x = {s: _prepared(split[s], columns) for s in split}
    mean, scale = target_scaling(np.concatenate([y["train"], y["val"]]))
    head = _fit_one(np.vstack([x["train"], x["val"]]), (np.concatenate([y["train"], y["val"]]) - mean) / scale,
                    best["alpha"])
    head_config = {"type": "multilayer", "task": "regression", "alpha": best["alpha"], "keep": best["keep"],
                   "target_mean": mean, "target_scale": scale, **_selection(columns, config)}
    metrics = {"val": best["val_metrics"]}
    if len(y["test"]):
        z = head.decision_function(x["test"])[:, 0] * scale + mean
        metrics["test"] = regression_metrics(y["test"], z)
    log.info("multi-layer ridge: keep %s, alpha %s, %d columns of %d taps", best["keep"], best["alpha"],
             head.n_features, len(columns))
    return MultiLayerRidgeResult(head, head_config, search, metrics)


def _prepared(taps: dict[str, np.ndarray], columns: dict[str, list[int]]) -> np.ndarray:
    """The head's input: per-tap L2 normalisation, the kept columns, rounded through float16 as the
    prediction path (``selected_features``) reads them."""
    from graft.features.taps import combine_taps

    rounded = {t: np.asarray(v, dtype=np.float16).astype(np.float32) for t, v in taps.items()}
    return combine_taps(rounded, columns, "l2").astype(np.float64)


def _choose(split: dict[str, dict[str, np.ndarray]], y: dict[str, np.ndarray],
            config: MultiLayerRidgeConfig) -> tuple[dict[str, list[int]], list[dict[str, float]], dict[str, Any]]:
    """(kept columns per tap, the search, the best row): columns ranked on train, chosen on val."""
    everything = {t: list(range(v.shape[1])) for t, v in split["train"].items()}
    x_train, x_val = _prepared(split["train"], everything), _prepared(split["val"], everything)
    mean, scale = target_scaling(y["train"])
    ranker = _fit_one(x_train, (y["train"] - mean) / scale, config.rank_alpha)
    relevance = np.abs(ranker.weight[0] * (ranker.scale > 0))
    search: list[dict[str, float]] = []
    best: dict[str, Any] | None = None
    for keep in sorted(set(config.keep_grid)):
        kept = np.sort(np.argsort(-relevance, kind="stable")[:max(1, int(round(keep * len(relevance))))])
        result = fit_ridge(x_train[:, kept], y["train"], x_val[:, kept], y["val"],
                           RidgeConfig(alpha_grid=config.alpha_grid, refit_on_val=False))
        row = {"keep": keep, "alpha": result.alpha, "columns": int(len(kept)), "val_r2": result.val_metrics["r2"]}
        search.append(row)
        if best is None or row["val_r2"] > best["val_r2"]:  # ties keep the smaller (earlier) fraction
            best = {**row, "kept": kept, "val_metrics": result.val_metrics}
    assert best is not None
    return _per_tap(best["kept"], everything), search, best


def _per_tap(kept: np.ndarray, everything: dict[str, list[int]]) -> dict[str, list[int]]:
    """Global column indices of the concatenation → ``{tap: sorted local columns}`` (taps with none left out)."""
    out: dict[str, list[int]] = {}
    start = 0
    for tap, cols in everything.items():
        local = [int(i - start) for i in kept if start <= i < start + len(cols)]
        if local:
            out[tap] = local
        start += len(cols)
    return out


def _selection(columns: dict[str, list[int]], config: MultiLayerRidgeConfig) -> dict[str, Any]:
    """The ``selection`` of ``graft.features.taps.selected_features`` (as the classification probe saves it)."""
    return {"taps": list(columns), "columns": columns, "normalisation": "l2", "pooling": config.pooling,
            "max_tap_width": config.max_tap_width, "tta_views": [], "train_views": []}
