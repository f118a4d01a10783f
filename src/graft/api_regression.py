"""The regression side of the Python API: :func:`graft.probe`, :func:`graft.evaluate`,
:func:`graft.predict` and :func:`graft.fit` come here when the data's label (or the model's
target) is a number.

A regression model is a :class:`~graft.models.SavedModel` whose ``config.task`` is
``"regression"``: ``classes`` is ``[<target name>]``, the head a one-output ridge head
(:mod:`graft.heads.regression`, or over every block: :mod:`graft.heads.regression_multilayer`)
and ``config.head`` records ``alpha`` and the target scaling.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from graft.errors import UsageError

if TYPE_CHECKING:
    from graft.data.dataset import Dataset
    from graft.heads.regression import RidgeConfig
    from graft.heads.regression_multilayer import MultiLayerRidgeConfig
    from graft.models.saved import SavedModel


def ridge_config(config: Any, layers: str | None) -> "RidgeConfig | MultiLayerRidgeConfig":
    """The ridge settings for ``probe(config=...)`` on regression data (a ``ProbeConfig`` or
    ``MultiLayerConfig`` left at its defaults is the CLI's way of saying "nothing fixed")."""
    from graft.heads.probe import ProbeConfig
    from graft.heads.regression import RidgeConfig
    from graft.heads.regression_multilayer import MultiLayerRidgeConfig

    if isinstance(config, MultiLayerRidgeConfig) or (config is None and layers == "all"):
        return config or MultiLayerRidgeConfig()
    if type(config).__name__ == "MultiLayerConfig" or layers == "all":
        if getattr(config, "C", None) is not None or getattr(config, "views", ()):
            raise UsageError("a numeric target gets the multi-layer ridge probe: C and views (--C, --views) are the "
                             "classifier's; leave them out (MultiLayerRidgeConfig in Python)")
        return MultiLayerRidgeConfig()
    if config is None or isinstance(config, RidgeConfig):
        return config or RidgeConfig()
    if isinstance(config, ProbeConfig):
        if config.C is not None:
            raise UsageError("C (--C) is the classification probe's strength; this data has a numeric target: fix "
                             "the ridge strength with --alpha (RidgeConfig(alpha=...) in Python)")
        return RidgeConfig(val_fraction=config.val_fraction, refit_on_val=config.refit_on_val)
    raise UsageError(f"probe on a regression target takes a RidgeConfig, not {type(config).__name__}")


def probe_regression(ds: "Dataset", backbone: str, config: "RidgeConfig | MultiLayerRidgeConfig", *,
                     weights: str | Path | None, image_size: int | None, allow_download: bool, batch_size: int,
                     progress: bool) -> "SavedModel":
    """Ridge probe on frozen features of ``ds`` (last layer, or every block with a
    ``MultiLayerRidgeConfig``); metrics on val and test go into the lineage."""
    from graft._config import to_dict
    from graft.api import _package, embed
    from graft.data.regression import target_summary
    from graft.heads.regression import fit_ridge
    from graft.heads.regression_multilayer import MultiLayerRidgeConfig, probe_multilayer_ridge
    from graft.metrics import regression_metrics

    target = {"name": ds.classes[0], **target_summary(ds.train.targets)}
    if isinstance(config, MultiLayerRidgeConfig):
        ml = probe_multilayer_ridge(ds, backbone, config, weights=weights, image_size=image_size,
                                    allow_download=allow_download, batch_size=batch_size, progress=progress)
        settings = {"multilayer_ridge": to_dict(config), "chosen_alpha": ml.head_config["alpha"],
                    "chosen_keep": ml.head_config["keep"], "search": ml.search, "taps": ml.head_config["taps"]}
        model = _package(ds, backbone, weights, image_size, ml.head, "probe", settings, ml.metrics,
                         head_config=ml.head_config, task="regression", target=target)
        model.config.task = "regression"
        return model
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
    if ds.where is not None and not isinstance(item, Path):  # a table row: its file and line
        return ds.where[i]
    if isinstance(item, Path):  # a file: its end names it
        text = str(item)
        return text if len(text) <= 80 else "..." + text[-77:]
    if isinstance(item, str):  # a text: its start
        return item if len(item) <= 80 else item[:77] + "..."
    return f"{ds.source}[{i}]"


def predict_regression(model: "SavedModel", items: Sequence[Any]) -> list[dict[str, Any]]:
    """One row per input: ``{"input", "value"}`` (the predicted number, in the target's units)."""
    values = model.predict_values(items)
    return [{"input": str(item), "value": float(v)} for item, v in zip(items, values)]


def refuse(command: str, instead: str, what: str = "a numeric target (regression)") -> UsageError:
    """The error a command that only classifies gives for regression data or models."""
    return UsageError(f"{command} is for classification and this is {what}; {instead}")


def loaded_is_regression(model: Any) -> bool:
    """Whether a loaded model (a SavedModel or an export) predicts numbers."""
    return bool(getattr(model, "is_regression", False))


def write_values(rows: list[dict[str, Any]], path: str | Path) -> None:
    """``graft predict --out`` of a regression model: a CSV of input, value (written atomically)."""
    import csv
    import io

    from graft._config import atomic_write_text

    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["input", "value"])
    for r in rows:
        writer.writerow([r["input"], repr(float(r["value"]))])
    atomic_write_text(path, buffer.getvalue())


def fit_regression(ds: "Dataset", out: str | Path | None, config: Any, *, weights: str | Path | None = None,
                   allow_download: bool = False, overwrite: bool = False,
                   progress: Any = None) -> tuple["SavedModel", dict[str, Any]]:
    """``graft fit`` on a numeric target: a ridge probe per backbone and input size, then (when
    ``config.arms`` has "multilayer" and the data has a backbone) the multi-layer ridge probe on the
    first backbone, within the time budget; the best validation R² is kept (ties: the earlier,
    cheaper arm), refitted on train + val and saved with the report (``fit.json``). Fine-tuning
    trains with a classification loss and is listed as not run.
    """
    import json
    import time

    from graft.api import save_model
    from graft.heads.regression import RidgeConfig

    notify = progress or (lambda event: None)
    start = time.perf_counter()
    backbones, how = _fit_backbones(ds, config)
    sizes = list(config.image_sizes or [None]) if ds.modality == "image" else [None]
    rows: list[dict[str, Any]] = []
    for i, (backbone, size) in enumerate((b, s) for b in backbones for s in sizes):
        arm = f"ridge:{backbone}" + (f"@{size}" if size else "")
        if i and time.perf_counter() - start > config.time_budget:
            notify({"event": "stage", "message": f"{arm}: skipped, the time budget is spent"})
            continue
        notify({"event": "stage", "message": f"{arm}: running"})
        rows.append(_ridge_arm(ds, backbone, size, weights if i == 0 else None, allow_download))
        notify({"event": "stage", "message": f"{arm}: validation R² {rows[-1]['val_r2']:.4f}"})
    not_run = {"finetune": "fine-tuning trains with a classification loss"}
    built: dict[str, "SavedModel"] = {}
    if ds.modality == "array" or "multilayer" not in config.arms:
        not_run["multilayer"] = "numeric rows have no blocks" if ds.modality == "array" else "not in --arms"
    elif time.perf_counter() - start > config.time_budget:
        not_run["multilayer"] = "the time budget was spent"
    else:
        name = f"multilayer-ridge:{backbones[0]}" + (f"@{sizes[0]}" if sizes[0] else "")
        notify({"event": "stage", "message": f"{name}: running"})
        row, built[name] = _multilayer_arm(ds, backbones[0], sizes[0], weights, allow_download, name)
        rows.append(row)
    best = max(rows, key=lambda r: (r["val_r2"], -rows.index(r)))
    reason = (f"highest validation R² ({best['val_r2']:.4f}) of {len(rows)} arm(s)"
              if len(rows) > 1 else "the only arm run")
    model = built.get(best["method"]) or probe_regression(
        ds, best["backbone"], RidgeConfig(), weights=weights if best is rows[0] else None,
        image_size=best["image_size"], allow_download=allow_download, batch_size=64, progress=False)
    report = {"task": "regression", "metric": "r2", "arms": rows, "chosen": best["method"], "reason": reason,
              "backbones": {"how": how, "backbones": backbones}, "not_run": not_run,
              "seconds": round(time.perf_counter() - start, 1),
              "model_metrics": {s: m for s, m in model.lineage.get("metrics", {}).items() if s == "test"}}
    model.lineage["fit"] = report
    model.extra_files["fit.json"] = (json.dumps(report, indent=2, default=str) + "\n").encode()
    if out is not None:
        save_model(model, out, ds, overwrite=overwrite, report=True)
    return model, report


def _multilayer_arm(ds: "Dataset", backbone: str, size: int | None, weights: str | Path | None,
                    allow_download: bool, name: str) -> tuple[dict[str, Any], "SavedModel"]:
    """The multi-layer ridge probe as a fit arm: its row (val R² of the train-only fit that chose the
    columns; test R² of the model refitted on train + val) and the model itself."""
    import time

    from graft.heads.regression_multilayer import MultiLayerRidgeConfig

    start = time.perf_counter()
    model = probe_regression(ds, backbone, MultiLayerRidgeConfig(), weights=weights, image_size=size,
                             allow_download=allow_download, batch_size=64, progress=False)
    metrics, head = model.lineage["metrics"], model.config.head
    row = {"method": name, "backbone": backbone, "image_size": size, "alpha": head["alpha"], "keep": head["keep"],
           "val_r2": metrics["val"]["r2"], "n_val": metrics["val"]["n"],
           "test_r2": metrics["test"]["r2"] if "test" in metrics else None, "test_after_refit": True,
           "seconds": round(time.perf_counter() - start, 2)}
    return row, model


def _fit_backbones(ds: "Dataset", config: Any) -> tuple[list[str], str]:
    if config.backbones:
        return list(dict.fromkeys(config.backbones)), "given"
    if ds.modality == "array":
        return ["identity"], "numeric rows: no backbone"
    from graft.rank.driver import offline_backbones

    names = offline_backbones(ds.modality)[: config.max_backbones]
    if not names:
        raise UsageError(f"no {ds.modality} backbone has its weights on this machine; name one with --backbone")
    # LogME ranks backbones for classification; for a number each kept backbone gets its own ridge arm
    return names, f"the first {len(names)} offline {ds.modality} backbone(s), each tried"


def _ridge_arm(ds: "Dataset", backbone: str, size: int | None, weights: str | Path | None,
               allow_download: bool) -> dict[str, Any]:
    """Ridge on train, scored on val (chooses) and test (reported): one row of the fit report."""
    import time

    from graft.api import embed
    from graft.heads.regression import RidgeConfig, fit_ridge
    from graft.metrics import regression_metrics

    start = time.perf_counter()
    features = embed(ds, backbone, weights=weights, image_size=size, allow_download=allow_download)
    part = {s: features[ds.splits == s] for s in ("train", "val", "test")}
    result = fit_ridge(part["train"], ds.train.targets, part["val"], ds.val.targets,
                       RidgeConfig(refit_on_val=False))  # validation stays unseen: it chooses
    test = regression_metrics(ds.test.targets, result.predict(part["test"]))["r2"] if len(part["test"]) else None
    return {"method": f"ridge:{backbone}" + (f"@{size}" if size else ""), "backbone": backbone, "image_size": size,
            "alpha": result.alpha, "val_r2": result.val_metrics["r2"], "n_val": len(part["val"]), "test_r2": test,
            "seconds": round(time.perf_counter() - start, 2)}
