"""Ship: serve saved or exported models over HTTP (FastAPI + uvicorn).

The Open Inference Protocol V2 (``/v2/health/live``, ``/v2/health/ready``, ``/v2/models/{name}``,
``/v2/models/{name}/ready``, ``POST /v2/models/{name}/infer``), ``POST /v2/models/{name}/predict`` for
uploaded files or JSON texts, ``/metrics`` for Prometheus, OpenAPI docs at ``/docs``. Concurrent
requests are micro-batched; bad requests get a 4xx JSON error naming the problem.

Example:
    >>> from graft.serve import create_app, ServeSettings                # doctest: +SKIP
    >>> app = create_app(["models/fashion"], ServeSettings(max_batch=16))  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {"create_app": "graft.serve.app", "serve": "graft.serve.server", "ServeSettings": "graft.serve.settings",
         "MicroBatcher": "graft.serve.batcher"}
__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'graft.serve' has no attribute {name!r}")
    return getattr(importlib.import_module(_LAZY[name]), name)
