"""Ridge probe: a linear regression head on frozen features, its strength chosen on validation.

Features are standardised as for the classification probe (:mod:`graft.heads.probe`), and so are
the targets: the head predicts ``(y - target_mean) / target_scale``, so one grid of strengths suits
prices in dollars and values in hundreds of thousands alike. The scaling is part of the head's
config (``config.json``: ``head.target_mean``, ``head.target_scale``); :func:`predict_values`
undoes it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from graft.errors import UsageError
from graft.heads.linear import LinearHead

log = logging.getLogger(__name__)


@dataclass
class RidgeConfig:
    """Settings of the ridge probe (shared by the API, the CLI and the saved config.json)."""

    alpha_grid: tuple[float, ...] = field(
        default=(0.01, 0.1, 1.0, 10.0, 100.0, 1000.0, 10000.0),
        metadata={"help": "L2 strengths tried (on standardised features and targets)"})
    alpha: float | None = field(default=None, metadata={"help": "fixed L2 strength; skips the search"})
    refit_on_val: bool = field(default=True, metadata={"help": "after choosing alpha, refit on train+val"})
    val_fraction: float = field(default=0.2, metadata={"help": "held out when the data has no val split"})

    def __post_init__(self) -> None:
        from graft._config import check_ranges

        check_ranges(self, {"alpha_grid": "(0, inf)", "alpha": "(0, inf)", "val_fraction": "(0, 1)"})
        if not self.alpha_grid:
            raise UsageError("RidgeConfig: alpha_grid is empty; give at least one L2 strength, e.g. (1.0, 10.0)")


@dataclass
class RidgeResult:
    """The fitted head (in standardised target units) and how it was chosen."""

    head: LinearHead
    alpha: float
    target_mean: float
    target_scale: float
    search: list[dict[str, float]]  # per alpha: val R² and RMSE
    val_metrics: dict[str, Any]

    def head_config(self) -> dict[str, Any]:
        """What ``config.json`` records of the head: its type, strength and the target scaling."""
        return {"type": "ridge", "alpha": self.alpha, "target_mean": self.target_mean, "target_scale": self.target_scale}

    def predict(self, features: np.ndarray) -> np.ndarray:
        return predict_values(self.head, self.head_config(), features)


def predict_values(head: LinearHead, head_config: dict[str, Any], features: np.ndarray) -> np.ndarray:
    """Predicted targets (N,) of a ridge head: its output scaled back to the target's units."""
    z = head.decision_function(features)[:, 0]
    return z * float(head_config.get("target_scale", 1.0)) + float(head_config.get("target_mean", 0.0))


def target_scaling(y: np.ndarray) -> tuple[float, float]:
    """(mean, scale) of the training targets; scale 1 for a constant target (nothing to divide by)."""
    mean, scale = float(np.mean(y)), float(np.std(y))
    return mean, scale if scale > 1e-12 * max(1.0, abs(mean)) else 1.0


def _standardise(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    mean, scale = x.mean(axis=0), x.std(axis=0)
    # features constant up to float noise are left out (zero column), as in the classification probe
    dead = scale <= max(1e-12, 1e-4 * float(np.median(scale)))
    scale[dead] = 1.0
    z = (x - mean) / scale
    z[:, dead] = 0.0
    return z, mean, scale


def _fit_one(x: np.ndarray, y_std: np.ndarray, alpha: float, sample_weight: np.ndarray | None = None) -> LinearHead:
    from sklearn.linear_model import Ridge

    z, mean, scale = _standardise(x)
    model = Ridge(alpha=alpha).fit(z, y_std, sample_weight=sample_weight)
    return LinearHead(np.asarray(model.coef_, dtype=np.float64).reshape(1, -1),
                      np.array([float(model.intercept_)]), mean, scale)


def fit_ridge(x_train: np.ndarray, y_train: np.ndarray, x_val: np.ndarray | None, y_val: np.ndarray | None,
              config: RidgeConfig | None = None) -> RidgeResult:
    """Fit the ridge probe; choose alpha on validation (R²), then optionally refit on train+val.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> x = rng.normal(size=(80, 3)); y = 5 * x[:, 0] + 100
        >>> fit_ridge(x[:60], y[:60], x[60:], y[60:]).val_metrics["r2"] > 0.99
        True
    """
    from graft.metrics import regression_metrics

    config = config or RidgeConfig()
    x_train = np.asarray(x_train, dtype=np.float64)
    y_train = np.asarray(y_train, dtype=np.float64)
    if len(y_train) < 2:
        raise UsageError("the ridge probe needs at least 2 training items with a target")
    has_val = x_val is not None and y_val is not None and len(y_val) > 0
    mean, scale = target_scaling(y_train)
    grid = (config.alpha,) if config.alpha is not None else config.alpha_grid
    search: list[dict[str, float]] = []
    best: tuple[float, LinearHead, float] | None = None
    for alpha in grid:
        head = _fit_one(x_train, (y_train - mean) / scale, alpha)
        if not has_val:
            best = (alpha, head, 0.0)
            break
        scores = regression_metrics(y_val, _unscale(head, x_val, mean, scale))
        search.append({"alpha": alpha, "val_r2": scores["r2"], "val_rmse": scores["rmse"]})
        if best is None or scores["r2"] > best[2]:
            best = (alpha, head, scores["r2"])
    assert best is not None
    alpha, head = best[0], best[1]
    val_metrics = regression_metrics(y_val, _unscale(head, x_val, mean, scale)) if has_val else {}
    if has_val and config.refit_on_val:
        y_all = np.concatenate([y_train, np.asarray(y_val, dtype=np.float64)])
        mean, scale = target_scaling(y_all)
        head = _fit_one(np.vstack([x_train, np.asarray(x_val, dtype=np.float64)]), (y_all - mean) / scale, alpha)
    log.info("ridge probe: alpha=%s chosen on validation (%s)", alpha, search)
    return RidgeResult(head, alpha, mean, scale, search, val_metrics)


def _unscale(head: LinearHead, x: np.ndarray, mean: float, scale: float) -> np.ndarray:
    return head.decision_function(x)[:, 0] * scale + mean
