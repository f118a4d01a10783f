"""Image files and arrays: cheap validation at read time, and one decoder to RGB that backbones use.

Every image becomes 8-bit RGB the same way, whatever it was stored as: grey and palette images are
expanded, transparency is composited on white (the colour under a transparent pixel is arbitrary),
CMYK goes through Pillow's conversion, and 16-bit / float data is *scaled* to 0..255 (Pillow's own
``convert("RGB")`` clips 16-bit grey to 255, which turns most of a 16-bit image white).
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from contextlib import contextmanager
from typing import Any, Iterator

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from graft.errors import DataError

logger = logging.getLogger(__name__)

IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm"}
)
#: Pillow's own default; an image above it is refused per file (a "decompression bomb").
DEFAULT_MAX_IMAGE_PIXELS = 89_478_485
# Full decoding of small PNGs costs microseconds and catches corrupt pixel data that verify() misses.
_PNG_FULL_DECODE_PIXELS = 1 << 20


def is_image_file(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS


def check_image(path: Path, max_pixels: int | None = DEFAULT_MAX_IMAGE_PIXELS) -> str | None:
    """Why ``path`` cannot be used as an image, or ``None`` when it can.

    Reads the header and checks the size cap, then ``verify()`` (PNG chunk CRCs, truncation), then a
    decode (JPEG at 1/8 scale via ``draft``) so truncated JPEG data is caught too. PNGs above 1 MP
    are only verified (CRCs catch truncation; a full decode would cost tens of ms).
    """
    try:
        if path.stat().st_size == 0:
            return "empty file: 0 bytes"
        with Image.open(path) as img:
            reason = _size_problem(img, max_pixels)
            if reason:
                return reason
            fmt, pixels = img.format, img.width * img.height
            img.verify()
        if fmt != "PNG" or pixels <= _PNG_FULL_DECODE_PIXELS:
            with Image.open(path) as img:
                img.draft("RGB", (64, 64))
                img.load()
    except Image.DecompressionBombError as exc:
        return f"too large: {exc} (Pillow's own limit, PIL.Image.MAX_IMAGE_PIXELS)"
    except UnidentifiedImageError:
        return "not an image: Pillow cannot identify the file"
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        return f"corrupt or truncated image: {exc}"
    except Exception as exc:  # Pillow's format plugins raise many types on malformed files
        return f"corrupt or truncated image: {type(exc).__name__}: {exc}"
    return None


def _size_problem(img: Image.Image, max_pixels: int | None) -> str | None:
    width, height = img.size
    if width < 1 or height < 1:
        return f"empty image: size {width}x{height}"
    if max_pixels is not None and width * height > max_pixels:
        return (
            f"too large: {width}x{height} = {width * height} pixels > max_image_pixels={max_pixels} "
            "(decompression-bomb guard; raise max_image_pixels if the file is trusted)"
        )
    return None


@contextmanager
def pillow_bomb_warnings_silenced() -> Iterator[None]:
    """Silence Pillow's DecompressionBombWarning: the ``max_pixels`` cap is checked explicitly.

    ``warnings.catch_warnings`` swaps process-wide state and is not thread-safe, so enter this once
    around a whole batch of checks (the folder reader does, around its thread pool), not per file.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        yield


def load_image(item: Any, max_pixels: int | None = DEFAULT_MAX_IMAGE_PIXELS) -> Image.Image:
    """Decode one image item to an 8-bit RGB ``PIL.Image``.

    Args:
        item: a file path (``Path`` or ``str``), a ``PIL.Image`` of any mode, or a numpy array
            ``HxW``, ``HxWx1/3/4`` (or channels-first ``1/3/4xHxW``) of uint8, uint16, bool or float
            (floats in ``[0, 1]`` are scaled by 255, larger floats are taken as 0..255).
        max_pixels: refuse images larger than this (decompression-bomb guard); ``None`` for no cap.

    Returns:
        An RGB image; EXIF orientation applied for files.

    Raises:
        DataError: the file is unreadable, truncated or over the pixel cap.

    Example:
        >>> load_image(np.zeros((4, 5), dtype=np.uint16)).size
        (5, 4)
    """
    if isinstance(item, (str, Path)):
        return _load_file(Path(item), max_pixels)
    if isinstance(item, Image.Image):
        return to_rgb(item)
    if isinstance(item, np.ndarray):
        return array_to_rgb(item)
    raise TypeError(f"cannot load an image from {type(item).__name__}")


def _load_file(path: Path, max_pixels: int | None) -> Image.Image:
    try:
        with Image.open(path) as img:
            reason = _size_problem(img, max_pixels)
            if reason:
                raise DataError(f"{path}: {reason}")
            img.load()
            return to_rgb(ImageOps.exif_transpose(img))
    except Image.DecompressionBombError as exc:
        raise DataError(f"{path}: too large: {exc}") from exc
    except DataError:
        raise
    except Exception as exc:  # OSError, SyntaxError, ValueError … whatever the format plugin raises
        raise DataError(f"{path}: cannot decode image ({exc}); remove or replace the file") from exc


def to_rgb(img: Image.Image) -> Image.Image:
    """Convert any Pillow mode to RGB: scale high bit depths, composite transparency on white."""
    if img.mode == "RGB":
        return img
    if img.mode in ("I", "F") or img.mode.startswith("I;16"):
        return array_to_rgb(np.asarray(img))
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    elif img.mode in ("LA", "La", "PA", "RGBa"):
        img = img.convert("RGBA")
    if img.mode == "RGBA":
        return _on_white(img)
    return img.convert("RGB")


def _on_white(img: Image.Image) -> Image.Image:
    background = Image.new("RGB", img.size, (255, 255, 255))
    background.paste(img, mask=img.getchannel("A"))
    return background


def array_to_rgb(array: np.ndarray) -> Image.Image:
    """An image array (see :func:`load_image`) as an RGB ``PIL.Image``."""
    array = _channels_last(np.asarray(array))
    data = to_uint8(array)
    if data.ndim == 2:
        return Image.fromarray(data, "L").convert("RGB")
    channels = data.shape[2]
    if channels == 1:
        return Image.fromarray(data[:, :, 0], "L").convert("RGB")
    if channels == 3:
        return Image.fromarray(np.ascontiguousarray(data), "RGB")
    if channels == 4:
        return _on_white(Image.fromarray(np.ascontiguousarray(data), "RGBA"))
    raise DataError(f"image array has {channels} channels; expected 1, 3 or 4")


def _channels_last(array: np.ndarray) -> np.ndarray:
    if array.ndim == 3 and array.shape[0] in (1, 3, 4) and array.shape[2] not in (1, 3, 4):
        return np.moveaxis(array, 0, -1)
    if array.ndim not in (2, 3):
        raise DataError(f"image array must be HxW or HxWxC, got shape {array.shape}")
    return array


def to_uint8(array: np.ndarray) -> np.ndarray:
    """Scale image data to uint8: 16-bit by 1/257, floats in [0, 1] by 255, others clipped to 0..255."""
    if array.dtype == np.uint8:
        return array
    if array.dtype == bool:
        return array.astype(np.uint8) * 255
    if array.dtype.kind == "f":
        finite = np.nan_to_num(array.astype(np.float64), nan=0.0, posinf=255.0, neginf=0.0)
        scale = 255.0 if finite.size and finite.max() <= 1.0 else 1.0
        return np.clip(np.rint(finite * scale), 0, 255).astype(np.uint8)
    if array.dtype == np.uint16 or array.dtype.kind in "iu" and array.size and array.max() > 255:
        # 16-bit data (also Pillow's 32-bit "I" mode, which holds 16-bit PNG/TIFF pixels).
        return np.rint(np.clip(array, 0, 65535) / 257.0).astype(np.uint8)
    return np.clip(array, 0, 255).astype(np.uint8)
