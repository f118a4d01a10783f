"""lineage.json: which model this came from, on which data, how, with what software."""

from __future__ import annotations

import datetime as dt
import platform
import sys
from importlib import metadata
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from graft.data.dataset import Dataset
    from graft.models.config import ModelConfig

_PACKAGES = ("graft", "numpy", "scikit-learn", "torch", "torchvision", "timm", "transformers",
             "sentence-transformers", "safetensors")


def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def dataset_record(data: "Dataset") -> dict[str, Any]:
    info = data.describe()
    return {k: info[k] for k in ("source", "modality", "fingerprint", "splits", "skipped")} | {"n_classes": len(data.classes)}


def make_lineage(config: "ModelConfig", data: "Dataset", settings: dict[str, Any], metrics: dict[str, Any],
                 parent: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    """The lineage record of a model trained on ``data`` with ``settings``."""
    record = {
        "parent": parent or {"backbone": config.backbone.name, "weights_sha256": config.backbone.weights_sha256,
                             "weights_file": config.backbone.weights_file},
        "dataset": dataset_record(data),
        "method": config.method,
        "settings": settings,
        "metrics": metrics,
        "command": " ".join(sys.argv) if sys.argv and sys.argv[0].endswith("graft") else None,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "versions": package_versions(),
    }
    record.update(extra)
    return record
