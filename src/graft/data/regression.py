"""Numeric labels as a regression target: when to read them so, and the dataset they make.

``target_type="auto"`` (the default of every reader) keeps graft's classification for class names,
for few distinct integers (digit labels, star ratings, class ids) and for few distinct numbers; it
reads a numeric label column as a regression target when it holds many distinct values:

- some values are not whole numbers and there are more than :data:`MIN_DISTINCT_FLOATS` distinct
  values (a price in dollars and cents, a median house value), or
- every value is a whole number, there are more than :data:`MIN_DISTINCT_INTEGERS` distinct values
  and the typical value labels fewer than :data:`MAX_ROWS_PER_INTEGER` rows (a price in whole
  dollars: most prices occur once or twice; class ids label many rows each).

The choice is written into the skip report as a note (printed as a warning by the CLI), naming the
option that overrides it.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from typing import Any, Sequence

import numpy as np

from graft.data.assemble import Rows
from graft.data.dataset import UNLABELLED, Dataset, Modality, SkipReport
from graft.data.split import order_by_key, stratified_split
from graft.errors import DataError, UsageError

logger = logging.getLogger(__name__)

TARGET_TYPES = ("auto", "classification", "regression")
MIN_DISTINCT_FLOATS = 10
MIN_DISTINCT_INTEGERS = 50
MAX_ROWS_PER_INTEGER = 5
_CLASS_FORM_NOTE = "were read as one class"  # tables.note_label_forms: about class spellings, moot for numbers


def check_target_type(target_type: str) -> None:
    """UsageError for anything but auto / classification / regression."""
    if target_type not in TARGET_TYPES:
        raise UsageError(f"target_type={target_type!r} (--target-type): choose one of {', '.join(TARGET_TYPES)}")


def as_number(name: str | None) -> float | None:
    """The label's value as a finite float, or None (missing, text, NaN or infinite)."""
    if name is None:
        return None
    try:
        value = float(name)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def infer_task(names: Sequence[str | None]) -> tuple[str, str]:
    """("regression" | "classification", why) for a column of label names (see the module docstring)."""
    given = [n for n in names if n is not None]
    values = [as_number(n) for n in given]
    if not given or any(v is None for v in values):
        return "classification", "labels are names"
    counts = Counter(values)
    distinct = len(counts)
    if any(not float(v).is_integer() for v in counts) and distinct > MIN_DISTINCT_FLOATS:
        return "regression", f"{distinct} distinct numeric values, not all whole numbers"
    typical = float(np.median(list(counts.values())))
    if distinct > MIN_DISTINCT_INTEGERS and typical < MAX_ROWS_PER_INTEGER:
        return "regression", f"{distinct} distinct whole numbers, a typical one on {typical:g} row(s)"
    return "classification", f"{distinct} distinct values"


def resolve_task(rows: Rows, target_type: str, classes: Sequence[str] | None, source: str, skipped: SkipReport,
                 target_name: str | None) -> str:
    """The task the rows make; an "auto" choice of regression is noted in ``skipped`` and logged."""
    check_target_type(target_type)
    if target_type == "regression" and classes is not None:
        raise UsageError(f"{source}: classes= names classes, but target_type='regression' reads the label as a "
                         "number; leave out classes, or use target_type='classification'")
    if target_type != "auto":
        return target_type
    if classes is not None:
        return "classification"
    task, why = infer_task(rows.names)
    if task == "regression":
        column = f"label column {target_name!r}" if target_name else "labels"
        note = (f"label note: {column} read as a regression target ({why}); to treat the values as classes "
                "use --target-type classification (target_type='classification' in Python)")
        skipped.add(source, note)
    return task


def assemble_regression(rows: Rows, *, modality: Modality, source: str, skipped: SkipReport, val_fraction: float,
                        seed: int, limit: int | None, sample_rate: int | None, target_name: str | None) -> Dataset:
    """A regression :class:`Dataset`: float targets, ``classes == [target name]``, a random val split."""
    _drop_class_notes(skipped)
    rows = _numeric_rows(rows, skipped, target_name)
    if not len(rows):
        raise DataError(f"{source}: no usable items with a numeric target; {skipped.summary()}")
    rows = _cap_per_split(rows, limit, seed)
    targets = np.array([np.nan if n is None else float(n) for n in rows.names], dtype=np.float64)
    labelled = np.isfinite(targets)
    if labelled.any() and len(np.unique(targets[labelled])) < 2:
        raise DataError(f"{source}: every target value is {targets[labelled][0]:g}; a regression needs targets "
                        "that vary. Check the label column (--label-column)")
    labels = np.where(labelled, 0, UNLABELLED).astype(np.int64)
    splits = np.array([s or "train" for s in rows.splits], dtype=object)
    if labelled.any() and val_fraction > 0 and not np.any(splits == "val"):
        pool = np.flatnonzero(splits == "train")
        mask = stratified_split([rows.keys[i] for i in pool], np.zeros(len(pool), dtype=np.int64), val_fraction, seed)
        splits[pool[mask]] = "val"
    logger.info("read %d items with a numeric target %r from %s", len(rows), target_name or "target", source)
    if skipped:
        logger.warning("%s: %s", source, skipped.summary())
    return Dataset(items=rows.items, labels=labels, classes=[target_name or "target"], modality=modality, splits=splits,
                   source=source, skipped=skipped, sample_rate=sample_rate, task="regression", targets=targets,
                   where=list(rows.where))


def _drop_class_notes(skipped: SkipReport) -> None:
    skipped.entries[:] = [e for e in skipped.entries if _CLASS_FORM_NOTE not in e.reason]


def _numeric_rows(rows: Rows, skipped: SkipReport, target_name: str | None) -> Rows:
    keep = []
    for i, name in enumerate(rows.names):
        if name is None or as_number(name) is not None:
            keep.append(i)
        else:
            column = f" in column {target_name!r}" if target_name else ""
            skipped.add(rows.where[i], f"non-numeric target: {name!r}{column} is not a finite number")
    return rows if len(keep) == len(rows) else rows.subset(keep)


def _cap_per_split(rows: Rows, limit: int | None, seed: int) -> Rows:
    """``limit_per_class`` for a regression: the whole target is one group, so at most ``limit`` per split."""
    if limit is None:
        return rows
    keep: list[int] = []
    for split in dict.fromkeys(rows.splits):
        members = [i for i, s in enumerate(rows.splits) if s == split]
        order = order_by_key([rows.keys[i] for i in members], seed)
        keep += [members[j] for j in order[:limit]]
    return rows.subset(sorted(keep))


def target_summary(values: Any) -> dict[str, float]:
    """min / mean / std / max of targets, for logs and cards."""
    v = np.asarray(values, dtype=np.float64)
    return {"min": float(v.min()), "mean": float(v.mean()), "std": float(v.std()), "max": float(v.max())}


def require_classes(ds: Dataset, command: str, instead: str) -> None:
    """UsageError when ``command`` (which classifies) is given regression data: say what to use instead."""
    if ds.is_regression:
        raise UsageError(f"{command} works with class labels, and {ds.source} has a numeric target {ds.classes[0]!r} "
                         f"(read as a regression target); {instead}. To treat the values as classes instead, read "
                         "them with target_type='classification' (--target-type classification)")
