"""An exported folder run by onnxruntime: the same ``predict`` / ``predict_proba`` as a SavedModel.

``graft.load``, ``graft predict`` and ``graft evaluate`` open an exported folder through this class
(registered with ``graft.models.saved.register_loader``), and the server uses it for
``--backend onnx``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal, Sequence

import numpy as np

from graft.errors import GraftError, UsageError, require
from graft.export.preprocess import Preprocessor

TRAINING_ITEMS = "training_items.safetensors"  # the parent's record of its training items (evaluate reads it)
FORMAT = "graft-onnx"
FORMAT_VERSION = 1
CONFIG = "config.json"
Variant = Literal["fp32", "int8"]


class ExportedModel:
    """A classifier exported to ONNX: preprocessing from config.json, inference by onnxruntime.

    Attributes:
        path: the exported folder.
        info: its config.json.
        config: the source model's config (``ModelConfig``): classes, backbone, modality.
        variant: ``"fp32"`` or ``"int8"``.

    Example:
        >>> model = graft.load("models/fashion-onnx")        # doctest: +SKIP
        >>> model.predict(["shoe.png"])                       # doctest: +SKIP
        ['Sneaker']
    """

    backend = "onnx"

    def __init__(self, path: Path, info: dict[str, Any], variant: Variant = "fp32", threads: int | None = None) -> None:
        self.path = Path(path)
        self.info = info
        self.variant = variant
        self.config = _model_config(info["model_config"])
        self.preprocessor = Preprocessor(info["preprocess"], self.path)
        self._session = _session(self.path / _file_of(info, variant, self.path), threads)
        self._input_names = {i.name for i in self._session.get_inputs()}  # preprocessing may give more
        lineage = self.path / "lineage.json"
        self.lineage: dict[str, Any] = json.loads(lineage.read_text(encoding="utf-8")) if lineage.is_file() else {}
        self.training_items = _training_items(self.path)
        self.reference = None  # no embeddings in an export: drift checks use the saved model

    @classmethod
    def load(cls, directory: str | Path, variant: Variant = "fp32", threads: int | None = None) -> "ExportedModel":
        """Open an exported folder; ``variant="int8"`` runs the quantised graph."""
        path = Path(directory)
        info = read_info(path)
        return cls(path, info, variant, threads)

    @property
    def classes(self) -> list[str]:
        return list(self.info["classes"])

    @property
    def inputs(self) -> list[dict[str, Any]]:
        """The graph's inputs: name, V2 datatype, shape (``"batch"`` / ``"sequence"`` where it varies)."""
        return list(self.info["inputs"])

    def run(self, arrays: dict[str, np.ndarray]) -> np.ndarray:
        """The graph on ready-made input arrays → (B, C) float32 probabilities."""
        return self._session.run(None, {k: v for k, v in arrays.items() if k in self._input_names})[0]

    def warm_up(self, batch: int) -> None:
        """One pass on a batch of ``batch`` dummy inputs (token sequences at their longest), so that
        onnxruntime's memory arena reaches its working size before traffic instead of during it."""
        sizes = {"batch": batch, "sequence": int(self.info["preprocess"].get("max_tokens", 16))}
        arrays = {}
        for spec in self.inputs:
            shape = [sizes.get(d, 1) if isinstance(d, str) else d for d in spec["shape"]]
            dtype = {"FP32": np.float32, "BOOL": np.bool_}.get(spec["datatype"], np.int64)
            arrays[spec["name"]] = np.zeros(shape, dtype) if dtype is np.float32 else np.ones(shape, dtype)
        self.run(arrays)

    def predict_proba(self, items: Sequence[Any], batch_size: int = 32, **_: Any) -> np.ndarray:
        """Class probabilities (N, C) for raw items (paths, PIL images, arrays, texts)."""
        items = list(items)
        if not items:
            return np.zeros((0, len(self.classes)))
        parts = [self.run(self.preprocessor(items[i: i + batch_size])) for i in range(0, len(items), batch_size)]
        return np.concatenate(parts).astype(np.float64)

    def predict(self, items: Sequence[Any], **kw: Any) -> list[str]:
        return [self.classes[i] for i in self.predict_proba(items, **kw).argmax(axis=1)]

    def embed(self, items: Sequence[Any], **_: Any) -> np.ndarray:
        """Not available: the graph ends in probabilities. Embeddings (drift checks, re-adaptation)
        come from the saved model the export was made from."""
        raise UsageError(f"{self.path} is an ONNX export: it gives probabilities, not embeddings; use the saved "
                         f"model it came from ({self.info.get('parent', {}).get('path')}) for drift checks and re-adaptation")


def read_info(path: Path) -> dict[str, Any]:
    """config.json of an exported folder, checked for the fields this version reads."""
    file = path / CONFIG
    if not file.is_file():
        raise UsageError(f"{path} is not an exported graft model (no {CONFIG}); pass the folder `graft export` wrote")
    try:
        info = json.loads(file.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise GraftError(f"{file} is not valid JSON ({exc}); export the model again") from exc
    if info.get("format") != FORMAT:
        raise GraftError(f"{file}: format {info.get('format')!r} is not {FORMAT!r}")
    if int(info.get("format_version", 0)) > FORMAT_VERSION:
        raise GraftError(f"{file}: format_version {info['format_version']} is newer than this graft reads ({FORMAT_VERSION}); upgrade graft")
    missing = [k for k in ("classes", "files", "inputs", "preprocess", "model_config") if k not in info]
    if missing:
        raise GraftError(f"{file}: fields {missing} are missing; the folder is damaged; export the model again")
    return info


def _file_of(info: dict[str, Any], variant: str, path: Path) -> str:
    name = info["files"].get(variant)
    if not name:
        raise UsageError(f"{path}: no {variant} graph in this export"
                         + ("; export with --quantize dynamic or static" if variant == "int8" else ""))
    if not (path / name).is_file():
        raise GraftError(f"{path / name} is missing; the folder is damaged; export the model again")
    return name


def _session(file: Path, threads: int | None) -> Any:
    ort = require("onnxruntime", "export")
    options = ort.SessionOptions()
    if threads or os.environ.get("GRAFT_ORT_THREADS"):
        options.intra_op_num_threads = int(threads or os.environ["GRAFT_ORT_THREADS"])
    try:
        return ort.InferenceSession(str(file), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types for corrupt files
        raise GraftError(f"{file}: onnxruntime cannot load it ({exc}); export the model again") from exc


def _training_items(path: Path) -> np.ndarray | None:
    from safetensors.numpy import load_file

    file = path / TRAINING_ITEMS
    return load_file(str(file))["hashes"] if file.is_file() else None


def _model_config(raw: dict[str, Any]) -> Any:
    from graft._config import from_dict
    from graft.models.config import BackboneRef, ModelConfig

    raw = dict(raw)
    raw["backbone"] = from_dict(BackboneRef, raw["backbone"])
    return from_dict(ModelConfig, raw)
