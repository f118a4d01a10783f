"""Peak Python-allocated memory of a call (tracemalloc), for tests that bound copies of large arrays."""

from __future__ import annotations

import tracemalloc
from typing import Any, Callable


def traced_peak(fn: Callable[[], Any]) -> tuple[Any, int]:
    """``fn()``'s result and the peak bytes allocated while it ran (numpy arrays included)."""
    tracemalloc.start()
    try:
        result = fn()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
