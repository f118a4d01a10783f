"""Writing a source / target pair of tables (table-to-table transfer) as CSV files.

A pair folder holds ``source.csv`` (every source row), ``target.csv`` (``per_class`` labelled target
rows: the few labels a team has) and ``target_test.csv`` (the other target rows, labelled, for
scoring only). All three share one schema, so ``graft transfer-table --source DIR/source.csv
--target DIR/target.csv --label COL`` runs on them as they are.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from graft._config import atomic_write_text
from graft.data.builtin._output import Counts

LAYOUT = ("source.csv (every source row), target.csv ({n} labelled target rows, chosen at random), "
          "target_test.csv (the other target rows, for scoring); label column {label!r}")


def split_target(n_rows: int, n_labelled: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Row indices of the labelled target rows and of the held-out ones (deterministic in ``seed``)."""
    order = np.random.default_rng(seed).permutation(n_rows)
    return np.sort(order[:n_labelled]), np.sort(order[n_labelled:])


def write_pair(tmp: Path, source: Any, target: Any, label: str, n_labelled: int, seed: int,
               classes: bool) -> tuple[Counts, dict[str, Any]]:
    """Write the three CSV files; counts per file (per class for a class label, else ``rows``)."""
    labelled, held_out = split_target(len(target), min(n_labelled, len(target) - 1), seed)
    tables = {"source": source, "target": target.iloc[labelled], "target_test": target.iloc[held_out]}
    counts: Counts = {}
    for name, frame in tables.items():
        atomic_write_text(tmp / f"{name}.csv", frame.to_csv(index=False, lineterminator="\n"))
        counts[name] = ({str(k): int(v) for k, v in frame[label].value_counts().sort_index().items()} if classes
                        else {"rows": int(len(frame))})
    return counts, {"label": label, "columns": [str(c) for c in source.columns]}


def check_rows(per_class: int | None, default: int) -> int:
    """The labelled target rows asked for (``per_class``), at least 6 (transfer-table cross-validates them)."""
    from graft.errors import UsageError

    n = default if per_class is None else per_class
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 6:
        raise UsageError(f"per_class (--per-class) is the number of labelled target rows here: give an integer >= 6, "
                         f"got {per_class!r}")
    return int(n)
