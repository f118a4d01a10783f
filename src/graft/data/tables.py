"""CSV / TSV / JSONL files and DataFrames → rows of (item, label name, split).

Encoding policy (chosen so that a spreadsheet export never stops a run): UTF-8 (with or without a
BOM) is tried first, UTF-16 when the file starts with a UTF-16 BOM; otherwise the file is decoded as
cp1252, then latin-1 (which accepts any bytes), and the fallback is recorded in the ``SkipReport`` as a
note naming the file and the fix (re-save as UTF-8), so a mis-decoded character can be traced.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import logging
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from graft.data.assemble import Rows
from graft.data.dataset import SkipReport
from graft.errors import DataError

logger = logging.getLogger(__name__)

TABLE_EXTENSIONS = {".csv": ",", ".tsv": "\t", ".tab": "\t", ".jsonl": None, ".ndjson": None}
MISSING = frozenset({"", "nan", "NaN", "NAN", "null", "NULL", "None", "<NA>", "N/A", "n/a"})
SPLIT_NAMES = {
    **dict.fromkeys(("train", "training"), "train"),
    **dict.fromkeys(("val", "valid", "validation", "dev"), "val"),
    **dict.fromkeys(("test", "testing"), "test"),
}


@dataclass
class Table:
    """Rows read from one file or DataFrame, each with a ``where`` for messages (``file:line 7``)."""

    columns: list[str]
    rows: list[dict[str, Any]]
    where: list[str]
    source: str
    skipped: SkipReport = field(default_factory=SkipReport)


def is_table_file(path: Path) -> bool:
    return path.suffix.lower() in TABLE_EXTENSIONS


# Files that are not text tables whatever their extension says, by their first bytes.
BINARY_SIGNATURES = {
    b"PK\x03\x04": "a zip archive (an Excel .xlsx or OpenDocument .ods workbook, most likely)",
    b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1": "an OLE compound file (an old Excel .xls workbook, most likely)",
    b"PAR1": "a Parquet file",
    b"\x1f\x8b": "a gzip-compressed file",
}


def check_not_binary(path: Path, data: bytes) -> None:
    """DataError for a workbook or other binary file renamed to a table extension (its bytes would
    otherwise come back as a column list of garbage)."""
    kind = next((what for sig, what in BINARY_SIGNATURES.items() if data.startswith(sig)), None)
    if kind is None and b"\x00" in data[:4096]:
        kind = "a binary file (it holds NUL bytes)"
    if kind is not None:
        raise DataError(f"{path} is {kind}, not a {path.suffix or 'text'} table. Export it as CSV (UTF-8) "
                        "from the program that made it, e.g. Excel: File > Save As > CSV UTF-8")


def decode_text(path: Path, skipped: SkipReport) -> str:
    """The file's text; a non-UTF-8 file is decoded as cp1252 / latin-1 with a note in ``skipped``."""
    data = path.read_bytes()
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16")
    check_not_binary(path, data)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        for encoding in ("cp1252", "latin-1"):
            try:
                text = data.decode(encoding)
            except UnicodeDecodeError:
                continue
            note = (
                f"encoding note: not valid UTF-8 (byte {exc.start}); decoded as {encoding}. "
                "Nothing was dropped; re-save the file as UTF-8 if characters look wrong"
            )
            skipped.add(path, note)
            logger.warning("%s: %s", path, note)
            return text
    raise AssertionError("latin-1 decodes any bytes")  # pragma: no cover


def read_table(path: Path) -> Table:
    """Read a CSV / TSV / JSONL file into a :class:`Table` (all CSV values as strings)."""
    skipped = SkipReport()
    text = decode_text(path, skipped)
    delimiter = TABLE_EXTENSIONS[path.suffix.lower()]
    table = _parse_jsonl(path, text) if delimiter is None else _parse_csv(path, text, delimiter)
    table.skipped = SkipReport(skipped.entries + table.skipped.entries)  # the encoding note first
    return table


def _parse_csv(path: Path, text: str, delimiter: str) -> Table:
    csv.field_size_limit(1 << 30)  # the default 128 KiB per field is too small for long documents
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header = next(reader, None)
    if not header:
        raise DataError(f"{path} is empty: expected a header line naming the columns")
    columns = [c.strip() for c in header]
    _check_unique(columns, path)
    table = Table(columns, [], [], str(path))
    start = reader.line_num + 1
    for record in reader:
        where = f"{path}:line {start}"
        start = reader.line_num + 1
        if not record or all(not v.strip() for v in record):
            continue
        if len(record) != len(columns):
            table.skipped.add(where, f"malformed row: {len(record)} fields, header has {len(columns)}")
            continue
        table.rows.append(dict(zip(columns, record)))
        table.where.append(where)
    return table


def _check_unique(columns: list[str], path: Path) -> None:
    seen = {c for c in columns if columns.count(c) > 1}
    if seen:
        raise DataError(f"{path}: duplicate column name(s) {sorted(seen)} in the header; rename them")


def _parse_jsonl(path: Path, text: str) -> Table:
    table = Table([], [], [], str(path))
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:line {number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            table.skipped.add(where, f"malformed JSON: {exc.msg}")
            continue
        if not isinstance(record, dict):
            table.skipped.add(where, "malformed row: a JSON line must be an object {...}")
            continue
        table.columns.extend(k for k in record if k not in table.columns)
        table.rows.append(record)
        table.where.append(where)
    return table


def frame_table(df: Any, source: str = "<DataFrame>") -> Table:
    """A pandas DataFrame as a :class:`Table` (values kept as they are)."""
    columns = [str(c) for c in df.columns]
    _check_unique(columns, Path(source))
    records = df.to_dict(orient="records")
    rows = [{str(k): v for k, v in r.items()} for r in records]
    return Table(columns, rows, [f"{source}: row {i!r}" for i in df.index], source)


def require_column(table: Table, column: str, option: str) -> None:
    """DataError naming the missing column, the file, the columns that exist and the option to set."""
    require_columns(table, {option: column})


def require_columns(table: Table, columns: dict[str, str | None]) -> None:
    """Check several ``{option: column}`` at once so one message names every missing column."""
    missing = {opt: col for opt, col in columns.items() if col is not None and col not in table.columns}
    if missing:
        names = ", ".join(repr(c) for c in missing.values())
        options = " and ".join(_option_advice(opt) for opt in missing)
        raise DataError(
            f"column {names} not found in {table.source}; columns are {table.columns}. "
            f"Name the column that holds it with {options}."
        )


# Reader options as the CLI spells them; the Python keyword goes in brackets.
CLI_FLAGS = {"label_column": "--label-column", "text_column": "--text-column", "image_column": "--image-column"}


def _option_advice(option: str) -> str:
    flag = CLI_FLAGS.get(option)
    return f"{flag} NAME ({option}=NAME in Python)" if flag else f"{option}=[...] (Python)"


def is_missing(value: Any) -> bool:
    """``None``, NaN, pandas ``NA`` / ``NaT`` or a string in :data:`MISSING` (after stripping)."""
    if value is None or type(value).__name__ in ("NAType", "NaTType"):
        return True
    if isinstance(value, (float, np.floating)):
        return math.isnan(value)
    if isinstance(value, str):
        return value.strip() in MISSING
    return False


_INTEGRAL_DECIMAL = re.compile(r"[+-]?\d+\.0*")


def label_name(value: Any) -> str:
    """A label value as a class name: ``3``, ``3.0``, ``"3"`` and ``" 3.0 "`` all give ``"3"``;
    other text is trimmed of surrounding whitespace and otherwise kept (case included)."""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    text = str(value).strip()
    # a CSV holds every value as text: "1.0" there is the number a JSONL or DataFrame gives as 1.0
    return str(int(float(text))) if _INTEGRAL_DECIMAL.fullmatch(text) else text


def note_label_forms(table: Table, label_column: str | None) -> None:
    """Add a note to ``table.skipped`` for each class whose rows spelled its label differently
    ("1" and "1.0"): read as one class, and the user should know."""
    forms: dict[str, set[str]] = {}
    for row in table.rows:
        value = row.get(label_column) if label_column else None
        if value is not None and not is_missing(value):
            forms.setdefault(label_name(value), set()).add(str(value).strip())
    for name, spelled in sorted(forms.items()):
        if len(spelled) > 1:
            table.skipped.add(table.source, f"label note: {', '.join(repr(s) for s in sorted(spelled))} in column "
                                            f"{label_column!r} were read as one class {name!r}")


def split_name(value: Any) -> str | None:
    """``train`` / ``val`` / ``test`` for the usual spellings, else ``None``."""
    if is_missing(value):
        return None
    return SPLIT_NAMES.get(str(value).strip().lower())


def text_rows(
    table: Table, text_column: str, label_column: str | None, split_column: str | None, forced_split: str | None
) -> Rows:
    """Rows of text items; rows with empty text or an empty/NaN label go to ``table.skipped``."""
    require_column(table, text_column, "text_column")
    out = Rows()
    for row, where in zip(table.rows, table.where):
        text = row.get(text_column)
        # Only absent values count as missing here: "None" or "n/a" can be a real (short) text.
        if text is None or (not isinstance(text, str) and is_missing(text)) or not str(text).strip():
            table.skipped.add(where, "empty text")
            continue
        text = str(text)
        accepted = _label_and_split(table, row, where, label_column, split_column, forced_split)
        if accepted is not None:
            name, split = accepted
            out.add(text, name, split, f"{text}\x1f{name}", where)
    note_label_forms(table, label_column)
    return out


def _label_and_split(
    table: Table,
    row: dict[str, Any],
    where: str,
    label_column: str | None,
    split_column: str | None,
    forced_split: str | None,
) -> tuple[str | None, str | None] | None:
    """(label name, split) for one row, or ``None`` (recorded in the skip report) when unusable."""
    name = None
    if label_column is not None:
        value = row.get(label_column)
        if is_missing(value):
            table.skipped.add(where, f"empty or NaN label in column {label_column!r}")
            return None
        name = label_name(value)
    split = forced_split
    if split is None and split_column is not None and split_column in table.columns:
        split = split_name(row.get(split_column))
        if split is None:
            raw = row.get(split_column)
            table.skipped.add(where, f"unknown split: {raw!r} in column {split_column!r}; use train, val or test")
            return None
    return name, split


def image_rows(
    table: Table,
    image_column: str,
    label_column: str | None,
    split_column: str | None,
    forced_split: str | None,
    base: Path,
    check: Callable[[Path], str | None],
) -> Rows:
    """Rows of image files named in ``image_column`` (relative paths from ``base``, the table's folder);
    an empty cell, a missing file or one ``check`` rejects goes to ``table.skipped``."""
    require_column(table, image_column, "image_column")
    out = Rows()
    for row, where in zip(table.rows, table.where):
        value = row.get(image_column)
        if value is None or is_missing(value):
            table.skipped.add(where, f"empty image path in column {image_column!r}")
            continue
        path = Path(str(value).strip()).expanduser()
        path = path if path.is_absolute() else base / path
        reason = "missing file: no such image" if not path.is_file() else check(path)
        if reason:
            table.skipped.add(f"{where} ({path})", reason)
            continue
        accepted = _label_and_split(table, row, where, label_column, split_column, forced_split)
        if accepted is not None:
            name, split = accepted
            out.add(path, name, split, f"{str(value).strip()}\x1f{name}", where)
    note_label_forms(table, label_column)
    return out


def feature_rows(
    table: Table,
    feature_columns: Sequence[str],
    label_column: str | None,
    split_column: str | None,
    forced_split: str | None,
) -> Rows:
    """Rows of float64 feature vectors; rows with missing / non-numeric values are skipped."""
    for column in feature_columns:
        require_column(table, column, "feature_columns")
    matrix = _numeric_matrix(table, feature_columns)
    out = Rows()
    for row, where, values in zip(table.rows, table.where, matrix):
        if not np.all(np.isfinite(values)):
            bad = [c for c, v in zip(feature_columns, values) if not np.isfinite(v)]
            table.skipped.add(where, f"missing or non-numeric feature value in {bad[:5]}")
            continue
        accepted = _label_and_split(table, row, where, label_column, split_column, forced_split)
        if accepted is not None:
            name, split = accepted
            out.add(values, name, split, f"{values.tobytes().hex()}\x1f{name}", where)
    note_label_forms(table, label_column)
    return out


def _numeric_matrix(table: Table, columns: Sequence[str]) -> np.ndarray:
    import pandas as pd

    frame = pd.DataFrame([[row.get(c) for c in columns] for row in table.rows], columns=list(columns))
    numeric = frame.apply(pd.to_numeric, errors="coerce")
    for column in columns:
        if len(frame) and numeric[column].isna().all() and not frame[column].map(is_missing).all():
            raise DataError(
                f"column {column!r} in {table.source} is not numeric; leave it out of feature_columns "
                "or encode it as numbers first"
            )
    return numeric.to_numpy(dtype=np.float64, na_value=np.nan).reshape(len(frame), len(columns))


def default_feature_columns(table: Table, exclude: Sequence[str | None]) -> list[str]:
    """Every column except the label / split / text ones, for numeric tables."""
    return [c for c in table.columns if c not in set(exclude)]
