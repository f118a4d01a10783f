"""Intervals over seeds: Student-t for one arm, Welch for the difference between two arms.

Runs of one arm differ only by seed (initialisation, data order, augmentation), so these
intervals measure training randomness on a fixed test set, not the sampling error of that test set.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Literal, Sequence

import numpy as np

from graft.errors import UsageError

VerdictName = Literal["positive transfer", "negative transfer", "inconclusive"]


@dataclass(frozen=True)
class Interval:
    """A mean with a two-sided confidence interval.

    Attributes:
        mean: point estimate.
        low: lower end.
        high: upper end.
        confidence: e.g. 0.95.
        n: runs behind it (for a difference, those of the smaller arm).
        df: degrees of freedom of the t quantile (None: no spread could be estimated).
    """

    mean: float
    low: float
    high: float
    confidence: float
    n: int
    df: float | None

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2

    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0

    def text(self, scale: float = 100.0, unit: str = "") -> str:
        """``"81.2 ± 3.4"`` (values x ``scale``); a deterministic arm shows no ± part."""
        if self.df is None and self.low == self.high:
            return f"{self.mean * scale:.1f}{unit}"
        return f"{self.mean * scale:.1f} ± {self.half_width * scale:.1f}{unit}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def t_interval(values: Sequence[float], confidence: float = 0.95) -> Interval:
    """Student-t interval for the mean of ``values`` (one value: a point, no interval).

    Example:
        >>> round(t_interval([0.80, 0.82, 0.84]).half_width, 4)
        0.0497
    """
    x = _check(values, "values")
    _check_confidence(confidence)
    mean = float(x.mean())
    if len(x) < 2:
        return Interval(mean, mean, mean, confidence, len(x), None)
    df = len(x) - 1
    half = _quantile(confidence, df) * float(x.std(ddof=1)) / math.sqrt(len(x))
    return Interval(mean, mean - half, mean + half, confidence, len(x), float(df))


def welch_interval(a: Sequence[float], b: Sequence[float], confidence: float = 0.95) -> Interval:
    """Interval for mean(a) - mean(b) from independent runs (Welch: unequal variances allowed).

    An arm with one run (e.g. a deterministic probe) counts as a constant. When neither arm varies,
    the interval is the point difference.

    Example:
        >>> welch_interval([0.9, 0.92, 0.91], [0.5, 0.55, 0.52]).low > 0
        True
    """
    x, y = _check(a, "a"), _check(b, "b")
    _check_confidence(confidence)
    diff = float(x.mean() - y.mean())
    vx = x.var(ddof=1) / len(x) if len(x) > 1 else 0.0
    vy = y.var(ddof=1) / len(y) if len(y) > 1 else 0.0
    n = min(len(x), len(y)) if len(x) > 1 and len(y) > 1 else max(len(x), len(y))
    if vx + vy == 0:
        return Interval(diff, diff, diff, confidence, n, None)
    # Welch-Satterthwaite degrees of freedom; an arm with one run contributes no variance term
    terms = [v**2 / (len(z) - 1) for v, z in ((vx, x), (vy, y)) if len(z) > 1 and v > 0]
    df = (vx + vy) ** 2 / sum(terms)
    half = _quantile(confidence, df) * math.sqrt(vx + vy)
    return Interval(diff, diff - half, diff + half, confidence, n, float(df))


def decide(gain: Interval) -> VerdictName:
    """positive transfer when the gain's interval lies above 0, negative when below, else inconclusive."""
    if gain.low > 0:
        return "positive transfer"
    if gain.high < 0:
        return "negative transfer"
    return "inconclusive"


def _quantile(confidence: float, df: float) -> float:
    from scipy.stats import t

    return float(t.ppf(0.5 + confidence / 2, df))


def _check(values: Sequence[float], name: str) -> np.ndarray:
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 1 or x.size == 0 or not np.all(np.isfinite(x)):
        raise UsageError(f"{name} must be a non-empty 1-D list of finite numbers, got {values!r}")
    return x


def _check_confidence(confidence: float) -> None:
    if not 0 < confidence < 1:
        raise UsageError(f"confidence must be between 0 and 1, got {confidence}")
