"""The FastAPI app: Open Inference Protocol V2 endpoints, ``/predict`` for files and texts, ``/metrics``.

Every model answers through the same path as the Python API (``SavedModel.predict_proba`` or the
onnxruntime ``ExportedModel``), fed by a micro-batcher. Bad requests get a 4xx JSON ``{"error": ...}``
that names the problem; models load in the background after start-up, and ``/v2/health/ready``
turns true only when all have loaded.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, AsyncIterator, Sequence

import numpy as np
from fastapi import Request  # at module level: FastAPI resolves the endpoints' annotations here

from graft.errors import UsageError
from graft.serve.batcher import InputFailed, MicroBatcher, QueueFull
from graft.serve.decode import BadInput, decode_item
from graft.serve.metrics import Metrics, endpoint_of
from graft.serve.settings import ServeSettings

log = logging.getLogger(__name__)

_INPUT_NAME = {"image": "image", "audio": "audio", "text": "text", "array": "features"}
_OUTPUTS = ("probabilities", "label")


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
                "inputs": [{"name": _INPUT_NAME[self.modality], "datatype": dtype, "shape": shape}],
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
    app.add_middleware(_BodyLimit, limit=settings.max_body_bytes)  # runs inside the metrics middleware
    app.add_middleware(_Observe, metrics=metrics)
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
        if isinstance(m, (str, Path)) and settings.backend == "onnx" and not _is_export(Path(m)):
            raise UsageError(f"{m} is a saved PyTorch model; for --backend onnx run `graft export {m}` and serve the "
                             "folder it writes (or use --backend torch)")
    return {n: Served(n, m) for n, m in zip(names, models)}


def _name_of(model: Any, index: int) -> str:
    if isinstance(model, (str, Path)):
        return Path(model).resolve().name
    path = getattr(model, "path", None)
    return Path(path).name if path else f"model{index}"


def _is_export(path: Path) -> bool:
    try:
        return json.loads((path / "config.json").read_text(encoding="utf-8")).get("format") == "graft-onnx"
    except (OSError, ValueError, AttributeError):
        return False


async def _load_all(served: dict[str, Served], settings: ServeSettings, metrics: Metrics) -> None:
    for s in served.values():
        try:
            model = s.source if not isinstance(s.source, (str, Path)) else await asyncio.to_thread(_load, Path(s.source))
        except Exception as exc:  # a model that cannot load stays not-ready; the others still serve
            s.error = f"{type(exc).__name__}: {exc}"
            log.error("model %s failed to load: %s", s.name, s.error)
            continue
        _attach(s, model, settings, metrics)
        log.info("model %s ready (%s, %d classes)", s.name, s.modality, len(s.classes))


def _load(path: Path) -> Any:
    import graft

    return graft.load(path)


def _attach(s: Served, model: Any, settings: ServeSettings, metrics: Metrics) -> None:
    ref = model.config.backbone
    s.model, s.modality, s.classes = model, ref.modality, list(model.classes)
    s.feature_dim = int(model.head.n_features) if ref.modality == "array" and hasattr(model, "head") else \
        (model.info["preprocess"].get("feature_dim") if hasattr(model, "info") else None)
    s.sample_rate = _sample_rate(model)
    batcher = MicroBatcher(model.predict_proba, settings.max_batch, settings.max_latency_ms, settings.max_queue,
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
              dependencies=auth, openapi_extra={"requestBody": _INFER_BODY})
    async def infer(name: str, request: Request) -> dict[str, Any]:
        s = _usable(served, name, settings)
        body = _json_object(await request.body())
        items, wanted = _parse_infer(body, s, settings)
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
              dependencies=auth, openapi_extra={"requestBody": _PREDICT_BODY})
    async def predict(name: str, request: Request) -> dict[str, Any]:
        s = _usable(served, name, settings)
        names, items = await _parse_predict(request, s, settings)
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


# --- request parsing --------------------------------------------------------------------------


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise BadInput(f"request body is not valid JSON ({exc})", 400) from exc
    if not isinstance(body, dict):
        raise BadInput("request body must be a JSON object", 400)
    return body


def _parse_infer(body: dict[str, Any], s: Served, settings: ServeSettings) -> tuple[list[Any], list[str]]:
    inputs = body.get("inputs")
    if not isinstance(inputs, list) or len(inputs) != 1 or not isinstance(inputs[0], dict):
        raise BadInput(f"'inputs' must be a list of one input object named {_INPUT_NAME[s.modality]!r}", 400)
    spec = inputs[0]
    expected = _INPUT_NAME[s.modality]
    if spec.get("name") != expected:
        raise BadInput(f"unknown input name {spec.get('name')!r}; model {s.name!r} takes {expected!r}", 400)
    wanted = _wanted_outputs(body)
    shape = spec.get("shape")
    if not isinstance(shape, list) or not shape or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
        raise BadInput(f"input {expected!r}: 'shape' must be a list of non-negative integers, got {shape!r}", 400)
    data = _flatten(spec.get("data"), expected)
    if s.modality == "array":
        return _feature_rows(spec, shape, data, s, settings), wanted
    if spec.get("datatype") != "BYTES":
        raise BadInput(f"input {expected!r}: datatype must be BYTES, got {spec.get('datatype')!r}", 400)
    if len(shape) > 2 or (len(shape) == 2 and shape[1] != 1):
        raise BadInput(f"input {expected!r}: shape must be [N] or [N, 1], got {shape}", 400)
    n = shape[0]
    _check_count(n, settings, expected)
    if len(data) != n:
        raise BadInput(f"input {expected!r}: shape {shape} says {n} elements, data has {len(data)}", 400)
    if not all(isinstance(d, str) for d in data):
        raise BadInput(f"input {expected!r}: BYTES data must be strings (base64 file contents for images and audio)", 400)
    return [decode_item(d, s.modality, s.sample_rate, f"{expected}[{i}]") for i, d in enumerate(data)], wanted


def _wanted_outputs(body: dict[str, Any]) -> list[str]:
    requested = body.get("outputs")
    if requested is None:
        return list(_OUTPUTS)
    if not isinstance(requested, list) or not all(isinstance(o, dict) for o in requested):
        raise BadInput("'outputs' must be a list of objects with a 'name'", 400)
    names = [o.get("name") for o in requested]
    unknown = [n for n in names if n not in _OUTPUTS]
    if unknown:
        raise BadInput(f"unknown output(s) {unknown}; outputs are {list(_OUTPUTS)}", 400)
    return names


def _feature_rows(spec: dict[str, Any], shape: list[int], data: list[Any], s: Served, settings: ServeSettings) -> list[Any]:
    if spec.get("datatype") not in ("FP32", "FP64", "FP16"):
        raise BadInput(f"input 'features': datatype must be FP32, got {spec.get('datatype')!r}", 400)
    if len(shape) != 2 or (s.feature_dim and shape[1] != s.feature_dim):
        raise BadInput(f"input 'features': shape must be [N, {s.feature_dim}], got {shape}", 400)
    _check_count(shape[0], settings, "features")
    try:
        array = np.asarray(data, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise BadInput(f"input 'features': data must be numbers ({exc})", 400) from exc
    if array.size != shape[0] * shape[1]:
        raise BadInput(f"input 'features': shape {shape} needs {shape[0] * shape[1]} numbers, data has {array.size}", 400)
    if not np.isfinite(array).all():
        raise BadInput("input 'features': data holds NaN or infinite values", 400)
    return list(array.reshape(shape))


def _flatten(data: Any, name: str) -> list[Any]:
    """Row-major flattening of nested lists (V2 allows flat or nested ``data``)."""
    if not isinstance(data, list):
        raise BadInput(f"input {name!r}: 'data' must be a list", 400)
    flat: list[Any] = []
    for value in data:
        flat.extend(_flatten(value, name) if isinstance(value, list) else [value])
    return flat


def _check_count(n: int, settings: ServeSettings, name: str) -> None:
    if n < 1:
        raise BadInput(f"input {name!r}: no elements", 400)
    if n > settings.max_inputs:
        raise BadInput(f"input {name!r}: {n} elements, more than the {settings.max_inputs} one request may hold", 413)


async def _parse_predict(request: Any, s: Served, settings: ServeSettings) -> tuple[list[str], list[Any]]:
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        return await _uploaded(request, s, settings)
    if content_type.split(";")[0].strip() in ("application/json", ""):
        body = _json_object(await request.body())
        texts = body.get("texts", body.get("inputs"))
        if s.modality != "text":
            raise BadInput(f"model {s.name!r} takes {s.modality} files: upload them as multipart form field 'files'", 400)
        if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
            raise BadInput("JSON body must be {\"texts\": [\"...\", ...]} (a list of strings)", 400)
        _check_count(len(texts), settings, "texts")
        return [t if len(t) <= 60 else t[:57] + "..." for t in texts], list(texts)
    raise BadInput(f"content type {content_type!r}: send multipart/form-data files or a JSON {{\"texts\": [...]}}", 415)


async def _uploaded(request: Any, s: Served, settings: ServeSettings) -> tuple[list[str], list[Any]]:
    try:
        form = await request.form(max_files=settings.max_inputs, max_fields=settings.max_inputs)
    except Exception as exc:  # malformed multipart bodies raise several types
        raise BadInput(f"cannot parse the multipart body ({type(exc).__name__}: {exc})", 400) from exc
    files = [v for _, v in form.multi_items() if hasattr(v, "read")]
    if not files:
        raise BadInput("no files in the multipart body: send them as form field 'files'", 400)
    _check_count(len(files), settings, "files")
    names, items = [], []
    for i, f in enumerate(files):
        name = f.filename or f"file{i}"
        items.append(decode_item(await f.read(), s.modality, s.sample_rate, name))
        names.append(name)
    return names, items


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


class _BodyLimit:
    """Refuse bodies above ``limit`` bytes with 413, by Content-Length or by counting as they arrive."""

    def __init__(self, app: Any, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            return await _too_large(send, self.limit)
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                return await _too_large(send, self.limit)
            chunks.append(chunk)
            more = message.get("more_body", False)
        body, sent = b"".join(chunks), False

        async def replay() -> dict[str, Any]:
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


async def _too_large(send: Any, limit: int) -> None:
    payload = json.dumps({"error": f"request body larger than the {limit}-byte limit"}).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": payload})


class _Observe:
    """Count every request (endpoint template, method, status) and time it."""

    def __init__(self, app: Any, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start, status = time.perf_counter(), [500]

        async def observe(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, observe)
        finally:
            self.metrics.observe_request(endpoint_of(scope), scope["method"], status[0], time.perf_counter() - start)


_INFER_BODY = {"required": True, "content": {"application/json": {"schema": {
    "type": "object", "required": ["inputs"],
    "properties": {
        "id": {"type": "string"},
        "inputs": {"type": "array", "items": {"type": "object", "required": ["name", "shape", "datatype", "data"], "properties": {
            "name": {"type": "string", "description": "image, audio, text or features (see the model's metadata)"},
            "shape": {"type": "array", "items": {"type": "integer"}},
            "datatype": {"type": "string", "description": "BYTES (base64 files or texts) or FP32 (features)"},
            "data": {"type": "array", "items": {}}}}},
        "outputs": {"type": "array", "items": {"type": "object", "properties": {"name": {"type": "string", "enum": list(_OUTPUTS)}}}},
    }}}}}

_PREDICT_BODY = {"required": True, "content": {
    "multipart/form-data": {"schema": {"type": "object", "properties": {
        "files": {"type": "array", "items": {"type": "string", "format": "binary"}}}}},
    "application/json": {"schema": {"type": "object", "properties": {
        "texts": {"type": "array", "items": {"type": "string"}}}}}}}
