"""Small synthetic source / target tables with a shift, for both task kinds (fast: a few hundred rows)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from graft.tabular.learners import LearnerConfig

FAST = {"folds": 3, "repeats": 1, "max_source_rows": 400}


def make_tables(task: str, n_source: int = 400, n_target: int = 40, n_test: int = 200, invert: bool = False,
                seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Source and target share the relation y = f(x1, x2, colour) but differ in where x lies; the
    target also has a colour the source never shows. ``invert`` flips the source's relation."""
    rng = np.random.default_rng(seed)

    def rows(n: int, shift: float, colours: list[str]) -> pd.DataFrame:
        x1, x2 = rng.normal(shift, 1.0, n), rng.normal(0.0, 1.0, n)
        colour = rng.choice(colours, n)
        effect = pd.Series(colour).map({"red": 1.0, "green": -1.0, "blue": 0.0, "violet": 0.5}).to_numpy()
        signal = 2.0 * x1 + np.sin(2 * x2) + effect
        return pd.DataFrame({"x1": x1, "x2": x2, "colour": colour, "signal": signal})

    source = rows(n_source, 0.0, ["red", "green", "blue"])
    target = rows(n_target + n_test, 1.0, ["red", "green", "blue", "violet"])
    for frame, flip in ((source, invert), (target, False)):
        s = -frame["signal"] if flip else frame["signal"]
        if task == "regression":
            frame["y"] = s + rng.normal(0, 0.3, len(frame))
        else:
            frame["y"] = np.where(s + rng.normal(0, 0.3, len(frame)) > 2.0, "high", "low")
        frame.drop(columns="signal", inplace=True)
    return source, target.iloc[:n_target].reset_index(drop=True), target.iloc[n_target:].reset_index(drop=True)


@pytest.fixture(scope="session")
def make():
    """The table maker, for tests that need other sizes or an inverted source."""
    return make_tables


@pytest.fixture(scope="session")
def small_learner() -> LearnerConfig:
    return LearnerConfig(n_estimators=30, learning_rate=0.2, num_leaves=7)


@pytest.fixture(scope="session", params=["regression", "classification"])
def tables(request) -> tuple[str, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    return (request.param, *make_tables(request.param))
