"""The dataset type every stage speaks: items + label indices + class names + split + fingerprint."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Sequence

import numpy as np

from graft._config import atomic_write_text

Modality = Literal["image", "text", "audio", "array"]
TaskKind = Literal["classification", "regression"]
Split = Literal["train", "val", "test"]
UNLABELLED = -1


@dataclass
class Skipped:
    """One input that was left out, and why."""

    path: str
    reason: str


# Reasons that start so are notes on data that was read, not skipped inputs.
NOTE_PREFIXES = ("encoding note", "label note")


def _what(entries: list[Skipped]) -> str:
    """"3 row(s)", "2 file(s)" or "2 file(s) and 3 row(s)": table rows are named ``file:line N``."""
    rows = sum(1 for e in entries if ":line " in e.path or ": row " in e.path)
    files = len(entries) - rows
    return " and ".join(p for p in (f"{files} file(s)" if files else "", f"{rows} row(s)" if rows else "") if p)


@dataclass
class SkipReport:
    """Files that could not be used. Written next to outputs; never an exception that escapes."""

    entries: list[Skipped] = field(default_factory=list)

    def add(self, path: str | Path, reason: str) -> None:
        self.entries.append(Skipped(str(path), reason))

    def extend(self, other: "SkipReport") -> None:
        self.entries.extend(other.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def __bool__(self) -> bool:
        return bool(self.entries)

    @property
    def notes(self) -> list[Skipped]:
        """Entries that are remarks about data that was used (an encoding fallback, label spellings)."""
        return [e for e in self.entries if e.reason.startswith(NOTE_PREFIXES)]

    def summary(self) -> str:
        """"skipped 2 file(s) and 3 row(s): 3 malformed row, 2 unreadable image; note: ..."."""
        skips = [e for e in self.entries if not e.reason.startswith(NOTE_PREFIXES)]
        parts = []
        if skips:
            reasons: dict[str, int] = {}
            for e in skips:
                key = e.reason.split(":")[0]
                reasons[key] = reasons.get(key, 0) + 1
            counts = ", ".join(f"{n} {r}" for r, n in sorted(reasons.items(), key=lambda kv: -kv[1]))
            parts.append(f"skipped {_what(skips)}: {counts}")
        parts += [f"{e.reason} ({e.path})" for e in self.notes]
        return "; ".join(parts) or "nothing skipped"

    def write(self, path: str | Path) -> None:
        """Write ``path`` as a TSV of skipped files and reasons (atomically)."""
        lines = ["path\treason"] + [f"{e.path}\t{e.reason}" for e in self.entries]
        atomic_write_text(path, "\n".join(lines) + "\n")


@dataclass
class Dataset:
    """A labelled (or unlabelled) collection of raw inputs.

    Attributes:
        items: raw inputs — file paths (images, audio), strings (text) or arrays (numeric rows,
            image/waveform arrays). Backbones turn each item into tensors.
        labels: int array, index into ``classes``; ``-1`` (``UNLABELLED``) where unknown.
        classes: class names in a stable order (sorted folder names, or first-seen order of labels).
        modality: "image", "text", "audio" or "array".
        splits: per-item "train" / "val" / "test".
        source: where it was read from (for lineage and messages).
        skipped: what could not be used.
        sample_rate: for audio items given as arrays.
        task: "classification", or "regression": then ``targets`` holds the numbers, ``classes``
            is ``[<label column>]`` and ``labels`` is 0 (labelled) or ``-1`` (no target).
        targets: float targets of a regression dataset (NaN where unknown); ``None`` otherwise.
        where: per item, where it was read from (regression datasets; names the largest residuals).
    """

    items: list[Any]
    labels: np.ndarray
    classes: list[str]
    modality: Modality
    splits: np.ndarray | None = None
    source: str = "<memory>"
    skipped: SkipReport = field(default_factory=SkipReport)
    sample_rate: int | None = None
    task: TaskKind = "classification"
    targets: np.ndarray | None = None
    where: list[str] | None = None  # regression: where each item came from ("file:line 7"), for residual lists
    _fingerprint: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.labels = np.asarray(self.labels, dtype=np.int64)
        if self.splits is None:
            self.splits = np.full(len(self.items), "train", dtype=object)
        self.splits = np.asarray(self.splits, dtype=object)
        if not (len(self.items) == len(self.labels) == len(self.splits)):
            raise ValueError("items, labels and splits must have the same length")
        if self.task == "regression":
            if self.targets is None or len(self.targets) != len(self.items):
                raise ValueError("a regression dataset needs one target per item")
            self.targets = np.asarray(self.targets, dtype=np.float64)

    def __len__(self) -> int:
        return len(self.items)

    @property
    def y(self) -> np.ndarray:
        """Class indices, or the float targets of a regression dataset."""
        return self.targets if self.is_regression else self.labels

    @property
    def is_regression(self) -> bool:
        return self.task == "regression"

    @property
    def is_labelled(self) -> bool:
        return bool(len(self.labels)) and bool(np.all(self.labels >= 0))

    def select(self, mask_or_index: np.ndarray | Sequence[int]) -> "Dataset":
        index = np.asarray(mask_or_index)
        if index.dtype == bool:
            index = np.flatnonzero(index)
        return Dataset(
            items=[self.items[i] for i in index],
            labels=self.labels[index],
            classes=list(self.classes),
            modality=self.modality,
            splits=self.splits[index],
            source=self.source,
            skipped=self.skipped,
            sample_rate=self.sample_rate,
            task=self.task,
            targets=self.targets[index] if self.targets is not None else None,
            where=[self.where[i] for i in index] if self.where is not None else None,
        )

    def split(self, name: Split) -> "Dataset":
        return self.select(self.splits == name)

    @property
    def train(self) -> "Dataset":
        return self.split("train")

    @property
    def val(self) -> "Dataset":
        return self.split("val")

    @property
    def test(self) -> "Dataset":
        return self.split("test")

    def has_split(self, name: Split) -> bool:
        return bool(np.any(self.splits == name))

    def class_counts(self) -> dict[str, int]:
        counts = np.bincount(self.labels[self.labels >= 0], minlength=len(self.classes))
        return {c: int(n) for c, n in zip(self.classes, counts)}

    def item_hashes(self) -> list[str]:
        from graft.data.hashing import item_hash

        return [item_hash(it) for it in self.items]

    @property
    def fingerprint(self) -> str:
        """Content hash of items, labels, classes and splits: the same data gives the same value."""
        if self._fingerprint is None:
            digest = hashlib.sha256()
            digest.update("\x1f".join(self.classes).encode())
            # a regression target enters as its exact float (hex); a class as its index, as always
            ys = self.labels.tolist() if not self.is_regression else [float(t).hex() for t in self.targets]
            for h, y, s in zip(self.item_hashes(), ys, self.splits.tolist()):
                digest.update(f"{h}:{y}:{s};".encode())
            self._fingerprint = digest.hexdigest()[:32]
        return self._fingerprint

    def describe(self) -> dict[str, Any]:
        if self.is_regression:
            return self._describe_regression()
        return {
            "source": self.source,
            "modality": self.modality,
            "n": len(self),
            "classes": list(self.classes),
            "splits": {s: int(np.sum(self.splits == s)) for s in ("train", "val", "test")},
            "skipped": len(self.skipped),
            "fingerprint": self.fingerprint,
        }

    def _describe_regression(self) -> dict[str, Any]:
        known = self.targets[np.isfinite(self.targets)]
        summary = ({"min": float(known.min()), "mean": float(known.mean()), "median": float(np.median(known)),
                    "max": float(known.max()), "std": float(known.std())} if len(known) else {})
        return {
            "source": self.source,
            "modality": self.modality,
            "task": "regression",
            "n": len(self),
            "target": self.classes[0] if self.classes else "target",
            "target_summary": summary,
            "splits": {s: int(np.sum(self.splits == s)) for s in ("train", "val", "test")},
            "skipped": len(self.skipped),
            "fingerprint": self.fingerprint,
        }
