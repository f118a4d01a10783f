"""Topic-labelled quotes from the Debian ``fortunes`` package, as ``train.csv`` / ``test.csv`` (text,label).

A fortune file is quotes separated by lines holding only ``%``. Backspace overstriking (old-style bold
and underline, ``_\\bx``) is removed. Quotes filed under two of the chosen categories are dropped
(their label is ambiguous). The offensive collection (``off/``) is never read.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from graft._config import atomic_write_text
from graft.data.builtin._output import Counts, check_per_class, materialise, require_file
from graft.data.builtin.registry import DATASETS, BuiltinDataset
from graft.data.split import order_by_key, stratified_split
from graft.errors import UsageError

ROOT = Path("/usr/share/games/fortunes")
PACKAGE = "fortunes"
#: Well-populated categories with distinct topics (each has 147+ quotes).
DEFAULT_CATEGORIES = ("computers", "food", "law", "politics", "science", "sports")
TEST_FRACTION = 0.2
_SEPARATOR = re.compile(r"^%[ \t]*$", re.MULTILINE)
_OVERSTRIKE = re.compile(r".\x08")


def categories(root: Path = ROOT) -> list[str]:
    """Category files in ``root`` (index ``.dat`` files, ``.u8`` links and sub-folders such as ``off/`` excluded)."""
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_file() and "." not in p.name)


def parse_quotes(text: str) -> list[str]:
    """The quotes of one fortune file, stripped, overstriking removed, empty ones dropped."""
    text = _OVERSTRIKE.sub("", text)
    return [q.strip() for q in _SEPARATOR.split(text) if q.strip()]


def load_quotes(names: Sequence[str], root: Path = ROOT) -> dict[str, list[str]]:
    """Unique quotes per category; quotes found in two of ``names`` are dropped from both."""
    quotes = {n: list(dict.fromkeys(parse_quotes(_read(root / n)))) for n in names}
    owners: dict[str, int] = {}
    for texts in quotes.values():
        for q in texts:
            owners[q] = owners.get(q, 0) + 1
    return {n: [q for q in texts if owners[q] == 1] for n, texts in quotes.items()}


def _read(path: Path) -> str:
    return path.read_bytes().decode("utf-8", errors="replace")


def make(
    out_dir: Path, per_class: int | None = None, seed: int = 0, *, categories: Sequence[str] | None = None
) -> Path:
    """Write ``per_class`` quotes per category (default 120) into train.csv and test.csv (20 % test)."""
    per_class = SPEC.default_per_class if per_class is None else per_class
    check_per_class(per_class)
    require_file(ROOT, PACKAGE, "fortunes")
    chosen = _check_categories(categories or DEFAULT_CATEGORIES)
    params = {"per_class": per_class, "seed": seed, "options": {"categories": chosen}}
    layout = "train.csv and test.csv with columns text,label (label = fortune category)"
    return materialise(SPEC, out_dir, params, lambda tmp: _build(tmp, chosen, per_class, seed), layout)


def _check_categories(names: Sequence[str]) -> list[str]:
    names = sorted(set(names))
    known = categories()
    unknown = [n for n in names if n not in known]
    if unknown:
        raise UsageError(f"unknown fortune categories {unknown}; installed: {', '.join(known)}")
    if len(names) < 2:
        raise UsageError("fortunes needs at least 2 categories")
    return names


def _build(tmp: Path, names: list[str], per_class: int | None, seed: int) -> tuple[Counts, dict[str, Any]]:
    quotes = load_quotes(names)
    texts, labels = [], []
    for label, name in enumerate(names):
        pool = quotes[name]
        texts += [pool[i] for i in order_by_key(pool, seed)[:per_class]]
        labels += [label] * min(len(pool), per_class or len(pool))
    is_test = stratified_split(texts, np.asarray(labels), TEST_FRACTION, seed)
    counts: Counts = {}
    for split, mask in (("train", ~is_test), ("test", is_test)):
        rows = [(t, names[y]) for t, y, m in zip(texts, labels, mask) if m]
        _write_csv(tmp / f"{split}.csv", rows)
        counts[split] = {n: sum(1 for _, label in rows if label == n) for n in names}
    return counts, {"categories": names, "available_per_category": {n: len(q) for n, q in quotes.items()}}


def _write_csv(path: Path, rows: list[tuple[str, str]]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["text", "label"])
    writer.writerows(rows)
    atomic_write_text(path, buffer.getvalue())


SPEC = BuiltinDataset(
    name="fortunes",
    modality="text",
    description="Quotes from the Unix fortune database labelled by topic (computers, food, law, ...)",
    license="public domain / BSD (Debian fortunes-mod; individual quotes belong to their authors)",
    requires=(f"apt:{PACKAGE}",),
    make=make,
    default_per_class=120,
    source=f"{ROOT} (Debian {PACKAGE}, fortunes-min)",
)
DATASETS.add(SPEC.name, SPEC)
