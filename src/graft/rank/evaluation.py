"""How good is a ranker: agreement between its scores and the accuracies actually reached."""

from __future__ import annotations

from typing import Any

from graft.errors import UsageError
from graft.rank._checks import as_vector


def weighted_kendall_tau(scores: Any, accuracies: Any) -> float:
    """Weighted Kendall tau between a score and the fine-tuned accuracy of each candidate model.

    ``scipy.stats.weightedtau`` with its defaults (hyperbolic weights 1 / (r + 1) on the rank r in
    decreasing order), so swaps among the best models cost more than swaps among the worst: the
    metric used by the LogME paper. 1 is perfect agreement, -1 the reverse order. Both inputs must
    be "higher is better"; negate a score that is not.

    Args:
        scores: (m,) score of each of m >= 2 models.
        accuracies: (m,) accuracy (or any ground-truth quality) of the same models.

    Example:
        >>> weighted_kendall_tau([0.1, 0.5, 0.9], [70.0, 80.0, 90.0])
        1.0
    """
    from scipy.stats import weightedtau

    s, a = as_vector(scores, "scores"), as_vector(accuracies, "accuracies")
    if len(s) != len(a):
        raise UsageError(f"scores has {len(s)} entries but accuracies has {len(a)}; they must match")
    if len(s) < 2:
        raise UsageError("weighted_kendall_tau needs at least 2 models to compare")
    return float(weightedtau(s, a).statistic)
