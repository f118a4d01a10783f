"""A saved model directory: config.json · model.safetensors · README.md · lineage.json.

Saving writes everything into a temporary sibling directory and renames it into place, so a
reader never sees a half-written model. Loading needs no pickle: JSON and safetensors only.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

from graft._config import from_dict, to_dict, write_json
from graft._files import respect_umask
from graft.errors import GraftError, UsageError
from graft.heads.linear import LinearHead
from graft.models.card import render_card
from graft.models.config import FORMAT_VERSION, BackboneRef, ModelConfig
from graft.models.folder import CONFIG, checksums, read_verified, replaceable, write_folder

if TYPE_CHECKING:
    from graft.backbones.base import Backbone

log = logging.getLogger(__name__)

WEIGHTS, CARD, LINEAGE = "model.safetensors", "README.md", "lineage.json"
REFERENCE = "reference.safetensors"  # a sample of training embeddings + confidences, for drift checks
TRAINING_ITEMS = "training_items.safetensors"  # 64-bit content hashes of the items training saw
# what a model folder held before config.json listed its files: saving over one may replace these
_WRITTEN_BEFORE_CHECKSUMS = {"model.safetensors", "README.md", "lineage.json", REFERENCE, "skipped.tsv", "history.json"}

# Loaders of other model folders (e.g. an ONNX export), keyed by config.json's "format" field.
# Upper layers register themselves here, so models/ never imports them.
_LOADERS: dict[str, Callable[[Path], Any]] = {}


def register_loader(kind: str, loader: Callable[[Path], Any]) -> None:
    """Let ``SavedModel.load`` (and ``graft.load``) open folders whose config.json says ``"format": kind``.

    The loaded object must offer ``classes``, ``config``, ``predict_proba`` and ``predict``.
    """
    _LOADERS[kind] = loader


class SavedModel:
    """A classifier = backbone reference + head, with its lineage.

    Example:
        >>> model = graft.load("models/fashion")            # doctest: +SKIP
        >>> model.predict(["shoe.png"])                      # doctest: +SKIP
        ['Sneaker']
    """

    def __init__(self, config: ModelConfig, head: LinearHead, lineage: dict[str, Any] | None = None,
                 backbone_state: dict[str, np.ndarray] | None = None, path: Path | None = None,
                 extra_files: dict[str, bytes] | None = None, reference: dict[str, np.ndarray] | None = None,
                 lora_state: dict[str, np.ndarray] | None = None, training_items: np.ndarray | None = None,
                 heads: dict[str, LinearHead] | None = None) -> None:
        self.config = config
        self.head = head
        # multi-task models: one head per task (config.tasks), the first also being ``head``
        self.heads = heads or {}
        self.lineage = lineage or {}
        self.backbone_state = backbone_state
        self.path = path
        self.extra_files = extra_files or {}
        self.reference = reference
        self.lora_state = lora_state  # LoRA adapter tensors (config.backbone.lora says how to apply them)
        # 64-bit content hashes of the items training saw (train + val): evaluate notes overlap with them
        self.training_items = training_items
        self._backbone: "Backbone | None" = None

    @property
    def classes(self) -> list[str]:
        return list(self.config.classes)

    @property
    def tasks(self) -> list[str]:
        """The task names of a multi-task model, default task first ([] for a single-task model)."""
        return list(self.config.tasks)

    def task(self, name: str | None = None) -> tuple[str | None, list[str], LinearHead]:
        """(task name, its classes, its head): ``name``, or the default task when None.

        Raises:
            UsageError: a task this model does not have, or any task for a single-task model.
        """
        if not self.config.tasks:
            if name is not None:
                raise UsageError(f"{self.path or 'this model'} is a single-task model (classes {self.classes}); "
                                 f"leave out the task ({name!r})")
            return None, self.classes, self.head
        name = self.tasks[0] if name is None else name
        if name not in self.config.tasks:
            raise UsageError(f"{self.path or 'this model'} has no task {name!r}; its tasks are: "
                             + ", ".join(f"{t} ({len(v['classes'])} classes)" for t, v in self.config.tasks.items()))
        return name, list(self.config.tasks[name]["classes"]), self.heads[name]

    # --- persistence ------------------------------------------------------------------------
    def save(self, directory: str | Path, overwrite: bool = False) -> Path:
        """Write the model atomically (temp dir, then rename) and return its path.

        ``config.json`` records the sha256 of every other file written, checked when loading.
        An existing model folder is replaced only with ``overwrite=True``, and then only the files
        graft wrote there: the user's own files in it are kept. A folder of other files is never replaced.
        """
        target = Path(directory)
        write_folder(target, self._write, replaceable(target, overwrite, _WRITTEN_BEFORE_CHECKSUMS))
        self.path = target
        return target

    def _write(self, folder: Path) -> None:
        from safetensors.numpy import save_file

        tensors = self.head.to_tensors() if not self.config.tasks else {}
        for name, info in self.config.tasks.items():  # a multi-task model: head.<task>.* per task
            tensors.update(self.heads[name].to_tensors(info["prefix"]))
        if self.backbone_state:
            tensors.update({f"backbone.{k}": np.ascontiguousarray(v) for k, v in self.backbone_state.items()})
        if self.lora_state:
            tensors.update({f"lora.{k}": np.ascontiguousarray(v) for k, v in self.lora_state.items()})
        save_file(tensors, str(folder / WEIGHTS), metadata={"format": "graft", "format_version": str(self.config.format_version)})
        write_json(folder / LINEAGE, self.lineage)
        (folder / CARD).write_text(render_card(self.config, self.lineage), encoding="utf-8")
        if self.reference:
            save_file({k: np.ascontiguousarray(v) for k, v in self.reference.items()}, str(folder / REFERENCE))
        if self.training_items is not None:
            save_file({"hashes": np.ascontiguousarray(self.training_items, dtype=np.uint64)}, str(folder / TRAINING_ITEMS))
        for name, data in self.extra_files.items():
            (folder / name).write_bytes(data)
        for path in folder.glob("*.safetensors"):  # safetensors writes them 0600 whatever the umask
            respect_umask(path)
        self.config.files = checksums(folder)
        write_json(folder / CONFIG, to_dict(self.config))

    @classmethod
    def load(cls, directory: str | Path) -> "SavedModel":
        """Load a saved model directory (JSON + safetensors; nothing is unpickled).

        Checked on the way in: ``format_version``, the sha256 of every weights file against the one
        recorded at save (models saved before checksums load with a warning), and the class list
        against the head's outputs.
        """
        from safetensors.numpy import load

        path = Path(directory)
        if not (path / CONFIG).is_file():
            raise UsageError(f"{path} is not a graft model directory (no {CONFIG}); pass the folder written by --out")
        raw = _read_config(path)
        if isinstance(raw, dict) and "format" in raw:  # another kind of model folder (e.g. ONNX)
            return _other_loader(raw["format"], path)(path)
        _check_format(raw, path)
        try:
            raw["backbone"] = from_dict(BackboneRef, raw["backbone"])
            config = from_dict(ModelConfig, raw)
        except (ValueError, KeyError, TypeError) as exc:
            raise GraftError(f"{path / CONFIG} is not a valid graft model config ({exc})") from exc
        if not config.files:
            log.warning("%s was saved without checksums (by an older graft): its weights cannot be verified; "
                        "save it again to add them", path)
        weights = _read_verified(path, WEIGHTS, config)
        try:
            tensors = load(weights)
            heads = {t: LinearHead.from_tensors(tensors, info["prefix"]) for t, info in config.tasks.items()}
            head = heads[next(iter(heads))] if heads else LinearHead.from_tensors(tensors)
        except Exception as exc:  # missing file, SafetensorError, missing head tensors
            raise GraftError(f"{path / WEIGHTS}: cannot read the model's weights ({type(exc).__name__}: {exc}); "
                             "the folder is damaged or incomplete; save or train the model again") from exc
        backbone_state = {k[len("backbone."):]: v for k, v in tensors.items() if k.startswith("backbone.")} or None
        lora_state = {k[len("lora."):]: v for k, v in tensors.items() if k.startswith("lora.")} or None
        lineage = json.loads((path / LINEAGE).read_text(encoding="utf-8")) if (path / LINEAGE).is_file() else {}
        _check_classes(config, head, tensors, path)
        for name, info in config.tasks.items():
            _check_classes(ModelConfig(info.get("classes"), config.backbone, config.method), heads[name], {}, path,
                           f"task {name!r} ")
        reference = load(_read_verified(path, REFERENCE, config)) if (path / REFERENCE).is_file() else None
        seen = (load(_read_verified(path, TRAINING_ITEMS, config))["hashes"]
                if (path / TRAINING_ITEMS).is_file() else None)
        return cls(config, head, lineage, backbone_state, path, reference=reference, lora_state=lora_state,
                   training_items=seen, heads=heads)

    # --- inference --------------------------------------------------------------------------
    def embed(self, items: Sequence[Any], batch_size: int = 64, progress: bool = False, cache: bool = True) -> np.ndarray:
        """Backbone features of raw items (through the feature cache when the backbone is unchanged;
        ``cache=False`` computes them without reading or writing it: a server's stream of one-off
        requests would otherwise grow the cache, and every lookup with it, without end).

        For a multi-layer probe (``config.head["type"] == "multilayer"``): the selected columns of
        the selected taps, normalised per tap and averaged over its test-time views — the head's input.
        """
        from graft.features.extract import embed_items

        ref = self.config.backbone
        if ref.modality == "array":
            return np.asarray(items, dtype=np.float32)
        if self.config.head.get("type") == "multilayer":  # the selected columns of the selected taps
            from graft.features.taps import LazyBackbone, selected_features

            if getattr(self, "_taps_source", None) is None:  # built on the first miss, then kept for later calls
                self._taps_source = (LazyBackbone(self.backbone()) if ref.in_model or ref.lora else
                                     LazyBackbone(ref.name, ref.weights_file, options=ref.options, build=self.backbone))
            return selected_features(items, self._taps_source, self.config.head, batch_size=batch_size,
                                     progress=progress, use_cache=cache)
        if ref.in_model or ref.lora:
            return embed_items(items, self.backbone(), batch_size=batch_size, progress=progress, use_cache=cache)
        _check_source(ref, self.path)
        return embed_items(items, ref.name, weights=ref.weights_file, batch_size=batch_size, progress=progress,
                           use_cache=cache, **ref.options)

    def backbone(self) -> "Backbone":
        """The backbone module, with trained weights restored when training changed them."""
        if self._backbone is None:
            from graft.backbones import create_backbone
            from graft.backbones.saved_model import restore_state

            ref = self.config.backbone
            # a trained backbone's weights are all in model.safetensors: no need for the original file
            weights = "random" if ref.in_model else ref.weights_file
            if not ref.in_model:
                _check_source(ref, self.path)
            bb = create_backbone(ref.name, weights=weights, **ref.options)
            if ref.in_model and self.backbone_state:
                restore_state(bb, self.backbone_state, f"{self.path or 'the model'}/{WEIGHTS}")
                bb.key = f"model-{ref.weights_sha256}"
            if ref.lora:
                self._apply_lora(bb)
            self._backbone = bb.eval()
        return self._backbone

    def _apply_lora(self, bb: "Backbone") -> None:
        """The saved adapters on top of the base weights just loaded; features get their own cache key."""
        import hashlib

        from graft._config import from_dict
        from graft.backbones.weights import state_sha256
        from graft.train.lora import LoraSettings, load_lora

        if not self.lora_state:
            raise GraftError(f"{self.path or 'the model'}: config.json names LoRA adapters but {WEIGHTS} holds none; "
                             "the folder is damaged or incomplete")
        settings = from_dict(LoraSettings, self.config.backbone.lora or {})
        load_lora(bb, settings, self.lora_state)
        adapters = state_sha256(self.lora_state)
        bb.key = hashlib.sha256(f"{bb.cache_key()}+lora-{adapters}".encode()).hexdigest()[:32]

    @property
    def is_regression(self) -> bool:
        """True for a model that predicts a number (``config.task == "regression"``, a ridge head)."""
        return self.config.task == "regression"

    def predict_values(self, items: Sequence[Any], **kw: Any) -> np.ndarray:
        """Predicted numbers (N,) of a regression model, in the target's units."""
        from graft.heads.regression import predict_values

        if not self.is_regression:
            raise UsageError(f"{self.path or 'this model'} is a classifier (classes {self.classes}); "
                             "use predict or predict_proba")
        return predict_values(self.head, self.config.head, self.embed(items, **kw))

    def predict_proba(self, items: Sequence[Any], task: str | None = None, **kw: Any) -> np.ndarray:
        """Class probabilities (N, C); for a multi-task model those of ``task`` (default: the first)."""
        if self.is_regression:
            raise UsageError(f"{self.path or 'this model'} is a regression model (target "
                             f"{self.classes[0]!r}): it predicts numbers, not class probabilities; use predict")
        return self.task(task)[2].predict_proba(self.embed(items, **kw))

    def predict(self, items: Sequence[Any], task: str | None = None, **kw: Any) -> Any:
        """Class names; for a regression model the predicted numbers (a float array)."""
        if self.is_regression:
            return self.predict_values(items, **kw)
        classes = self.task(task)[1]
        return [classes[i] for i in self.predict_proba(items, task=task, **kw).argmax(axis=1)]


def _check_source(ref: BackboneRef, path: Path | None) -> None:
    """A model trained on another graft model (``model:DIR``) needs that model's weights unchanged."""
    from graft.backbones.saved_model import check_unchanged, is_model_source

    if is_model_source(ref.name):
        check_unchanged(ref.name, ref.weights_sha256, path or "this model")


def folder_format(path: str | Path) -> str | None:
    """What kind of graft folder ``path`` is: ``None`` for a SavedModel, else config.json's ``"format"``
    (``"graft-onnx"``, ``"graft-table"``, ``"graft-recommender"``, …). Unreadable folders give ``None``
    and fail later, where loading says why."""
    try:
        raw = json.loads((Path(path) / CONFIG).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    kind = raw.get("format") if isinstance(raw, dict) else None
    return kind if isinstance(kind, str) else None


def only_saved_models(path: str | Path, command: str) -> None:
    """Refuse, naming the folder's kind, a folder that ``command`` cannot take (it takes SavedModels)."""
    kind = folder_format(path)
    if kind == "graft-onnx":
        raise UsageError(f"{path} is an exported model: run {command} on the graft model it was exported from")
    if kind is not None:
        raise UsageError(f"{path} is a {kind!r} model: {command} takes the models that probe, finetune and fit "
                         "save; use that kind's own commands (see `graft --help`)")


def _read_config(path: Path) -> Any:
    try:
        return json.loads((path / CONFIG).read_text(encoding="utf-8"))
    except ValueError as exc:
        raise GraftError(f"{path / CONFIG} is not valid JSON ({exc})") from exc


def _other_loader(kind: Any, path: Path) -> Callable[[Path], Any]:
    if kind not in _LOADERS:
        raise GraftError(f"{path / CONFIG}: a {kind!r} model folder, and no loader for it is registered; "
                         "open it with graft.load (which knows every kind graft writes)")
    return _LOADERS[kind]


def check_target(directory: str | Path, overwrite: bool) -> None:
    """Raise the UsageError that ``save(directory, overwrite)`` would raise, before any work is done."""
    replaceable(Path(directory), overwrite, _WRITTEN_BEFORE_CHECKSUMS)


def _check_format(raw: Any, path: Path) -> None:
    version = raw.get("format_version", FORMAT_VERSION) if isinstance(raw, dict) else None
    if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= FORMAT_VERSION:
        raise GraftError(f"{path / CONFIG}: format_version {version!r} is not one this graft reads "
                         f"(1..{FORMAT_VERSION}); a newer graft wrote it: upgrade graft (pip install -U graft), "
                         "or save the model again with this one")


def _read_verified(path: Path, name: str, config: ModelConfig) -> bytes:
    """The bytes of a file, checked against the sha256 config.json recorded at save (models saved
    before graft recorded checksums list none, and load as they are)."""
    return read_verified(path, name, config.files, strict=False)


def _check_classes(config: ModelConfig, head: Any, tensors: dict[str, np.ndarray], path: Path, what: str = "") -> None:
    """The class list must name each output of the head exactly once (``what``: which task's, if any)."""
    classes = config.classes
    if not isinstance(classes, list) or not classes or not all(isinstance(c, str) for c in classes):
        raise GraftError(f"{path / CONFIG}: {what}'classes' must be a non-empty list of class names, got {classes!r}")
    duplicates = sorted({c for c in classes if classes.count(c) > 1})
    if duplicates:
        raise GraftError(f"{path / CONFIG}: {what}'classes' names {duplicates} more than once; each output of the "
                         "head needs its own name; restore config.json or save the model again")
    outputs = getattr(head, "n_classes", None)
    if outputs is None and "head.bias" in tensors:  # a head type without n_classes: its last bias
        outputs = len(tensors["head.bias"])
    if outputs is not None and outputs != len(classes):
        raise GraftError(f"{path / CONFIG} {what}lists {len(classes)} classes but the head in {WEIGHTS} has {outputs} "
                         "outputs; the two files do not belong together; restore config.json or save the model again")
