"""Every score rejects the same mistakes with the same clear message (graft.rank._checks)."""

import numpy as np
import pytest

from graft.errors import UsageError
from graft.rank import (
    hscore,
    knn_loo_accuracy,
    leep,
    linear_probe_cv_accuracy,
    logme,
    logme_reference,
    nce,
    regularized_hscore,
)

FEATURE_SCORES = [
    logme, logme_reference, hscore, regularized_hscore, knn_loo_accuracy, linear_probe_cv_accuracy,
]
Y = np.array([0, 1] * 10)
F = np.random.default_rng(0).normal(size=(20, 4))


@pytest.fixture(params=FEATURE_SCORES, ids=lambda fn: fn.__name__)
def score(request):
    return request.param


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_features_are_named(score, bad):
    f = F.copy()
    f[3, 1] = bad
    with pytest.raises(UsageError, match=r"features contains 1 NaN or inf value\(s\) \(first at row 3\)"):
        score(f, Y)


def test_length_mismatch(score):
    with pytest.raises(UsageError, match="labels has 19 entries but there are 20 samples"):
        score(F, Y[:19])


def test_single_class(score):
    with pytest.raises(UsageError, match="1 distinct class"):
        score(F, np.zeros(20))


@pytest.mark.parametrize(("features", "message"), [
    (F[:, 0], "must be a 2-D.*reshape"),
    (np.zeros((0, 4)), "is empty"),
    ([["a", "b"]] * 20, "numeric"),
])
def test_malformed_features(score, features, message):
    with pytest.raises(UsageError, match=message):
        score(features, Y)


def test_nan_and_one_hot_labels():
    with pytest.raises(UsageError, match="labels contains 1 NaN"):
        logme(F, np.r_[Y[:-1], np.nan].astype(float))
    with pytest.raises(UsageError, match="one-hot"):
        logme(F, np.eye(2)[Y])


def test_labels_are_remapped_to_contiguous_codes(score):
    sparse = np.where(Y == 0, 10, 70)  # classes 10 and 70: not 0..C-1
    assert score(F, sparse) == pytest.approx(score(F, Y), rel=1e-12)


def test_leep_rejects_logits_and_bad_probabilities():
    probs = np.full((20, 3), 1 / 3)
    with pytest.raises(UsageError, match=r"source_probs rows must sum to 1.*row 2 sums to 2"):
        leep(np.where(np.arange(20)[:, None] == 2, 2 / 3, probs), Y)
    with pytest.raises(UsageError, match="negative entries.*not logits"):
        leep(probs - 0.5, Y)
    with pytest.raises(UsageError, match="source_probs contains"):
        leep(np.where(np.arange(20)[:, None] == 1, np.nan, probs), Y)
    with pytest.raises(UsageError, match="labels has 19 entries but there are 20 samples"):
        leep(probs, Y[:19])
    with pytest.raises(UsageError, match="1 distinct class"):
        leep(probs, np.ones(20))


def test_leep_accepts_float32_softmax_rounding():
    probs = np.full((20, 3), 1 / 3, dtype=np.float32) + np.float32(1e-4)
    assert np.isfinite(leep(probs, Y))


def test_nce_input_errors():
    with pytest.raises(UsageError, match="labels has 20 entries but there are 19 samples"):
        nce(np.zeros(19), Y)
    with pytest.raises(UsageError, match="source_labels contains 1 NaN"):
        nce(np.r_[np.zeros(19), np.nan], Y)
    with pytest.raises(UsageError, match="1 distinct class"):
        nce(np.zeros(20), np.ones(20))
