"""Scoring methods on the labelled target rows: repeated cross-validation, a table, and the verdict.

Every candidate method is fitted on the source plus the training folds of the target and scored
on the held-out fold, over ``repeats`` x ``folds`` splits that all methods share. Each labelled
target row thus gets an out-of-fold score per repeat (``1 - (y - ŷ)² / var(y)`` or right/wrong),
averaged over the repeats: the table gives each method's mean over rows (its out-of-fold R² or
accuracy) with a 95 % Student-t interval over rows; ``auto`` picks the best mean. The verdict pairs
the chosen transfer method with target-only row by row: the 95 % interval of the mean difference
decides positive transfer, negative transfer or inconclusive (``graft.verify.stats``). Intervals
over rows rather than folds stay usable when a fold of a few rows has a tiny variance (its R²
explodes). Caveats: the models of different folds share training rows, and auto's pick is made on
the same rows that score it (a winner's-curse bias towards the pick).
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


def row_scores(task: str, y: np.ndarray, predicted: np.ndarray, spread: float) -> np.ndarray:
    """Each row's share of the headline score: ``1 - (y - ŷ)² / var(y)`` (their mean is R² against the
    mean of the labelled target rows) or 1 / 0 for a right / wrong class (their mean is accuracy)."""
    if task == "regression":
        return 1.0 - (y - predicted) ** 2 / spread
    return (predicted.argmax(axis=1) == y.astype(np.int64)).astype(np.float64)


@dataclass
class MethodScores:
    """One method's out-of-fold results over the shared splits.

    ``per_row`` holds each labelled target row's score averaged over the repeats (every row is held
    out once per repeat): its mean is the method's out-of-fold R² or accuracy, and the intervals (and
    the paired verdict) are taken over rows, which stays meaningful when one small fold's R² explodes.
    """

    method: str
    n_rows: int
    sums: np.ndarray = field(default=None)  # type: ignore[assignment]
    counts: np.ndarray = field(default=None)  # type: ignore[assignment]
    fold_scores: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    truth: list[np.ndarray] = field(default_factory=list)
    predictions: list[np.ndarray] = field(default_factory=list)
    error: str | None = None

    def __post_init__(self) -> None:
        self.sums, self.counts = np.zeros(self.n_rows), np.zeros(self.n_rows)

    def add(self, test: np.ndarray, scores: np.ndarray) -> None:
        np.add.at(self.sums, test, scores)
        np.add.at(self.counts, test, 1)

    @property
    def per_row(self) -> np.ndarray:
        seen = self.counts > 0
        return self.sums[seen] / self.counts[seen]

    @property
    def scores(self) -> list[float]:
        """Per-fold headline scores (for the record; the intervals use ``per_row``)."""
        return self.fold_scores

    def interval(self, confidence: float = 0.95) -> Interval | None:
        return t_interval(self.per_row, confidence) if self.error is None and self.counts.any() else None

    def row(self, task: str) -> dict[str, Any]:
        """A row of the method table (pooled out-of-fold metrics beside the interval)."""
        iv = self.interval()
        pooled = score(task, np.concatenate(self.truth), np.concatenate(self.predictions)) if self.truth else {}
        extra = {k: v for k, v in pooled.items() if k not in ("score", "n")}
        return {"method": self.method, "score": iv.mean if iv else None, "low": iv.low if iv else None,
                "high": iv.high if iv else None, "half_width": iv.half_width if iv else None,
                "splits": len(self.fold_scores), "seconds": float(np.mean(self.seconds)) if self.seconds else None,
                "error": self.error, **extra}


def verdict(chosen: MethodScores, baseline: MethodScores, confidence: float = 0.95) -> dict[str, Any]:
    """Paired comparison of ``chosen`` with target-only, row by row over the labelled target rows.

    Returns:
        ``{"verdict", "method", "gain", "low", "high", "summary"}``; ``verdict`` is ``positive transfer``,
        ``negative transfer`` or ``inconclusive``.
    """
    if chosen.error or not chosen.counts.any():
        return {"verdict": "inconclusive", "method": chosen.method, "gain": None, "low": None, "high": None,
                "summary": f"{chosen.method} could not be scored ({chosen.error}); nothing to compare"}
    both = (chosen.counts > 0) & (baseline.counts > 0)
    diffs = chosen.sums[both] / chosen.counts[both] - baseline.sums[both] / baseline.counts[both]
    gain = t_interval(diffs, confidence)
    name = decide(gain)
    what = {"positive transfer": "the source helps", "negative transfer": "the source hurts",
            "inconclusive": "no clear difference"}[name]
    summary = (f"{chosen.method} vs target_only: {gain.mean:+.4f} (95% interval {gain.low:+.4f} to {gain.high:+.4f}, "
               f"paired over {len(diffs)} labelled target rows, out-of-fold): {what}")
    return {"verdict": name, "method": chosen.method, "gain": gain.mean, "low": gain.low, "high": gain.high,
            "confidence": confidence, "rows": int(len(diffs)), "summary": summary}


def run_candidates(candidates: list[str], splits: list[tuple[np.ndarray, np.ndarray]],
                   fit_and_predict: Callable[[str, np.ndarray, np.ndarray], np.ndarray], y: np.ndarray, task: str,
                   progress: Progress | None = None) -> dict[str, MethodScores]:
    """Every candidate on every split; a method that fails is recorded with its error, not raised."""
    from graft.errors import GraftError

    results = {name: MethodScores(name, len(y)) for name in candidates}
    spread = float(np.var(y)) if task == "regression" and np.var(y) > 0 else 1.0
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
            entry.add(test, row_scores(task, y[test], predicted, spread))
            entry.truth.append(y[test])
            entry.predictions.append(predicted)
            entry.fold_scores.append(score(task, y[test], predicted)["score"])
            if progress:
                progress({"event": "scored", "method": name, "split": i + 1, "splits": len(splits),
                          "score": entry.fold_scores[-1], "seconds": entry.seconds[-1]})
    return results
