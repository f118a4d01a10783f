"""Ship: export a saved model to ONNX (parity-checked, optionally int8) and run it with onnxruntime.

Importing this package registers the loader of exported folders with ``graft.models``, so
``graft.load`` (and ``graft predict`` / ``graft evaluate``) open them; onnx and onnxruntime are
imported only when a function needs them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from graft.models.saved import register_loader


def load_exported(path: str | Path) -> Any:
    """Open an exported folder (fp32 graph) as an onnxruntime-backed model."""
    from graft.export.runtime import ExportedModel

    return ExportedModel.load(path)


register_loader("graft-onnx", load_exported)

_LAZY = {"export_model": "graft.export.driver", "ExportSettings": "graft.export.driver",
         "QuantizationRefused": "graft.export.driver", "ExportedModel": "graft.export.runtime"}
__all__ = ["load_exported", *_LAZY]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'graft.export' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_LAZY[name]), name)
