"""Scoring methods on the labelled target rows: repeated cross-validation, a table, and the verdict.

Every candidate method is fitted on the source plus the training folds of the target and scored
on the held-out fold, over ``repeats`` x ``folds`` splits that all methods share. The table gives
each method's mean score with a 95 % Student-t interval over the splits; ``auto`` picks the best
mean. The verdict pairs the chosen transfer method with target-only split by split: the 95 %
interval of the mean difference decides positive transfer, negative transfer or inconclusive
(``graft.verify.stats``). Folds overlap in training rows, so these intervals are somewhat narrower
than independent runs would give; and the pick is made on the same splits that score it.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from graft.verify.stats import Interval, decide, t_interval

log = logging.getLogger(__name__)
Progress = Callable[[dict[str, Any]], None]


def score(task: str, y: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """R², RMSE and MAE (regression) or accuracy and macro-F1 (classification); ``score`` is the
    headline (R² or accuracy)."""
    from sklearn.metrics import accuracy_score, f1_score, mean_absolute_error, mean_squared_error, r2_score

    if task == "regression":
        r2 = float(r2_score(y, predicted)) if len(y) > 1 else float("nan")
        return {"score": r2, "r2": r2, "rmse": float(np.sqrt(mean_squared_error(y, predicted))),
                "mae": float(mean_absolute_error(y, predicted)), "n": int(len(y))}
    labels = predicted.argmax(axis=1)
    acc = float(accuracy_score(y.astype(np.int64), labels))
    return {"score": acc, "accuracy": acc, "macro_f1": float(f1_score(y.astype(np.int64), labels, average="macro",
                                                                        zero_division=0)), "n": int(len(y))}


def target_splits(y: np.ndarray, task: str, folds: int, repeats: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """``repeats`` x ``folds`` (train, held-out) index pairs over the labelled target rows; stratified
    by class when every class has at least ``folds`` rows."""
    from sklearn.model_selection import RepeatedKFold, RepeatedStratifiedKFold

    folds = max(2, min(folds, len(y) // 2))
    if task == "classification" and np.unique(y, return_counts=True)[1].min() >= folds:
        splitter: Any = RepeatedStratifiedKFold(n_splits=folds, n_repeats=repeats, random_state=seed)
    else:
        splitter = RepeatedKFold(n_splits=folds, n_repeats=repeats, random_state=seed)
    return [(np.asarray(a), np.asarray(b)) for a, b in splitter.split(np.zeros(len(y)), y)]


@dataclass
class MethodScores:
    """One method's scores over the shared splits (``None`` where a fit failed)."""

    method: str
    scores: list[float] = field(default_factory=list)
    details: list[dict[str, float]] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    error: str | None = None

    def interval(self) -> Interval | None:
        ok = [s for s in self.scores if np.isfinite(s)]
        return t_interval(ok) if ok and self.error is None else None

    def row(self) -> dict[str, Any]:
        """A row of the method table."""
        iv = self.interval()
        extra = {k: float(np.mean([d[k] for d in self.details])) for k in (self.details[0] if self.details else {})
                 if k not in ("score", "n")}
        return {"method": self.method, "score": iv.mean if iv else None, "low": iv.low if iv else None,
                "high": iv.high if iv else None, "half_width": iv.half_width if iv else None,
                "splits": len(self.scores), "seconds": float(np.mean(self.seconds)) if self.seconds else None,
                "error": self.error, **extra}


def verdict(chosen: MethodScores, baseline: MethodScores, confidence: float = 0.95) -> dict[str, Any]:
    """Paired comparison of ``chosen`` with target-only over the same splits.

    Returns:
        ``{"verdict", "method", "gain", "low", "high", "summary"}``; ``verdict`` is ``positive transfer``,
        ``negative transfer`` or ``inconclusive``.
    """
    diffs = np.asarray(chosen.scores) - np.asarray(baseline.scores)
    diffs = diffs[np.isfinite(diffs)]
    if chosen.error or not len(diffs):
        return {"verdict": "inconclusive", "method": chosen.method, "gain": None, "low": None, "high": None,
                "summary": f"{chosen.method} could not be scored ({chosen.error}); nothing to compare"}
    gain = t_interval(diffs, confidence)
    name = decide(gain)
    what = {"positive transfer": "the source helps", "negative transfer": "the source hurts",
            "inconclusive": "no clear difference"}[name]
    summary = (f"{chosen.method} vs target_only: {gain.mean:+.4f} (95% interval {gain.low:+.4f} to {gain.high:+.4f}, "
               f"paired over {len(diffs)} target splits): {what}")
    return {"verdict": name, "method": chosen.method, "gain": gain.mean, "low": gain.low, "high": gain.high,
            "confidence": confidence, "splits": int(len(diffs)), "summary": summary}


def run_candidates(candidates: list[str], splits: list[tuple[np.ndarray, np.ndarray]],
                   fit_and_predict: Callable[[str, np.ndarray, np.ndarray], np.ndarray], y: np.ndarray, task: str,
                   progress: Progress | None = None) -> dict[str, MethodScores]:
    """Every candidate on every split; a method that fails is recorded with its error, not raised."""
    from graft.errors import GraftError

    results = {name: MethodScores(name) for name in candidates}
    for i, (train, test) in enumerate(splits):
        for name in candidates:
            entry = results[name]
            if entry.error:
                continue
            if progress:
                progress({"event": "fit", "method": name, "split": i + 1, "splits": len(splits)})
            start = time.perf_counter()
            try:
                predicted = fit_and_predict(name, train, test)
            except (GraftError, ValueError, FloatingPointError) as exc:
                entry.error = f"{type(exc).__name__}: {exc}"
                log.warning("%s failed on split %d: %s", name, i + 1, exc)
                continue
            entry.seconds.append(time.perf_counter() - start)
            entry.details.append(score(task, y[test], predicted))
            entry.scores.append(entry.details[-1]["score"])
            if progress:
                progress({"event": "scored", "method": name, "split": i + 1, "splits": len(splits),
                          "score": entry.scores[-1], "seconds": entry.seconds[-1]})
    return results
