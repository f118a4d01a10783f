"""Every registered adapter keeps the scikit-learn estimator contract and round-trips its config."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.utils.estimator_checks import (
    check_get_params_invariance,
    check_no_attributes_set_in_init,
    check_parameters_default_constructible,
    check_set_params,
)

from graft.adapt import create_adapter, from_config, list_adapters, to_config
from graft.errors import UsageError

METHODS = ["source-only", "coral", "sa", "iw", "kmm", "kliep", "self-train", "auto"]


def test_every_method_of_the_brief_is_registered():
    assert set(METHODS) <= set(list_adapters())


@pytest.mark.parametrize("name", METHODS)
def test_estimator_contract(name):
    est = create_adapter(name)
    for check in (check_no_attributes_set_in_init, check_parameters_default_constructible,
                  check_get_params_invariance, check_set_params):  # fmt: skip
        check(name, est)
    assert clone(est).get_params() == est.get_params()


@pytest.mark.parametrize("name", METHODS)
def test_fit_sets_only_underscored_state(name, shifted_blobs):
    Xs, ys, Xt, _ = shifted_blobs
    est = create_adapter(name)
    params = set(est.get_params())
    est.fit(Xs, ys, Xt)
    learned = set(vars(est)) - params
    assert learned and all(attr.endswith("_") for attr in learned), learned
    proba = est.predict_proba(Xt[:7])
    assert proba.shape == (7, 3) and np.allclose(proba.sum(axis=1), 1.0)
    assert est.get_params() == create_adapter(name).get_params()  # fit left the hyperparameters alone


@pytest.mark.parametrize("name", METHODS)
def test_config_round_trips_through_json(name):
    est = create_adapter(name)
    config = json.loads(json.dumps(to_config(est)))
    assert config["method"] == name
    rebuilt = from_config(config)  # JSON has no tuples: compare in JSON form
    assert json.dumps(to_config(rebuilt)) == json.dumps(to_config(est))


def test_unknown_method_suggests_a_close_name():
    with pytest.raises(UsageError, match="Did you mean coral"):
        create_adapter("corla")


def test_unknown_option_is_refused_with_the_known_ones():
    with pytest.raises(UsageError, match="unknown option.*'epsilon'.*known"):
        create_adapter("coral", epsilon=0.1)


def test_string_labels_come_back_as_strings(shifted_blobs):
    Xs, ys, Xt, _ = shifted_blobs
    names = np.array(["cat", "dog", "eel"])[ys]
    model = create_adapter("self-train", rounds=2).fit(Xs, names, Xt)
    assert set(model.predict(Xt)) <= set(names)
    assert list(model.classes_) == ["cat", "dog", "eel"]
