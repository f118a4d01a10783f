"""Request payloads → the raw items a model's ``predict_proba`` takes, or a ``BadInput`` that
names the problem (the server answers 4xx with it). Images are decoded fully here, so a
truncated file fails its own request and never reaches a batch."""

from __future__ import annotations

import base64
import binascii
import io
from typing import Any

import numpy as np

from graft.errors import DataError


class BadInput(Exception):
    """A request input that cannot be used; ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


def decode_item(data: bytes | str, modality: str, sample_rate: int | None, what: str) -> Any:
    """One input → a model item: bytes of an image / audio file, or a text (``what`` names it in errors)."""
    if modality == "text":
        if isinstance(data, bytes):
            try:
                return data.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise BadInput(f"{what}: not UTF-8 text ({exc})") from exc
        return data
    raw = data if isinstance(data, bytes) else _b64(data, what)
    if not raw:
        raise BadInput(f"{what}: empty file")
    if modality == "image":
        return decode_image(raw, what)
    if modality == "audio":
        return decode_audio(raw, sample_rate or 16000, what)
    raise BadInput(f"{what}: this model takes numeric feature rows; send them to /infer as FP32", 400)


def _b64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BadInput(f"{what}: BYTES data for images and audio must be base64-encoded file contents ({exc})") from exc


def decode_image(raw: bytes, what: str) -> Any:
    """Bytes of an image file → an RGB ``PIL.Image``, decoded as ``graft.data.images`` decodes files
    (same pixel cap, EXIF orientation applied: the server answers as ``graft.predict`` on the file)."""
    from PIL import Image, ImageOps

    from graft.data.images import DEFAULT_MAX_IMAGE_PIXELS, _size_problem, to_rgb

    try:
        with Image.open(io.BytesIO(raw)) as img:
            reason = _size_problem(img, DEFAULT_MAX_IMAGE_PIXELS)
            if reason:
                raise BadInput(f"{what}: {reason}", 413 if reason.startswith("too large") else 422)
            img.load()
            return to_rgb(ImageOps.exif_transpose(img))
    except BadInput:
        raise
    except Image.DecompressionBombError as exc:  # far over the cap: Pillow refuses before we can look
        raise BadInput(f"{what}: too large: {exc}", 413) from exc
    except Exception as exc:  # Pillow raises many types for corrupt, truncated or unknown data
        raise BadInput(f"{what}: cannot decode the image ({type(exc).__name__}: {exc})") from exc


def decode_audio(raw: bytes, sample_rate: int, what: str) -> np.ndarray:
    """Bytes of an audio file → a mono float32 waveform at ``sample_rate`` (as files are read)."""
    from graft.backbones.audio_io import load_audio

    try:
        return load_audio(io.BytesIO(raw), sample_rate, name=what)
    except DataError as exc:
        raise BadInput(str(exc)) from exc
