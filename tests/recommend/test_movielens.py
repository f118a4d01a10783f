"""MovieLens-100k read in place from the recbole package, and cold movies scored from their titles
with a real text backbone (packaged GloVe vectors)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from graft.recommend import RecommenderConfig
from graft.recommend.data import RatingsData, ml100k_folder, read_ratings_data


@pytest.fixture(scope="module")
def ml100k():
    pytest.importorskip("pandas")
    try:
        ml100k_folder()
    except ImportError:
        pytest.skip("recbole's example files are not installed (make setup)")
    return read_ratings_data("builtin:ml-100k")


def test_builtin_ml100k_is_read_in_place_without_importing_recbole(ml100k):
    assert len(ml100k.ratings) == 100_000 and ml100k.ratings["user"].nunique() == 943 and len(ml100k.items) == 1682
    first = ml100k.items.iloc[0]
    assert first["title"] == "Toy Story" and first["genres"] == ["Animation", "Children's", "Comedy"]
    assert first["text"] == "Toy Story. 1995. Genres: Animation, Children's, Comedy"
    assert "site-packages" in ml100k.source["ratings"] and "recbole" in ml100k.source["ratings"]
    assert "non-commercial" in ml100k.source["license"]
    code = "import graft.recommend.data as d, sys; d.read_ratings_data('builtin:ml-100k'); print('recbole' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"


@pytest.mark.weights
def test_cold_movies_scored_from_their_text_beat_the_average_item(ml100k):
    """400 users' ratings; 60 of their movies held out as cold. Mapped from title + genres through GloVe,
    the cold movies' ratings are predicted better than by the average warm movie (the no-text control)."""
    from graft.backbones.weights import find_local
    from graft.backbones.registry import get_spec
    from graft.recommend.fit import build, embed_texts, fit_collaborative
    from graft.recommend.mf import rmse

    if not any(find_local(s) for s in get_spec("glove_6b_50d").weights):
        pytest.skip("packaged GloVe vectors not installed (make setup)")
    rng = np.random.default_rng(0)
    r = ml100k.ratings[ml100k.ratings["user"].isin([str(u) for u in range(1, 401)])]
    popular = r["item"].value_counts().index[:400].to_numpy()
    cold = set(rng.choice(popular, 60, replace=False))
    held = r["item"].isin(cold).to_numpy()
    train = RatingsData(r[~held], ml100k.items, ml100k.source, ml100k.item_text)
    config = RecommenderConfig(factors=16)
    collab = fit_collaborative(train, config)
    text = embed_texts(list(ml100k.items["text"]), "glove_6b_50d")
    test = r[held]
    errors = {}
    for features in ("none", "text+genre"):
        model = build(train, collab, text, RecommenderConfig(factors=16, features=features), "glove_6b_50d")
        errors[features] = rmse(model.predict(list(test["user"]), list(test["item"])), test["rating"].to_numpy())
        assert model.catalogue.cold.sum() >= 60
    assert errors["text+genre"] < errors["none"] - 0.01, errors
