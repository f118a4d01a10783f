"""``transfer_table``: a big source table helps a small target table — or is caught hurting it.

Reads both tables (same schema), decides the task from the label, scores every candidate method
on repeated cross-validation splits of the labelled target rows, picks one (``method="auto"``) or
scores the one asked for, compares it with target-only (the verdict), fits the kept method on
every row and saves it as a graft model folder.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from graft._config import check_ranges, to_dict
from graft.errors import UsageError
from graft.tabular.encode import TableEncoder, layout
from graft.tabular.ensemble import TransferData
from graft.tabular.evaluate import MethodScores, Progress, run_candidates, target_splits, verdict
from graft.tabular.frames import NamedFrame, check_schema, infer_task, label_values, read_frame
from graft.tabular.learners import LearnerConfig
from graft.tabular.model import FORMAT, FORMAT_VERSION, TableModel, check_target
from graft.tabular.strategies import METHODS, check_method, create_method, list_methods, method_config

log = logging.getLogger(__name__)
BASELINE = "target_only"
#: auto's default candidates from the simplest up: a tie goes to the earlier one
SIMPLER = ["target_only", "source_only", "pooled", "augment", "continue_boosting", "weight_classifier", "weight_kmm",
           "tradaboost", "tradaboost_r2"]
MIN_TARGET_ROWS = 6


@dataclass
class TableTransferConfig:
    """Settings of one ``transfer_table`` run (saved in config.json)."""

    method: str = field(default="auto", metadata={"help": "a registered method, or auto (cross-validated choice)"})
    params: dict[str, Any] = field(default_factory=dict, metadata={"help": "the method's own settings"})
    task: str | None = field(default=None, metadata={"help": "regression | classification (default: from the label)"})
    candidates: list[str] | None = field(default=None, metadata={"help": "auto's candidates (default: every method "
                                                                         "that fits the task and learner)"})
    folds: int = field(default=5, metadata={"help": "cross-validation folds over the labelled target rows"})
    repeats: int = field(default=2, metadata={"help": "repeats of the folds (with new shuffles)"})
    max_source_rows: int | None = field(default=20000, metadata={"help": "random subsample of a larger source "
                                                                         "(None: every row)"})
    confidence: float = field(default=0.95, metadata={"help": "confidence of the intervals and the verdict"})
    seed: int = field(default=0, metadata={"help": "splits, subsample and learners"})

    def __post_init__(self) -> None:
        check_ranges(self, {"folds": "[2, 50]", "repeats": "[1, 100]", "max_source_rows": "[10, inf)",
                            "confidence": "(0, 1)"})
        if self.method != "auto" and self.method not in METHODS:
            raise UsageError(METHODS.unknown_message(self.method).replace("Known:", "Known: auto,"))
        for name in self.candidates or []:
            METHODS.get(name)
        if self.params and self.method == "auto":
            raise UsageError("method settings (params / --option) need one named method, not auto")
        if self.params:
            create_method(self.method, **self.params)  # unknown settings and bad values fail here


@dataclass
class TableTransferResult:
    """What ``transfer_table`` returns.

    Attributes:
        model: the fitted model (saved at ``model.path`` when ``out`` was given).
        table: one row per method: mean target score, 95 % interval, seconds per fit, error.
        chosen: the method the run picked (or was given).
        kept: the method of the saved model (``target_only`` after negative transfer).
        verdict: ``{"verdict", "summary", "gain", "low", "high", ...}``.
        reason: why ``chosen`` (and, after negative transfer, why target-only was kept).
    """

    model: TableModel
    table: list[dict[str, Any]]
    chosen: str
    kept: str
    verdict: dict[str, Any]
    reason: str
    task: str
    task_reason: str
    metric: str
    notes: list[str]
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (the model by its folder)."""
        return {"model": str(self.model.path) if self.model.path else None, "task": self.task,
                "task_reason": self.task_reason, "metric": self.metric, "chosen": self.chosen, "kept": self.kept,
                "reason": self.reason, "verdict": self.verdict, "table": self.table, "notes": self.notes,
                "seconds": round(self.seconds, 2)}


@dataclass
class _Run:
    """The read tables and label arrays of one run."""

    label: str
    source_rows: int
    source: NamedFrame
    target: NamedFrame
    unlabelled: NamedFrame | None
    columns: list[str]
    task: str
    ys: np.ndarray
    yt: np.ndarray
    classes: list[str]
    notes: list[str]


def transfer_table(source: Any, target: Any, label: str, method: str = "auto", *, unlabelled: Any = None,
                   out: str | Path | None = None, overwrite: bool = False, task: str | None = None,
                   params: dict[str, Any] | None = None, learner: LearnerConfig | None = None,
                   config: TableTransferConfig | None = None, progress: Progress | None = None,
                   **settings: Any) -> TableTransferResult:
    """Transfer from a source table to a target table with few labelled rows; save the result.

    Args:
        source: the big table (CSV / TSV / parquet path or DataFrame) with the label column.
        target: the labelled target rows, same columns.
        label: the label column's name.
        method: ``"auto"`` (cross-validated choice) or one of :func:`graft.tabular.list_methods`.
        unlabelled: optional target rows without labels (same feature columns): they inform the
            category lists and the density-ratio weights, never the labels.
        out: model folder to write (atomically); an existing model there only with ``overwrite``.
        task: ``"regression"`` / ``"classification"`` instead of the rule (numeric with many values → regression).
        params: the named method's own settings (e.g. ``{"n_rounds": 20}``).
        learner: the base learner (default LightGBM, 200 trees).
        config: all run settings at once (``settings`` keywords override its fields: folds, repeats,
            candidates, max_source_rows, confidence, seed).
        progress: called with a dict per fit (``{"event": "fit", "method", "split", "splits"}``).

    Example:
        >>> result = graft.transfer_table("source.csv", "target.csv", label="price", out="models/fair")  # doctest: +SKIP
        >>> result.verdict["verdict"], result.kept                                                        # doctest: +SKIP
        ('positive transfer', 'continue_boosting')
    """
    start = time.perf_counter()
    known = {f.name for f in dataclasses.fields(TableTransferConfig)} - {"method", "task", "params"}
    unknown = sorted(set(settings) - known)
    if unknown:
        raise UsageError(f"transfer_table: unknown setting(s) {unknown}; it takes {', '.join(sorted(known))} "
                         "(and method, task, params, learner, config)")
    given = {"method": method, "task": task, **({"params": params} if params else {}), **settings}
    config = dataclasses.replace(config, **given) if config is not None else TableTransferConfig(**given)
    learner = learner or LearnerConfig(seed=config.seed)
    if out is not None:
        check_target(Path(out), overwrite)  # before any work
    run = _read(source, target, unlabelled, label, config)
    candidates = _candidates(config, run.task, learner.kind)
    splits = target_splits(run.yt, run.task, config.folds, config.repeats, config.seed)
    shared = _shared_weights(run, candidates, config.seed)
    fit_predict = _fitter(run, learner, config, shared)
    results = run_candidates(candidates, splits, fit_predict, run.yt, run.task, progress)
    chosen, reason = _choose(config, results, run.task)
    compare = _comparison(chosen, results)
    judged = verdict(results[compare], results[BASELINE], config.confidence) if compare else _no_verdict()
    hurt = [n for n in candidates if n != BASELINE and _gain(results[n], results[BASELINE], config.confidence)
            ["vs_target_only"] == "negative transfer"]
    judged["negative_for"] = hurt
    if chosen == BASELINE and compare:
        judged["summary"] = (f"target_only scored best; the best transfer method, {judged['summary']}"
                             + (f"; negative transfer for {', '.join(hurt)}" if hurt else ""))
    kept = BASELINE if judged["verdict"] == "negative transfer" else chosen
    if kept != chosen:
        reason += f"; but {judged['summary']}, so the saved model is target-only (negative transfer)"
    if progress:
        progress({"event": "final", "method": kept})
    model = _final_model(run, kept, config, learner, shared)
    table = [results[name].row(run.task) | _gain(results[name], results[BASELINE], config.confidence)
             for name in candidates]
    metric = "R²" if run.task == "regression" else "accuracy"
    model.lineage = _lineage(run, config, learner, kept, chosen, judged, table, reason, kept != chosen)
    model.config["metrics"] = {"cross_validation": results[kept].row(run.task)}
    if out is not None:
        model.save(out, overwrite=overwrite)
    return TableTransferResult(model, table, chosen, kept, judged, reason, run.task, run.notes[0], metric, run.notes,
                               time.perf_counter() - start)


def fit_table(source: Any, target: Any, label: str, method: str, *, unlabelled: Any = None,
              task: str | None = None, params: dict[str, Any] | None = None, learner: LearnerConfig | None = None,
              max_source_rows: int | None = 20000, seed: int = 0) -> TableModel:
    """One method fitted on every row, without cross-validation or verdict (e.g. to score it on rows
    held out elsewhere, as the benchmark does). Not saved; ``model.save(DIR)`` writes it.

    Example:
        >>> model = fit_table("source.csv", "target.csv", "price", "continue_boosting")  # doctest: +SKIP
        >>> model.predict("new_rows.csv")                                                 # doctest: +SKIP
    """
    config = TableTransferConfig(method=method, params=params or {}, task=task, max_source_rows=max_source_rows,
                                 seed=seed)
    learner = learner or LearnerConfig(seed=seed)
    run = _read(source, target, unlabelled, label, config)
    check_method(method, run.task, learner.kind)
    model = _final_model(run, method, config, learner, _shared_weights(run, [method], seed))
    model.lineage = _lineage(run, config, learner, method, method, _no_verdict(), [], f"{method} as asked", False)
    return model


def _read(source: Any, target: Any, unlabelled: Any, label: str, config: TableTransferConfig) -> _Run:
    src, tgt = read_frame(source, "source"), read_frame(target, "target")
    unl = read_frame(unlabelled, "unlabelled") if unlabelled is not None else None
    columns = check_schema(src, tgt, label, unl)
    task, why = infer_task(np.concatenate([tgt.frame[label].dropna().to_numpy(), src.frame[label].dropna().to_numpy()]),
                           label, config.task)
    notes = [why]
    total = int(len(src.frame))
    if len(tgt.frame) < MIN_TARGET_ROWS:
        raise UsageError(f"{tgt.name} has {len(tgt.frame)} labelled rows; transfer-table needs at least "
                         f"{MIN_TARGET_ROWS} to cross-validate (more give narrower intervals)")
    if config.max_source_rows and len(src.frame) > config.max_source_rows:
        keep = np.sort(np.random.default_rng(config.seed).choice(len(src.frame), config.max_source_rows, replace=False))
        notes.append(f"source: a random {config.max_source_rows} of its {len(src.frame)} rows (max_source_rows; "
                     "None / --max-source-rows 0 for every row)")
        src = NamedFrame(src.frame.iloc[keep].reset_index(drop=True), src.name, src.fingerprint, src.file_sha256)
    ys = label_values(src.frame, label, task, src.name)  # type: ignore[arg-type]
    yt = label_values(tgt.frame, label, task, tgt.name)  # type: ignore[arg-type]
    classes: list[str] = []
    if task == "classification":
        classes = sorted(set(ys) | set(yt))
        index = {c: i for i, c in enumerate(classes)}
        ys = np.array([index[c] for c in ys], dtype=np.float64)
        yt = np.array([index[c] for c in yt], dtype=np.float64)
        missing = sorted(set(classes) - {classes[int(i)] for i in yt})
        if missing:
            notes.append(f"classes {missing} appear in the source but not among the labelled target rows")
    return _Run(label, total, src, tgt, unl, columns, task, ys, yt, classes, notes)


def _candidates(config: TableTransferConfig, task: str, learner: str) -> list[str]:
    if config.method != "auto":
        check_method(config.method, task, learner)
        return list(dict.fromkeys([BASELINE, config.method, "source_only"]))
    names = config.candidates or sorted(list_methods(task, learner), key=lambda n: (SIMPLER.index(n) if n in SIMPLER
                                                                                     else len(SIMPLER), n))
    for name in names:
        check_method(name, task, learner)
    return list(dict.fromkeys([BASELINE, *names]))


def _features(run: _Run, target_rows: np.ndarray | None = None) -> list[Any]:
    frames = [run.source.frame[run.columns], run.target.frame[run.columns] if target_rows is None
              else run.target.frame[run.columns].iloc[target_rows]]
    if run.unlabelled is not None:
        frames.append(run.unlabelled.frame[run.columns])
    return frames


def _shared_weights(run: _Run, candidates: list[str], seed: int) -> dict[str, np.ndarray]:
    """Density-ratio weights, computed once from every target row's features (no labels)."""
    import pandas as pd

    from graft.tabular.weights import source_weights

    kinds = {getattr(METHODS.get(n), "kind", None) for n in candidates if n.startswith("weight_")} - {None}
    if not kinds:
        return {}
    frames = _features(run)
    encoder = TableEncoder.fit(pd.concat(frames, ignore_index=True), run.columns)
    Xs = encoder.transform(frames[0])
    Xt = np.vstack([encoder.transform(f) for f in frames[1:]])
    return {kind: source_weights(kind, Xs, Xt, layout(encoder), seed=seed) for kind in sorted(kinds)}


def _data(run: _Run, train: np.ndarray | None, shared: dict[str, np.ndarray], seed: int) -> tuple[TransferData, TableEncoder]:
    """Encoder fitted on the rows this fit sees (source, its target rows, unlabelled) and the matrices."""
    import pandas as pd

    frames = _features(run, train)
    encoder = TableEncoder.fit(pd.concat(frames, ignore_index=True), run.columns)
    rows = slice(None) if train is None else train
    data = TransferData(encoder.transform(frames[0]), run.ys, encoder.transform(frames[1]), run.yt[rows], run.task,
                        len(run.classes), encoder.categorical, layout(encoder), dict(shared), seed)
    return data, encoder


def _fitter(run: _Run, learner: LearnerConfig, config: TableTransferConfig,
            shared: dict[str, np.ndarray]) -> Callable[[str, np.ndarray, np.ndarray], np.ndarray]:
    cache: dict[bytes, tuple[TransferData, TableEncoder, np.ndarray]] = {}

    def fit_predict(name: str, train: np.ndarray, test: np.ndarray) -> np.ndarray:
        key = train.tobytes()
        if key not in cache:  # one encoding per split, shared by every method
            cache.clear()
            data, encoder = _data(run, train, shared, config.seed)
            cache[key] = (data, encoder, encoder.transform(run.target.frame[run.columns].iloc[test]))
        data, _, X_test = cache[key]
        method = create_method(name, **(config.params if name == config.method else {}))
        return method.fit(data, learner).predict(X_test)

    return fit_predict


def _choose(config: TableTransferConfig, results: dict[str, MethodScores], task: str) -> tuple[str, str]:
    metric = "R²" if task == "regression" else "accuracy"
    if config.method != "auto":
        return config.method, f"{config.method} as asked"
    # the best mean; on a tie (common for accuracy on few rows) the simpler method, in candidate order
    order = list(results)
    scored = sorted(((r.interval().mean, name) for name, r in results.items() if r.interval() is not None),
                    key=lambda item: (-item[0], order.index(item[1])))
    if not scored:
        raise UsageError("every candidate method failed on the target splits: " +
                         "; ".join(f"{n}: {r.error}" for n, r in results.items()))
    best, name = scored[0]
    iv = results[name].interval()
    runner = f"; next {scored[1][1]} {scored[1][0]:.4f}" if len(scored) > 1 else ""
    return name, (f"auto: {name} has the best mean target {metric}, {best:.4f} (95% interval {iv.low:.4f} to "
                  f"{iv.high:.4f}) of {len(scored)} methods, out-of-fold over {len(results[name].per_row)} labelled target "
                  f"rows ({len(results[name].fold_scores)} cross-validation splits){runner}")


def _comparison(chosen: str, results: dict[str, MethodScores]) -> str | None:
    """The transfer method the verdict judges: the chosen one, or (when target-only won) the best transfer."""
    if chosen != BASELINE:
        return chosen
    others = [(r.interval().mean, n) for n, r in results.items() if n != BASELINE and r.interval() is not None]
    return max(others)[1] if others else None


def _gain(scores: MethodScores, baseline: MethodScores, confidence: float) -> dict[str, Any]:
    """A method's paired gain over target-only (its own small verdict), for the table."""
    if scores.method == BASELINE:
        return {"gain": None, "gain_low": None, "gain_high": None, "vs_target_only": "baseline"}
    judged = verdict(scores, baseline, confidence)
    return {"gain": judged["gain"], "gain_low": judged["low"], "gain_high": judged["high"],
            "vs_target_only": judged["verdict"] if judged["gain"] is not None else "failed"}


def _no_verdict() -> dict[str, Any]:
    return {"verdict": "inconclusive", "method": None, "gain": None, "low": None, "high": None,
            "summary": "no transfer method was scored"}


def _final_model(run: _Run, kept: str, config: TableTransferConfig, learner: LearnerConfig,
                 shared: dict[str, np.ndarray]) -> TableModel:
    data, encoder = _data(run, None, shared, config.seed)
    method = create_method(kept, **(config.params if kept == config.method else {}))
    ensemble = method.fit(data, learner)
    info = {"format": FORMAT, "format_version": FORMAT_VERSION, "task": run.task, "label": run.label, "classes": run.classes, "columns": run.columns,
            "method": kept, "params": method_config(method)["params"], "learner": to_dict(learner),
            "run": to_dict(config)}
    return TableModel(info, encoder, ensemble)


def _lineage(run: _Run, config: TableTransferConfig, learner: LearnerConfig, kept: str, chosen: str,
             judged: dict[str, Any], table: list[dict[str, Any]], reason: str, kept_target_only: bool) -> dict[str, Any]:
    from graft.models.lineage import package_versions

    record = {
        "parent": {"kind": "features", "relation": "transfer", "source_table": run.source.fingerprint},
        "dataset": run.target.record(),
        "source_table": run.source.record() | {"rows": run.source_rows, "rows_used": int(len(run.source.frame))},
        "target_table": run.target.record(),
        "unlabelled_table": run.unlabelled.record() if run.unlabelled is not None else None,
        "method": kept, "chosen": chosen, "kept_target_only": kept_target_only, "reason": reason,
        "settings": {"run": to_dict(config), "learner": to_dict(learner)},
        "metrics": {}, "verdict": judged, "candidates": table, "notes": run.notes,
        "command": " ".join(sys.argv) if sys.argv and sys.argv[0].endswith("graft") else None,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "versions": package_versions() | _versions("lightgbm", "pandas"),
    }
    return record


def _versions(*names: str) -> dict[str, str]:
    from importlib import metadata

    out = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out
