"""Each method does what its paper says on data where the answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from graft.adapt import (
    CORAL,
    KLIEP,
    KMM,
    ImportanceWeighting,
    SelfTraining,
    SourceOnly,
    SubspaceAlignment,
    coral_map,
    domain_classifier_weights,
    effective_sample_size,
    kliep_weights,
    kmm_weights,
)
from graft.adapt.selftrain import balanced_confident
from scipy.stats import spearmanr


@pytest.fixture
def covariate_shift():
    """1-D covariate shift with a known density ratio: source N(0, 1), target N(0.8, 1)."""
    rng = np.random.default_rng(0)
    Xs, Xt = rng.normal(0, 1, size=(300, 1)), rng.normal(0.8, 1, size=(200, 1))
    return Xs, Xt, np.exp(0.8 * Xs[:, 0] - 0.32)


def test_coral_gives_the_source_the_target_moments():
    rng = np.random.default_rng(0)
    Xs = rng.normal(size=(2000, 3)) @ np.array([[1.0, 0.5, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.3]])
    Xt = rng.normal(size=(2000, 3)) @ np.diag([2.0, 0.5, 1.0]) + 5.0
    Z = CORAL(eps=1e-6).fit(Xs, (Xs[:, 0] > 0).astype(int), Xt).transform_source(Xs)
    assert np.allclose(np.cov(Z, rowvar=False), np.cov(Xt, rowvar=False), atol=0.02)
    assert np.allclose(Z.mean(axis=0), Xt.mean(axis=0))
    assert coral_map(Xs, Xt).shape == (3, 3)


@pytest.mark.parametrize("cls", [CORAL, SubspaceAlignment])
def test_alignment_recovers_from_an_affine_shift(cls, shifted_blobs):
    Xs, ys, Xt, yt = shifted_blobs
    baseline = SourceOnly().fit(Xs, ys, Xt).score(Xt, yt)
    kwargs = {"n_components": 4} if cls is SubspaceAlignment else {}
    assert cls(**kwargs).fit(Xs, ys, Xt).score(Xt, yt) > baseline + 0.15


@pytest.mark.parametrize(
    "weigh",
    [
        lambda Xs, Xt: domain_classifier_weights(Xs, Xt, clip=None),
        lambda Xs, Xt: kmm_weights(Xs, Xt),
        lambda Xs, Xt: kmm_weights(Xs, Xt, max_samples=100),  # three chunks of the source
        lambda Xs, Xt: kliep_weights(Xs, Xt)[0],
    ],
    ids=["domain-classifier", "kmm", "kmm-chunked", "kliep"],
)
def test_weights_follow_the_true_density_ratio(weigh, covariate_shift):
    Xs, Xt, ratio = covariate_shift
    w = weigh(Xs, Xt)
    assert w.shape == (len(Xs),) and np.isclose(w.mean(), 1.0) and (w >= 0).all()
    assert spearmanr(w, ratio).correlation > 0.8  # heavier where the target is denser


def test_clipping_caps_weights_relative_to_the_mean(covariate_shift):
    Xs, Xt, _ = covariate_shift
    clipped, free = domain_classifier_weights(Xs, Xt, clip=2.0), domain_classifier_weights(Xs, Xt, clip=None)
    top = np.sort(clipped)[-5:]
    assert np.allclose(top, top[-1])  # the largest weights were cut to one cap
    assert clipped.max() < free.max()
    assert effective_sample_size(clipped) > effective_sample_size(free)


@pytest.mark.parametrize("cls", [ImportanceWeighting, KMM, KLIEP])
def test_weighting_methods_report_effective_sample_size(cls, covariate_shift):
    Xs, Xt, _ = covariate_shift
    ys = (Xs[:, 0] > 0.5).astype(int)
    model = cls().fit(Xs, ys, Xt)
    assert 1.0 <= model.effective_sample_size_ < len(Xs)  # a real shift: fewer effective examples
    assert np.isclose(model.effective_sample_size_, effective_sample_size(model.weights_))


def test_effective_sample_size_extremes():
    assert effective_sample_size(np.ones(10)) == 10.0
    assert effective_sample_size([5.0, 0.0, 0.0]) == 1.0


def test_self_training_balances_classes():
    proba = np.array([[0.9, 0.1], [0.8, 0.2], [0.7, 0.3], [0.6, 0.4], [0.4, 0.6]])
    assert balanced_confident(proba, 0.4).tolist() == [0, 4]  # one per class, not the top two overall
    assert balanced_confident(proba, 0.4, "proportional").tolist() == [0, 1, 4]


def test_self_training_helps_under_a_translation():
    rng = np.random.default_rng(1)
    centres = np.array([[0.0, 0.0], [4.0, 0.0], [0.0, 4.0]])
    ys = np.repeat(np.arange(3), 100)
    Xs = centres[ys] + rng.normal(size=(300, 2))
    Xt = centres[ys] + rng.normal(size=(300, 2)) + np.array([2.0, 2.0])
    baseline = SourceOnly().fit(Xs, ys, Xt).score(Xt, ys)
    model = SelfTraining().fit(Xs, ys, Xt)
    assert model.score(Xt, ys) > baseline + 0.02
    assert model.n_pseudo_labels_ >= 0.5 * len(Xt)
