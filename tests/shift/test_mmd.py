import numpy as np
import pytest

from graft.errors import UsageError
from graft.shift import MMDResult, mmd
from graft.shift.mmd import _mmd2_split


def _mmd2_textbook(x, y, kernel):
    kxx, kyy, kxy = kernel(x, x), kernel(y, y), kernel(x, y)
    m, n = len(x), len(y)
    return ((kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
            - 2 * kxy.mean())


def _rbf(width):
    return lambda a, b: np.exp(-((a[:, None, :] - b[None, :, :]) ** 2).sum(-1) / (2 * width**2))


@pytest.fixture
def rng():
    return np.random.default_rng(7)


def test_rbf_statistic_matches_textbook_formula(rng):
    x, y = rng.normal(size=(30, 4)), rng.normal(size=(20, 4)) + 0.3
    result = mmd(x, y, bandwidth=1.5, n_permutations=0)
    assert result.statistic == pytest.approx(_mmd2_textbook(x, y, _rbf(1.5)), rel=1e-10)
    assert result.p_value is None and result.bandwidth == 1.5


def test_linear_statistic_matches_textbook_formula(rng):
    x, y = rng.normal(size=(30, 4)), rng.normal(size=(25, 4)) + 1.0
    result = mmd(x, y, kernel="linear", n_permutations=0)
    assert result.statistic == pytest.approx(_mmd2_textbook(x, y, lambda a, b: a @ b.T), rel=1e-10)
    assert result.bandwidth is None


def test_vectorised_permutation_statistic_matches_recomputing(rng):
    pooled = rng.normal(size=(25, 3))
    k = _rbf(1.0)(pooled, pooled)
    np.fill_diagonal(k, 0.0)
    perms = [rng.permutation(25) for _ in range(4)]
    in_x = np.zeros((25, 4))
    for col, perm in enumerate(perms):
        in_x[perm[:10], col] = 1.0
    expected = [_mmd2_textbook(pooled[p[:10]], pooled[p[10:]], _rbf(1.0)) for p in perms]
    assert _mmd2_split(k, in_x, 10) == pytest.approx(expected, rel=1e-10)


def test_same_distribution_gives_high_p_value(rng):
    result = mmd(rng.normal(size=(150, 5)), rng.normal(size=(120, 5)), n_permutations=300)
    assert isinstance(result, MMDResult)
    assert result.p_value > 0.05
    assert abs(result.statistic) < 0.02


def test_shifted_distribution_gives_small_p_value(rng):
    result = mmd(rng.normal(size=(150, 5)), rng.normal(size=(120, 5)) + 0.5, n_permutations=300)
    assert result.p_value < 0.05
    assert result.p_value >= 1 / 301  # the observed split counts as one of the permutations


def test_median_bandwidth_and_symmetry(rng):
    x, y = rng.normal(size=(40, 3)), 2.0 * rng.normal(size=(50, 3))
    a, b = mmd(x, y, n_permutations=0), mmd(y, x, n_permutations=0)
    pooled = np.vstack([x, y])
    dists = np.linalg.norm(pooled[:, None] - pooled[None], axis=-1)[np.triu_indices(90, 1)]
    assert a.bandwidth == pytest.approx(np.median(dists))
    assert a.statistic == pytest.approx(b.statistic, rel=1e-10)


def test_max_samples_caps_each_sample_and_seed_makes_it_repeatable(rng):
    x, y = rng.normal(size=(300, 3)), rng.normal(size=(50, 3))
    first = mmd(x, y, max_samples=80, n_permutations=50, seed=3)
    assert (first.n_x, first.n_y) == (80, 50)
    assert mmd(x, y, max_samples=80, n_permutations=50, seed=3) == first


@pytest.mark.parametrize(("x", "y", "kwargs", "message"), [
    (np.zeros((5, 3)), np.zeros((5, 4)), {}, "same feature size, got 3 and 4"),
    (np.zeros((0, 3)), np.zeros((5, 3)), {}, "X is empty"),
    (np.zeros((5, 3)), np.full((5, 3), np.nan), {}, "Y contains 15 NaN"),
    (np.zeros((1, 3)), np.zeros((5, 3)), {}, "at least 2 rows in each sample"),
    (np.zeros(5), np.zeros((5, 1)), {}, "X must be a 2-D"),
    (np.eye(3), np.eye(3), {"kernel": "poly"}, "unknown kernel 'poly'"),
    (np.eye(3), np.eye(3), {"bandwidth": -1.0}, "bandwidth must be"),
    (np.eye(3), np.eye(3), {"bandwidth": "mean"}, "bandwidth must be"),
    (np.eye(3), np.eye(3), {"n_permutations": -1}, "n_permutations"),
    (np.eye(3), np.eye(3), {"max_samples": 1}, "max_samples"),
])
def test_bad_input_is_a_usage_error(x, y, kwargs, message):
    with pytest.raises(UsageError, match=message):
        mmd(x, y, **kwargs)
