"""What a saved model is: the config.json schema, as dataclasses."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

FORMAT_VERSION = 1


@dataclass
class BackboneRef:
    """Which backbone (and weights) the model's features come from."""

    name: str
    weights_sha256: str
    options: dict[str, Any] = field(default_factory=dict)  # e.g. {"image_size": 96}
    weights_file: str | None = None  # a user's checkpoint, when one was given
    in_model: bool = False  # backbone weights changed by training and stored in model.safetensors
    license: str = "unknown"
    modality: str = "image"
    lora: dict[str, Any] | None = None  # LoRA adapters (graft.train.lora.LoraSettings), stored as lora.* tensors


@dataclass
class ModelConfig:
    """``config.json`` of a saved model."""

    classes: list[str]
    backbone: BackboneRef
    method: str  # "probe", "finetune:<schedule>", "adapt:<method>"
    head: dict[str, Any] = field(default_factory=dict)  # head type and its settings
    preprocess: dict[str, Any] = field(default_factory=dict)  # the backbone's input spec
    format_version: int = FORMAT_VERSION
    task: str = "classification"
    files: dict[str, str] = field(default_factory=dict)  # sha256 of every other file saving wrote
    # multi-task models: task name → {"classes": [...], "prefix": "head.<task>."} (its head's tensors), in
    # task order; the first is the default task, whose classes and head are also ``classes`` and ``head``
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)
