"""Request bodies of the Open Inference Protocol V2 and of ``/predict`` → model items, or a
``BadInput`` (4xx) that names the problem; and the request schemas shown in the OpenAPI docs."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np

from graft.serve.decode import BadInput, decode_item

if TYPE_CHECKING:
    from graft.serve.app import Served
    from graft.serve.settings import ServeSettings

INPUT_NAME = {"image": "image", "audio": "audio", "text": "text", "array": "features"}
OUTPUTS = ("probabilities", "label")


def json_object(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise BadInput(f"request body is not valid JSON ({exc})", 400) from exc
    if not isinstance(body, dict):
        raise BadInput("request body must be a JSON object", 400)
    return body


def parse_infer(body: dict[str, Any], s: Served, settings: ServeSettings) -> tuple[list[Any], list[str]]:
    inputs = body.get("inputs")
    if not isinstance(inputs, list) or len(inputs) != 1 or not isinstance(inputs[0], dict):
        raise BadInput(f"'inputs' must be a list of one input object named {INPUT_NAME[s.modality]!r}", 400)
    spec = inputs[0]
    expected = INPUT_NAME[s.modality]
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
        return list(OUTPUTS)
    if not isinstance(requested, list) or not all(isinstance(o, dict) for o in requested):
        raise BadInput("'outputs' must be a list of objects with a 'name'", 400)
    names = [o.get("name") for o in requested]
    unknown = [n for n in names if n not in OUTPUTS]
    if unknown:
        raise BadInput(f"unknown output(s) {unknown}; outputs are {list(OUTPUTS)}", 400)
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


async def parse_predict(request: Any, s: Served, settings: ServeSettings) -> tuple[list[str], list[Any]]:
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        return await _uploaded(request, s, settings)
    if content_type.split(";")[0].strip() in ("application/json", ""):
        body = json_object(await request.body())
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


INFER_BODY = {"required": True, "content": {"application/json": {"schema": {
    "type": "object", "required": ["inputs"],
    "properties": {
        "id": {"type": "string"},
        "inputs": {"type": "array", "items": {"type": "object", "required": ["name", "shape", "datatype", "data"], "properties": {
            "name": {"type": "string", "description": "image, audio, text or features (see the model's metadata)"},
            "shape": {"type": "array", "items": {"type": "integer"}},
            "datatype": {"type": "string", "description": "BYTES (base64 files or texts) or FP32 (features)"},
            "data": {"type": "array", "items": {}}}}},
        "outputs": {"type": "array", "items": {"type": "object", "properties": {"name": {"type": "string", "enum": list(OUTPUTS)}}}},
    }}}}}

PREDICT_BODY = {"required": True, "content": {
    "multipart/form-data": {"schema": {"type": "object", "properties": {
        "files": {"type": "array", "items": {"type": "string", "format": "binary"}}}}},
    "application/json": {"schema": {"type": "object", "properties": {
        "texts": {"type": "array", "items": {"type": "string"}}}}}}}
