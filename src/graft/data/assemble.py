"""Rows of (item, label name, split) from any reader → a checked :class:`Dataset`.

Every reader (folders, tables, frames, arrays) ends here, so the rules are written once: class order,
labels that train lacks, the two-class minimum, the per-class cap and the stratified val split.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import numpy as np

from graft.data.dataset import UNLABELLED, Dataset, Modality, SkipReport
from graft.data.split import order_by_key, stratified_split
from graft.errors import DataError, UsageError

logger = logging.getLogger(__name__)


@dataclass
class Rows:
    """What a reader found: parallel lists; ``name``/``split`` are ``None`` where not given.

    ``key`` names an item by what it is (relative path, text + label, row bytes) for splitting;
    ``where`` says where it came from, for messages.
    """

    items: list[Any] = field(default_factory=list)
    names: list[str | None] = field(default_factory=list)
    splits: list[str | None] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    where: list[str] = field(default_factory=list)

    def add(self, item: Any, name: str | None, split: str | None, key: str, where: str) -> None:
        self.items.append(item)
        self.names.append(name)
        self.splits.append(split)
        self.keys.append(key)
        self.where.append(where)

    def extend(self, other: "Rows") -> None:
        for entry in zip(other.items, other.names, other.splits, other.keys, other.where):
            self.add(*entry)

    def subset(self, index: Iterable[int]) -> "Rows":
        out = Rows()
        for i in index:
            out.add(self.items[i], self.names[i], self.splits[i], self.keys[i], self.where[i])
        return out

    def __len__(self) -> int:
        return len(self.items)


def sort_classes(names: Iterable[str]) -> list[str]:
    """Sorted unique class names; numerically when every name is an integer ("2" before "10")."""
    unique = sorted(set(names))
    if unique and all(_is_int(n) for n in unique):
        return sorted(unique, key=lambda n: (int(n), n))
    return unique


def _is_int(name: str) -> bool:
    try:
        int(name)
    except ValueError:
        return False
    return True


def assemble(
    rows: Rows,
    *,
    modality: Modality,
    source: str,
    skipped: SkipReport,
    val_fraction: float = 0.2,
    seed: int = 0,
    classes: Sequence[str] | None = None,
    limit_per_class: int | None = None,
    sample_rate: int | None = None,
    target_type: str = "auto",
    target_name: str | None = None,
) -> Dataset:
    """Check the rows and build the dataset (see the module docstring for the rules).

    ``target_type`` "auto" reads numeric labels with many distinct values as a regression target
    (:func:`graft.data.regression.infer_task`), "regression" always, "classification" never.
    """
    check_options(val_fraction, limit_per_class)
    if not len(rows):
        raise DataError(f"{source}: no usable items; {skipped.summary()}")
    from graft.data.regression import assemble_regression, resolve_task

    if resolve_task(rows, target_type, classes, source, skipped, target_name) == "regression":
        return assemble_regression(rows, modality=modality, source=source, skipped=skipped, val_fraction=val_fraction,
                                   seed=seed, limit=limit_per_class, sample_rate=sample_rate, target_name=target_name)
    rows = cap_per_class(rows, limit_per_class, seed)
    labelled = any(n is not None for n in rows.names)
    explicit = classes is not None
    classes = list(classes) if classes is not None else _classes_from(rows)
    rows = _drop_unknown_labels(rows, classes, skipped, "the given classes" if explicit else "the train split")
    if labelled:
        _require_two_classes(classes, rows, source, explicit)
        note_case_variants(classes, skipped, source)
    index = {c: i for i, c in enumerate(classes)}
    labels = np.array([UNLABELLED if n is None else index[n] for n in rows.names], dtype=np.int64)
    splits = np.array([s or "train" for s in rows.splits], dtype=object)
    if labelled and val_fraction > 0 and not np.any(splits == "val"):
        splits = _split_off_val(rows.keys, labels, splits, val_fraction, seed)
    _log_summary(source, len(rows), classes, skipped)
    return Dataset(
        items=rows.items,
        labels=labels,
        classes=classes,
        modality=modality,
        splits=splits,
        source=source,
        skipped=skipped,
        sample_rate=sample_rate,
    )


def check_options(val_fraction: float, limit_per_class: int | None) -> None:
    """UsageError for a val fraction outside [0, 1) or a per-class limit below 1."""
    if not 0 <= val_fraction < 1:
        raise UsageError(f"val_fraction must be in [0, 1), got {val_fraction}")
    if limit_per_class is not None and limit_per_class < 1:
        raise UsageError(f"limit_per_class must be a positive integer, got {limit_per_class}")


def cap_per_class(rows: Rows, limit: int | None, seed: int) -> Rows:
    """Keep at most ``limit`` rows per (split, class), chosen by split key (deterministic)."""
    if limit is None:
        return rows
    groups: dict[tuple[str, str | None], list[int]] = defaultdict(list)
    for i, (split, name) in enumerate(zip(rows.splits, rows.names)):
        groups[(split or "train", name)].append(i)
    keep: set[int] = set()
    for members in groups.values():
        order = order_by_key([rows.keys[i] for i in members], seed)
        keep.update(members[j] for j in order[:limit])
    return rows.subset(i for i in range(len(rows)) if i in keep)


def _classes_from(rows: Rows) -> list[str]:
    train = [n for n, s in zip(rows.names, rows.splits) if n is not None and s in (None, "train")]
    return sort_classes(train or [n for n in rows.names if n is not None])


def _drop_unknown_labels(rows: Rows, classes: list[str], skipped: SkipReport, what: str) -> Rows:
    known = set(classes)
    keep = []
    for i, name in enumerate(rows.names):
        if name is None or name in known:
            keep.append(i)
        else:
            skipped.add(rows.where[i], f"unknown label: {name!r} ({rows.splits[i]}) is not in {what}")
    return rows if len(keep) == len(rows) else rows.subset(keep)


def note_case_variants(classes: Sequence[str], skipped: SkipReport, source: str) -> None:
    """Classes whose names differ only by case ("Cat", "CAT") stay apart (they may be meant so), but
    the user is told, in the skip report the run prints and saves."""
    groups: dict[str, list[str]] = defaultdict(list)
    for name in classes:
        groups[name.casefold()].append(name)
    for names in groups.values():
        if len(names) > 1:
            skipped.add(source, f"label note: classes {', '.join(repr(n) for n in names)} differ only by case and "
                                "are kept as separate classes; spell them alike if they are one class")


def _require_two_classes(classes: list[str], rows: Rows, source: str, explicit: bool) -> None:
    """Two classes with items, or two declared classes (an evaluation set may hold only one)."""
    present = {n for n in rows.names if n is not None}
    if len(classes) < 2 or (len(present) < 2 and not explicit):
        found = sorted(present) or "none"
        raise DataError(
            f"{source}: a classifier needs at least 2 classes with usable items; found {found}. "
            "Give each class its own folder (root/<class>/<file>) or label column values; "
            "see the skip report for files that could not be used."
        )


def _split_off_val(
    keys: list[str], labels: np.ndarray, splits: np.ndarray, fraction: float, seed: int
) -> np.ndarray:
    pool = np.flatnonzero(splits == "train")
    mask = stratified_split([keys[i] for i in pool], labels[pool], fraction, seed)
    splits = splits.copy()
    splits[pool[mask]] = "val"
    return splits


def _log_summary(source: str, n: int, classes: list[str], skipped: SkipReport) -> None:
    logger.info("read %d items in %d classes from %s", n, len(classes), source)
    if skipped:
        logger.warning("%s: %s", source, skipped.summary())
