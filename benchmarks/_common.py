"""Shared bits of the benchmark scripts: a scratch workspace and timing helpers."""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Callable

WORK = Path(os.environ.get("GRAFT_BENCH_DIR", Path(tempfile.gettempdir()) / "graft-bench"))


def workspace(name: str) -> Path:
    path = WORK / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def alternate(a: Callable[[], object], b: Callable[[], object], repeats: int = 3) -> tuple[float, float]:
    """Median wall times of ``a`` and ``b``, run alternately (a, b, a, b, …) so that machine noise
    hits both the same way."""
    ta, tb = [], []
    for _ in range(repeats):
        ta.append(timed(a))
        tb.append(timed(b))
    return statistics.median(ta), statistics.median(tb)
