"""Label-free selection: the estimates behave, the evidence is complete, target labels only score."""

from __future__ import annotations

import json

import numpy as np
import pytest

from graft.adapt import AutoAdapter, compare_adapters, create_adapter, dev_risk, prediction_entropy, select
from graft.adapt.criteria import cluster_consistency, label_entropy


def test_dev_with_equal_weights_is_the_plain_mean():
    losses = np.array([0.0, 1.0, 1.0, 0.0, 1.0])
    risk, se = dev_risk(losses, np.ones(5))
    assert risk == losses.mean() and se > 0


def test_dev_control_variate_cuts_the_variance_of_importance_weighting():
    rng = np.random.default_rng(0)
    plain, controlled = [], []
    for _ in range(300):
        w = rng.exponential(size=200)  # E[w] = 1, like true density ratios
        losses = (rng.random(200) < 0.2 + 0.1 * w).astype(float)  # loss correlated with the weight
        plain.append(np.mean(w * losses))
        controlled.append(dev_risk(losses, w)[0])
    truth = np.mean(plain)
    assert abs(np.mean(controlled) - truth) < 0.01  # about unbiased
    assert np.var(controlled) < 0.75 * np.var(plain)


def test_entropy_and_cluster_scores():
    assert prediction_entropy(np.array([[1.0, 0.0]])) == pytest.approx(0.0, abs=1e-9)
    assert label_entropy(np.array([1, 1, 1]), 3) == 0.0
    clusters = [np.array([0, 0, 1, 1])]
    assert cluster_consistency(np.array([5, 5, 6, 6]), clusters) == 1.0
    assert cluster_consistency(np.array([5, 5, 5, 5]), clusters) == 0.0  # one class says nothing


def test_select_reports_evidence_for_every_candidate(shifted_blobs):
    Xs, ys, Xt, _ = shifted_blobs
    candidates = [("coral", {}), ("sa", {"n_components": 3}), ("iw", {})]
    result = select(Xs, ys, Xt, candidates=candidates)
    labels = [row.label for row in result.table]
    assert labels == ["source-only", "coral", "sa(n_components=3)", "iw"]  # the baseline is always added
    assert result.method in {"source-only", "coral", "sa", "iw"}
    assert result.method in result.reason
    assert result.estimator.predict(Xt).shape == (len(Xt),)
    json.dumps(result.to_dict())  # the evidence is JSON-ready
    assert "cluster" in result.format_table().splitlines()[0]


def test_min_gain_keeps_source_only_when_nothing_clearly_wins(shifted_blobs):
    Xs, ys, Xt, _ = shifted_blobs
    result = select(Xs, ys, Xt, candidates=[("coral", {})], min_gain=1.0)
    assert result.method == "source-only"
    assert "min_gain" in result.reason


def test_every_criterion_runs(shifted_blobs):
    Xs, ys, Xt, _ = shifted_blobs
    for criterion in ("cluster", "dev", "reverse", "entropy"):
        result = select(Xs, ys, Xt, candidates=[("coral", {})], criterion=criterion, refit=False)
        assert result.criterion == criterion and result.estimator is None
    assert np.isfinite(result.table[0].target_entropy)


def test_auto_adapts_a_clear_shift(shifted_blobs):
    Xs, ys, Xt, yt = shifted_blobs
    auto = create_adapter("auto").fit(Xs, ys, Xt)
    assert isinstance(auto, AutoAdapter)
    baseline = create_adapter("source-only").fit(Xs, ys, Xt).score(Xt, yt)
    assert auto.score(Xt, yt) > baseline + 0.15
    assert auto.selection_.method != "source-only"


def test_target_labels_only_score(shifted_blobs):
    Xs, ys, Xt, yt = shifted_blobs
    methods = ["source-only", "coral", "auto"]
    unlabelled = compare_adapters(Xs, ys, Xt, None, methods=methods)
    shuffled = compare_adapters(Xs, ys, Xt, np.random.default_rng(0).permutation(yt), methods=methods)
    assert all(r.target_accuracy is None for r in unlabelled)
    assert [r.chosen for r in unlabelled] == [r.chosen for r in shuffled]
    for a, b in zip(unlabelled, shuffled):
        assert np.array_equal(a.estimator.predict(Xt), b.estimator.predict(Xt))
