"""Bad inputs fail early with a UsageError that says what to fix."""

from __future__ import annotations

import numpy as np
import pytest

from graft.adapt import create_adapter, select
from graft.errors import UsageError

FAST = ["source-only", "coral", "sa", "iw", "kmm", "kliep", "self-train"]


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(30, 4)), np.repeat([0, 1, 2], 10), rng.normal(size=(20, 4))


@pytest.mark.parametrize("name", FAST)
def test_different_feature_sizes(name, data):
    Xs, ys, Xt = data
    with pytest.raises(UsageError, match="Xt .*5 features but the source has 4"):
        create_adapter(name).fit(Xs, ys, np.hstack([Xt, Xt[:, :1]]))


@pytest.mark.parametrize("name", FAST)
def test_empty_target(name, data):
    Xs, ys, _ = data
    with pytest.raises(UsageError, match="empty"):
        create_adapter(name).fit(Xs, ys, np.empty((0, 4)))


@pytest.mark.parametrize("name", FAST)
def test_single_source_class(name, data):
    Xs, _, Xt = data
    with pytest.raises(UsageError, match="single class"):
        create_adapter(name).fit(Xs, np.zeros(len(Xs)), Xt)


@pytest.mark.parametrize("where", ["source", "target"])
def test_nan_names_the_rows(where, data):
    Xs, ys, Xt = (a.copy() for a in data)
    (Xs if where == "source" else Xt)[3, 1] = np.nan
    with pytest.raises(UsageError, match=r"NaN or infinite values in 1 row\(s\), e.g. rows \[3\]"):
        create_adapter("coral").fit(Xs, ys, Xt)


def test_label_count_must_match_rows(data):
    Xs, ys, Xt = data
    with pytest.raises(UsageError, match="one label per source row"):
        create_adapter("iw").fit(Xs, ys[:-1], Xt)


def test_predict_checks_feature_size(data):
    Xs, ys, Xt = data
    model = create_adapter("sa", n_components=2).fit(Xs, ys, Xt)
    with pytest.raises(UsageError, match="3 features but the source has 4"):
        model.predict(Xt[:, :3])


def test_bad_hyperparameters_fail_at_fit(data):
    Xs, ys, Xt = data
    with pytest.raises(UsageError, match="balance"):
        create_adapter("self-train", balance="uniform").fit(Xs, ys, Xt)
    with pytest.raises(UsageError, match="n_components"):
        create_adapter("sa", n_components=0).fit(Xs, ys, Xt)
    with pytest.raises(UsageError, match="unknown criterion"):
        select(Xs, ys, Xt, criterion="accuracy")
