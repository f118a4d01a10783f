"""``graft export``: a saved model → an ONNX folder a client runs with onnxruntime alone.

The folder (written atomically: a temp sibling, then renamed) holds ``model.onnx`` (fp32),
optionally ``model.int8.onnx``, ``config.json`` (classes, inputs, preprocessing as data, parity and
quantisation results, the source model's config), tokenizer files for text, ``lineage.json`` and a
``README.md`` card naming the parent model. Nothing is written when the parity check fails.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Sequence

import numpy as np

from graft._files import make_temp_dir, respect_umask, swap_dir
from graft.backbones.ensemble_spec import is_ensemble
from graft.errors import GraftError, UsageError

if TYPE_CHECKING:
    from graft.data.dataset import Dataset
    from graft.models.saved import SavedModel

log = logging.getLogger(__name__)

Quantize = Literal["none", "dynamic", "static"]
FP32_FILE, INT8_FILE = "model.onnx", "model.int8.onnx"
TOLERANCE = 1e-4


class QuantizationRefused(GraftError):
    """int8 disagreed with fp32 too often; the fp32 export was kept."""


@dataclass
class ExportSettings:
    """How ``graft export`` checks and quantises."""

    quantize: Quantize = field(default="none", metadata={"help": "int8: none, dynamic (transformers) or static QDQ (CNNs)"})
    parity_samples: int = field(default=64, metadata={"help": "training items compared with PyTorch (>= 2)"})
    calibration_samples: int = field(default=128, metadata={"help": "training items for static calibration (>= 1)"})
    tolerance: float = field(default=TOLERANCE, metadata={"help": "largest allowed fp32 probability difference (0, 0.1]"})
    min_agreement: float = field(default=0.99, metadata={"help": "int8 top-1 agreement below this refuses int8 [0, 1]"})
    force: bool = field(default=False, metadata={"help": "keep int8 even below min_agreement"})
    seed: int = 0

    def __post_init__(self) -> None:
        if self.quantize not in ("none", "dynamic", "static"):
            raise UsageError(f"--quantize {self.quantize!r}: choose none, dynamic or static")
        if self.parity_samples < 2:
            raise UsageError(f"parity_samples={self.parity_samples}: must be >= 2")
        if self.calibration_samples < 1:
            raise UsageError(f"calibration_samples={self.calibration_samples}: must be >= 1")
        if not 0 < self.tolerance <= 0.1:
            raise UsageError(f"tolerance={self.tolerance}: must be in (0, 0.1]")
        if not 0 <= self.min_agreement <= 1:
            raise UsageError(f"min_agreement={self.min_agreement}: must be in [0, 1]")


def export_model(
    model: "str | Path | SavedModel",
    out: str | Path | None = None,
    *,
    format: str = "onnx",
    quantize: Quantize = "none",
    data: "str | Path | Dataset | None" = None,
    force: bool = False,
    overwrite: bool = False,
    settings: ExportSettings | None = None,
) -> dict[str, Any]:
    """Export a saved model to ONNX, check it against PyTorch, optionally add int8.

    Args:
        model: a saved model folder (or ``SavedModel``).
        out: the folder to write (default: ``MODEL_DIR-onnx`` beside the model).
        format: only ``"onnx"``.
        quantize: ``"dynamic"`` (transformers), ``"static"`` (CNNs, calibrated on training data) or ``"none"``.
        data: data for the parity check, calibration and the int8 test (default: the model's training data).
        force: keep int8 even when its top-1 agreement with fp32 is below 99 %.
        overwrite: replace an earlier export at ``out`` (never a saved model or a folder of other files).
        settings: sample sizes and thresholds (``quantize`` / ``force`` arguments win).

    Returns:
        ``{"path", "parity", "quantization", "files"}``.

    Raises:
        GraftError: parity above the tolerance (nothing written; the message names the largest difference).
        QuantizationRefused: int8 agreement below the threshold (fp32 folder written, int8 dropped).

    Example:
        >>> graft.export_model("models/fashion", quantize="static")   # doctest: +SKIP
        {'path': 'models/fashion-onnx', 'parity': {'max_abs_difference': 3.1e-07, ...}, ...}
    """
    from graft.models.saved import SavedModel

    if format != "onnx":
        raise UsageError(f"--format {format!r}: only onnx is supported")
    settings = settings or ExportSettings()
    settings = ExportSettings(**{**settings.__dict__, "quantize": quantize, "force": force or settings.force})
    saved = model if isinstance(model, SavedModel) else _load_source(Path(model))
    if len(saved.config.tasks) > 1:  # one graph holds one head: exporting the first alone would drop tasks silently
        raise UsageError(f"{saved.path or 'the model'} is a multi-task model ({', '.join(saved.config.tasks)}); "
                         "export supports single-task models: fine-tune each task on its own to export it")
    if getattr(saved, "is_regression", False):  # the graph ends in a softmax; a ridge head needs its scaling too
        raise UsageError(f"{saved.path or 'the model'} is a regression model: graft export writes classifiers; "
                         "predict from its folder instead (graft predict PATH ..., graft.load(PATH).predict)")
    if is_ensemble(saved.config.backbone.name):  # several networks side by side: not one graph
        raise UsageError(f"{saved.path or 'the model'} reads an ensemble of backbones ({saved.config.backbone.name}); "
                         "graft export writes one network: serve it with graft serve, or fit one backbone "
                         "(graft fit --backbone NAME) to export")
    target = Path(out) if out is not None else _default_out(saved)
    ds = _dataset(saved, data)
    _check_target(target, overwrite)
    tmp = make_temp_dir(target)  # pid-named: a killed export's leftovers are cleaned by the next one
    try:
        record, refused = _build(saved, ds, tmp, settings)
        for path in tmp.rglob("*"):  # some writers make private (0600) files; a server may run as another user
            if path.is_file():
                respect_umask(path)
        swap_dir(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    record["path"] = str(target)
    if refused:
        q = record["quantization"]
        raise QuantizationRefused(
            f"int8 ({settings.quantize}) agrees with fp32 on {q['top1_agreement']:.2%} of {q['n']} test items, "
            f"below {settings.min_agreement:.0%}: refused; the fp32 export is in {target}. "
            "Use --force to keep int8 anyway, or try the other --quantize method")
    return record


def _build(saved: "SavedModel", ds: "Dataset", folder: Path, settings: ExportSettings) -> tuple[dict[str, Any], bool]:
    from graft.export import card
    from graft.export.graph import classifier_module, export_onnx, multilayer_module
    from graft.export.preprocess import Preprocessor, describe
    from graft.export.runtime import ExportedModel

    modality = saved.config.backbone.modality
    backbone = None if modality == "array" else _for_export(saved)
    preprocess = describe(backbone, modality, saved.head.n_features, folder)
    sample = _sample(ds, settings.parity_samples, settings.seed)
    example = Preprocessor(preprocess, folder)((sample * 2)[:max(2, min(len(sample), 4))])
    if saved.config.head.get("type") == "multilayer":
        module = multilayer_module(backbone, saved.head, saved.config.head, list(example))
    else:
        module = classifier_module(backbone, saved.head, list(example))
    inputs = export_onnx(module, example, folder / FP32_FILE)
    info = _info(saved, preprocess, inputs)
    _write_info(folder, info)
    parity = check_parity(saved, ExportedModel.load(folder), sample, settings.tolerance)
    info["parity"] = parity
    refused = False
    if settings.quantize != "none":
        info["quantization"] = _quantize(folder, ds, preprocess, settings)
        refused = not info["quantization"]["accepted"]
        info["files"]["int8"] = INT8_FILE if not refused else None
        if not refused:  # Hugging Face's base_model_relation of an int8 graph to the model it came from
            info["parent"]["relation"] = "quantized"
    _write_info(folder, info)
    _write_lineage(folder, saved, info)
    _write_training_items(folder, saved)
    (folder / "README.md").write_text(card.render(info), encoding="utf-8")
    return {"parity": parity, "quantization": info.get("quantization"), "files": info["files"]}, refused


def _for_export(saved: "SavedModel") -> Any:
    """The model's backbone; with LoRA adapters merged into a copy (one matmul per layer in the graph,
    and the parity check then compares the merged graph with the unmerged PyTorch model)."""
    import copy

    backbone = saved.backbone()
    if not saved.config.backbone.lora:
        return backbone
    merged = copy.deepcopy(backbone)
    layers = [m for m in merged.modules() if hasattr(m, "merge") and hasattr(m, "lora_A")]
    for layer in layers:
        layer.merge()
    log.info("merged %d LoRA layers for export", len(layers))
    return merged.eval()


def check_parity(saved: Any, exported: Any, items: Sequence[Any], tolerance: float) -> dict[str, Any]:
    """fp32 probabilities of the ONNX graph (its own preprocessing) vs PyTorch's on the same raw items.

    Raises:
        GraftError: the largest difference is above ``tolerance``; the message names item, class and values.
    """
    reference = saved.predict_proba(items)
    got = exported.predict_proba(items)
    diff = np.abs(reference - got)
    row, col = np.unravel_index(int(diff.argmax()), diff.shape)
    worst = float(diff[row, col])
    result = {"n": len(items), "max_abs_difference": worst, "tolerance": tolerance,
              "top1_agreement": float((reference.argmax(1) == got.argmax(1)).mean())}
    if not worst <= tolerance:  # also catches NaN
        raise GraftError(
            f"parity check failed: ONNX and PyTorch probabilities differ by {worst:.3g} (> {tolerance:g}) on item "
            f"{row} ({_name(items[row])}), class {saved.classes[col]!r}: PyTorch {reference[row, col]:.6f}, ONNX "
            f"{got[row, col]:.6f}. Nothing was written; please report this model's backbone as unsupported for export")
    return result


def _quantize(folder: Path, ds: "Dataset", preprocess: dict[str, Any], settings: ExportSettings) -> dict[str, Any]:
    from graft.export.preprocess import Preprocessor
    from graft.export.quantize import batches, judge, quantize
    from graft.export.runtime import ExportedModel

    pre = Preprocessor(preprocess, folder)
    calibration = _sample(ds, settings.calibration_samples, settings.seed + 1)
    quantize(folder / FP32_FILE, folder / INT8_FILE, settings.quantize, lambda: batches(pre, calibration))
    test = _test_split(ds)
    fp32, int8 = ExportedModel.load(folder), _load_int8(folder)
    result = judge(fp32.predict_proba(test.items), int8.predict_proba(test.items), test.labels)
    result.update(method=settings.quantize, split=_split_name(ds), calibration_items=len(calibration) if settings.quantize == "static" else 0,
                  min_agreement=settings.min_agreement, size_fp32=(folder / FP32_FILE).stat().st_size,
                  size_int8=(folder / INT8_FILE).stat().st_size)
    result["accepted"] = result["top1_agreement"] >= settings.min_agreement or settings.force
    result["forced"] = settings.force and result["top1_agreement"] < settings.min_agreement
    if not result["accepted"]:
        (folder / INT8_FILE).unlink()
    return result


def _load_int8(folder: Path) -> Any:
    from graft.export.runtime import ExportedModel, read_info

    info = read_info(folder)
    info["files"]["int8"] = INT8_FILE
    return ExportedModel(folder, info, "int8")


# --- inputs: the source model and its data ----------------------------------------------------


def _load_source(path: Path) -> "SavedModel":
    from graft.models.saved import SavedModel, only_saved_models

    only_saved_models(path, "graft export")
    model = SavedModel.load(path)
    if not isinstance(model, SavedModel):
        raise UsageError(f"{path} is already an export; export the saved model it came from")
    return model


def _default_out(saved: "SavedModel") -> Path:
    if saved.path is None:
        raise UsageError("the model has no folder; pass out=DIR (--out DIR)")
    return saved.path.with_name(saved.path.name + "-onnx")


def _dataset(saved: "SavedModel", data: Any) -> "Dataset":
    from graft.api import as_dataset

    if data is not None:
        return as_dataset(data)
    source = saved.lineage.get("dataset", {}).get("source")
    if not source or not Path(str(source)).exists():
        raise UsageError(f"the model's training data ({source or 'not recorded'}) is not found; "
                         "pass --data DIR (data=...) for the parity check")
    return as_dataset(source)


def _sample(ds: "Dataset", n: int, seed: int) -> list[Any]:
    """Up to ``n`` items of the train split (every split when there is none), seeded."""
    pool = ds.train if ds.has_split("train") and len(ds.train) else ds
    rng = np.random.default_rng(seed)
    keep = np.sort(rng.choice(len(pool), size=min(n, len(pool)), replace=False))
    if not len(keep):
        raise UsageError(f"{ds.source}: no items to check the export on")
    return [pool.items[i] for i in keep]


def _test_split(ds: "Dataset") -> "Dataset":
    name = _split_name(ds)
    return ds.select(np.arange(len(ds))) if name == "all" else getattr(ds, name)


def _split_name(ds: "Dataset") -> str:
    return next((s for s in ("test", "val") if ds.has_split(s) and len(getattr(ds, s))), "all")


def _name(item: Any) -> str:
    text = str(item) if isinstance(item, (str, Path)) else type(item).__name__
    return text if len(text) <= 80 else text[:77] + "..."


# --- writing ---------------------------------------------------------------------------------


def _info(saved: "SavedModel", preprocess: dict[str, Any], inputs: list[dict[str, Any]]) -> dict[str, Any]:
    from graft._config import to_dict
    from graft.export.graph import OPSET, OUTPUT
    from graft.export.runtime import FORMAT, FORMAT_VERSION

    return {
        "format": FORMAT, "format_version": FORMAT_VERSION, "classes": list(saved.classes),
        "modality": saved.config.backbone.modality, "files": {"fp32": FP32_FILE, "int8": None},
        "inputs": inputs, "outputs": [{"name": OUTPUT, "datatype": "FP32", "shape": ["batch", len(saved.classes)]}],
        "preprocess": preprocess, "opset": OPSET, "parent": _parent(saved), "model_config": to_dict(saved.config),
    }


def _parent(saved: "SavedModel") -> dict[str, Any]:
    ref = saved.config.backbone
    out = {"path": str(saved.path) if saved.path else None, "method": saved.config.method, "backbone": ref.name,
           "backbone_weights_sha256": ref.weights_sha256}
    if saved.path is not None and (saved.path / "model.safetensors").is_file():
        out["model_sha256"] = hashlib.sha256((saved.path / "model.safetensors").read_bytes()).hexdigest()
    return out


def _write_info(folder: Path, info: dict[str, Any]) -> None:
    from graft._config import write_json

    write_json(folder / "config.json", info)


def _write_lineage(folder: Path, saved: "SavedModel", info: dict[str, Any]) -> None:
    from graft._config import write_json
    from graft.models.lineage import package_versions

    versions = package_versions()
    for name in ("onnx", "onnxruntime"):
        try:
            versions[name] = __import__(name).__version__
        except ImportError:
            continue
    write_json(folder / "lineage.json", {**saved.lineage, "export": {
        "parent": info["parent"], "parity": info.get("parity"), "quantization": info.get("quantization"),
        "versions": versions}})


def _write_training_items(folder: Path, saved: "SavedModel") -> None:
    """The parent's hashes of its training items, so evaluate on the export notes overlap as on the model."""
    from safetensors.numpy import save_file

    from graft.export.runtime import TRAINING_ITEMS

    seen = getattr(saved, "training_items", None)
    if seen is not None:
        save_file({"hashes": np.ascontiguousarray(seen, dtype=np.uint64)}, str(folder / TRAINING_ITEMS))


def _check_target(target: Path, overwrite: bool) -> None:
    if target.is_file():
        raise UsageError(f"{target} is a file; give a folder path for --out")
    if target.is_dir() and any(target.iterdir()) and not (target / "config.json").is_file():
        raise UsageError(f"{target} exists and is not a model folder; choose an empty or new folder for --out")
    if target.is_dir() and (target / "model.safetensors").is_file():
        raise UsageError(f"{target} holds a saved (PyTorch) model; choose another --out so it is not replaced")
    if target.is_dir() and any(target.iterdir()) and not overwrite:
        raise UsageError(f"{target} exists; pass --overwrite (overwrite=True) to replace that export, or choose another --out")

