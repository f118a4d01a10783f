"""Run the app with uvicorn: binds 127.0.0.1 unless told otherwise; SIGTERM / Ctrl-C stop
accepting connections, finish the requests in flight, then drain the batch queues."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Sequence

from graft.errors import require
from graft.serve.settings import ServeSettings

log = logging.getLogger(__name__)


def serve(models: Sequence[str | Path], *, host: str = "127.0.0.1", port: int = 8000,
          settings: ServeSettings | None = None, log_level: str = "info", **options: Any) -> None:
    """Serve ``models`` over HTTP until SIGTERM or Ctrl-C (blocks).

    Args:
        models: saved model folders (or exported folders with ``settings.backend="onnx"``).
        host: address to bind; the default answers only this machine.
        port: TCP port.
        settings: batching, limits, token (``ServeSettings``); keyword ``options`` build one when omitted.
        log_level: uvicorn's log level.

    Example:
        >>> graft.serve_models(["models/fashion"], port=8000, max_batch=16)   # doctest: +SKIP
    """
    from graft._config import check_value

    check_value("port", port, "[0, 65535]")  # before the models load (0: any free port)
    uvicorn = require("uvicorn", "serve")
    from graft.serve.app import create_app

    settings = settings or ServeSettings(**options)
    app = create_app(models, settings)
    # graceful: uvicorn waits for in-flight requests on SIGTERM (at most 30 s here)
    uvicorn.run(app, host=host, port=port, log_level=log_level, timeout_graceful_shutdown=30, access_log=False)
