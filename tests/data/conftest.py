"""Small on-disk datasets built per test: tiny images, WAV clips and tables."""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from PIL import Image


def write_png(path: Path, value: int = 128, size: tuple[int, int] = (8, 8), mode: str = "L") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(value)
    pixels = rng.integers(0, 256, (size[1], size[0], 3) if mode == "RGB" else (size[1], size[0]), dtype=np.uint8)
    Image.fromarray(pixels, mode).save(path)
    return path


def write_wav(path: Path, seconds: float = 0.1, rate: int = 8000, freq: float = 440.0) -> Path:
    import soundfile

    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * rate)) / rate
    soundfile.write(str(path), (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32), rate)
    return path


@pytest.fixture
def image_folder(tmp_path: Path) -> Callable[..., Path]:
    """``make(counts={"cat": 5, "dog": 5}, split=None)`` → a class-folder image dataset."""

    def make(counts: dict[str, int] | None = None, split: str | None = None, root: Path | None = None) -> Path:
        root = root or tmp_path / "images"
        base = root / split if split else root
        for name, n in (counts or {"cat": 5, "dog": 5}).items():
            (base / name).mkdir(parents=True, exist_ok=True)
            for i in range(n):
                write_png(base / name / f"{name}_{i:03d}.png", value=zlib.crc32(f"{name}{i}{split}".encode()) % 1000)
        return root

    return make


@pytest.fixture
def png() -> Callable[..., Path]:
    return write_png


@pytest.fixture
def wav() -> Callable[..., Path]:
    return write_wav
