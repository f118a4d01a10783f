import numpy as np
import pytest

from graft.rank import logme, logme_reference


@pytest.mark.parametrize(
    ("n", "d", "n_classes"),
    [(400, 30, 4), (60, 200, 3), (120, 120, 5), (1000, 64, 10), (30, 500, 2)],
    ids=["n>d", "d>n", "n=d", "many-classes", "d>>n"],
)
def test_vectorised_matches_per_class_reference(make_features, rng, n, d, n_classes):
    f, y = make_features(rng, n, d, n_classes, signal=0.7)
    fast, ref = logme(f, y), logme_reference(f, y)
    assert fast == pytest.approx(ref, rel=1e-6)


def test_matches_paper_reference_on_rank_deficient_features(make_features, rng):
    f, y = make_features(rng, 300, 20, 3)
    f = np.c_[f, f[:, :5] + f[:, 5:10]]  # 25 columns, rank 20
    assert logme(f, y) == pytest.approx(logme_reference(f, y), rel=1e-6)


def test_separable_features_score_higher_than_noise(make_features, rng):
    f, y = make_features(rng, 500, 32, 5, signal=3.0)
    noise = rng.normal(size=f.shape)
    assert logme(f, y) > logme(noise, y) + 0.1


@pytest.mark.parametrize("n", [300, 40])
def test_invariant_to_zero_feature_columns(make_features, rng, n):
    # Zero columns add zero eigenvalues to F^T F; the evidence counts them in log|A| and in
    # d/2 log(alpha), which cancel. The authors' fixed-point code (thuml/LogME#23) fails this when d > n.
    f, y = make_features(rng, n, 50, 3)
    assert logme(np.c_[f, np.zeros((n, 70))], y) == pytest.approx(logme(f, y), rel=1e-9)


def test_invariant_to_rotation_of_features(make_features, rng):
    f, y = make_features(rng, 200, 16, 3)
    q, _ = np.linalg.qr(rng.normal(size=(16, 16)))
    assert logme(f @ q, y) == pytest.approx(logme(f, y), rel=1e-9)


def test_invariant_to_renaming_and_permuting_classes(make_features, rng):
    f, y = make_features(rng, 200, 16, 3)
    names = np.array(["cat", "dog", "eel"])[(y + 1) % 3]
    assert logme(f, names) == pytest.approx(logme(f, y), rel=1e-12)


def test_float32_input_is_computed_in_float64(make_features, rng):
    f, y = make_features(rng, 200, 16, 3)
    f32 = f.astype(np.float32)
    assert logme(f32, y) == pytest.approx(logme(f32.astype(np.float64), y), rel=1e-12)
