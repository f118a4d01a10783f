"""``graft report``: a model's whole story on one self-contained HTML page.

The data (classes, counts, skipped files), backbone ranking, fit's arms and why one won, learning
curves, confusion matrix and per-class F1, verify's intervals and verdict, drift checks, the lineage
chain with licences, and the commands that reproduce the model; plots inline as SVG, no script,
nothing fetched from elsewhere. A regression model's page has R² / RMSE / MAE, the target per
split, predictions against the truth and its residuals instead (``graft.report.regression``).

Example:
    >>> import graft
    >>> graft.report("models/pets")                       # doctest: +SKIP
    PosixPath('models/pets/report.html')
"""

from __future__ import annotations

import sys
import types
from typing import Any

from graft.report.write import REPORT, attach, render, report, report_path

__all__ = ["REPORT", "attach", "render", "report", "report_path"]


class _CallableModule(types.ModuleType):
    """``graft.report(...)`` calls :func:`report` even once this subpackage is imported (importing a
    subpackage makes ``graft.report`` the module, which would hide the function of the same name)."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return report(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
