import numpy as np
import pytest

from graft.errors import UsageError
from graft.shift import PADResult, domain_classifier_auc, proxy_a_distance


@pytest.fixture
def rng():
    return np.random.default_rng(11)


def test_same_distribution_is_near_zero(rng):
    result = proxy_a_distance(rng.normal(size=(200, 6)), rng.normal(size=(200, 6)))
    assert isinstance(result, PADResult)
    assert result.distance < 0.4
    assert abs(result.auc - 0.5) < 0.1


def test_separated_distributions_are_near_two(rng):
    result = proxy_a_distance(rng.normal(size=(200, 6)), rng.normal(size=(200, 6)) + 2.0)
    assert result.distance > 1.9
    assert result.error < 0.03 and result.auc > 0.99


def test_unequal_sample_sizes_do_not_fake_a_distance(rng):
    # Plain accuracy would reach 300/360 = 0.83 by always answering "X", i.e. a distance of 1.3.
    result = proxy_a_distance(rng.normal(size=(300, 4)), rng.normal(size=(60, 4)))
    assert result.distance < 0.4
    assert (result.n_x, result.n_y) == (300, 60)


def test_auc_function_agrees_with_pad_result(rng):
    x, y = rng.normal(size=(80, 3)), rng.normal(size=(70, 3)) + 0.7
    assert domain_classifier_auc(x, y, seed=4) == proxy_a_distance(x, y, seed=4).auc


def test_max_samples_and_few_rows(rng):
    capped = proxy_a_distance(rng.normal(size=(500, 3)), rng.normal(size=(40, 3)), max_samples=100)
    assert (capped.n_x, capped.n_y) == (100, 40)
    tiny = proxy_a_distance(rng.normal(size=(3, 2)), rng.normal(size=(3, 2)) + 5.0, folds=5)
    assert 0.0 <= tiny.distance <= 2.0  # folds lowered to 3 rather than failing


@pytest.mark.parametrize(("x", "y", "kwargs", "message"), [
    (np.zeros((5, 3)), np.zeros((5, 2)), {}, "same feature size"),
    (np.zeros((5, 3)), np.zeros((0, 3)), {}, "Y is empty"),
    (np.full((5, 3), np.inf), np.zeros((5, 3)), {}, "X contains 15 NaN or inf"),
    (np.zeros((1, 3)), np.zeros((5, 3)), {}, "at least 2 rows"),
    (np.zeros((5, 3)), np.zeros((5, 3)), {"folds": 1}, "folds must be at least 2"),
    (np.zeros((5, 3)), np.zeros((5, 3)), {"max_samples": 0}, "max_samples"),
])
@pytest.mark.parametrize("fn", [proxy_a_distance, domain_classifier_auc])
def test_bad_input_is_a_usage_error(fn, x, y, kwargs, message):
    with pytest.raises(UsageError, match=message):
        fn(x, y, **kwargs)
