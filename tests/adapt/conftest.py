"""Fixtures for the adaptation tests: small synthetic shifts and digits rendered from fonts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

FONT_ROOT = Path("/usr/share/fonts")
# Pinned families keep the source fixed as other fonts get installed (the numbers stay comparable).
FONT_FAMILIES = ("dejavu", "liberation", "freefont")


@pytest.fixture(autouse=True, scope="session")
def one_blas_thread():
    """Tiny matrices: BLAS threads only add contention on a shared machine (10x slower here)."""
    with threadpool_limits(limits=1):
        yield


@pytest.fixture
def shifted_blobs():
    """Three Gaussian classes; the target's features are rescaled and moved (a per-feature affine shift)."""
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0, 0.0, 0.0], [3.0, 0.0, 0.0, 0.0], [0.0, 3.0, 0.0, 0.0]])
    ys = np.repeat(np.arange(3), 80)
    Xs = centres[ys] + rng.normal(size=(240, 4))
    yt = np.repeat(np.arange(3), 80)
    Xt = (centres[yt] + rng.normal(size=(240, 4))) * np.array([2.0, 0.6, 1.5, 1.0]) + np.array([2.0, 1.5, 1.0, 0.0])
    return Xs, ys, Xt, yt


def render_digit(font_path: Path, digit: int, size: int = 32) -> np.ndarray:
    """A digit drawn like scikit-learn's ``load_digits`` (UCI optdigits): the glyph scaled to fill a
    32x32 binary box (aspect ratio kept, centred), then on-pixels counted in 4x4 blocks -> 8x8, 0..16."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype(str(font_path), 96)
    canvas = Image.new("L", (160, 160), 0)
    ImageDraw.Draw(canvas).text((20, 10), str(digit), fill=255, font=font)
    box = canvas.getbbox()
    if box is None:
        return np.zeros(64)
    glyph = canvas.crop(box)
    scale = size / max(glyph.size)
    w, h = max(1, round(glyph.size[0] * scale)), max(1, round(glyph.size[1] * scale))
    square = Image.new("L", (size, size), 0)
    square.paste(glyph.resize((w, h), Image.LANCZOS), ((size - w) // 2, (size - h) // 2))
    bits = (np.asarray(square) >= 128).astype(np.float64)
    return bits.reshape(8, 4, 8, 4).sum(axis=(1, 3)).ravel()


def find_fonts() -> list[Path]:
    fonts = sorted(p for p in FONT_ROOT.rglob("*.ttf") if p.parent.name.lower() in FONT_FAMILIES)
    return [p for p in fonts if "math" not in p.name.lower()]  # math fonts: digits as symbols


@pytest.fixture(scope="session")
def font_digits():
    """Digits 0-9 rendered from every pinned TTF font whose ten glyphs are present and distinct."""
    pytest.importorskip("PIL")
    rows, labels = [], []
    for path in find_fonts():
        glyphs = np.stack([render_digit(path, d) for d in range(10)])
        if len({g.tobytes() for g in glyphs}) == 10 and glyphs.sum(axis=1).min() > 0:
            rows.append(glyphs)
            labels.append(np.arange(10))
    if len(rows) < 10:
        pytest.skip(f"need at least 10 usable TTF fonts of {FONT_FAMILIES} under {FONT_ROOT}; found {len(rows)}")
    return np.concatenate(rows), np.concatenate(labels)
