import numpy as np
import pytest

from graft.errors import UsageError
from graft.rank import SCORES, ScoreInfo, weighted_kendall_tau


def test_every_score_is_registered_with_what_it_needs():
    assert SCORES.names() == sorted(["logme", "leep", "nce", "hscore", "regularized_hscore", "knn", "linear"])
    needs = {name: SCORES.get(name).needs for name in SCORES}
    assert needs["leep"] == "source_probs" and needs["nce"] == "source_labels"
    assert {needs[n] for n in SCORES if n not in ("leep", "nce")} == {"features"}
    assert all(SCORES.get(n).higher_is_better and SCORES.get(n).description for n in SCORES)


def test_score_info_is_frozen():
    with pytest.raises(AttributeError):
        SCORES.get("logme").name = "other"  # type: ignore[misc]
    assert isinstance(SCORES.get("logme"), ScoreInfo)


def test_unknown_score_suggests_a_close_name():
    with pytest.raises(UsageError, match="Did you mean logme"):
        SCORES.get("logm")


@pytest.mark.parametrize("name", [n for n in SCORES if SCORES.get(n).needs == "features"])
def test_feature_scores_rank_separable_above_noise(make_features, rng, name):
    f, y = make_features(rng, 150, 10, 3, signal=3.0)
    score = SCORES.get(name).fn
    assert score(f, y) > score(rng.normal(size=f.shape), y)


def test_source_scores_rank_informative_head_above_random(rng):
    y = rng.integers(0, 3, 300)
    good = np.eye(3)[y] * 0.7 + 0.1  # the source head knows the target classes
    bad = rng.dirichlet(np.ones(3), size=300)
    assert SCORES.get("leep").fn(good, y) > SCORES.get("leep").fn(bad, y)
    assert SCORES.get("nce").fn(good.argmax(1), y) > SCORES.get("nce").fn(bad.argmax(1), y)


def test_weighted_kendall_tau_agreement_and_reversal():
    acc = [60.0, 70.0, 80.0, 90.0]
    assert weighted_kendall_tau([1, 2, 3, 4], acc) == pytest.approx(1.0)
    assert weighted_kendall_tau([4, 3, 2, 1], acc) == pytest.approx(-1.0)
    # Getting the best model wrong costs more than getting the worst wrong.
    assert weighted_kendall_tau([2, 1, 3, 4], acc) > weighted_kendall_tau([1, 2, 4, 3], acc)


@pytest.mark.parametrize(("scores", "accs", "message"), [
    ([1, 2], [1, 2, 3], "must match"),
    ([1], [1], "at least 2"),
    ([1, np.nan], [1, 2], "scores contains"),
])
def test_weighted_kendall_tau_rejects_bad_input(scores, accs, message):
    with pytest.raises(UsageError, match=message):
        weighted_kendall_tau(scores, accs)
