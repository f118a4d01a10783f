"""The linear probe: learns separable features, picks C on validation, saves as plain tensors."""

from __future__ import annotations

import numpy as np
import pytest

from graft._config import from_dict, to_dict
from graft.errors import UsageError
from graft.heads.linear import LinearHead
from graft.heads.probe import ProbeConfig, fit_probe
from memory import traced_peak


def blobs(n_per_class: int, n_classes: int, d: int = 8, spread: float = 1.0, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 3, (n_classes, d))
    y = np.repeat(np.arange(n_classes), n_per_class)
    return centres[y] + rng.normal(0, spread, (len(y), d)), y


def test_probe_learns_separable_classes_and_reports_val_metrics():
    x_all, y_all = blobs(40, 4)
    val = np.arange(len(y_all)) % 4 == 0
    x, y, xv, yv = x_all[~val], y_all[~val], x_all[val], y_all[val]
    result = fit_probe(x, y, xv, yv, 4)
    assert result.val_metrics["accuracy"] > 0.9
    assert result.head.n_classes == 4 and result.head.n_features == 8
    assert {"accuracy", "macro_f1", "log_loss", "n"} <= set(result.val_metrics)
    assert result.val_metrics["n"] == 40
    assert len(result.search) == len(ProbeConfig().C_grid)
    assert result.C in ProbeConfig().C_grid


def test_C_is_chosen_on_validation():
    rng = np.random.default_rng(0)
    # 2 informative dims + 200 noise dims, few examples: strong regularisation must win
    n, d = 40, 200
    y = np.arange(n) % 2
    x = rng.normal(size=(n, d))
    x[:, 0] += 1.5 * (2 * y - 1)
    xv = rng.normal(size=(400, d))
    yv = np.arange(400) % 2
    xv[:, 0] += 1.5 * (2 * yv - 1)
    result = fit_probe(x, y, xv, yv, 2, ProbeConfig(C_grid=(0.001, 1000.0), refit_on_val=False))
    by_C = {s["C"]: s for s in result.search}
    best = max(result.search, key=lambda s: (s["val_accuracy"], -s["val_log_loss"]))
    assert result.C == best["C"]
    assert by_C[0.001]["val_log_loss"] < by_C[1000.0]["val_log_loss"]


def test_fixed_C_skips_the_search():
    x, y = blobs(10, 3)
    result = fit_probe(x, y, x, y, 3, ProbeConfig(C=0.5))
    assert result.C == 0.5 and len(result.search) == 1


def test_without_validation_data_the_first_candidate_is_used():
    x, y = blobs(10, 3)
    result = fit_probe(x, y, None, None, 3)
    assert result.C == ProbeConfig().C_grid[0] and result.val_metrics == {}


def test_a_class_missing_from_training_is_never_predicted():
    x, y = blobs(15, 3)
    keep = y != 1
    result = fit_probe(x[keep], y[keep], None, None, n_classes=3)
    proba = result.head.predict_proba(x)
    assert proba.shape == (45, 3)
    assert np.allclose(proba.sum(1), 1.0)
    assert (proba[:, 1] < 1e-6).all()
    assert set(result.head.predict(x)) <= {0, 2}


def test_binary_probe_matches_scikit_learn():
    from sklearn.linear_model import LogisticRegression

    x, y = blobs(20, 2, spread=3.0)
    head = fit_probe(x, y, None, None, 2, ProbeConfig(C=1.0)).head
    z = (x - x.mean(0)) / x.std(0)
    reference = LogisticRegression(C=1.0, max_iter=300).fit(z, y).predict_proba(z)
    np.testing.assert_allclose(head.predict_proba(x), reference, atol=1e-6)


def test_one_class_is_a_usage_error():
    with pytest.raises(UsageError, match="at least 2 classes"):
        fit_probe(np.zeros((5, 3)), np.zeros(5, dtype=int), None, None, 2)


def test_constant_features_do_not_produce_nans():
    x, y = blobs(10, 2)
    x[:, 3] = 7.0
    head = fit_probe(x, y, None, None, 2).head
    assert np.isfinite(head.predict_proba(x)).all()


def test_a_feature_constant_up_to_float_noise_is_left_out():
    x, y = blobs(10, 2)
    x[:, 2] = 0.5 + 5e-8 * np.random.default_rng(1).normal(size=len(x))  # minilm_l6 has one such dimension
    head = fit_probe(x, y, None, None, 2).head
    assert head.scale[2] == 1.0 and np.all(head.weight[:, 2] == 0.0)


def test_head_round_trips_through_float32_tensors():
    x, y = blobs(10, 3)
    head = fit_probe(x, y, None, None, 3).head
    tensors = head.to_tensors()
    assert set(tensors) == {"head.weight", "head.bias", "head.mean", "head.scale"}
    assert all(t.dtype == np.float32 and t.flags["C_CONTIGUOUS"] for t in tensors.values())
    again = LinearHead.from_tensors(tensors)
    assert (again.predict(x) == head.predict(x)).all()
    np.testing.assert_allclose(again.predict_proba(x), head.predict_proba(x), atol=1e-5)


def test_probe_config_round_trips_through_json():
    config = ProbeConfig(C_grid=(0.5, 2.0), class_weight="balanced")
    assert from_dict(ProbeConfig, to_dict(config)) == ProbeConfig(C_grid=[0.5, 2.0], class_weight="balanced")
    with pytest.raises(UsageError, match="unknown setting"):
        from_dict(ProbeConfig, {"C_grd": [1.0]})


@pytest.mark.parametrize("n_classes", [2, 4])
def test_wide_features_fit_in_the_row_space_to_the_same_head(monkeypatch, n_classes):
    """Columns >> rows: the fit runs on the rows' coordinates in their span and maps the weights
    back; the head must match the fit on every column (same optimum of the same L2 problem)."""
    from graft.heads import probe as probe_module

    rng = np.random.default_rng(3)
    n, d = 60, 400
    centres = rng.normal(size=(n_classes, d))
    y = rng.integers(0, n_classes, size=n)
    x = (centres[y] + 2.0 * rng.normal(size=(n, d))).astype(np.float32)
    config = ProbeConfig(max_iter=5000)
    calls = []
    row_space = probe_module._row_space
    monkeypatch.setattr(probe_module, "_row_space", lambda gram: calls.append(gram.shape) or row_space(gram))
    wide, _ = probe_module._fit_one(x, y, 0.05, config, n_classes)
    assert calls == [(n, n)]  # the wide fit did go through the row space
    monkeypatch.setattr(probe_module, "ROW_SPACE_RATIO", float("inf"))
    full, _ = probe_module._fit_one(x, y, 0.05, config, n_classes)
    x_new = (centres[rng.integers(0, n_classes, size=30)] + 2.0 * rng.normal(size=(30, d))).astype(np.float32)
    np.testing.assert_allclose(wide.predict_proba(x_new), full.predict_proba(x_new), atol=2e-3)
    np.testing.assert_allclose(wide.weight, full.weight, atol=0.02 * np.abs(full.weight).max())


@pytest.mark.parametrize("n_classes", [2, 3])
def test_fold_accuracies_of_wide_features_match_fitting_each_fold_on_every_column(monkeypatch, n_classes):
    """The screen's cross-validation scores each fold through one Gram matrix; it must score like
    fitting the fold's rows on all columns (up to the standardisation over all rows vs the fold's)."""
    from sklearn.model_selection import StratifiedKFold

    from graft.heads import probe as probe_module

    rng = np.random.default_rng(5)
    n, d = 90, 300
    centres = rng.normal(size=(n_classes, d)) * 0.1
    y = rng.integers(0, n_classes, size=n)
    x = (centres[y] + rng.normal(size=(n, d))).astype(np.float32)
    folds = list(StratifiedKFold(3, shuffle=True, random_state=0).split(x, y))
    config = ProbeConfig(max_iter=2000)
    wide = probe_module.fold_accuracies(x, y, 0.1, config, n_classes, folds)
    monkeypatch.setattr(probe_module, "ROW_SPACE_RATIO", float("inf"))
    direct = probe_module.fold_accuracies(x, y, 0.1, config, n_classes, folds)
    assert 0.5 < np.mean(direct) < 1.0  # neither trivial nor hopeless, so a broken mapping would show
    np.testing.assert_allclose(wide, direct, atol=2.5 / len(folds[0][1]))


def test_standardisation_makes_one_copy_or_none_and_keeps_float32():
    from graft.heads.probe import _standardise

    rng = np.random.default_rng(0)
    x = (rng.normal(size=(1500, 2000)) * rng.random(2000) + 3).astype(np.float32)
    expected = (x - x.mean(axis=0)) / x.std(axis=0)
    (z, mean, scale), peak = traced_peak(lambda: _standardise(x))
    assert z.dtype == np.float32 and z is not x
    np.testing.assert_array_equal(z, expected)  # the same bits as the plain formula
    assert peak < 1.3 * x.nbytes  # z only: the plain formula's temporaries took twice x
    y = x.copy()
    (w, _, _), peak = traced_peak(lambda: _standardise(y, copy=False))
    assert w is y and peak < 0.3 * x.nbytes
    np.testing.assert_array_equal(w, expected)


def test_a_fit_on_a_matrix_it_may_overwrite_gives_the_same_head(monkeypatch):
    from graft.heads import probe

    x, y = blobs(40, 3, d=30)
    x = x.astype(np.float32)
    seen = []
    original = probe._logistic
    monkeypatch.setattr(probe, "_logistic",
                        lambda columns, *a, **k: seen.append(columns.dtype) or original(columns, *a, **k))
    config = ProbeConfig()
    kept, _ = probe._fit_one(x, y, 1.0, config, 3)
    scratch = x.copy()
    overwritten, _ = probe._fit_one(scratch, y, 1.0, config, 3, overwrite_x=True)
    np.testing.assert_array_equal(kept.weight, overwritten.weight)
    np.testing.assert_array_equal(kept.mean, overwritten.mean)
    assert not np.array_equal(scratch, x)  # standardised in place, as asked
    assert seen == [np.float32, np.float32]  # scikit-learn gets float32, not a float64 copy


@pytest.mark.parametrize("n_classes", [2, 3])
def test_a_prepared_wide_matrix_fits_the_same_head_at_any_C(n_classes):
    """``prepare_row_space`` once, then fits at several C: each head equals the unprepared fit's,
    constant columns included (their weight stays 0), and x is left as it was."""
    from graft.heads.probe import _fit_one, prepare_row_space

    rng = np.random.default_rng(7)
    n, d = 50, 240
    y = rng.integers(0, n_classes, size=n)
    x = (rng.normal(size=(n_classes, d))[y] * 0.5 + rng.normal(size=(n, d))).astype(np.float32)
    x[:, 5] = 3.0  # a constant column
    before = x.copy()
    prepared = prepare_row_space(x)
    assert prepared is not None and prepared.dead[5] and prepared.dead.sum() == 1
    config = ProbeConfig(max_iter=3000)
    for C in (0.01, 1.0):
        reused, _ = _fit_one(x, y, C, config, n_classes, prepared=prepared)
        fresh, _ = _fit_one(x, y, C, config, n_classes)
        np.testing.assert_allclose(reused.weight, fresh.weight, atol=1e-4 * np.abs(fresh.weight).max())
        np.testing.assert_allclose(reused.bias, fresh.bias, atol=1e-4)
        assert np.all(reused.weight[:, 5] == 0.0)
    np.testing.assert_array_equal(x, before)
    assert prepare_row_space(x[:, :80]) is None  # not wide: nothing to prepare
