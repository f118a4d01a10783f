"""``read(path)``: any supported layout → :class:`Dataset`; ``from_arrays`` / ``from_frame`` for memory.

Layouts, detected in this order for a folder:

1. ``train.csv`` / ``val.csv`` / ``test.csv`` (or ``.tsv``, ``.jsonl``): one table per split.
2. ``train/``, ``val/``, ``test/`` sub-folders, each holding class sub-folders of images or audio.
3. Class sub-folders ``root/<class>/<file>`` (files may sit deeper inside a class folder).
4. A single table file and no sub-folders.

A path to a ``.csv`` / ``.tsv`` / ``.jsonl`` file reads that table (an optional ``split`` column
assigns rows to train / val / test). When no val split is given, a stratified ``val_fraction`` of
train is held out, chosen by a hash of each item's name and ``seed`` (see :mod:`graft.data.split`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from graft.data.assemble import Rows, assemble, check_options
from graft.data.audio import AUDIO_EXTENSIONS
from graft.data.dataset import Dataset, Modality, SkipReport
from graft.data.folders import read_folder, visible_dirs
from graft.data.hashing import item_hash
from graft.data.regression import check_target_type
from graft.data.images import DEFAULT_MAX_IMAGE_PIXELS
from graft.data.tables import (
    SPLIT_NAMES,
    TABLE_EXTENSIONS,
    default_feature_columns,
    feature_rows,
    image_rows,
    frame_table,
    is_missing,
    is_table_file,
    label_name,
    read_table,
    require_columns,
    text_rows,
)
from graft.errors import DataError, UsageError

logger = logging.getLogger(__name__)

SPLIT_COLUMN = "split"
_SPLIT_FILE_STEMS = {"train": "train", "val": "val", "valid": "val", "validation": "val", "test": "test"}


def read(
    path: str | Path,
    *,
    modality: Modality | None = None,
    text_column: str = "text",
    label_column: str | None = "label",
    val_fraction: float = 0.2,
    seed: int = 0,
    max_image_pixels: int | None = DEFAULT_MAX_IMAGE_PIXELS,
    audio_extensions: Sequence[str] = AUDIO_EXTENSIONS,
    limit_per_class: int | None = None,
    feature_columns: Sequence[str] | None = None,
    target_type: str = "auto",
    image_column: str | None = None,
) -> Dataset:
    """Read a dataset from a folder or a table file.

    Args:
        path: an image/audio folder (``root/<class>/…`` or ``root/{train,val,test}/<class>/…``), a
            ``.csv`` / ``.tsv`` / ``.jsonl`` file, or a folder holding ``train.csv`` (``val``, ``test``).
        modality: force ``"image"``, ``"audio"``, ``"text"`` or ``"array"``; detected when ``None``.
        text_column: table column holding the text.
        label_column: table column holding the label; ``None`` reads an unlabelled table.
        val_fraction: share of each train class held out as val when no val split is given.
        seed: chooses the val items and the ``limit_per_class`` subsample, deterministically.
        max_image_pixels: images above this many pixels are skipped (decompression-bomb guard).
        audio_extensions: file extensions read as audio.
        limit_per_class: keep at most this many items per class in each given split.
        feature_columns: numeric table columns to read as ``modality="array"`` rows.
        target_type: "auto" (a numeric label column with many distinct values is a regression
            target, and a note says so), "classification" or "regression" (see
            :mod:`graft.data.regression`).
        image_column: table column of image file paths (relative to the table's folder):
            ``modality="image"`` items, e.g. a number to predict from each image.

    Returns:
        The dataset; files and rows that could not be used are listed in ``dataset.skipped``.

    Raises:
        DataError: the dataset is unusable as a whole (missing path or column, fewer than 2 classes).

    Example:
        >>> ds = read("data/pets")                      # doctest: +SKIP
        >>> ds.classes, len(ds.train), len(ds.val)      # doctest: +SKIP
        (['cat', 'dog'], 160, 40)
    """
    check_options(val_fraction, limit_per_class)
    check_target_type(target_type)
    root = Path(path).absolute()
    options = dict(val_fraction=val_fraction, seed=seed, limit_per_class=limit_per_class)
    if target_type != "auto":
        options["target_type"] = target_type
    tables = _table_files(root)
    if tables is not None:
        columns = dict(text_column=text_column, label_column=label_column, feature_columns=feature_columns)
        if image_column is not None:
            columns["image_column"] = image_column
            options["max_image_pixels"] = max_image_pixels
        return _read_tables(tables, str(root), modality=modality, **columns, **options)
    skipped = SkipReport()
    rows, found = read_folder(
        root,
        modality=modality,
        audio_extensions=audio_extensions,
        max_image_pixels=max_image_pixels,
        limit_per_class=limit_per_class,
        seed=seed,
        skipped=skipped,
    )
    return assemble(rows, modality=found, source=str(root), skipped=skipped, **options)


def _table_files(root: Path) -> dict[str | None, Path] | None:
    """The table file(s) to read, keyed by the split their name gives; ``None`` for a folder dataset."""
    if not root.exists():
        raise DataError(f"{root}: no such file or folder")
    if root.is_file():
        if not is_table_file(root):
            raise DataError(
                f"{root} is not a dataset graft can read: give a folder (root/<class>/<file>) "
                f"or a table file ({', '.join(TABLE_EXTENSIONS)})"
            )
        return {None: root}
    by_split = _split_tables(root)
    if by_split:
        return by_split
    loose = sorted(p for p in root.iterdir() if p.is_file() and is_table_file(p))
    if len(loose) == 1 and not visible_dirs(root):
        return {None: loose[0]}
    return None


def _split_tables(root: Path) -> dict[str | None, Path]:
    found: dict[str | None, Path] = {}
    for path in sorted(root.iterdir()):
        split = _SPLIT_FILE_STEMS.get(path.stem.lower())
        if split is None or not path.is_file() or not is_table_file(path):
            continue
        if split in found:
            raise DataError(f"{root}: both {found[split].name} and {path.name} hold the {split} split; keep one")
        found[split] = path
    return found


def _read_tables(
    files: dict[str | None, Path],
    source: str,
    *,
    modality: Modality | None,
    text_column: str,
    label_column: str | None,
    feature_columns: Sequence[str] | None,
    val_fraction: float,
    seed: int,
    limit_per_class: int | None,
    target_type: str = "auto",
    image_column: str | None = None,
    max_image_pixels: int | None = DEFAULT_MAX_IMAGE_PIXELS,
) -> Dataset:
    if image_column is not None and modality not in (None, "image"):
        raise UsageError(f"image_column (--image-column) reads images; modality {modality!r} does not go with it")
    if image_column is None and modality not in (None, "text", "array"):
        raise UsageError(f"a table reads as modality 'text' or 'array' (or 'image' with image_column=), not {modality!r}")
    as_array = modality == "array" or feature_columns is not None
    skipped, rows = SkipReport(), Rows()
    for split, path in files.items():
        table = read_table(path)
        if image_column is not None:
            from graft.data.images import check_image

            require_columns(table, {"image_column": image_column, "label_column": label_column})
            check = lambda p: check_image(p, max_image_pixels)  # noqa: E731
            rows.extend(image_rows(table, image_column, label_column, SPLIT_COLUMN, split, path.parent, check))
        elif as_array:
            require_columns(table, {"label_column": label_column})
            columns = feature_columns or default_feature_columns(table, [label_column, SPLIT_COLUMN])
            rows.extend(feature_rows(table, columns, label_column, SPLIT_COLUMN, split))
        else:
            require_columns(table, {"text_column": text_column, "label_column": label_column})
            rows.extend(text_rows(table, text_column, label_column, SPLIT_COLUMN, split))
        skipped.extend(table.skipped)
    modality = "image" if image_column is not None else "array" if as_array else "text"
    options = dict(val_fraction=val_fraction, seed=seed, limit_per_class=limit_per_class, target_type=target_type,
                   target_name=label_column)
    return assemble(rows, modality=modality, source=source, skipped=skipped, **options)


def from_frame(
    df: Any,
    *,
    text_column: str | None = None,
    feature_columns: Sequence[str] | None = None,
    label_column: str | None = "label",
    split_column: str | None = SPLIT_COLUMN,
    classes: Sequence[str] | None = None,
    val_fraction: float = 0.0,
    seed: int = 0,
    limit_per_class: int | None = None,
    source: str = "<DataFrame>",
    target_type: str = "auto",
) -> Dataset:
    """A dataset from a pandas DataFrame: a text column, or numeric feature columns.

    Args:
        df: the frame.
        text_column: column of texts (``modality="text"``).
        feature_columns: numeric columns (``modality="array"``). With neither, a ``text`` column is
            used when present, else every column except the label and split columns.
        label_column: label column; ``None`` for unlabelled data.
        split_column: optional column of ``train`` / ``val`` / ``test``; ignored when absent.
        classes: class names in order; by default sorted unique labels.
        val_fraction: stratified share of train to hold out as val when no val split is given.
        seed: chooses the val items, deterministically.
        limit_per_class: keep at most this many rows per class and split.
        source: name used in messages and lineage.
        target_type: "auto", "classification" or "regression" (see :func:`read`).

    Example:
        >>> import pandas as pd
        >>> ds = from_frame(pd.DataFrame({"text": ["a", "b"], "label": ["x", "y"]}))
        >>> ds.classes, ds.modality
        (['x', 'y'], 'text')
    """
    if text_column is not None and feature_columns is not None:
        raise UsageError("give text_column or feature_columns, not both")
    check_target_type(target_type)
    table = frame_table(df, source)
    require_columns(table, {"text_column": text_column, "label_column": label_column})
    if text_column is None and feature_columns is None and "text" in table.columns:
        text_column = "text"
    if text_column is not None:
        rows = text_rows(table, text_column, label_column, split_column, None)
    else:
        columns = feature_columns or default_feature_columns(table, [label_column, split_column])
        rows = feature_rows(table, columns, label_column, split_column, None)
    modality: Modality = "text" if text_column else "array"
    options = dict(val_fraction=val_fraction, seed=seed, classes=classes, limit_per_class=limit_per_class,
                   target_type=target_type, target_name=label_column)
    return assemble(rows, modality=modality, source=source, skipped=table.skipped, **options)


def from_arrays(
    X: Any,
    y: Any = None,
    classes: Sequence[str] | None = None,
    *,
    modality: Modality | None = None,
    sample_rate: int | None = None,
    splits: Sequence[str] | None = None,
    val_fraction: float = 0.0,
    seed: int = 0,
    source: str = "<arrays>",
    target_type: str = "auto",
) -> Dataset:
    """A dataset from in-memory arrays.

    Args:
        X: numeric rows ``(N, D)`` → ``"array"``; images ``(N, H, W)``, ``(N, H, W, C)`` or a list of
            image arrays / PIL images → ``"image"``; waveforms ``(N, T)`` or a list of 1-D arrays with
            ``sample_rate`` → ``"audio"``.
        y: labels (ints or strings), or ``None`` for unlabelled data.
        classes: class names; integer ``y`` then indexes into them.
        modality: force the modality instead of inferring it from the shape.
        sample_rate: waveform sample rate (audio only).
        splits: optional per-item ``train`` / ``val`` / ``test``.
        val_fraction: stratified share of train to hold out as val when no val split is given.
        seed: chooses the val items, deterministically.
        source: name used in messages and lineage.
        target_type: "auto", "classification" or "regression": float ``y`` with many distinct values
            is a regression target under "auto" (see :func:`read`).

    Rows with non-finite features or a missing label are skipped (listed in ``dataset.skipped``).

    Example:
        >>> ds = from_arrays(np.eye(4), [0, 1, 0, 1], classes=["no", "yes"])
        >>> ds.modality, ds.classes, ds.labels.tolist()
        ('array', ['no', 'yes'], [0, 1, 0, 1])
    """
    check_target_type(target_type)
    items = _as_items(X)
    modality = modality or _infer_modality(items, X, sample_rate)
    if modality == "audio" and sample_rate is None:
        raise UsageError("audio arrays need sample_rate=<Hz>")
    names = _names(y, classes, len(items))
    split_list = _splits(splits, len(items))
    skipped, rows = SkipReport(), Rows()
    for i, (item, name, split) in enumerate(zip(items, names, split_list)):
        where = f"{source}[{i}]"
        reason = _array_problem(item, name, modality, y is not None)
        if reason:
            skipped.add(where, reason)
            continue
        rows.add(item, name, split, f"{item_hash(item)}\x1f{name}", where)
    rate = sample_rate if modality == "audio" else None
    options = dict(val_fraction=val_fraction, seed=seed, classes=classes, sample_rate=rate, target_type=target_type)
    return assemble(rows, modality=modality, source=source, skipped=skipped, **options)


def _as_items(X: Any) -> list[Any]:
    if isinstance(X, np.ndarray):
        if X.ndim < 2:
            raise UsageError(f"X must have one row per item (2-D or more), got shape {X.shape}")
        return list(X)
    if hasattr(X, "to_numpy"):  # a DataFrame of features
        return list(np.asarray(X.to_numpy()))
    return [x if hasattr(x, "mode") and hasattr(x, "size") else np.asarray(x) for x in X]


def _infer_modality(items: list[Any], X: Any, sample_rate: int | None) -> Modality:
    if not items:
        raise UsageError("X is empty")
    first = items[0]
    if not isinstance(first, np.ndarray):  # PIL images
        return "image"
    if sample_rate is not None:
        return "audio"
    if first.ndim == 1:
        return "array"
    if first.ndim in (2, 3):
        return "image"
    raise UsageError(f"cannot tell the modality of items shaped {first.shape}; pass modality=")


def _names(y: Any, classes: Sequence[str] | None, n: int) -> list[str | None]:
    if y is None:
        return [None] * n
    values = list(np.asarray(y, dtype=object)) if not isinstance(y, list) else y
    if len(values) != n:
        raise UsageError(f"X has {n} items but y has {len(values)} labels")
    return [None if is_missing(v) else _class_name(v, classes) for v in values]


def _class_name(value: Any, classes: Sequence[str] | None) -> str:
    if classes is not None and isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        if not 0 <= value < len(classes):
            raise UsageError(f"label {value} is out of range for {len(classes)} classes")
        return classes[int(value)]
    return label_name(value)


def _splits(splits: Sequence[str] | None, n: int) -> list[str | None]:
    if splits is None:
        return [None] * n
    if len(splits) != n:
        raise UsageError(f"X has {n} items but splits has {len(splits)} entries")
    out = [SPLIT_NAMES.get(str(s).strip().lower()) for s in splits]
    bad = sorted({str(s) for s, o in zip(splits, out) if o is None})
    if bad:
        raise UsageError(f"unknown split name(s) {bad}: use train, val or test")
    return out  # type: ignore[return-value]


def _array_problem(item: Any, name: str | None, modality: str, labelled: bool) -> str | None:
    if labelled and name is None:
        return "empty or NaN label"
    if modality in ("array", "audio") and isinstance(item, np.ndarray):
        if item.dtype.kind not in "biuf":
            return f"non-numeric values (dtype {item.dtype})"
        if not np.all(np.isfinite(item)):
            return "non-finite values (NaN or inf)"
        if modality == "audio" and item.size == 0:
            return "empty waveform"
    return None
