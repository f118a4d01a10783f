"""``rank_backbones``: the zoo scored on a labelled sample, ranked, with a recommendation."""

from __future__ import annotations

import json

import numpy as np
import pytest

import graft
from graft.backbones import BackboneSpec, InputSpec, register_backbone
from graft.backbones.testing import build_test_cnn
from graft.errors import UsageError
from graft.rank import rank_backbones, stratified_sample
from graft.rank.driver import RankRow, order_rows


def _build_headless(spec, weights, allow_download, **kw):
    # a second image candidate without a source classifier: LEEP and NCE cannot be computed for it
    bb = build_test_cnn(spec, weights, allow_download, **{**kw, "seed": 7})
    bb.source_head = None
    return bb


register_backbone(BackboneSpec(
    name="test_cnn_headless", modality="image", architecture="graft:test_cnn", feature_dim=16,
    input=InputSpec(image_size=32, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5)), license="Apache-2.0",
    groups=("stem", "stage1", "stage2"), description="tiny CNN without a source head (rank tests)",
), _build_headless)


@pytest.fixture(scope="module")
def ranked(tiny_images):
    return rank_backbones(tiny_images, ["test_cnn", "test_cnn_headless"])


def test_every_candidate_gets_every_score_and_its_cost(ranked):
    assert sorted(ranked.ranking) == ["test_cnn", "test_cnn_headless"]
    assert ranked.n_classes == 3 and ranked.n_samples == 24  # tiny_images: 8 train per class after val
    for row in ranked.rows:
        assert row.params > 1000 and row.feature_dim == 16 and row.seconds > 0
        assert all(np.isfinite(row.scores[s]) for s in ("logme", "hscore", "regularized_hscore", "knn", "linear"))
        assert set(row.score_seconds) >= {"logme", "knn", "linear"}


def test_source_scores_only_where_the_weights_have_a_classifier(ranked):
    rows = {r.backbone: r for r in ranked.rows}
    assert rows["test_cnn"].scores["leep"] <= 0 and rows["test_cnn"].scores["nce"] <= 0
    assert rows["test_cnn_headless"].scores["leep"] is None and rows["test_cnn_headless"].scores["nce"] is None
    assert any("no source head" in n for n in rows["test_cnn_headless"].notes)


def test_rows_are_ranked_by_the_chosen_score_and_recommend_the_first(ranked, tiny_images):
    logme = [r.scores["logme"] for r in ranked.rows]
    assert logme == sorted(logme, reverse=True) and [r.rank for r in ranked.rows] == [1, 2]
    assert ranked.recommendation.startswith(f"Start from {ranked.best}")
    by_leep = rank_backbones(tiny_images, ["test_cnn_headless", "test_cnn"], by="leep", scores=("logme", "leep"))
    assert by_leep.ranking == ["test_cnn", "test_cnn_headless"]  # no LEEP: ranked last


def test_result_is_json_ready(ranked):
    data = json.loads(json.dumps(ranked.to_dict()))
    assert data["best"] == ranked.best and len(data["rows"]) == 2 and data["by"] == "logme"


def test_sample_is_stratified_and_features_come_from_the_cache(tiny_images):
    result = rank_backbones(tiny_images, ["test_cnn"], sample=9, scores=("logme", "knn"))
    assert result.n_samples == 9 and result.n_classes == 3
    ds = graft.read(tiny_images)
    cached = graft.embed(ds.train, "test_cnn")  # the driver embedded through the same cache
    assert cached.shape == (len(ds.train), 16)


def test_text_candidates_are_ranked_on_text(tiny_text_csv):
    result = rank_backbones(tiny_text_csv, ["test_text"], scores=("logme", "leep", "knn"))
    assert result.rows[0].scores["leep"] is None and result.rows[0].scores["knn"] is not None


def test_stratified_sample_keeps_class_shares_and_every_class():
    labels = np.array([0] * 80 + [1] * 18 + [2] * 2)
    idx = stratified_sample(labels, 20, seed=0)
    counts = np.bincount(labels[idx])
    assert len(idx) == 20 and counts[2] == 2 and counts[0] == 14  # the small class keeps 2, the largest pays
    assert np.array_equal(idx, stratified_sample(labels, 20, seed=0)) and np.all(np.diff(idx) > 0)
    assert not np.array_equal(idx, stratified_sample(labels, 20, seed=1))
    assert len(stratified_sample(labels, None)) == 100 and len(stratified_sample(labels, 500)) == 100


def test_rows_without_the_score_go_last():
    rows = [RankRow("a", {"x": None}, 1, 1, 0.0), RankRow("b", {"x": 0.5}, 1, 1, 0.0), RankRow("c", {"x": 0.9}, 1, 1, 0.0)]
    assert [r.backbone for r in order_rows(rows, "x")] == ["c", "b", "a"]


def test_bad_requests_are_usage_errors(tiny_images):
    with pytest.raises(UsageError, match="not both"):
        rank_backbones(tiny_images, ["test_cnn"], modality="image")
    with pytest.raises(UsageError, match="--by"):
        rank_backbones(tiny_images, ["test_cnn"], scores=("logme",), by="leep")
    with pytest.raises(UsageError, match="unknown transferability score"):
        rank_backbones(tiny_images, ["test_cnn"], scores=("logme", "magic"))
    with pytest.raises(UsageError, match="--sample"):
        rank_backbones(tiny_images, ["test_cnn"], sample=1)


def test_an_unusable_candidate_is_reported_not_fatal(tiny_images):
    result = rank_backbones(tiny_images, ["test_cnn", "no_such_backbone", "test_text"], scores=("logme",))
    assert result.ranking == ["test_cnn"]
    reasons = {f["backbone"]: f["reason"] for f in result.failed}
    assert "unknown backbone" in reasons["no_such_backbone"] and "text backbone" in reasons["test_text"]
    with pytest.raises(UsageError, match="no backbone could be scored"):
        rank_backbones(tiny_images, ["no_such_backbone"], scores=("logme",))
