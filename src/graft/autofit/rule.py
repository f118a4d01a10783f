"""The honest choice between arms: the simpler arm is kept unless a more complex one beats it on
validation by more than one standard error.

A validation split of a few hundred examples cannot tell methods a point or two apart, and picking
the top of several noisy scores favours a lucky one. So the arms are walked from the simplest
(cheapest, least able to overfit the validation set) to the most complex, and the current pick is
replaced only by an arm whose validation accuracy exceeds the pick's by more than the pick's
binomial standard error ``sqrt(p (1 - p) / n_val)``. A tie keeps the simpler arm.

Arms of the same cost ``tier`` (rows may carry one: ``graft fit`` puts the last-layer and the
multi-layer probe, which read one extraction and run one forward pass at prediction, in tier 0) are
compared like two values of C: the higher validation accuracy wins, a tie keeps the simpler. The
one-standard-error margin is what an arm that costs more must clear.
"""

from __future__ import annotations

import math
from typing import Any

RULE = "one-standard-error"


def standard_error(accuracy: float, n: int) -> float:
    """Binomial standard error of an accuracy measured on ``n`` examples (floored so 0 and 1 are not exact)."""
    return math.sqrt(max(accuracy * (1 - accuracy), 1e-4) / max(int(n), 1))


def choose(candidates: list[dict[str, Any]], preference: list[str] | None = None) -> tuple[str, str]:
    """Pick one candidate by the one-standard-error rule; returns its ``method`` and the reason.

    Args:
        candidates: rows with ``method``, ``val_accuracy`` and ``n_val`` (rows without a validation
            score — skipped arms — take no part).
        preference: method names from the simplest to the most complex; methods not named follow
            in row order. Default: the row order (``graft fit`` runs arms simplest first).

    Example:
        >>> rows = [{"method": "probe", "val_accuracy": 0.86, "n_val": 200},
        ...         {"method": "multilayer", "val_accuracy": 0.90, "n_val": 200},
        ...         {"method": "lp-ft", "val_accuracy": 0.91, "n_val": 200}]
        >>> choose(rows)[0]
        'multilayer'
    """
    scored = {c["method"]: c for c in candidates if c.get("val_accuracy") is not None}
    if not scored:
        raise ValueError("choose() needs at least one candidate with a validation score")
    names = list(preference or []) + [c["method"] for c in candidates]
    order = [m for m in dict.fromkeys(names) if m in scored]
    pick, steps = order[0], []
    for name in order[1:]:
        p, n = scored[pick]["val_accuracy"], scored[pick].get("n_val", 0)
        se = standard_error(p, n)
        acc = scored[name]["val_accuracy"]
        tier, pick_tier = scored[name].get("tier"), scored[pick].get("tier")
        if tier is not None and tier == pick_tier:  # same cost: validation decides as it does for C
            steps.append(f"{name} ({acc:.4f}) {'beat' if acc > p else 'did not beat'} {pick} ({p:.4f}), "
                         "an arm of the same cost")
            pick = name if acc > p else pick
        elif acc > p + se:
            steps.append(f"{name} ({acc:.4f}) beat {pick} ({p:.4f}) by more than one standard error ({se:.4f}, n={n})")
            pick = name
        else:
            steps.append(f"{name} ({acc:.4f}) did not beat {pick} ({p:.4f}) by more than one standard error ({se:.4f})")
    if len(order) == 1:
        return pick, f"{pick} was the only method scored on validation"
    return pick, f"{RULE} rule, simplest first: " + "; ".join(steps)
