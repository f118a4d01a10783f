"""``verify`` on a numeric target: did the pretrained features help, scored by test R²?

Fine-tuning and training from scratch use a classification loss, so on a regression target
``verify`` compares ridge probes, each fitted on train (strength chosen on val) and scored on test:

- probe: on the pretrained backbone's features (deterministic: fitted once).
- random: on the same architecture at random initialisation (seeded: one fit per seed), the
  "no transfer" baseline; numeric rows (no backbone) have none.
- mean: the training mean for every item (R² ≈ 0: the floor).

Seeds vary the random initialisation and a bootstrap resample of the test split that every arm is
scored on, so each arm gets a mean ± t-interval over seeds, and the gain of the probe over its
baseline (random, else mean) a t-interval of the per-seed differences (paired: both arms of a seed
are scored on the same resample): **positive transfer** above 0, **negative** below.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from graft.verify.stats import Interval, decide, t_interval

if TYPE_CHECKING:
    from graft.data.dataset import Dataset

log = logging.getLogger(__name__)


@dataclass
class RegressionArm:
    """One arm over seeds: its test R² per seed (on that seed's test resample) and their interval."""

    name: str
    method: str
    scores: list[float]
    interval: Interval

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "method": self.method, "test_r2": self.scores, "test": self.interval.to_dict()}


@dataclass
class RegressionVerdict:
    """The outcome of :func:`verify_regression` (``graft.verify`` on a numeric target)."""

    verdict: str
    summary: str
    arms: dict[str, RegressionArm]
    gain: Interval
    baseline: str
    seeds: list[int]
    confidence: float
    n_test: int
    metric: str = "r2"
    model: str | None = None
    not_run: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"task": "regression", "verdict": self.verdict, "summary": self.summary, "metric": self.metric,
                "confidence": self.confidence, "gain_over_baseline": self.gain.to_dict(), "baseline": self.baseline,
                "seeds": self.seeds, "n_test": self.n_test, "arms": {k: a.to_dict() for k, a in self.arms.items()},
                "not_run": self.not_run, "model": self.model}


def verify_regression(ds: "Dataset", backbone: str, seeds: list[int], *, weights: str | Path | None = None,
                      image_size: int | None = None, confidence: float = 0.95, allow_download: bool = False,
                      progress: bool = False) -> RegressionVerdict:
    """Probe vs random-init probe vs the mean, over seeds, on ``ds``'s test split (see the module)."""
    from graft.api import embed
    from graft.backbones.engine import finetune_refusal

    features = embed(ds, backbone, weights=weights, image_size=image_size, allow_download=allow_download,
                     progress=progress)
    test = ds.test.targets
    resamples = {s: np.random.default_rng(s).integers(0, len(test), len(test)) for s in seeds}
    probe_pred = _ridge_predictions(ds, features)
    arms = {"probe": _arm("probe", f"ridge on {backbone}", {s: probe_pred for s in seeds}, test, resamples, confidence)}
    engine = finetune_refusal(backbone) if weights is None else None  # a frozen engine has no random init
    if ds.modality != "array" and not engine:
        random_pred = {s: _ridge_predictions(ds, _random_features(ds, backbone, s, image_size)) for s in seeds}
        arms["random"] = _arm("random", f"ridge on {backbone} at random init", random_pred, test, resamples, confidence)
    mean_pred = np.full(len(test), float(np.mean(ds.train.targets)))
    arms["mean"] = _arm("mean", "the training mean", {s: mean_pred for s in seeds}, test, resamples, confidence)
    baseline = "random" if "random" in arms else "mean"
    differences = [p - b for p, b in zip(arms["probe"].scores, arms[baseline].scores)]
    gain = t_interval(differences, confidence)
    not_run = {"scratch": "trains with a classification loss", "finetune": "trains with a classification loss"}
    if engine:
        not_run["random"] = f"{backbone} is a frozen inference engine: it has no random initialisation"
    verdict = RegressionVerdict(decide(gain), "", arms, gain, baseline, list(seeds), confidence, len(test),
                                not_run=not_run)
    verdict.summary = _summary(verdict)
    return verdict


def _ridge_predictions(ds: "Dataset", features: np.ndarray) -> np.ndarray:
    from graft.heads.regression import RidgeConfig, fit_ridge

    part = {s: features[ds.splits == s] for s in ("train", "val", "test")}
    result = fit_ridge(part["train"], ds.train.targets, part["val"], ds.val.targets, RidgeConfig(refit_on_val=False))
    return result.predict(part["test"])


def _random_features(ds: "Dataset", backbone: str, seed: int, image_size: int | None) -> np.ndarray:
    """Features of the architecture at random initialisation with ``seed`` (not cached: the cache
    keys random weights by name, not by seed)."""
    import torch

    from graft.api import backbone_options
    from graft.backbones import create_backbone
    from graft.features.extract import embed_items

    torch.manual_seed(seed)
    module = create_backbone(backbone, weights="random", **backbone_options(image_size))
    return embed_items(ds.items, module, use_cache=False)


def _arm(name: str, method: str, predictions: dict[int, np.ndarray], test: np.ndarray,
         resamples: dict[int, np.ndarray], confidence: float) -> RegressionArm:
    from graft.metrics import regression_metrics

    scores = [regression_metrics(test[idx], predictions[s][idx])["r2"] for s, idx in resamples.items()]
    return RegressionArm(name, method, scores, t_interval(scores, confidence))


def _summary(v: RegressionVerdict) -> str:
    a = v.arms
    parts = [f"On {v.n_test} test items (bootstrap resample per seed, {len(v.seeds)} seed(s)), test R²: "
             + ", ".join(f"{arm.method} {arm.interval.mean:.3f} [{arm.interval.low:.3f}, {arm.interval.high:.3f}]"
                         for arm in a.values()) + "."]
    parts.append(f"Gain of the probe over {a[v.baseline].method}: {v.gain.mean:+.3f} "
                 f"[{v.gain.low:+.3f}, {v.gain.high:+.3f}] R²")
    what = ("the pretrained features" if v.baseline == "random" or "random" in v.not_run  # engines: vs the mean
            else "the features (no backbone: numeric rows)")
    parts[-1] += {"positive transfer": f", above zero: {what} helped.",
                  "negative transfer": f", below zero: {what} hurt.",
                  "inconclusive": ", an interval that includes zero: more test data or seeds would tell."}[v.verdict]
    return " ".join(parts)
