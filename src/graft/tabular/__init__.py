"""Table-to-table transfer: a big source table helps a small target table, or is caught hurting it.

Strategies (each a registered ``@dataclass`` config, like the adapters): ``target_only``,
``source_only``, ``pooled``, ``weight_classifier`` / ``weight_kmm`` (instance weighting by density
ratio), ``tradaboost`` / ``tradaboost_r2``, ``augment`` (Daumé) and ``continue_boosting``
(LightGBM ``init_model``). ``transfer_table(..., method="auto")`` picks one by cross-validation on
the labelled target rows and judges it against target-only.

Importing this package registers the loader of saved table models (``"format": "graft-table"``)
with ``graft.models``; LightGBM is imported only when a learner is fitted or loaded.

Example:
    >>> from graft.tabular import list_methods
    >>> "continue_boosting" in list_methods("regression")
    True
"""

from __future__ import annotations

from graft.models.saved import register_loader
from graft.tabular.model import FORMAT, TableModel, load_table_model
from graft.tabular.strategies import create_method, list_methods, register_method

register_loader(FORMAT, load_table_model)

__all__ = ["TableModel", "TableTransferConfig", "TableTransferResult", "create_method", "fit_table", "list_methods",
           "load_table_model", "register_method", "transfer_table"]


def __getattr__(name: str):  # the driver pulls in pandas and scikit-learn: load it on first use
    if name in ("transfer_table", "fit_table", "TableTransferConfig", "TableTransferResult"):
        from graft.tabular import driver

        return getattr(driver, name)
    raise AttributeError(f"module 'graft.tabular' has no attribute {name!r}")
