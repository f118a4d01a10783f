"""The ridge probe and TransferRegressor: the scikit-learn contract, the strength chosen on
validation, the target scaling undone, real data (California housing)."""

import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from graft.errors import UsageError
from graft.heads.regression import RidgeConfig, fit_ridge
from graft.heads.regressor import TransferRegressor
from graft.metrics import regression_metrics

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/regression_data.py


@parametrize_with_checks([TransferRegressor(backbone="identity", alpha_grid=(1.0,))])
def test_sklearn_estimator_contract(estimator, check):
    check(estimator)


def test_estimator_contract_with_the_strength_search():
    from sklearn.utils.estimator_checks import check_estimator

    check_estimator(TransferRegressor(backbone="identity"))


def test_target_scaling_is_undone_for_large_targets():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 4))
    y = 50_000 * x[:, 0] - 20_000 * x[:, 1] + 300_000  # a price: large mean, large spread
    result = fit_ridge(x[:150], y[:150], x[150:], y[150:])
    assert result.target_mean == pytest.approx(y.mean(), rel=0.05)
    assert result.target_scale > 10_000
    assert regression_metrics(y[150:], result.predict(x[150:]))["r2"] > 0.999
    assert [s["alpha"] for s in result.search] == list(RidgeConfig().alpha_grid)


def test_strength_is_chosen_on_validation_r2():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(60, 50))  # more features than signal: strong regularisation wins
    y = x[:, 0] + rng.normal(scale=2.0, size=60)
    result = fit_ridge(x[:40], y[:40], x[40:], y[40:])
    best = max(result.search, key=lambda s: s["val_r2"])
    assert result.alpha == best["alpha"]
    assert result.alpha >= 10.0


def test_regressor_on_california_housing(housing):
    X, y = housing.drop(columns="MedHouseVal").to_numpy(), housing["MedHouseVal"].to_numpy()
    reg = TransferRegressor(backbone="identity").fit(X[:1500], y[:1500])
    assert reg.alpha_ in reg.alpha_grid
    assert 0.5 < reg.score(X[1500:], y[1500:]) < 0.75  # a linear model on these 8 features: about 0.6


def test_raw_texts_through_a_backbone(tmp_path, monkeypatch):
    monkeypatch.setenv("GRAFT_CACHE", str(tmp_path / "cache"))
    texts = [f"{'big ' * (i % 5)}house {i}" for i in range(60)]
    y = np.array([float(i % 5) for i in range(60)])
    reg = TransferRegressor(backbone="test_text").fit(texts, y)
    assert reg.predict(["big big big house"]).shape == (1,)
    assert reg.score(texts, y) > 0.5


def test_bad_settings_and_targets_are_refused():
    with pytest.raises(UsageError, match="alpha_grid"):
        TransferRegressor(backbone="identity", alpha_grid=()).fit(np.eye(6), np.arange(6.0))
    with pytest.raises(ValueError, match="y"):
        TransferRegressor(backbone="identity").fit(np.eye(3), np.ones((3, 2)))


@pytest.fixture(scope="module")
def housing():
    from regression_data import housing_frame

    return housing_frame(2000)
