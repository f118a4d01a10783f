"""``graft fit`` (``graft.fit``): the automatic path — a budgeted search over transfer arms, chosen honestly on validation.

Layout: ``config`` (FitConfig), ``budget`` (clock and cost estimates), ``resolution`` (input size
from the data), ``study`` (Optuna: in memory or shared through a storage URL), ``arms`` / ``multi``
(the arms), ``rule`` (``choose``: the one-standard-error rule), ``search`` (the loop), ``report``
(fit.json). The package is not named ``graft.fit``: ``graft.fit`` is the function, and a
subpackage of the same name would replace it on ``graft`` as soon as anything imported it.
"""

from __future__ import annotations

import importlib
from typing import Any

from graft.autofit.config import ARM_KINDS, FitConfig

_LAZY = {"fit": "graft.autofit.search", "choose": "graft.autofit.rule"}  # numpy and friends load on first use

__all__ = ["ARM_KINDS", "FitConfig", "choose", "fit"]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'graft.autofit' has no attribute {name!r}")
    return getattr(importlib.import_module(_LAZY[name]), name)
