"""Compare adaptation methods on one source/target pair; target labels, if given, only score."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from graft.adapt.base import check_domains
from graft.adapt.registry import create_adapter
from graft.adapt.selection import candidate_label

ALL_METHODS = ("source-only", "coral", "sa", "iw", "kmm", "kliep", "self-train", "auto")


@dataclass
class AdapterReport:
    """One method's result: its target accuracy (when labels were given) and fit facts.

    ``chosen`` is the candidate ``auto`` picked; ``estimator`` the fitted adapter.
    """

    method: str
    params: dict[str, Any]
    target_accuracy: float | None
    fit_seconds: float
    effective_sample_size: float | None = None
    chosen: str | None = None
    estimator: Any = field(default=None, repr=False)


def compare_adapters(
    Xs: Any,
    ys: Any,
    Xt: Any,
    yt: Any = None,
    methods: Sequence[str | tuple[str, dict[str, Any]]] = ALL_METHODS,
) -> list[AdapterReport]:
    """Fit each method on ``(Xs, ys, Xt)`` and, when ``yt`` is given, score it on the target.

    ``yt`` is read only after every method is fitted, to compute accuracy; no method sees it.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> Xs, ys = rng.normal(size=(60, 2)), np.repeat([0, 1], 30)
        >>> rows = compare_adapters(Xs, ys, Xs + 0.5, ys, methods=["source-only", "coral"])
        >>> [r.method for r in rows]
        ['source-only', 'coral']
    """
    Xs, ys, Xt = check_domains(Xs, ys, Xt)
    reports = []
    for spec in methods:
        name, params = (spec, {}) if isinstance(spec, str) else spec
        start = time.perf_counter()
        model = create_adapter(name, **params).fit(Xs, ys, Xt)
        seconds = time.perf_counter() - start
        selection = getattr(model, "selection_", None)
        reports.append(AdapterReport(
            name, dict(params), None, seconds, getattr(model, "effective_sample_size_", None),
            None if selection is None else candidate_label(selection.method, selection.params), model,
        ))  # fmt: skip
    if yt is not None:
        yt = np.asarray(yt)
        for r in reports:
            r.target_accuracy = float(np.mean(r.estimator.predict(Xt) == yt))
    return reports


def format_reports(reports: Sequence[AdapterReport]) -> str:
    """An aligned text table of `compare_adapters` results."""
    lines = [f"{'method':<14}{'target acc':>11}{'fit s':>8}{'ESS':>8}  chosen"]
    for r in reports:
        acc = "-" if r.target_accuracy is None else f"{r.target_accuracy:.3f}"
        ess = "" if r.effective_sample_size is None else f"{r.effective_sample_size:.0f}"
        lines.append(f"{r.method:<14}{acc:>11}{r.fit_seconds:>8.2f}{ess:>8}  {r.chosen or ''}")
    return "\n".join(lines)
