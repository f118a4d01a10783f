"""``readapt``: after drift, adapt a saved model to the new data and save it with the old one as parent.

Adaptation needs labelled source embeddings. They come from the model's training data when
``lineage["dataset"]["source"]`` still exists *and* still has the fingerprint recorded at
training time (so the labels are the ones the model learnt from); otherwise from the stored
reference sample, labelled by the old model's own predictions (pseudo-labels: the best guess of
what the model knew, and all that survives when the data is gone). The report says which.

The new data are embedded by the old model's backbone (``model.embed``), the chosen shallow
adapter (self-training by default; instance weighting with ``method="iw"``) is folded into a
`LinearHead`, and a fine-tuned backbone (or LoRA adapter), if the old model had one, is carried over unchanged.
"""

from __future__ import annotations

import copy
import hashlib
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from graft.errors import UsageError

if TYPE_CHECKING:
    from graft.data.dataset import Dataset
    from graft.models.saved import SavedModel

log = logging.getLogger(__name__)

READAPT_METHODS = ("self-train", "iw", "kmm", "kliep", "coral", "sa", "auto")


def model_fingerprint(model: "SavedModel") -> str:
    """sha256 of the model's saved weights file, or of its head when it was never saved."""
    from graft.models.saved import WEIGHTS

    digest = hashlib.sha256()
    if model.path is not None and (Path(model.path) / WEIGHTS).is_file():
        digest.update((Path(model.path) / WEIGHTS).read_bytes())
    else:
        for value in model.head.to_tensors().values():
            digest.update(np.ascontiguousarray(value).tobytes())
    return digest.hexdigest()


def parent_record(model: "SavedModel") -> dict[str, Any]:
    """What the new model's ``lineage["parent"]`` says about the model it was re-adapted from."""
    return {"model": str(Path(model.path).absolute()) if model.path else None, "model_sha256": model_fingerprint(model),
            "method": model.config.method, "created": model.lineage.get("created"),
            "backbone": model.config.backbone.name, "weights_sha256": model.config.backbone.weights_sha256}


def training_data(model: "SavedModel", **read_options: Any) -> "Dataset | None":
    """The model's training data, if its recorded path still holds the same data (same fingerprint);
    ``read_options`` read it as the model needs (e.g. a regression model's label as a number)."""
    from graft.data import read
    from graft.errors import GraftError

    record = model.lineage.get("dataset", {})
    path = record.get("source")
    if not path or not Path(path).exists():
        return None
    try:
        ds = read(path, **read_options)
    except GraftError as exc:
        log.warning("cannot read the training data at %s (%s); using the reference sample", path, exc)
        return None
    if ds.fingerprint != record.get("fingerprint"):
        log.warning("%s changed since the model was trained (fingerprint %s, recorded %s); using the reference sample",
                    path, ds.fingerprint, record.get("fingerprint"))
        return None
    return ds


def labelled_source(model: "SavedModel", batch_size: int = 64, progress: bool = False) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Source embeddings and class indices for re-adaptation, and a record of where they came from."""
    from graft.api import _map_classes

    ds = training_data(model)
    if ds is not None:
        ds = ds.select((ds.splits != "test") & (ds.labels >= 0))  # what the model was trained on
        labels, keep, _ = _map_classes(ds, model.classes)
        ds = ds.select(keep)
        X = np.asarray(model.embed(ds.items, batch_size=batch_size, progress=progress), dtype=np.float64)
        return X, labels[keep], {"kind": "training data", "path": ds.source, "fingerprint": ds.fingerprint, "n": len(ds)}
    if not model.reference or "embeddings" not in model.reference:
        raise UsageError("cannot re-adapt: the model's training data is gone (or changed) and it has no reference "
                         "sample (reference.safetensors); adapt from labelled data with `graft adapt` instead")
    X = np.asarray(model.reference["embeddings"], dtype=np.float64)
    return X, model.head.predict(X), {"kind": "reference sample pseudo-labelled by the model", "n": len(X)}


def _as_new_dataset(new_data: Any, model: "SavedModel") -> "Dataset":
    from graft.api import as_dataset
    from graft.data.dataset import Dataset

    if isinstance(new_data, Dataset):
        return new_data
    if isinstance(new_data, (str, Path)):
        return as_dataset(new_data, label_column=None)  # new data need no labels
    items = list(new_data)
    return Dataset(items=items, labels=np.full(len(items), -1), classes=[], modality=model.config.backbone.modality,
                   source="<items>")


def readapt(model: "SavedModel | str", new_data: Any, out: str | Path | None = None, *, method: str = "self-train",
            params: dict[str, Any] | None = None, seed: int = 0, drift: dict[str, Any] | None = None,
            batch_size: int = 64, progress: bool = False, overwrite: bool = False) -> tuple["SavedModel", dict[str, Any]]:
    """Re-adapt ``model`` to ``new_data`` (unlabelled) and return (and save to ``out``) the new model.

    Example:
        >>> new_model, report = readapt("models/fashion", "incoming/2024-06/", out="models/fashion-2024-06")  # doctest: +SKIP
        >>> report["source"]["kind"]                                                                        # doctest: +SKIP
        'training data'
    """
    from graft._config import to_dict
    from graft.adapt.driver import AdaptConfig, export_head, fit_adapter
    from graft.api import _as_model, check_out, reference_sample, save_model
    from graft.models.lineage import make_lineage
    from graft.models.saved import SavedModel

    if method not in READAPT_METHODS:
        raise UsageError(f"re-adaptation method must be one of {', '.join(READAPT_METHODS)}; got {method!r}")
    check_out(out, overwrite)
    old = _as_model(model)
    new_ds = _as_new_dataset(new_data, old)
    if len(new_ds) == 0:
        raise UsageError(f"{new_ds.source} is empty: re-adaptation needs examples of the new data")
    Xs, ys, source = labelled_source(old, batch_size, progress)
    Xt = np.asarray(old.embed(new_ds.items, batch_size=batch_size, progress=progress), dtype=np.float64)
    config = AdaptConfig(method=method, params=dict(params or {}), C=float(old.config.head.get("C", 1.0) or 1.0), seed=seed)
    estimator, info = fit_adapter(config, Xs, ys, Xt)
    head = export_head(estimator, len(old.classes))
    new_config = copy.deepcopy(old.config)
    new_config.method = f"adapt:{method}"
    new_config.head = {"type": "linear", "C": config.C, "adapter": info["chosen"]}
    adaptation = {"kind": "re-adaptation after drift", "source": source, "target": {"source": new_ds.source, "n": len(new_ds),
                  "labels_used": False}, "method": method, "chosen": info["chosen"], "reason": info["reason"],
                  "selection": info["selection"], "effective_sample_size": info["effective_sample_size"], "drift": drift}
    lineage = make_lineage(new_config, new_ds, {"adapt": to_dict(config)}, {}, parent=parent_record(old), adaptation=adaptation)
    new = SavedModel(new_config, head, lineage, copy.deepcopy(old.backbone_state),
                     reference=reference_sample(Xt, head.predict_proba(Xt), seed=seed))
    if getattr(old, "lora_state", None):  # a LoRA-tuned backbone travels with the head, unchanged
        new.lora_state = copy.deepcopy(old.lora_state)
    changed = float(np.mean(head.predict(Xt) != old.head.predict(Xt)))
    report = {"method": method, "chosen": info["chosen"], "reason": info["reason"], "source": source,
              "n_new": len(new_ds), "changed_predictions": changed, "parent": lineage["parent"]}
    if out is not None:
        from graft.report import attach

        attach(new, None, out, eval_data=None)  # report.html with the drift check, saved with the model
        report["model"] = str(save_model(new, out, new_ds, overwrite=overwrite))
    return new, report
