"""Digits 0-9 rendered from the installed fonts, made the way scikit-learn's ``load_digits`` was.

The optdigits preprocessing (NIST): each digit is a 32x32 bitmap, normalised so its bounding box fills
the box (aspect ratio kept, centred), then counted in 4x4 blocks to an 8x8 image of values 0..16.
Here each glyph is rendered large, cropped to its ink, scaled to fill 32x32, thresholded to a bitmap
and pooled the same way — a synthetic source domain for the fonts → handwriting shift. Test fonts are
whole font families held out from train.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Iterator

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from graft.data.builtin._output import Counts, check_per_class, materialise, save_png
from graft.data.builtin.registry import DATASETS, BuiltinDataset
from graft.data.split import order_by_key, split_key
from graft.errors import MissingDependencyError, UsageError

logger = logging.getLogger(__name__)

FONT_DIRS = (Path("/usr/share/fonts"), Path("/usr/local/share/fonts"))
BOX = 32  # the optdigits bitmap size
RENDER_PX = 96  # glyphs are drawn large, then scaled down, so thin strokes survive
TEST_FRACTION = 0.2
_MISSING_GLYPH = "\U0010fffd"  # a private-use code point no text font maps: renders as .notdef


def font_files(dirs: tuple[Path, ...] = FONT_DIRS) -> list[Path]:
    """TrueType / OpenType font files under ``dirs``, sorted."""
    found = {p for d in dirs if d.is_dir() for p in d.rglob("*") if p.suffix.lower() in (".ttf", ".otf")}
    return sorted(found)


def render_bitmap(font: ImageFont.FreeTypeFont, text: str) -> np.ndarray | None:
    """``text`` as a BOX x BOX bool bitmap whose ink box fills the box; ``None`` when blank."""
    left, top, right, bottom = font.getbbox(text)
    if right <= left or bottom <= top:
        return None
    canvas = Image.new("L", (right - left + 4, bottom - top + 4), 0)
    ImageDraw.Draw(canvas).text((2 - left, 2 - top), text, font=font, fill=255)
    ink = canvas.getbbox()
    if ink is None:
        return None
    glyph = canvas.crop(ink)
    scale = BOX / max(glyph.size)
    size = (max(1, round(glyph.width * scale)), max(1, round(glyph.height * scale)))
    glyph = glyph.resize(size, Image.Resampling.BOX if scale < 1 else Image.Resampling.BILINEAR)
    box = Image.new("L", (BOX, BOX), 0)
    box.paste(glyph, ((BOX - size[0]) // 2, (BOX - size[1]) // 2))
    bitmap = np.asarray(box) >= 128
    return bitmap if bitmap.any() else None


def pool_8x8(bitmap: np.ndarray) -> np.ndarray:
    """Count the on pixels in each 4x4 block: a 32x32 bitmap → 8x8 values 0..16."""
    return bitmap.reshape(8, 4, 8, 4).sum(axis=(1, 3))


def font_digits(path: Path) -> list[np.ndarray] | None:
    """The ten digit bitmaps of one font, or ``None`` if it cannot be loaded, lacks a digit or renders blank."""
    try:
        font = ImageFont.truetype(str(path), RENDER_PX)
        missing = render_bitmap(font, _MISSING_GLYPH)
        bitmaps = [render_bitmap(font, str(d)) for d in range(10)]
    except OSError as exc:
        logger.debug("skipping font %s: %s", path, exc)
        return None
    if any(b is None or (missing is not None and np.array_equal(b, missing)) for b in bitmaps):
        logger.debug("skipping font %s: a digit is missing or blank", path)
        return None
    return bitmaps  # type: ignore[return-value]


def family(path: Path) -> str:
    try:
        return ImageFont.truetype(str(path), 12).getname()[0] or path.stem
    except OSError:
        return path.stem


def usable_fonts(files: list[Path], limit: int | None = None, seen: set[bytes] | None = None) -> Iterator[tuple[Path, list[np.ndarray]]]:
    """Fonts with all ten digits, in the given order, skipping exact duplicates of a font already seen."""
    seen = set() if seen is None else seen
    found = 0
    for path in files:
        if limit is not None and found >= limit:
            return
        bitmaps = font_digits(path)
        if bitmaps is None:
            continue
        signature = np.packbits(np.stack(bitmaps)).tobytes()
        if signature not in seen:
            seen.add(signature)
            found += 1
            yield path, bitmaps


def make(out_dir: Path, per_class: int | None = None, seed: int = 0, *, size: int = 8) -> Path:
    """Render every usable font (at most ``per_class`` fonts per split); ``size`` 8 (pooled) or 32 (bitmap)."""
    check_per_class(per_class)
    if size not in (8, 32):
        raise UsageError(f"font_digits size must be 8 or 32, got {size}")
    params = {"per_class": per_class, "seed": seed, "options": {"size": size}}
    layout = (
        f"train/<digit>/<font>.png and test/<digit>/<font>.png, {size}x{size} grey; "
        "test fonts are whole font families held out from train"
    )
    return materialise(SPEC, out_dir, params, lambda tmp: _build(tmp, per_class, seed, size), layout)


def _build(tmp: Path, per_class: int | None, seed: int, size: int) -> tuple[Counts, dict[str, Any]]:
    files = font_files()
    families = {p: family(p) for p in files}
    test_families = _test_families(sorted(set(families.values())), seed)
    counts: Counts = {}
    names: dict[str, list[str]] = {}
    seen: set[bytes] = set()  # shared, so a duplicate font never lands in both splits
    for split in ("train", "test"):
        members = [p for p in files if (families[p] in test_families) == (split == "test")]
        ordered = [members[i] for i in order_by_key([p.name for p in members], seed)]
        chosen = sorted(usable_fonts(ordered, per_class, seen))
        for path, bitmaps in chosen:
            _write_font(tmp / split, path, bitmaps, size)
        counts[split] = {str(d): len(chosen) for d in range(10)}
        names[split] = [p.name for p, _ in chosen]
    if not counts["train"]["0"] or not counts["test"]["0"]:
        raise MissingDependencyError(
            f"font_digits found too few usable fonts under {', '.join(map(str, FONT_DIRS))}: "
            "sudo apt-get install fonts-dejavu-core fonts-liberation fonts-freefont-ttf  (or run `make setup`)"
        )
    return counts, {"fonts": names, "test_families": sorted(test_families), "size": size}


def _test_families(families: list[str], seed: int) -> set[str]:
    n_test = max(1, round(len(families) * TEST_FRACTION)) if len(families) > 1 else 0
    return set(sorted(families, key=lambda f: split_key(f, seed))[:n_test])


def _write_font(folder: Path, path: Path, bitmaps: list[np.ndarray], size: int) -> None:
    for digit, bitmap in enumerate(bitmaps):
        values = pool_8x8(bitmap) * 255.0 / 16.0 if size == 8 else bitmap * 255.0
        save_png(np.rint(values).astype(np.uint8), folder / str(digit) / f"{path.stem}.png")


SPEC = BuiltinDataset(
    name="font_digits",
    modality="image",
    description="Digits 0-9 rendered from installed fonts, preprocessed like load_digits (8x8): "
    "a synthetic source domain for fonts -> handwriting",
    license="per font (DejaVu: Bitstream Vera licence; Liberation: OFL-1.1; FreeFont: GPL-3+ with font exception)",
    requires=("apt:fonts-dejavu-core", "apt:fonts-liberation", "apt:fonts-freefont-ttf"),
    make=make,
    default_per_class=None,
    source="TrueType/OpenType fonts under /usr/share/fonts, rendered with Pillow",
)
DATASETS.add(SPEC.name, SPEC)
