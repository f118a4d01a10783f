"""Random row caps shared by the shift measures (their cost grows faster than linearly in n)."""

from __future__ import annotations

import numpy as np

from graft.errors import UsageError


def cap_rows(a: np.ndarray, max_samples: int | None, rng: np.random.Generator) -> np.ndarray:
    """At most ``max_samples`` rows of ``a``, drawn without replacement, in their original order."""
    if max_samples is None or len(a) <= max_samples:
        return a
    return a[np.sort(rng.choice(len(a), size=max_samples, replace=False))]


def check_max_samples(max_samples: int | None) -> None:
    if max_samples is not None and max_samples < 2:
        raise UsageError(f"max_samples must be at least 2 (or None for no cap), got {max_samples}")
