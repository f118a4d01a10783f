"""A saved model directory: config.json · model.safetensors · README.md · lineage.json.

Saving writes everything into a temporary sibling directory and renames it into place, so a
reader never sees a half-written model. Loading needs no pickle: JSON and safetensors only.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from graft._config import from_dict, to_dict, write_json
from graft.errors import GraftError, UsageError
from graft.heads.linear import LinearHead
from graft.models.card import render_card
from graft.models.config import BackboneRef, ModelConfig

if TYPE_CHECKING:
    from graft.backbones.base import Backbone

CONFIG, WEIGHTS, CARD, LINEAGE = "config.json", "model.safetensors", "README.md", "lineage.json"
REFERENCE = "reference.safetensors"  # a sample of training embeddings + confidences, for drift checks


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
                 lora_state: dict[str, np.ndarray] | None = None) -> None:
        self.config = config
        self.head = head
        self.lineage = lineage or {}
        self.backbone_state = backbone_state
        self.path = path
        self.extra_files = extra_files or {}
        self.reference = reference
        self.lora_state = lora_state  # LoRA adapter tensors (config.backbone.lora says how to apply them)
        self._backbone: "Backbone | None" = None

    @property
    def classes(self) -> list[str]:
        return list(self.config.classes)

    # --- persistence ------------------------------------------------------------------------
    def save(self, directory: str | Path, overwrite: bool = True) -> Path:
        """Write the model atomically (temp dir, then rename) and return its path."""
        from safetensors.numpy import save_file

        target = Path(directory)
        if target.exists() and not overwrite:
            raise UsageError(f"{target} exists; choose another --out or allow overwrite")
        _check_replaceable(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.tmp-"))
        try:
            tensors = self.head.to_tensors()
            if self.backbone_state:
                tensors.update({f"backbone.{k}": np.ascontiguousarray(v) for k, v in self.backbone_state.items()})
            if self.lora_state:
                tensors.update({f"lora.{k}": np.ascontiguousarray(v) for k, v in self.lora_state.items()})
            save_file(tensors, str(tmp / WEIGHTS), metadata={"format": "graft", "format_version": str(self.config.format_version)})
            write_json(tmp / CONFIG, to_dict(self.config))
            write_json(tmp / LINEAGE, self.lineage)
            (tmp / CARD).write_text(render_card(self.config, self.lineage), encoding="utf-8")
            if self.reference:
                save_file({k: np.ascontiguousarray(v) for k, v in self.reference.items()}, str(tmp / REFERENCE))
            for name, data in self.extra_files.items():
                (tmp / name).write_bytes(data)
            _replace_dir(tmp, target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        self.path = target
        return target

    @classmethod
    def load(cls, directory: str | Path) -> "SavedModel":
        """Load a saved model directory (JSON + safetensors; nothing is unpickled)."""
        from safetensors.numpy import load_file

        path = Path(directory)
        if not (path / CONFIG).is_file():
            raise UsageError(f"{path} is not a graft model directory (no {CONFIG}); pass the folder written by --out")
        try:
            raw = json.loads((path / CONFIG).read_text(encoding="utf-8"))
            raw["backbone"] = from_dict(BackboneRef, raw["backbone"])
            config = from_dict(ModelConfig, raw)
        except (ValueError, KeyError, TypeError) as exc:
            raise GraftError(f"{path / CONFIG} is not a valid graft model config ({exc})") from exc
        try:
            tensors = load_file(str(path / WEIGHTS))
            head = LinearHead.from_tensors(tensors)
        except Exception as exc:  # missing file, SafetensorError, missing head tensors
            raise GraftError(f"{path / WEIGHTS}: cannot read the model's weights ({type(exc).__name__}: {exc}); "
                             "the folder is damaged or incomplete; save or train the model again") from exc
        backbone_state = {k[len("backbone."):]: v for k, v in tensors.items() if k.startswith("backbone.")} or None
        lora_state = {k[len("lora."):]: v for k, v in tensors.items() if k.startswith("lora.")} or None
        lineage = json.loads((path / LINEAGE).read_text(encoding="utf-8")) if (path / LINEAGE).is_file() else {}
        reference = load_file(str(path / REFERENCE)) if (path / REFERENCE).is_file() else None
        return cls(config, head, lineage, backbone_state, path, reference=reference, lora_state=lora_state)

    # --- inference --------------------------------------------------------------------------
    def embed(self, items: Sequence[Any], batch_size: int = 64, progress: bool = False) -> np.ndarray:
        """Backbone features of raw items (through the feature cache when the backbone is unchanged)."""
        from graft.features.extract import embed_items

        ref = self.config.backbone
        if ref.modality == "array":
            return np.asarray(items, dtype=np.float32)
        if ref.in_model or ref.lora:
            return embed_items(items, self.backbone(), batch_size=batch_size, progress=progress)
        return embed_items(items, ref.name, weights=ref.weights_file, batch_size=batch_size, progress=progress,
                           **ref.options)

    def backbone(self) -> "Backbone":
        """The backbone module, with trained weights restored when training changed them."""
        if self._backbone is None:
            import torch

            from graft.backbones import create_backbone

            ref = self.config.backbone
            # a trained backbone's weights are all in model.safetensors: no need for the original file
            weights = "random" if ref.in_model else ref.weights_file
            bb = create_backbone(ref.name, weights=weights, **ref.options)
            if ref.in_model and self.backbone_state:
                bb.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in self.backbone_state.items()})
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

    def predict_proba(self, items: Sequence[Any], **kw: Any) -> np.ndarray:
        return self.head.predict_proba(self.embed(items, **kw))

    def predict(self, items: Sequence[Any], **kw: Any) -> list[str]:
        return [self.config.classes[i] for i in self.predict_proba(items, **kw).argmax(axis=1)]


def _check_replaceable(target: Path) -> None:
    """Saving replaces ``target`` whole: allowed for a file-less folder or an earlier model, never
    for a folder of the user's own files (``--out .`` must not delete the working directory)."""
    if target.is_file():
        raise UsageError(f"{target} is a file; give a folder path for the model")
    if target.is_dir() and not (target / CONFIG).is_file() and any(target.iterdir()):
        raise UsageError(f"{target} exists and is not a graft model directory (no {CONFIG}); "
                         "choose an empty or new folder for --out")


def _replace_dir(new: Path, target: Path) -> None:
    """Move ``new`` to ``target``; an existing target is swapped out first and removed afterwards."""
    if target.exists():
        old = target.with_name(f".{target.name}.old-{new.name[-8:]}")
        target.rename(old)
        new.rename(target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        new.rename(target)
