"""``graft recommend fit / top / score / add-items``: thin commands, --json, honest exit codes."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from graft.cli.main import app

COLUMNS = ["--user-column", "userId", "--item-column", "movieId", "--rating-column", "stars", "--text-column", "name",
           "--genre-column", "kind"]
FAST = ["--factors", "4", "--epochs", "30"]


def run(*args, code: int = 0):
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == code, f"exit {result.exit_code}, wanted {code}\n{result.output}\n{result.exception!r}"
    return result


@pytest.fixture(scope="module")
def model_dir(taste_tables, tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "rec"
    result = run("recommend", "fit", "--ratings", taste_tables["ratings"], "--items", taste_tables["items"],
                 "--backbone", "test_text", "--out", out, *COLUMNS, *FAST)
    assert "epoch   1" in result.output and "val RMSE" in result.output  # a progress line per epoch
    assert "cold_items" in result.output and "12" in result.output
    return out


def test_top_lists_items_for_a_user_with_cold_ones(model_dir):
    rows = json.loads(run("recommend", "top", model_dir, "--user", "u0", "-n", "60", "--json").stdout)["items"]
    assert [r["rank"] for r in rows] == list(range(1, len(rows) + 1))
    assert any(r["cold"] for r in rows)
    assert not any(r["cold"] for r in json.loads(run("recommend", "top", model_dir, "--user", "u0", "-n", "60", "--no-cold",
                                                     "--json").stdout)["items"])
    table = run("recommend", "top", model_dir, "--user", "u0", "-n", "3").stdout
    assert "top 3 for user u0" in table


def test_unknown_user_exits_2_unless_popular_is_asked_for(model_dir):
    assert "not in the model's ratings" in run("recommend", "top", model_dir, "--user", "nobody", code=2).output
    rows = json.loads(run("recommend", "top", model_dir, "--user", "nobody", "--fallback", "popular", "--json").stdout)
    assert rows["items"] and rows["items"][0]["basis"] == "popular"


def test_score_and_add_items(model_dir, taste_tables):
    scores = json.loads(run("recommend", "score", model_dir, "-u", "u0", "-i", "m0", "-i", "m1", "--json").stdout)["scores"]
    assert scores[0]["score"] > scores[1]["score"]  # u0 is an action fan, m0 an action film
    added = json.loads(run("recommend", "add-items", model_dir, taste_tables["new"], "--out", model_dir.parent / "bigger",
                           "--json").stdout)
    assert added["added"] == ["n1", "n2"]
    run("recommend", "score", model_dir.parent / "bigger", "-u", "u0", "-i", "n1")
    run("recommend", "score", model_dir, "-u", "u0", "-i", "n1", code=2)  # the original folder is unchanged


def test_bad_column_exits_2_naming_file_and_option(taste_tables, tmp_path):
    result = run("recommend", "fit", "--ratings", taste_tables["ratings"], "--out", tmp_path / "m", code=2)
    assert "ratings.csv: no column 'user'" in result.output and "--user-column" in result.output
    assert not (tmp_path / "m").exists()


def test_graft_predict_on_a_recommender_says_what_to_use(model_dir):
    assert "graft recommend top" in run("predict", model_dir, "some text", code=2).output
