"""Reading the source and target tables: files or DataFrames, one schema, one label, one task kind.

A table is a CSV / TSV file (decoded like every graft table: UTF-8, else cp1252 / latin-1 with a
note), a parquet file, or a pandas DataFrame. The source and target tables must hold the same
columns: a column missing from one of them, or one only the other has, is an error naming the
columns and the file, because a model fitted on one set of columns cannot score rows of another.
"""

from __future__ import annotations

import hashlib
import io
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from graft.errors import DataError, UsageError

log = logging.getLogger(__name__)

Task = Literal["regression", "classification"]
TableLike = Any  # str | Path | pandas.DataFrame
#: a numeric label with more distinct values than this is a regression target
REGRESSION_MIN_DISTINCT = 20
_DELIMITERS = {".csv": ",", ".tsv": "\t", ".tab": "\t", ".txt": None}
_PARQUET = (".parquet", ".pq", ".brotli")
MISSING_TOKENS = ["", "?", "NA", "N/A", "n/a", "nan", "NaN", "null", "NULL", "None"]


@dataclass
class NamedFrame:
    """A table with the name used in messages and its content fingerprint.

    Attributes:
        frame: the rows (pandas DataFrame).
        name: the file path, or ``"<DataFrame>"`` / the role for a DataFrame given in Python.
        fingerprint: sha256 of the table's content (columns, dtypes and values), not of its file name.
        file_sha256: sha256 of the file's bytes (None for a DataFrame).
    """

    frame: Any
    name: str
    fingerprint: str
    file_sha256: str | None = None

    def record(self) -> dict[str, Any]:
        """What lineage.json says about this table."""
        from graft.models.lineage import dataset_licence

        where = Path(self.name)
        out = {"source": str(where.absolute()) if where.exists() else self.name, "fingerprint": self.fingerprint, "rows": int(len(self.frame)),
               "columns": [str(c) for c in self.frame.columns]}
        if self.file_sha256:
            out["file_sha256"] = self.file_sha256
        return out | dataset_licence(self.name)


def read_frame(table: TableLike, role: str = "table") -> NamedFrame:
    """Read a CSV / TSV / parquet file, or take a DataFrame as it is (copied).

    Args:
        table: a path or a pandas DataFrame.
        role: what the table is for (``"source"``, ``"target"``), used in messages.

    Raises:
        UsageError: a path that does not exist or a file kind graft does not read as a table.
        DataError: an empty or unreadable table.
    """
    import pandas as pd

    if isinstance(table, pd.DataFrame):
        frame = table.copy()
        frame.columns = [str(c) for c in frame.columns]
        return NamedFrame(frame, f"<{role} DataFrame>", fingerprint(frame))
    path = Path(str(table)).expanduser()
    if not path.is_file():
        raise UsageError(f"{role} table {path} does not exist (or is not a file); give a CSV, TSV or parquet file")
    data = path.read_bytes()
    frame = _parse(path, data)
    if frame.empty or not len(frame.columns):
        raise DataError(f"{path} ({role} table) holds no rows; it needs a header line and at least one row")
    frame.columns = [str(c).strip() for c in frame.columns]
    return NamedFrame(frame, str(path), fingerprint(frame), hashlib.sha256(data).hexdigest())


def _parse(path: Path, data: bytes) -> Any:
    import pandas as pd

    suffix = "".join(path.suffixes[-2:]).lower() if path.suffix.lower() == ".brotli" else path.suffix.lower()
    if suffix.endswith(_PARQUET) or data.startswith(b"PAR1"):
        try:
            return pd.read_parquet(io.BytesIO(data))
        except Exception as exc:  # pyarrow raises several kinds
            raise DataError(f"{path}: cannot read it as parquet ({type(exc).__name__}: {exc})") from exc
    if path.suffix.lower() not in _DELIMITERS:
        raise UsageError(f"{path}: graft reads tables from .csv, .tsv or .parquet files (got {path.suffix or 'no extension'}); "
                         "export it to CSV (UTF-8) or parquet")
    from graft.data.dataset import SkipReport
    from graft.data.tables import decode_text

    text = decode_text(path, SkipReport())  # the house encoding policy (UTF-8, else cp1252 / latin-1, noted)
    sep = _DELIMITERS[path.suffix.lower()]
    try:
        frame = pd.read_csv(io.StringIO(text), sep=sep, engine="python" if sep is None else "c",
                            na_values=MISSING_TOKENS, keep_default_na=True, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeError) as exc:
        raise DataError(f"{path}: cannot read it as a table ({exc}); check that it is a {path.suffix} file "
                        "with a header line") from exc
    if sep is not None:  # pandas renames a repeated name ("a" → "a.1"): check the header itself
        import csv

        header = [c.strip() for c in next(csv.reader(io.StringIO(text), delimiter=sep), [])]
        repeated = sorted({c for c in header if header.count(c) > 1})
        if repeated:
            raise DataError(f"{path}: duplicate column name(s) {repeated} in the header; rename them")
    return frame


def fingerprint(frame: Any) -> str:
    """sha256 over the columns, dtypes and cell values: the same table read from CSV or parquet
    gives the same fingerprint only when the values and dtypes agree."""
    import pandas as pd

    digest = hashlib.sha256()
    digest.update("\x1f".join(f"{c}:{frame[c].dtype}" for c in frame.columns).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def check_schema(source: NamedFrame, target: NamedFrame, label: str, extra: NamedFrame | None = None) -> list[str]:
    """The feature columns (the source's order, label excluded), after checking that every table
    has the same columns and that the labelled ones hold ``label``.

    Raises:
        UsageError: ``label`` not a column of the source or the target; columns missing from or
            extra in the target (or the unlabelled table, which may lack only the label).
    """
    for named in (source, target):
        if label not in named.frame.columns:
            raise UsageError(f"{named.name} has no label column {label!r}; its columns are: "
                             f"{', '.join(map(str, named.frame.columns))}. Pass the label column's name (--label)")
    columns = [c for c in source.frame.columns if c != label]
    if not columns:
        raise UsageError(f"{source.name} has no column besides the label {label!r}: nothing to predict from")
    for named, needs_label in ((target, True), (extra, False)):
        if named is not None:
            _compare(columns, label, named, source.name, needs_label)
    return columns


def _compare(columns: list[str], label: str, named: NamedFrame, source_name: str, needs_label: bool) -> None:
    have = [c for c in named.frame.columns if c != label]
    missing = [c for c in columns if c not in have]
    extra = [c for c in have if c not in columns]
    problems = []
    if missing:
        problems.append(f"missing column(s) {missing} that {source_name} has")
    if extra:
        problems.append(f"extra column(s) {extra} that {source_name} does not have")
    if problems:
        raise UsageError(f"{named.name}: " + "; ".join(problems) + ". The tables must share one schema: "
                         "rename, add or drop those columns (every table needs the same feature columns"
                         + (f" and the label {label!r})" if needs_label else "; the unlabelled one may omit the label)"))


def infer_task(values: Any, label: str, task: str | None = None) -> tuple[Task, str]:
    """The task kind of a label column and the sentence that says why.

    A numeric label with more than ``REGRESSION_MIN_DISTINCT`` distinct values is a regression
    target; anything else (text, booleans, a few numeric codes) is classification. ``task``
    overrides the rule (a numeric label forced to regression must be numeric).

    Example:
        >>> infer_task([1.5, 2.25, 3.0] * 10 + list(range(30)), "price")[0]
        'regression'
    """
    import pandas as pd

    series = pd.Series(values).dropna()
    numeric = pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
    if not numeric:
        converted = pd.to_numeric(series, errors="coerce")
        numeric = bool(len(series)) and converted.notna().all() and not pd.api.types.is_bool_dtype(series)
        series = converted if numeric else series
    distinct = int(series.nunique())
    if task is not None:
        if task not in ("regression", "classification"):
            raise UsageError(f"task must be 'regression' or 'classification', got {task!r}")
        if task == "regression" and not numeric:
            raise UsageError(f"label {label!r} is not numeric (e.g. {series.iloc[0]!r}); it cannot be a regression "
                             "target: leave task unset (classification)")
        return task, f"task {task} (as given; label {label!r} has {distinct} distinct values)"  # type: ignore[return-value]
    if numeric and distinct > REGRESSION_MIN_DISTINCT:
        return "regression", (f"label {label!r} is numeric with {distinct} distinct values: regression "
                              "(pass task='classification' / --task classification to override)")
    kind = f"numeric with only {distinct} distinct values" if numeric else f"not numeric ({distinct} classes)"
    return "classification", (f"label {label!r} is {kind}: classification "
                               "(pass task='regression' / --task regression to override)")


def label_values(frame: Any, label: str, task: Task, where: str) -> np.ndarray:
    """The label column as floats (regression) or strings (classification); rows without a label
    are an error naming how many and the file (they cannot train or score)."""
    import pandas as pd

    column = frame[label]
    missing = int(column.isna().sum())
    if missing:
        raise DataError(f"{where}: {missing} row(s) have no value in the label column {label!r}; drop them, or move "
                        "them to the unlabelled table (--unlabelled)")
    if task == "regression":
        values = pd.to_numeric(column, errors="coerce")
        bad = column[values.isna()]
        if len(bad):
            raise DataError(f"{where}: label {label!r} is not numeric in {len(bad)} row(s) (e.g. {bad.iloc[0]!r}); "
                            "a regression label must be a number")
        return values.to_numpy(dtype=np.float64)
    return np.asarray([_class_name(v) for v in column], dtype=object)


def _class_name(value: Any) -> str:
    """``1.0`` and ``1`` name the same class; text labels are stripped."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value).strip()
