"""The recommender: cold items ranked from their text, save/load, exclusion, clear errors."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import graft
from graft.errors import DataError, GraftError, UsageError
from graft.recommend import ItemText, RecommenderConfig
from graft.recommend.fit import add_items, fit

COLUMNS = dict(user_column="userId", item_column="movieId", rating_column="stars")
TEXT = ItemText(item_column="movieId", text_columns=("name",), genre_column=None)
FAST = dict(factors=4, epochs=40, lr=0.05, batch_size=256, patience=5)


def fan_of(user: str) -> str:
    return "Action" if int(user[1:]) % 2 == 0 else "Romance"


@pytest.fixture(scope="module")
def text_model(taste_tables):
    """Cold items mapped from their text alone (no genre column), through the tiny test_text backbone."""
    config = RecommenderConfig(features="text", **FAST)
    return fit(taste_tables["ratings"], taste_tables["items"], "test_text", config=config, item_text=TEXT, **COLUMNS)


def cold_hit_rate(model, tables, top: int = 3) -> float:
    """Share of each user's top cold items that are of the user's taste (random ranking: 0.5)."""
    hits = []
    for user in model.catalogue.users:
        rows = [r for r in model.recommend(user, n=len(model.catalogue.items)) if r["cold"]][:top]
        hits += [tables["cold_kind"][r["item"]] == fan_of(user) for r in rows]
    return float(np.mean(hits))


def test_cold_items_rank_by_taste_from_text_alone(text_model, taste_tables):
    assert sorted(np.array(text_model.catalogue.items)[text_model.catalogue.cold]) == sorted(taste_tables["cold"])
    assert cold_hit_rate(text_model, taste_tables) > 0.8


def test_without_item_information_cold_items_are_not_ranked_by_taste(taste_tables):
    """The control: the same data, cold items mapped from nothing, ranks them no better than chance."""
    model = fit(taste_tables["ratings"], taste_tables["items"], None, item_text=TEXT, **COLUMNS,
                config=RecommenderConfig(features="none", **FAST))
    assert cold_hit_rate(model, taste_tables) < 0.7


def test_warm_ratings_are_learnt(text_model):
    liked = text_model.predict(["u0", "u1"], ["m0", "m1"])  # action fan / action film, romance fan / romance film
    disliked = text_model.predict(["u0", "u1"], ["m1", "m0"])
    assert (liked > disliked + 1.5).all()
    assert text_model.lineage["metrics"]["val"]["rmse"] < 1.0


def test_save_and_load_give_the_same_scores(text_model, tmp_path):
    text_model.save(tmp_path / "rec")
    loaded = graft.load(tmp_path / "rec")
    users, items = ["u0", "u3", "u7"], ["m100", "m5", "m101"]
    np.testing.assert_array_equal(loaded.predict(users, items), text_model.predict(users, items))
    assert loaded.recommend("u4", n=5) == text_model.recommend("u4", n=5)
    config = json.loads((tmp_path / "rec" / "config.json").read_text())
    assert config["format"] == "graft-recommender"
    assert sorted(config["files"]) == ["README.md", "ids.json", "lineage.json", "model.safetensors"]
    lineage = json.loads((tmp_path / "rec" / "lineage.json").read_text())
    assert lineage["parent"]["backbone"] == "test_text" and lineage["parent"]["weights_sha256"]
    assert len(lineage["dataset"]["fingerprint"]) == 64
    assert "test_text" in (tmp_path / "rec" / "README.md").read_text()


def test_a_changed_file_is_refused(text_model, tmp_path):
    text_model.save(tmp_path / "rec")
    ids = tmp_path / "rec" / "ids.json"
    ids.write_text(ids.read_text().replace('"u0"', '"uX"'))
    with pytest.raises(GraftError, match="ids.json is corrupted"):
        graft.load(tmp_path / "rec")


def test_already_rated_items_are_left_out(text_model):
    u = text_model.catalogue.user_index["u2"]
    rated = {text_model.catalogue.items[i] for i in text_model.rated_by(u)}
    assert rated
    everything = len(text_model.catalogue.items)
    shown = {r["item"] for r in text_model.recommend("u2", n=everything)}
    assert not shown & rated and len(shown) == everything - len(rated)
    assert rated <= {r["item"] for r in text_model.recommend("u2", n=everything, exclude_rated=False)}
    assert not any(r["cold"] for r in text_model.recommend("u2", n=everything, include_cold=False))


def test_an_unknown_user_is_an_error_or_gets_popular_items(text_model):
    with pytest.raises(UsageError, match="user 'stranger' is not in the model's ratings"):
        text_model.recommend("stranger")
    rows = text_model.recommend("stranger", n=3, unknown_user="popular")
    assert len(rows) == 3 and all(r["basis"] == "popular" for r in rows)
    with pytest.raises(UsageError, match="item 'nope'"):
        text_model.predict(["u0"], ["nope"])


def test_new_items_are_added_without_retraining(text_model, taste_tables, tmp_path):
    text_model.save(tmp_path / "rec")
    bigger = add_items(tmp_path / "rec", taste_tables["new"], out=tmp_path / "rec")
    assert bigger.catalogue.items[-2:] == ["n1", "n2"] and bigger.catalogue.cold[-2:].all()
    reloaded = graft.load(tmp_path / "rec")
    action_fan, romance_fan = reloaded.predict(["u0", "u0"], ["n1", "n2"]), reloaded.predict(["u1", "u1"], ["n1", "n2"])
    assert action_fan[0] > action_fan[1] and romance_fan[1] > romance_fan[0]
    np.testing.assert_array_equal(reloaded.predict(["u0"], ["m0"]), text_model.predict(["u0"], ["m0"]))
    with pytest.raises(UsageError, match="item 'n1' is already in the model"):
        add_items(tmp_path / "rec", taste_tables["new"])


def test_bad_column_names_say_which_file_and_option(taste_tables):
    with pytest.raises(UsageError, match=r"ratings.csv: no column 'user'.*userId.*--user-column"):
        fit(taste_tables["ratings"], taste_tables["items"], "test_text", item_text=TEXT)
    with pytest.raises(UsageError, match=r"items.csv: no column 'title'.*--text-column"):
        fit(taste_tables["ratings"], taste_tables["items"], "test_text", item_text=ItemText(item_column="movieId"), **COLUMNS)
    with pytest.raises(UsageError, match=r"items.csv: no column 'genres'.*--genre-column"):
        fit(taste_tables["ratings"], taste_tables["items"], "test_text", **COLUMNS,
            item_text=ItemText("movieId", ("name",), "genres"))


def test_bad_ratings_and_settings_are_refused(tmp_path, taste_tables):
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"user": ["a", "b"], "item": ["x", "y"], "rating": ["4", "good"]}).to_csv(bad, index=False)
    with pytest.raises(DataError, match=r"bad.csv: column 'rating' has 1 value\(s\) that are not numbers, first in row 2"):
        fit(bad, None, None)
    with pytest.raises(DataError, match="no such ratings file"):
        fit(tmp_path / "missing.csv", None, None)
    with pytest.raises(UsageError, match="features='words'"):
        RecommenderConfig(features="words")
    with pytest.raises(UsageError, match=r"factors=0 is outside its allowed range \[1, 1024\]"):
        RecommenderConfig(factors=0)
    with pytest.raises(UsageError, match="image backbone"):
        fit(taste_tables["ratings"], taste_tables["items"], "test_cnn", item_text=TEXT, **COLUMNS)


def test_a_collaborative_model_alone_has_no_cold_items_and_cannot_add_them(taste_tables):
    model = graft.fit_recommender(taste_tables["ratings"], None, None, config=graft.RecommenderConfig(**FAST), **COLUMNS)
    assert not model.catalogue.cold.any() and model.mapping is None
    with pytest.raises(UsageError, match="trained without item texts"):
        add_items(model, taste_tables["new"], item_text=TEXT)


def test_training_is_seeded(taste_tables):
    a, b = (fit(taste_tables["ratings"], None, None, config=RecommenderConfig(**FAST), **COLUMNS) for _ in range(2))
    np.testing.assert_array_equal(a.factors.item_factors, b.factors.item_factors)


def test_rarely_rated_items_are_mapped_from_text_and_still_excluded_when_rated(taste_tables):
    ratings = pd.read_csv(taste_tables["ratings"], dtype=str)
    counts = ratings["movieId"].value_counts()
    threshold = int(counts.median())
    model = fit(ratings, pd.read_csv(taste_tables["items"], dtype=str), "test_text", item_text=TEXT, **COLUMNS,
                config=RecommenderConfig(features="text", min_item_ratings=threshold, **FAST))
    rare = set(counts[counts < threshold].index)
    cold = set(np.array(model.catalogue.items)[model.catalogue.cold])
    assert rare and rare <= cold and cold - rare == set(taste_tables["cold"])
    user = ratings[ratings["movieId"].isin(rare)]["userId"].iloc[0]
    rated_rare = set(ratings[(ratings["userId"] == user) & ratings["movieId"].isin(rare)]["movieId"])
    assert not rated_rare & {r["item"] for r in model.recommend(user, n=len(model.catalogue.items))}
    assert model.lineage["dataset"]["source"] == "<ratings DataFrame>"
    assert model.lineage["dataset"]["license"] == "unknown (user data)"
