import numpy as np
import pytest
from sklearn.covariance import LedoitWolf

from graft.rank import hscore, leep, nce, regularized_hscore
from graft.rank.scores import _class_spectrum, _ledoit_wolf_shrinkage

PROBS = np.array([[0.9, 0.1], [0.8, 0.2], [0.1, 0.9], [0.3, 0.7]])


def test_leep_by_hand():
    # Joint P(y, z) = column sums of theta per class / n: y=0 -> (1.7, 0.3)/4, y=1 -> (0.4, 1.6)/4,
    # so P(z) = (2.1, 1.9)/4 and P(y | z) = (1.7/2.1, 0.3/1.9) for y=0, (0.4/2.1, 1.6/1.9) for y=1.
    eep = [
        0.9 * 1.7 / 2.1 + 0.1 * 0.3 / 1.9,
        0.8 * 1.7 / 2.1 + 0.2 * 0.3 / 1.9,
        0.1 * 0.4 / 2.1 + 0.9 * 1.6 / 1.9,
        0.3 * 0.4 / 2.1 + 0.7 * 1.6 / 1.9,
    ]
    assert leep(PROBS, [0, 0, 1, 1]) == pytest.approx(np.mean(np.log(eep)), rel=1e-12)


def test_leep_ignores_a_source_class_nobody_predicts():
    padded = np.c_[PROBS[:, :1], np.zeros(4), PROBS[:, 1:]]
    assert leep(padded, [0, 0, 1, 1]) == pytest.approx(leep(PROBS, [0, 0, 1, 1]), rel=1e-12)


def test_leep_invariant_to_source_column_order_and_target_names():
    assert leep(PROBS[:, ::-1], ["b", "b", "a", "a"]) == pytest.approx(leep(PROBS, [0, 0, 1, 1]))


def test_leep_is_zero_for_a_perfect_source_head():
    assert leep(np.eye(3)[[0, 1, 2, 0]], [5, 6, 7, 5]) == pytest.approx(0.0, abs=1e-12)


def test_nce_by_hand():
    # z=0 holds y = (0, 0, 1): H = H(2/3, 1/3); z=1 holds y = (1, 1, 1): H = 0; P(z) = 1/2 each.
    h = 0.5 * -(2 / 3 * np.log(2 / 3) + 1 / 3 * np.log(1 / 3))
    assert nce([0, 0, 0, 1, 1, 1], [0, 0, 1, 1, 1, 1]) == pytest.approx(-h, rel=1e-12)


def test_nce_with_one_source_class_is_minus_label_entropy():
    y = [0, 0, 0, 1]
    h = -(0.75 * np.log(0.75) + 0.25 * np.log(0.25))
    assert nce([3, 3, 3, 3], y) == pytest.approx(-h, rel=1e-12)


def test_nce_invariant_to_source_relabelling(rng):
    z, y = rng.integers(0, 5, 300), rng.integers(0, 3, 300)
    assert nce(np.array(list("abcde"))[z], y) == pytest.approx(nce(z, y), rel=1e-12)


def _hscore_textbook(f, y):
    g = np.zeros_like(f)
    for c in np.unique(y):
        g[y == c] = f[y == c].mean(axis=0)
    return np.trace(np.linalg.pinv(np.cov(f, rowvar=False), rcond=1e-10) @ np.cov(g, rowvar=False))


def _regularized_textbook(f, y):
    fc = f - f.mean(axis=0)
    lw = LedoitWolf().fit(fc)
    g = np.zeros_like(fc)
    for c in np.unique(y):
        g[y == c] = fc[y == c].mean(axis=0)
    cov_g = np.cov(g, rowvar=False, bias=True)
    return np.trace(np.linalg.pinv(lw.covariance_) @ ((1 - lw.shrinkage_) * cov_g)), lw.shrinkage_


@pytest.mark.parametrize(("n", "d"), [(400, 20), (50, 120)], ids=["n>d", "d>n"])
def test_hscore_matches_textbook_formula(make_features, rng, n, d):
    f, y = make_features(rng, n, d, 4, signal=0.5)
    assert hscore(f, y) == pytest.approx(_hscore_textbook(f, y), rel=1e-6)


@pytest.mark.parametrize(("n", "d"), [(400, 20), (50, 120)], ids=["n>d", "d>n"])
def test_regularized_hscore_matches_sklearn_ledoit_wolf(make_features, rng, n, d):
    f, y = make_features(rng, n, d, 4, signal=0.5)
    expected, shrinkage = _regularized_textbook(f, y)
    assert _ledoit_wolf_shrinkage(_class_spectrum(f, y)) == pytest.approx(shrinkage, rel=1e-9)
    assert regularized_hscore(f, y) == pytest.approx(expected, rel=1e-6)


def test_hscore_invariant_to_invertible_affine_maps(make_features, rng):
    f, y = make_features(rng, 300, 10, 3)
    a = rng.normal(size=(10, 10)) + 3 * np.eye(10)
    assert hscore(f @ a + 7.0, y) == pytest.approx(hscore(f, y), rel=1e-6)


def test_regularized_hscore_invariant_to_rotation_scale_and_shift(make_features, rng):
    f, y = make_features(rng, 300, 10, 3)
    q, _ = np.linalg.qr(rng.normal(size=(10, 10)))
    assert regularized_hscore(5.0 * f @ q - 2.0, y) == pytest.approx(regularized_hscore(f, y), rel=1e-9)


def test_hscore_is_at_most_classes_minus_one(make_features, rng):
    f, y = make_features(rng, 60, 200, 4)  # d > n: features can separate anything
    assert hscore(f, y) == pytest.approx(3.0, rel=1e-6)
    assert regularized_hscore(f, y) < 3.0
