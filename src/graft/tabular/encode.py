"""Columns → one float matrix, inside the pipeline: numbers stay numbers, text becomes category codes.

The encoder is fitted on the rows a model trains on (never by the user) and saved as JSON. A
column is numeric when every non-missing value reads as a number; otherwise it is categorical and
its values become codes 0..k-1 in sorted order. At prediction, a category training never saw and a
missing value both become NaN: LightGBM sends them down its "missing" branch, and the linear
learner's one-hot block is all zeros for them (the average of the categories it knows).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from graft.errors import UsageError


@dataclass
class TableEncoder:
    """Fitted column kinds and category lists.

    Attributes:
        columns: feature columns, in matrix order.
        categories: categorical column → its known values (code = position); numeric columns absent.

    Example:
        >>> import pandas as pd
        >>> enc = TableEncoder.fit(pd.DataFrame({"a": [1.0, 2.0], "c": ["x", "y"]}), ["a", "c"])
        >>> enc.transform(pd.DataFrame({"a": [3], "c": ["z"]})).tolist()
        [[3.0, nan]]
    """

    columns: list[str]
    categories: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def fit(cls, frame: Any, columns: list[str]) -> "TableEncoder":
        """Kinds and categories from the training rows ``frame``."""
        categories = {}
        for name in columns:
            values = frame[name].dropna()
            if not _is_numeric(values):
                categories[name] = sorted({str(v).strip() for v in values})
        return cls(list(columns), categories)

    @property
    def categorical(self) -> list[int]:
        """Matrix positions of the categorical columns."""
        return [i for i, c in enumerate(self.columns) if c in self.categories]

    def transform(self, frame: Any, where: str = "the table") -> np.ndarray:
        """The (rows, columns) float64 matrix; NaN for missing values and unseen categories."""
        import pandas as pd

        missing = [c for c in self.columns if c not in frame.columns]
        if missing:
            raise UsageError(f"{where} lacks column(s) {missing} that the model was trained on; its columns are: "
                             f"{', '.join(map(str, frame.columns))}")
        out = np.empty((len(frame), len(self.columns)), dtype=np.float64)
        for j, name in enumerate(self.columns):
            column = frame[name]
            if name in self.categories:
                index = {v: i for i, v in enumerate(self.categories[name])}
                absent = column.isna().to_numpy()
                out[:, j] = [np.nan if gone else index.get(str(v).strip(), np.nan) for v, gone in zip(column, absent)]
            else:
                out[:, j] = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64)
        return out

    def unseen(self, frame: Any) -> dict[str, int]:
        """Per categorical column, how many rows hold a value training never saw (for notes)."""
        counts = {}
        for name, known in self.categories.items():
            values = {str(v).strip() for v in frame[name].dropna()} - set(known)
            if values:
                counts[name] = int(frame[name].dropna().astype(str).str.strip().isin(values).sum())
        return counts

    def to_dict(self) -> dict[str, Any]:
        return {"columns": list(self.columns), "categories": {k: list(v) for k, v in self.categories.items()}}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TableEncoder":
        return cls(list(data["columns"]), {k: list(v) for k, v in (data.get("categories") or {}).items()})


def layout(encoder: TableEncoder) -> list[int]:
    """Per matrix column, its number of categories (0 for a numeric column)."""
    return [len(encoder.categories.get(name, [])) for name in encoder.columns]


def one_hot(X: np.ndarray, sizes: list[int]) -> np.ndarray:
    """Numeric columns (``sizes[j] == 0``) as they are, each categorical one as 0/1 indicators (all 0 when NaN)."""
    blocks = []
    for j, k in enumerate(sizes):
        if not k:
            blocks.append(X[:, j : j + 1])
            continue
        block = np.zeros((len(X), k))
        codes = X[:, j]
        ok = ~np.isnan(codes) & (codes >= 0) & (codes < k)
        block[np.flatnonzero(ok), codes[ok].astype(np.int64)] = 1.0
        blocks.append(block)
    return np.hstack(blocks) if blocks else np.empty((len(X), 0))


def _is_numeric(values: Any) -> bool:
    import pandas as pd

    if pd.api.types.is_bool_dtype(values):
        return False
    if pd.api.types.is_numeric_dtype(values):
        return True
    return bool(len(values)) and bool(pd.to_numeric(values, errors="coerce").notna().all())

