"""The Python API. The CLI is a thin layer over these functions, one to one."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Sequence

import numpy as np

from graft.errors import UsageError

if TYPE_CHECKING:
    from graft.data.dataset import Dataset
    from graft.heads.multilayer import MultiLayerConfig
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
    overwrite: bool = False,
    weights: str | Path | None = None,
    image_size: int | None = None,
    config: "ProbeConfig | MultiLayerConfig | None" = None,
    layers: Literal["last", "all"] | None = None,
    allow_download: bool = False,
    batch_size: int = 64,
    progress: bool = False,
    **read_options: Any,
) -> "SavedModel":
    """Train a linear probe (new head on frozen, cached features) and return the model.

    ``layers="all"`` (or a ``MultiLayerConfig``) trains a multi-layer probe instead: pooled
    features of every block, per-tap normalised, a kept fraction of the columns selected and the
    head fitted over those (``graft.heads.multilayer``); the saved model records taps, pooling,
    selection and test-time views, and predicts, evaluates, embeds and checks drift like any probe.

    The regularisation strength is chosen on the validation split; metrics on val (and on test,
    when the data has a test split) go into the model's lineage. Saved to ``out`` when given; an
    existing model there is replaced only with ``overwrite=True`` (checked before any work).

    A numeric label column read as a regression target (``target_type``, see ``graft.data.read``)
    gets a ridge probe instead (``config``: a ``graft.heads.regression.RidgeConfig``): strength chosen
    by validation R², targets standardised, the scaling saved in ``config.json``.

    Example:
        >>> model = graft.probe("data/pets", backbone="mobilenet_v2", out="models/pets")  # doctest: +SKIP
        >>> model.lineage["metrics"]["val"]["accuracy"]                                   # doctest: +SKIP
        0.93
    """
    from graft._config import to_dict
    from graft.heads.probe import ProbeConfig, fit_probe
    from graft.metrics import classification_metrics

    backbone_options(image_size)  # settings are checked before any data is read
    check_out(out, overwrite)
    ds = as_dataset(data, **read_options)
    train, val, test = ds.train, ds.val, ds.test
    _require_labels(train, "train")
    if ds.is_regression:  # a numeric label: ridge probe (graft.api_regression)
        from graft.api_regression import probe_regression, ridge_config

        model = probe_regression(ds, backbone, ridge_config(config, layers), weights=weights, image_size=image_size,
                                 allow_download=allow_download, batch_size=batch_size, progress=progress)
        if out is not None:
            save_model(model, out, ds, overwrite=overwrite)
        return model
    config = config or ProbeConfig()
    if _multilayer(config, layers):
        model = _probe_multilayer(ds, backbone, weights, image_size, _multilayer(config, layers), allow_download,
                                  batch_size, progress)
        if out is not None:
            save_model(model, out, ds, overwrite=overwrite)
        return model
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
        save_model(model, out, ds, overwrite=overwrite)
    return model


def _multilayer(config: Any, layers: str | None) -> "MultiLayerConfig | None":
    """The multi-layer settings when ``layers``/``config`` ask for a multi-layer probe, else None."""
    from graft.heads.multilayer import MultiLayerConfig

    if layers not in (None, "last", "all"):
        raise UsageError(f"layers={layers!r}: choose 'last' (the backbone's features) or 'all' (every block)")
    if isinstance(config, MultiLayerConfig):
        if layers == "last":
            raise UsageError("layers='last' with a MultiLayerConfig: pass a ProbeConfig, or layers='all'")
        return config
    if layers != "all":
        return None
    if config is None:
        return MultiLayerConfig()
    return MultiLayerConfig(C_grid=config.C_grid, C=config.C, max_iter=config.max_iter,
                            class_weight=config.class_weight, refit_on_val=config.refit_on_val)


def _probe_multilayer(ds: "Dataset", backbone: str, weights: str | Path | None, image_size: int | None,
                      config: "MultiLayerConfig", allow_download: bool, batch_size: int = 64, progress: bool = False,
                      chosen: Any = None) -> "SavedModel":
    """The SavedModel of ``graft probe --layers all`` (``chosen``: a fit already made on these
    splits, only refitted; see ``probe_dataset``)."""
    from graft._config import to_dict
    from graft.heads.multilayer import probe_dataset

    run = probe_dataset(ds, backbone, config, weights=weights, allow_download=allow_download, batch_size=batch_size,
                        progress=progress, chosen=chosen, **backbone_options(image_size))
    r = run.result
    settings = {"multilayer": to_dict(config), "chosen_C": r.C, "chosen_keep": r.keep, "search": r.search,
                "taps": r.selection.taps, "features": r.selection.n_features, "tta_views": r.selection.tta_views}
    model = _package(ds, backbone, weights, image_size, r.head, "probe", settings, run.metrics,
                     head_config=r.head_config())
    model.reference = reference_sample(run.reference_features, run.reference_proba)
    return model


def check_out(out: str | Path | None, overwrite: bool) -> None:
    """Fail before any work when saving a model to ``out`` would be refused at the end (a file, a
    folder of other files, an existing model without ``overwrite``)."""
    from graft.models.saved import check_target

    if out is not None:
        check_target(out, overwrite)


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
    from graft.backbones.weights import check_weights_arg
    from graft.backbones.saved_model import child_reference, is_model_source
    from graft.models import BackboneRef, ModelConfig, SavedModel
    from graft.models.lineage import make_lineage

    options = backbone_options(image_size)
    spec = get_spec(backbone) if is_registered(backbone) else None
    # from a saved model (model:DIR): a trained backbone names the root architecture, else the parent folder
    name, chain_options = child_reference(backbone, backbone_state is not None) if is_model_source(backbone) else (backbone, {})
    weights = check_weights_arg(weights)  # Path("random") from Python is the word too, never a file to record
    ref = BackboneRef(
        name=name if ds.modality != "array" else "identity",
        weights_sha256=weights_identity(backbone, weights) if ds.modality != "array" else "none",
        options=chain_options | options,
        weights_file=str(Path(weights).absolute()) if weights not in (None, "random") else (weights or None),
        in_model=backbone_state is not None,
        license=spec.license if spec else "see the weights' source",
        modality=ds.modality,
    )
    preprocess = to_dict(spec.with_input(**{k: v for k, v in options.items() if k == "image_size"}).input) if spec else {}
    config = ModelConfig(classes=list(ds.classes), backbone=ref, method=method, head=head_config or {"type": "linear"},
                         preprocess=preprocess)
    lineage = make_lineage(config, ds, settings, metrics, source=backbone, **lineage_extra)
    return SavedModel(config, head, lineage, backbone_state, training_items=hash64(ds.train.item_hashes() + ds.val.item_hashes()))


def hash64(item_hashes: Sequence[str]) -> np.ndarray:
    """Item content hashes (``graft.data.hashing.item_hash``) cut to 64 bits: enough to tell
    whether an item was seen in training, at 8 bytes an item in the model folder."""
    return np.array([int(h[1:17], 16) for h in item_hashes], dtype=np.uint64)


def reference_sample(features: np.ndarray, proba: np.ndarray, size: int = 1000, seed: int = 0) -> dict[str, np.ndarray]:
    """What a saved model remembers of its training data for drift checks: a seeded sample of
    training embeddings and the confidence (max probability) of its predictions on held-out data."""
    rng = np.random.default_rng(seed)
    keep = np.sort(rng.choice(len(features), size=min(size, len(features)), replace=False))
    return {"embeddings": np.asarray(features[keep], dtype=np.float32),
            "confidence": np.asarray(proba.max(axis=1), dtype=np.float32)}


def save_model(model: "SavedModel", out: str | Path, ds: "Dataset", overwrite: bool = False,
               report: bool = False) -> Path:
    """Save atomically; the list of skipped input files goes next to it. An existing model at
    ``out`` is replaced only with ``overwrite=True`` (and then only the files graft wrote).
    ``report``: render ``report.html`` from ``ds`` into the model's files (fit and verify do)."""
    if report:
        from graft.report import attach

        attach(model, ds, out)  # listed among the model's files; a report that fails to render is left out
    if ds.skipped:
        model.extra_files["skipped.tsv"] = "\n".join(
            ["path\treason"] + [f"{e.path}\t{e.reason}" for e in ds.skipped.entries]).encode() + b"\n"
    return model.save(out, overwrite=overwrite)


def load(path: str | Path) -> "SavedModel":
    """Load a saved model directory (no pickle), or a folder written by ``graft export`` (onnxruntime)."""
    import graft.export  # noqa: F401  (registers the loader of exported folders; imports no onnx yet)
    import graft.tabular  # noqa: F401  (registers the loader of table-transfer models; imports no lightgbm yet)
    import graft.recommend  # noqa: F401  (registers the loader of recommender folders)
    from graft.models import SavedModel

    return SavedModel.load(path)


def _as_model(model: "str | Path | SavedModel") -> "SavedModel":
    # a path loads; anything else is a loaded model (a SavedModel, or an export's ExportedModel)
    return load(model) if isinstance(model, (str, Path)) else model


def evaluate(model: "str | Path | SavedModel", data: "str | Path | Dataset", task: str | None = None,
             **read_options: Any) -> dict[str, Any]:
    """Accuracy, macro-F1, n, per-class metrics and confusion matrix on ``data``.

    For a multi-task model, ``task`` names the task scored (default: the task whose classes cover
    most of the data's classes, the earlier task on a tie); the result's ``task`` says which.

    Uses the data's test split when it has one, otherwise every labelled item. Classes are
    matched by name; items of classes the model does not know are counted and left out. Items
    the model was trained on (train and validation splits) are counted in ``seen_in_training``,
    and ``note`` says so: scores on them overstate accuracy on new data.

    A regression model gives R², RMSE, MAE, n and ``residuals`` (quantiles of true minus predicted,
    and the items with the largest residuals) instead; the data's label is read as a number.
    """
    from graft.metrics import classification_metrics

    model = _as_model(model)
    if hasattr(model, "evaluate_table"):  # a table model (graft.tabular): scored on a labelled table
        return model.evaluate_table(data)
    # read the data's label as the model's kind: a number for a regression model, a class name otherwise
    read_options.setdefault("target_type", "regression" if getattr(model, "is_regression", False) else "classification")
    if getattr(model, "is_regression", False) and model.config.backbone.modality == "array":
        read_options.setdefault("modality", "array")  # a table's numeric columns are the features
    ds = as_dataset(data, **read_options)
    _check_modality(model, ds)
    fingerprint = ds.fingerprint
    ds = ds.test if ds.has_split("test") else ds.select(np.arange(len(ds)))
    if getattr(model, "is_regression", False):
        from graft.api_regression import evaluate_regression

        if task is not None:
            raise UsageError(f"{model.path or 'this model'} is a single-task regression model; leave out the task")
        return evaluate_regression(model, ds, fingerprint)
    if ds.is_regression:
        raise UsageError(f"{ds.source} has a numeric target ({ds.classes[0]!r}) but the model is a classifier "
                         f"(classes {model.classes[:10]}); evaluate a regression model on it, or read its labels as "
                         "classes with --target-type classification")
    name, classes = _task_of(model, task, ds.classes)
    labels, keep, unknown = _map_classes(ds, classes)
    if not keep.any():
        raise UsageError(f"{ds.source}: none of its classes {ds.classes} are classes of the model"
                         + (f"'s task {name!r}" if name else "") + f" {classes}")
    proba = model.predict_proba([ds.items[i] for i in np.flatnonzero(keep)], **({"task": name} if name else {}))
    result = classification_metrics(labels[keep], proba, len(classes), classes, detailed=True)
    if name is not None:
        result["task"] = name
    result["unknown_class_items"] = unknown
    result["skipped_files"] = len(ds.skipped)
    result |= _training_overlap(model, ds.select(np.flatnonzero(keep)), fingerprint)
    return result


def _task_of(model: Any, task: str | None, data_classes: Sequence[str] | None = None) -> tuple[str | None, list[str]]:
    """(task, its classes) that a call on ``model`` is about. Single-task models: (None, classes), and
    no task may be named. Multi-task models: ``task``, else the task whose classes cover most of
    ``data_classes`` (the earlier task on a tie), else the first (default) task."""
    tasks = list(getattr(model, "tasks", None) or [])
    if not tasks:
        if task is not None:
            raise UsageError(f"{getattr(model, 'path', None) or 'this model'} is a single-task model (classes "
                             f"{model.classes}); leave out the task ({task!r})")
        return None, list(model.classes)
    if task is None and data_classes is not None:
        known = set(data_classes)
        task = max(tasks, key=lambda t: len(known & set(model.config.tasks[t]["classes"])))
    name, classes, _ = model.task(task)
    return name, classes


def _check_modality(model: "SavedModel", ds: "Dataset") -> None:
    expected = model.config.backbone.modality
    if ds.modality != expected and "array" not in (expected, ds.modality):
        raise UsageError(f"{ds.source} holds {ds.modality} data, but the model classifies {expected} inputs; "
                         f"give it a dataset of {expected} items")


def _training_overlap(model: "SavedModel", ds: "Dataset", fingerprint: str) -> dict[str, Any]:
    """How many of the evaluated items the model was trained on, and a note when any were."""
    seen = model.training_items
    if seen is None:  # a model saved before items were recorded: the whole-dataset fingerprint still tells
        same = model.lineage.get("dataset", {}).get("fingerprint") == fingerprint
        return {"seen_in_training": None} | ({"note": "this is the dataset the model was trained on: "
                                                      "these scores overstate accuracy on new data"} if same else {})
    n_seen = int(np.isin(hash64(ds.item_hashes()), seen).sum())
    out: dict[str, Any] = {"seen_in_training": {"n": n_seen, "fraction": n_seen / max(len(ds), 1)}}
    if n_seen:
        out["note"] = (f"{n_seen} of {len(ds)} items evaluated ({n_seen / len(ds):.0%}) were used to train this "
                       "model (its train or validation split): these scores overstate accuracy on new data")
    return out


def _map_classes(ds: "Dataset", model_classes: list[str]) -> tuple[np.ndarray, np.ndarray, int]:
    index = {c: i for i, c in enumerate(model_classes)}
    mapping = np.array([index.get(c, -1) for c in ds.classes] + [-1])
    labels = mapping[np.where(ds.labels >= 0, ds.labels, len(ds.classes))]
    keep = labels >= 0
    return labels, keep, int((~keep).sum())


def predict(model: "str | Path | SavedModel", inputs: Sequence[Any],
            skipped: list[tuple[str, str]] | None = None, task: str | None = None) -> list[dict[str, Any]]:
    """Label and class probabilities for each input (file paths, folders of files, or texts);
    for a regression model, the predicted number (``{"input", "value"}``).

    For a multi-task model, those of ``task`` (default: its first task); each row then names its ``task``.

    Files in a folder that the model cannot read (another kind of file, a corrupt image) are left
    out and, when ``skipped`` is a list, appended to it as ``(path, reason)``.

    Raises:
        UsageError: no inputs (an empty list, an empty string, an empty folder), inputs of another
            kind than the model's (a file path for a text model, a table for an image model).
    """
    model = _as_model(model)
    if hasattr(model, "predict_rows"):  # a table model (graft.tabular): one output row per row of each input table
        return model.predict_rows(inputs)
    if getattr(model, "is_regression", False):  # rows of {"input", "value"}
        from graft.api_regression import predict_regression

        _task_of(model, task)  # a single-task model: a named task is refused
        return predict_regression(model, expand_inputs(inputs, model.config.backbone.modality, skipped))
    name, classes = _task_of(model, task)
    items = expand_inputs(inputs, model.config.backbone.modality, skipped)
    proba = model.predict_proba(items, **({"task": name} if name else {}))
    return [{"input": str(item), **({"task": name} if name else {}), "label": classes[int(p.argmax())],
             "probabilities": {c: float(v) for c, v in zip(classes, p)}} for item, p in zip(items, proba)]


_TABLE_SUFFIXES = {".csv", ".tsv", ".jsonl", ".json", ".txt", ".parquet", ".xlsx", ".npy"}


def expand_inputs(inputs: Sequence[Any], modality: str, skipped: list[tuple[str, str]] | None = None) -> list[Any]:
    """The items a model of ``modality`` is given, checked against what it reads.

    Image and audio models: paths become ``Path`` and folders expand to their files; files that
    are not usable inputs are left out (recorded in ``skipped``). Text models: texts, never paths
    of existing files (the model would classify the path string). Array models: as given.
    """
    if isinstance(inputs, (str, Path)):
        inputs = [inputs]
    if not len(inputs):
        raise UsageError("no inputs given: pass files, folders of files, or texts")
    for item in inputs:
        if isinstance(item, str) and not item.strip():
            raise UsageError("an input is an empty string; give a file, a folder of files, or a text "
                             "(an empty path would mean the whole current folder)")
    if modality in ("image", "audio"):
        return _file_inputs(inputs, modality, [] if skipped is None else skipped)
    if modality == "text":
        _refuse_paths(inputs)
    return list(inputs)


def _refuse_paths(inputs: Sequence[Any]) -> None:
    for item in inputs:
        if isinstance(item, Path) or (isinstance(item, str) and _is_existing_path(item)):
            raise UsageError(f"{item!s} is a path to a file or folder, but this is a text model: it classifies "
                             "the text you give it, not a file's contents. Pass the text itself (e.g. \"$(cat FILE)\"), "
                             "or evaluate a labelled table with `graft evaluate MODEL TABLE`")


def _is_existing_path(text: str) -> bool:
    try:
        return Path(text).exists()
    except (OSError, ValueError):  # a long text (name too long), a NUL byte: not a path
        return False


def _file_inputs(inputs: Sequence[Any], modality: str, skipped: list[tuple[str, str]]) -> list[Any]:
    out: list[Any] = []
    for item in inputs:
        if not isinstance(item, (str, Path)):
            out.append(item)  # an in-memory image / waveform
            continue
        path = Path(item)
        if not _is_existing_path(str(path)):
            raise UsageError(f"input not found: {str(item)[:200]} (for an {modality} model every input is a file or "
                             "a folder of files)")
        if path.is_dir():
            found = _usable_files(_visible_files(path), modality, skipped)
            if not found:
                raise UsageError(f"{path} holds no {modality} files graft can read"
                                 + (f" ({len(skipped)} other file(s) skipped)" if skipped else "")
                                 + f"; give {modality} files or a folder of them")
            out += found
        elif path.is_file():
            if path.suffix.lower() in _TABLE_SUFFIXES:
                raise UsageError(f"{path} is a table or text file, but this is an {modality} model: give {modality} "
                                 "files or folders of them (a table of texts needs a text model)")
            out += _usable_files([path], modality, skipped)
    if not out:
        raise UsageError(f"none of the inputs is a usable {modality} file: "
                         + "; ".join(f"{p}: {why}" for p, why in skipped[:3]))
    return out


def _visible_files(folder: Path) -> list[Path]:
    from graft.data.folders import media_files

    return media_files(folder)


def _usable_files(paths: list[Path], modality: str, skipped: list[tuple[str, str]]) -> list[Path]:
    """The files a model of ``modality`` can read; each other one is noted in ``skipped``."""
    if modality == "image":
        from graft.data.images import IMAGE_EXTENSIONS as extensions, check_image as check
    else:
        from graft.data.audio import AUDIO_EXTENSIONS as extensions, check_audio as check
    good = []
    for path in paths:
        reason = (f"not an {modality} file (extension {path.suffix or 'none'})"
                  if path.suffix.lower() not in extensions else check(path))
        if reason:
            log.info("skipping %s: %s", path, reason)
            skipped.append((str(path), reason))
        else:
            good.append(path)
    return good


def embed_to_file(data: "str | Path | Dataset", out: str | Path, backbone: str = DEFAULT_BACKBONE, *,
                  weights: str | Path | None = None, image_size: int | None = None, allow_download: bool = False,
                  batch_size: int = 64, progress: bool = False, overwrite: bool = False,
                  **read_options: Any) -> dict[str, Any]:
    """Embed a dataset straight into ``out`` (.npy, memory-mapped, so memory does not grow with N),
    with ``out``'s ``.json`` sidecar listing items, labels, splits and classes.

    Each file is written atomically, and the sidecar records the sha256 of the ``.npy``: a reader
    (:func:`load_embeddings`) can tell a pair from two different runs (a run killed between the two
    renames). An existing ``out`` is replaced only with ``overwrite=True``.
    """
    import os

    from graft._config import write_json
    from graft._files import check_new_output, open_temp_file
    from graft.backbones import create_backbone, get_spec, is_registered

    backbone_options(image_size)  # settings are checked before any data is read
    out = Path(out).with_suffix(".npy")
    for path in (out, out.with_suffix(".json")):  # the sidecar may be a file of the user's too
        check_new_output(path, overwrite)
    ds = as_dataset(data, **read_options)
    dim = get_spec(backbone).feature_dim if is_registered(backbone) else create_backbone(
        backbone, weights=weights, allow_download=allow_download, **backbone_options(image_size)).feature_dim
    fd, tmp = open_temp_file(out, suffix=".npy")
    os.close(fd)
    try:
        array = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(len(ds), dim))
        embed(ds, backbone, weights=weights, image_size=image_size, allow_download=allow_download,
              batch_size=batch_size, progress=progress, out=array)
        array.flush()
        del array
        digest = _file_sha256(tmp)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    write_json(out.with_suffix(".json"), {
        "backbone": backbone, "classes": ds.classes, "labels": ds.labels.tolist(), "splits": ds.splits.tolist(),
        "items": [str(i) if isinstance(i, Path) else None for i in ds.items], "fingerprint": ds.fingerprint,
        "npy_sha256": digest})
    return {"n": len(ds), "shape": [len(ds), dim], "out": str(out)}


def load_embeddings(path: str | Path) -> tuple[np.ndarray, dict[str, Any]]:
    """An embeddings file written by ``graft embed --out``: the (N, D) array (memory-mapped) and
    its sidecar (backbone, classes, labels, splits, items), checked to belong together.

    Raises:
        UsageError: no sidecar. DataError: the two files come from different runs, or are damaged.

    Example:
        >>> X, meta = graft.load_embeddings("emb/pets.npy")     # doctest: +SKIP
        >>> X.shape, meta["classes"]                              # doctest: +SKIP
    """
    import json

    from graft.errors import DataError

    path = Path(path).with_suffix(".npy")
    sidecar = path.with_suffix(".json")
    if not sidecar.is_file():
        raise UsageError(f"{path}: an embeddings file needs its {sidecar.name} sidecar (written by `graft embed --out`)")
    try:
        meta = json.loads(sidecar.read_text(encoding="utf-8"))
        expected = meta.get("npy_sha256")
        if expected is not None and _file_sha256(path) != expected:
            raise DataError(f"{path} and {sidecar.name} describe different data (a run of `graft embed` was "
                            "interrupted between writing the two); run `graft embed ... --out` again")
        X = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, AttributeError) as exc:
        raise DataError(f"{path}: cannot read the embeddings file or its sidecar ({exc}); "
                        "run `graft embed ... --out` again") from exc
    if expected is None:
        log.warning("%s has no checksum in %s (written by an older graft): cannot check that they belong "
                    "together", path, sidecar.name)
    if len(meta.get("labels", [])) not in (0, len(X)):
        raise DataError(f"{path} holds {len(X)} rows but {sidecar.name} describes {len(meta['labels'])} items; "
                        "run `graft embed ... --out` again")
    return X, meta


def _file_sha256(path: str | Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def demo(directory: str | Path = "graft-demo", *, per_class: int = 100, image_size: int | None = None,
         backbones: Sequence[str] | None = None, time_budget: float = 300.0, progress: Any = None,
         overwrite: bool = False) -> dict[str, Any]:
    """graft's main job on the built-in default: make a Fashion-MNIST set (``per_class`` per class
    for train and for test) and run ``graft.fit`` on it — backbones ranked and picked, input size
    chosen from the images, arms run within ``time_budget`` — and save the chosen model (an earlier
    one in ``directory`` is replaced only with ``overwrite=True``). ``progress`` is fit's callback."""
    from graft.autofit import FitConfig
    from graft.autofit import fit as run_fit
    from graft.data import make_dataset

    directory = Path(directory)
    config = FitConfig(time_budget=time_budget, backbones=list(backbones) if backbones else None,
                       image_sizes=[image_size] if image_size else None)
    check_out(directory / "best-model", overwrite)
    data = make_dataset("fashion_mnist", directory / "fashion_mnist", per_class=per_class, overwrite=overwrite)
    model, report = run_fit(data, out=directory / "best-model", config=config, overwrite=overwrite,
                            progress=progress if callable(progress) else None)
    return {"report": report, "best": report["chosen"], "best_test_accuracy": model.lineage["metrics"]["test"]["accuracy"],
            "model": str(directory / "best-model"), "data": str(data)}
