"""Image and audio folders: ``root/<class>/<file>`` or ``root/{train,val,test}/<class>/<file>``.

A folder holding files but no sub-folders reads as an unlabelled set (for prediction). Files are
validated cheaply (header + verify for images, header for audio) in a thread pool; a file that fails
goes to the skip report with its reason.
"""

from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Callable, Iterator, Sequence

from graft.data.assemble import Rows
from graft.data.audio import check_audio
from graft.data.dataset import Modality, SkipReport
from graft.data.images import IMAGE_EXTENSIONS, check_image, pillow_bomb_warnings_silenced
from graft.data.split import order_by_key
from graft.errors import DataError, UsageError

logger = logging.getLogger(__name__)

SPLIT_DIRS = {"train": "train", "val": "val", "valid": "val", "validation": "val", "test": "test"}
_CHUNK = 256


def visible_dirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def split_folders(root: Path) -> dict[str, Path] | None:
    """``{"train": root/train, ...}`` when every visible sub-folder is a split name, else ``None``."""
    subdirs = visible_dirs(root)
    if not subdirs or any(p.name.lower() not in SPLIT_DIRS for p in subdirs):
        return None
    found: dict[str, Path] = {}
    for folder in subdirs:
        split = SPLIT_DIRS[folder.name.lower()]
        if split in found:
            raise DataError(f"{root}: both {found[split].name}/ and {folder.name}/ hold the {split} split; keep one")
        found[split] = folder
    return found


def media_files(folder: Path, *, recursive: bool = True) -> list[Path]:
    """Visible files under ``folder`` (hidden files and folders such as ``.DS_Store`` are ignored)."""
    walker = folder.rglob("*") if recursive else folder.iterdir()
    files = []
    for path in walker:
        parts = path.relative_to(folder).parts
        if path.is_file() and not any(p.startswith(".") for p in parts):
            files.append(path)
    return sorted(files)


def extension_set(extensions: Sequence[str]) -> set[str]:
    """Lower-case extensions with their dot: ``("WAV", ".flac")`` → ``{".wav", ".flac"}``."""
    if isinstance(extensions, str):
        extensions = [extensions]
    return {e.lower() if e.startswith(".") else f".{e.lower()}" for e in extensions}


def detect_modality(files: Sequence[Path], audio_extensions: Sequence[str], root: Path) -> Modality:
    """``image`` or ``audio`` from the file extensions; DataError when neither or both are found."""
    audio = extension_set(audio_extensions)
    n_image = sum(p.suffix.lower() in IMAGE_EXTENSIONS for p in files)
    n_audio = sum(p.suffix.lower() in audio for p in files)
    if n_image and n_audio:
        raise DataError(
            f"{root} holds {n_image} image and {n_audio} audio files; pass modality='image' or 'audio'"
        )
    if not (n_image or n_audio):
        raise DataError(
            f"no image or audio files found in {root}. Expected root/<class>/<file> or "
            f"root/train/<class>/<file>; image extensions {sorted(IMAGE_EXTENSIONS)}, "
            f"audio extensions {sorted(audio)} (option audio_extensions)"
        )
    return "image" if n_image else "audio"


def read_folder(
    root: Path,
    *,
    modality: Modality | None,
    audio_extensions: Sequence[str],
    max_image_pixels: int | None,
    limit_per_class: int | None,
    seed: int,
    skipped: SkipReport,
) -> tuple[Rows, Modality]:
    """Scan, validate and list the usable files of a folder dataset."""
    layout = _layout(root)
    all_files = [f for files in layout.values() for f in files]
    modality = modality or detect_modality(all_files, audio_extensions, root)
    if modality not in ("image", "audio"):
        raise UsageError(f"a folder reads as modality 'image' or 'audio', not {modality!r}")
    extensions = IMAGE_EXTENSIONS if modality == "image" else extension_set(audio_extensions)
    check = partial(check_image, max_pixels=max_image_pixels) if modality == "image" else check_audio
    rows = Rows()
    with pillow_bomb_warnings_silenced(), ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        for (split, name), files in layout.items():
            wanted = [f for f in files if f.suffix.lower() in extensions]
            _note_empty(root, split, name, wanted, modality, skipped)
            keys = [f.relative_to(root).as_posix() for f in wanted]
            if limit_per_class is not None:
                wanted = [wanted[i] for i in order_by_key(keys, seed)]
            usable = _usable(wanted, check, limit_per_class, skipped, pool.map)
            if wanted and not usable and name is not None:
                _note_unusable(root, split, name, len(wanted), skipped)
            for path in sorted(usable):
                rows.add(path, name, split, path.relative_to(root).as_posix(), str(path))
    return rows, modality


Group = tuple[str | None, str | None]  # (split, class name); None when the layout does not say


def _layout(root: Path) -> dict[Group, list[Path]]:
    """Files per (split, class) folder; loose files only for a folder without sub-folders."""
    splits = split_folders(root)
    if splits is not None:
        return {(s, c.name): media_files(c) for s, folder in splits.items() for c in visible_dirs(folder)}
    classes = visible_dirs(root)
    if not classes:
        logger.info("%s has no class sub-folders: reading its files as an unlabelled set", root)
        return {(None, None): media_files(root, recursive=False)}
    return {(None, c.name): media_files(c) for c in classes}


def _note_empty(
    root: Path, split: str | None, name: str | None, files: list[Path], modality: str, skipped: SkipReport
) -> None:
    if files or name is None:
        return
    folder = root / split / name if split else root / name
    if split in (None, "train"):
        skipped.add(folder, f"empty class folder: no {modality} files; class {name!r} dropped")
    else:
        skipped.add(folder, f"empty class folder: no {modality} files in the {split} split")


def _note_unusable(root: Path, split: str | None, name: str, n: int, skipped: SkipReport) -> None:
    folder = root / split / name if split else root / name
    dropped = f"; class {name!r} dropped" if split in (None, "train") else ""
    skipped.add(folder, f"no usable files: none of its {n} files could be used{dropped}")


def _usable(
    paths: list[Path],
    check: Callable[[Path], str | None],
    limit: int | None,
    skipped: SkipReport,
    map_fn: Callable[..., Iterator[str | None]],
) -> list[Path]:
    """The paths that pass ``check``, stopping once ``limit`` are found (in the given order)."""
    good: list[Path] = []
    for start in range(0, len(paths), _CHUNK):
        chunk = paths[start : start + _CHUNK]
        for path, reason in zip(chunk, map_fn(check, chunk)):
            if reason:
                skipped.add(path, reason)
            else:
                good.append(path)
            if limit is not None and len(good) >= limit:
                return good
    return good
