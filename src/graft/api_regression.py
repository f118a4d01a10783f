"""The regression side of the Python API: :func:`graft.probe`, :func:`graft.evaluate` and
:func:`graft.predict` come here when the data's label (or the model's target) is a number.

A regression model is a :class:`~graft.models.SavedModel` whose ``config.task`` is
``"regression"``: ``classes`` is ``[<target name>]``, the head a one-output ridge head
(:mod:`graft.heads.regression`) and ``config.head`` records ``alpha`` and the target scaling.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from graft.errors import UsageError

if TYPE_CHECKING:
    from graft.data.dataset import Dataset
    from graft.heads.regression import RidgeConfig
    from graft.models.saved import SavedModel


def ridge_config(config: Any, layers: str | None) -> "RidgeConfig":
    """The ridge settings for ``probe(config=...)`` on regression data (a ``ProbeConfig`` left at its
    defaults is the CLI's way of saying "nothing fixed")."""
    from graft.heads.probe import ProbeConfig
    from graft.heads.regression import RidgeConfig

    if layers == "all" or type(config).__name__ == "MultiLayerConfig":
        raise UsageError("the multi-layer probe (layers='all', --layers all) fits classifiers; for a regression "
                         "target use the ridge probe on the last layer (layers='last')")
    if config is None or isinstance(config, RidgeConfig):
        return config or RidgeConfig()
    if isinstance(config, ProbeConfig):
        if config.C is not None:
            raise UsageError("C (--C) is the classification probe's strength; this data has a numeric target: fix "
                             "the ridge strength with --alpha (RidgeConfig(alpha=...) in Python)")
        return RidgeConfig(val_fraction=config.val_fraction, refit_on_val=config.refit_on_val)
    raise UsageError(f"probe on a regression target takes a RidgeConfig, not {type(config).__name__}")


def probe_regression(ds: "Dataset", backbone: str, config: "RidgeConfig", *, weights: str | Path | None,
                     image_size: int | None, allow_download: bool, batch_size: int, progress: bool) -> "SavedModel":
    """Ridge probe on frozen features of ``ds``; metrics on val and test go into the lineage."""
    from graft._config import to_dict
    from graft.api import _package, embed
    from graft.data.regression import target_summary
    from graft.heads.regression import fit_ridge
    from graft.metrics import regression_metrics

    features = embed(ds, backbone, weights=weights, image_size=image_size, allow_download=allow_download,
                     batch_size=batch_size, progress=progress)
    split = {s: features[ds.splits == s] for s in ("train", "val", "test")}
    val, test = ds.val, ds.test
    result = fit_ridge(split["train"], ds.train.targets, split["val"], val.targets, config)
    metrics: dict[str, Any] = {}
    if len(val):
        metrics["val"] = result.val_metrics
    if len(test):
        metrics["test"] = regression_metrics(test.targets, result.predict(split["test"]))
    settings = {"ridge": to_dict(config), "chosen_alpha": result.alpha, "search": result.search}
    target = {"name": ds.classes[0], **target_summary(ds.train.targets)}
    model = _package(ds, backbone, weights, image_size, result.head, "probe", settings, metrics,
                     head_config=result.head_config(), task="regression", target=target)
    model.config.task = "regression"
    return model


def evaluate_regression(model: "SavedModel", ds: "Dataset", fingerprint: str) -> dict[str, Any]:
    """R², RMSE, MAE, n and the residual summary of ``model`` on ``ds`` (its test split already chosen)."""
    from graft.api import _training_overlap
    from graft.metrics import regression_metrics

    if not ds.is_regression:
        raise UsageError(f"{ds.source} has class labels ({', '.join(ds.classes[:5])}…), but {model.path or 'the model'} "
                         f"predicts a number ({model.classes[0]!r}); give data whose label column holds numbers, "
                         "or pass --target-type regression (target_type='regression')")
    keep = np.flatnonzero(np.isfinite(ds.targets))
    if not len(keep):
        raise UsageError(f"{ds.source}: no item has a target to score against; check the label column")
    ds = ds.select(keep)
    predicted = model.predict_values(ds.items)
    result = regression_metrics(ds.targets, predicted, [_item_name(ds, i) for i in range(len(ds))], detailed=True)
    result["target"] = model.classes[0]
    result["skipped_files"] = len(ds.skipped)
    return result | _training_overlap(model, ds, fingerprint)


def _item_name(ds: "Dataset", i: int) -> str:
    item = ds.items[i]
    if isinstance(item, (str, Path)):
        text = str(item)
        return text if len(text) <= 80 else text[:77] + "..."
    return f"{ds.source}[{i}]"


def predict_regression(model: "SavedModel", items: Sequence[Any]) -> list[dict[str, Any]]:
    """One row per input: ``{"input", "value"}`` (the predicted number, in the target's units)."""
    values = model.predict_values(items)
    return [{"input": str(item), "value": float(v)} for item, v in zip(items, values)]


def refuse(command: str, instead: str, what: str = "a numeric target (regression)") -> UsageError:
    """The error a command that only classifies gives for regression data or models."""
    return UsageError(f"{command} is for classification and this is {what}; {instead}")
