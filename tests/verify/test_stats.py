"""Intervals over seeds and the verdict rule."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from graft.errors import UsageError
from graft.verify import decide, t_interval, welch_interval


def test_t_interval_matches_scipy():
    values = [0.71, 0.75, 0.74, 0.70]
    low, high = stats.t.interval(0.95, len(values) - 1, loc=np.mean(values), scale=stats.sem(values))
    i = t_interval(values)
    assert i.low == pytest.approx(low) and i.high == pytest.approx(high) and i.n == 4 and i.df == 3


def test_one_run_is_a_point_without_an_interval():
    i = t_interval([0.8])
    assert (i.low, i.mean, i.high, i.df) == (0.8, 0.8, 0.8, None)
    assert i.text() == "80.0"


def test_welch_interval_matches_the_textbook_formula():
    a, b = [0.90, 0.92, 0.95], [0.60, 0.70, 0.65, 0.62]
    va, vb = np.var(a, ddof=1) / 3, np.var(b, ddof=1) / 4
    df = (va + vb) ** 2 / (va**2 / 2 + vb**2 / 3)
    half = stats.t.ppf(0.975, df) * np.sqrt(va + vb)
    i = welch_interval(a, b)
    diff = np.mean(a) - np.mean(b)
    assert i.mean == pytest.approx(diff) and i.low == pytest.approx(diff - half) and i.df == pytest.approx(df)


def test_a_deterministic_arm_counts_as_a_constant():
    i = welch_interval([0.8, 0.84], [0.7])  # the probe runs once
    assert i.mean == pytest.approx(0.12) and i.df == pytest.approx(1.0)
    assert i.half_width == pytest.approx(stats.t.ppf(0.975, 1) * np.std([0.8, 0.84], ddof=1) / np.sqrt(2))
    assert welch_interval([0.5, 0.5], [0.4]).low == pytest.approx(0.1)  # nothing varies: the point difference


@pytest.mark.parametrize("a, b, verdict", [
    ([0.90, 0.91, 0.92], [0.50, 0.52, 0.51], "positive transfer"),
    ([0.40, 0.42, 0.41], [0.90, 0.91, 0.92], "negative transfer"),
    ([0.70, 0.80, 0.75], [0.72, 0.78, 0.74], "inconclusive"),
])
def test_the_verdict_follows_the_interval_of_the_gain(a, b, verdict):
    assert decide(welch_interval(a, b)) == verdict


def test_bad_inputs_are_usage_errors():
    with pytest.raises(UsageError):
        t_interval([])
    with pytest.raises(UsageError):
        t_interval([0.5, float("nan")])
    with pytest.raises(UsageError, match="confidence"):
        welch_interval([0.5, 0.6], [0.4, 0.5], confidence=95)
