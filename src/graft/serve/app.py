"""The FastAPI app: Open Inference Protocol V2 endpoints, ``/predict`` for files and texts, ``/metrics``.

Every model answers through the same path as the Python API (``SavedModel.predict_proba`` or the
onnxruntime ``ExportedModel``), fed by a micro-batcher. Bad requests get a 4xx JSON ``{"error": ...}``
that names the problem; models load in the background after start-up, and ``/v2/health/ready``
turns true only when all have loaded.
"""

from __future__ import annotations

import asyncio
import functools
import hmac
import json
import logging
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, AsyncIterator, Sequence

import numpy as np
from fastapi import Request  # at module level: FastAPI resolves the endpoints' annotations here

from graft.errors import UsageError
from graft.serve.batcher import InputFailed, MicroBatcher, QueueFull
from graft.serve.decode import BadInput
from graft.serve.metrics import Metrics
from graft.serve.middleware import BodyLimit, Observe
from graft.serve.protocol import INFER_BODY, INPUT_NAME, PREDICT_BODY, json_object, parse_infer, parse_predict
from graft.serve.settings import ServeSettings

log = logging.getLogger(__name__)



@dataclass
class Served:
    """One model behind the server: loaded in the background, then fed by its batcher."""

    name: str
    source: Any  # a folder path, or an already loaded model
    model: Any = None
    batcher: MicroBatcher | None = None
    error: str | None = None
    modality: str = "image"
    feature_dim: int | None = None
    sample_rate: int | None = None
    classes: list[str] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return self.batcher is not None

    def metadata(self, backend: str) -> dict[str, Any]:
        dtype, shape = ("FP32", [-1, self.feature_dim or -1]) if self.modality == "array" else ("BYTES", [-1])
        return {"name": self.name, "versions": ["1"], "platform": "onnxruntime" if backend == "onnx" else "graft-pytorch",
                "inputs": [{"name": INPUT_NAME[self.modality], "datatype": dtype, "shape": shape}],
                "outputs": [{"name": "probabilities", "datatype": "FP32", "shape": [-1, len(self.classes)]},
                            {"name": "label", "datatype": "BYTES", "shape": [-1]}],
                "parameters": {"classes": self.classes, "modality": self.modality, "backend": backend}}


def create_app(models: Sequence[Any], settings: ServeSettings | None = None, names: Sequence[str] | None = None) -> Any:
    """A FastAPI app serving ``models`` (folders, or loaded models) under their folder names.

    Args:
        models: saved model folders (``backend="torch"``), exported folders (``backend="onnx"``,
            or any backend: an export always runs on onnxruntime), or loaded models.
        settings: batching, limits and token (``ServeSettings``).
        names: model names in URLs (default: each folder's name).

    Example:
        >>> from fastapi.testclient import TestClient                           # doctest: +SKIP
        >>> with TestClient(create_app(["models/fashion"])) as client:          # doctest: +SKIP
        ...     client.get("/v2/health/ready").json()
        {'ready': True}
    """
    from fastapi import FastAPI

    settings = settings or ServeSettings()
    served = _served(models, names, settings)
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        loader = asyncio.get_running_loop().create_task(_load_all(served, settings, metrics))
        yield
        loader.cancel()
        await asyncio.gather(loader, return_exceptions=True)
        for s in served.values():  # SIGTERM: uvicorn stops accepting, then this drains the queues
            if s.batcher is not None:
                await s.batcher.stop()

    app = FastAPI(title="graft model server", version=_version(),
                  description="Open Inference Protocol V2 for graft models, plus /predict for files and texts.",
                  lifespan=lifespan)
    app.state.served, app.state.settings, app.state.metrics = served, settings, metrics
    _install_errors(app)
    _add_routes(app, served, settings, metrics)
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)  # runs inside the metrics middleware
    app.add_middleware(Observe, metrics=metrics)
    return app


def _served(models: Sequence[Any], names: Sequence[str] | None, settings: ServeSettings) -> dict[str, Served]:
    if not models:
        raise UsageError("give at least one model folder to serve")
    names = list(names) if names is not None else [_name_of(m, i) for i, m in enumerate(models)]
    if len(names) != len(models) or len(set(names)) != len(names):
        raise UsageError(f"model names must be unique, got {names}; rename a folder or pass names=")
    for m in models:
        if isinstance(m, (str, Path)) and not (Path(m) / "config.json").is_file():
            raise UsageError(f"{m} is not a graft model folder (no config.json)")
        if isinstance(m, (str, Path)):
            _check_servable(Path(m))
        if isinstance(m, (str, Path)) and settings.int8 and not _is_export(Path(m)):
            raise UsageError(f"{m}: --int8 runs exported folders; run `graft export {m} --quantize static|dynamic` first")
        if isinstance(m, (str, Path)) and settings.backend == "onnx" and not _is_export(Path(m)):
            raise UsageError(f"{m} is a saved PyTorch model; for --backend onnx run `graft export {m}` and serve the "
                             "folder it writes (or use --backend torch)")
    return {n: Served(n, m) for n, m in zip(names, models)}


def _name_of(model: Any, index: int) -> str:
    if isinstance(model, (str, Path)):
        return Path(model).resolve().name
    path = getattr(model, "path", None)
    return Path(path).name if path else f"model{index}"


def _config_of(path: Path) -> dict[str, Any]:
    try:
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return config if isinstance(config, dict) else {}


def _is_export(path: Path) -> bool:
    return _config_of(path).get("format") == "graft-onnx"


def _check_servable(path: Path) -> None:
    """Refuse, before start-up, the folders this server cannot answer for (it serves class probabilities)."""
    config = _config_of(path)
    kind = config.get("format")
    if kind not in (None, "graft-onnx"):
        raise UsageError(f"{path} is a {kind!r} model; graft serve answers for classifiers (saved or exported). "
                         f"Use its own commands instead (`graft predict {path} ...` or the Python API)")
    if config.get("task", "classification") != "classification":
        raise UsageError(f"{path} is a {config['task']} model; graft serve answers with class probabilities only. "
                         f"Predict numbers with `graft predict {path} DATA` or `graft.load(...).predict(...)`")


async def _load_all(served: dict[str, Served], settings: ServeSettings, metrics: Metrics) -> None:
    for s in served.values():
        try:
            model = s.source if not isinstance(s.source, (str, Path)) else await asyncio.to_thread(_load, Path(s.source), settings)
        except Exception as exc:  # a model that cannot load stays not-ready; the others still serve
            s.error = f"{type(exc).__name__}: {exc}"
            log.error("model %s failed to load: %s", s.name, s.error)
            continue
        _attach(s, model, settings, metrics)
        log.info("model %s ready (%s, %d classes)", s.name, s.modality, len(s.classes))


def _load(path: Path, settings: ServeSettings) -> Any:
    import graft

    if _is_export(path):
        from graft.export.runtime import ExportedModel

        model = ExportedModel.load(path, variant="int8" if settings.int8 else "fp32", threads=settings.threads)
        model.warm_up(settings.max_batch)  # ready means warm: the arena does not grow under the first load
        return model
    if settings.threads:
        import torch

        torch.set_num_threads(settings.threads)  # process-wide: every PyTorch model served here
    return graft.load(path)


def _attach(s: Served, model: Any, settings: ServeSettings, metrics: Metrics) -> None:
    ref = model.config.backbone
    s.model, s.modality, s.classes = model, ref.modality, list(model.classes)
    s.feature_dim = int(model.head.n_features) if ref.modality == "array" and hasattr(model, "head") else \
        (model.info["preprocess"].get("feature_dim") if hasattr(model, "info") else None)
    s.sample_rate = _sample_rate(model)
    from graft.models.saved import SavedModel

    # cache=False: requests are one-off items; caching each one would grow the feature cache (and the
    # cost of every lookup in it) for as long as the server runs. Exported models use no cache.
    predict = functools.partial(model.predict_proba, cache=False) if isinstance(model, SavedModel) else model.predict_proba
    batcher = MicroBatcher(predict, settings.max_batch, settings.max_latency_ms, settings.max_queue,
                           on_batch=lambda n, name=s.name: metrics.observe_batch(name, n))
    batcher.start()
    s.batcher = batcher


def _sample_rate(model: Any) -> int | None:
    info = getattr(model, "info", None)
    if info is not None:
        return info["preprocess"].get("sample_rate")
    rate = model.config.preprocess.get("sample_rate") if isinstance(model.config.preprocess, dict) else None
    return int(rate) if rate else None


def _version() -> str:
    from graft import __version__

    return __version__


# --- routes -----------------------------------------------------------------------------------


def _add_routes(app: Any, served: dict[str, Served], settings: ServeSettings, metrics: Metrics) -> None:
    from fastapi import Depends
    from fastapi.responses import JSONResponse, Response

    auth = [Depends(_token_check(settings.token))]

    @app.get("/v2", tags=["v2"], summary="Server metadata")
    async def server_metadata() -> dict[str, Any]:
        return {"name": "graft", "version": _version(), "extensions": []}

    @app.get("/v2/health/live", tags=["v2"], summary="Liveness")
    async def live() -> dict[str, Any]:
        return {"live": True}

    @app.get("/v2/health/ready", tags=["v2"], summary="Readiness: true once every model has loaded")
    async def ready() -> Any:
        ok = all(s.ready for s in served.values())
        return JSONResponse({"ready": ok}, status_code=200 if ok else 503, headers=None if ok else _retry(settings))

    @app.get("/v2/models/{name}", tags=["v2"], summary="Model metadata")
    async def model_metadata(name: str) -> dict[str, Any]:
        s = _get(served, name)
        if not s.ready:
            _not_ready(s, settings)
        return s.metadata(settings.backend if not hasattr(s.model, "info") else "onnx")

    @app.get("/v2/models/{name}/ready", tags=["v2"], summary="Model readiness")
    async def model_ready(name: str) -> Any:
        s = _get(served, name)
        return JSONResponse({"name": name, "ready": s.ready}, status_code=200 if s.ready else 503,
                            headers=None if s.ready else _retry(settings))

    @app.post("/v2/models/{name}/infer", tags=["v2"], summary="Inference (Open Inference Protocol V2)",
              dependencies=auth, openapi_extra={"requestBody": INFER_BODY})
    async def infer(name: str, request: Request) -> dict[str, Any]:
        s = _usable(served, name, settings)
        body = json_object(await request.body())
        items, wanted = parse_infer(body, s, settings)
        proba = await _predict(s, items, settings)
        outputs = []
        if "probabilities" in wanted:
            outputs.append({"name": "probabilities", "datatype": "FP32", "shape": list(proba.shape),
                            "data": proba.astype(np.float32).ravel().tolist()})
        if "label" in wanted:
            outputs.append({"name": "label", "datatype": "BYTES", "shape": [len(proba)],
                            "data": [s.classes[i] for i in proba.argmax(axis=1)]})
        reply = {"model_name": name, "model_version": "1", "outputs": outputs}
        return {"id": body["id"], **reply} if "id" in body else reply

    @app.post("/v2/models/{name}/predict", tags=["convenience"], summary="Label + probabilities for files or texts",
              dependencies=auth, openapi_extra={"requestBody": PREDICT_BODY})
    async def predict(name: str, request: Request) -> dict[str, Any]:
        s = _usable(served, name, settings)
        names, items = await parse_predict(request, s, settings)
        proba = await _predict(s, items, settings)
        return {"model_name": name, "predictions": [
            {"input": n, "label": s.classes[int(p.argmax())], "probabilities": {c: float(v) for c, v in zip(s.classes, p)}}
            for n, p in zip(names, proba)]}

    @app.get("/metrics", tags=["metrics"], summary="Prometheus metrics")
    async def prometheus() -> Any:
        for s in served.values():
            metrics.queue.labels(s.name).set(s.batcher.waiting if s.batcher else 0)
        data, content_type = metrics.render()
        return Response(data, media_type=content_type)


def _retry(settings: ServeSettings) -> dict[str, str]:
    return {"Retry-After": str(settings.retry_after_s)}


def _get(served: dict[str, Served], name: str) -> Served:
    from fastapi import HTTPException

    if name not in served:
        raise HTTPException(404, f"unknown model {name!r}; served: {sorted(served)}")
    return served[name]


def _not_ready(s: Served, settings: ServeSettings) -> None:
    from fastapi import HTTPException

    if s.error:
        raise HTTPException(503, f"model {s.name!r} failed to load: {s.error}")
    raise HTTPException(503, f"model {s.name!r} is still loading; retry shortly", headers=_retry(settings))


def _usable(served: dict[str, Served], name: str, settings: ServeSettings) -> Served:
    s = _get(served, name)
    if not s.ready:
        _not_ready(s, settings)
    return s


async def _predict(s: Served, items: list[Any], settings: ServeSettings) -> np.ndarray:
    from fastapi import HTTPException

    assert s.batcher is not None
    try:
        return await s.batcher.submit(items)
    except QueueFull as exc:
        raise HTTPException(503, f"server busy: {exc}; retry later", headers=_retry(settings)) from exc
    except InputFailed as exc:
        raise HTTPException(422, f"the model could not run on this input: {exc}") from exc


def _token_check(token: str | None) -> Any:
    from fastapi import HTTPException

    async def check(request: Request) -> None:
        if token is None:
            return
        given = request.headers.get("authorization", "")
        scheme, _, value = given.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(), token.encode()):
            raise HTTPException(401, "missing or wrong token: send 'Authorization: Bearer <token>'",
                                headers={"WWW-Authenticate": "Bearer"})

    return check


# --- errors and middleware --------------------------------------------------------------------


def _install_errors(app: Any) -> None:
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from starlette.exceptions import HTTPException as StarletteHTTPException

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Any, exc: StarletteHTTPException) -> Any:
        return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code, headers=getattr(exc, "headers", None))

    @app.exception_handler(BadInput)
    async def bad_input(request: Any, exc: BadInput) -> Any:
        return JSONResponse({"error": str(exc)}, status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Any, exc: RequestValidationError) -> Any:
        problems = "; ".join(f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in exc.errors())
        return JSONResponse({"error": f"invalid request: {problems}"}, status_code=422)

    @app.exception_handler(Exception)
    async def internal(request: Any, exc: Exception) -> Any:  # never a traceback to the client
        log.exception("internal error on %s", request.url.path)
        return JSONResponse({"error": f"internal error ({type(exc).__name__}); see the server log"}, status_code=500)
