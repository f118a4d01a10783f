"""``graft recommend``: train a recommender that ranks cold items from their text, ask it for top-N,
score (user, item) pairs, add new items without retraining."""

from __future__ import annotations

from pathlib import Path
from typing import Any, List, Optional

import typer

from graft.cli import output as out
from graft.cli.app import DOWNLOAD, JSON, OVERWRITE, app

recommend_app = typer.Typer(help="Recommendations with cold-start items: collaborative factors for rated items, "
                                 "a pretrained text backbone for new ones.", no_args_is_help=True)
app.add_typer(recommend_app, name="recommend")

ITEM_ID_COLUMN = typer.Option(None, "--item-id-column", help="Item table: the column of item ids (default: --item-column; "
                                                              "for add-items, the model's).")
TEXT_COLUMNS = typer.Option(None, "--text-column", help="Item table: a text column joined into the item's text, the first "
                                                        "is its title; repeat for several (default: title).")
GENRE_COLUMN = typer.Option(None, "--genre-column", help="Item table: a column of genres/tags (optional).")
GENRE_SEP = typer.Option(None, "--genre-sep", help="Separator between the genres of --genre-column (default '|').")


@recommend_app.command("fit")
def fit(
    ratings: str = typer.Option(..., "--ratings", help="builtin:ml-100k (read in place from the recbole package), or a "
                                                       "ratings table (.csv/.tsv/.parquet/.jsonl)."),
    items: Optional[Path] = typer.Option(None, "--items", help="Item table with ids, texts and optional genres "
                                                               "(not with builtin data, which brings its own)."),
    backbone: str = typer.Option("minilm_l6", "--backbone", "-b", help="Text backbone that embeds item texts (`graft models`)."),
    out_dir: Path = typer.Option(..., "--out", help="Folder to write the recommender to."),
    user_column: str = typer.Option("user", "--user-column", help="Ratings table: the column of user ids."),
    item_column: str = typer.Option("item", "--item-column", help="Ratings table: the column of item ids."),
    rating_column: str = typer.Option("rating", "--rating-column", help="Ratings table: the column of ratings."),
    item_id_column: Optional[str] = ITEM_ID_COLUMN, text_column: Optional[List[str]] = TEXT_COLUMNS,
    genre_column: Optional[str] = GENRE_COLUMN, genre_sep: Optional[str] = GENRE_SEP,
    features: str = typer.Option("text+genre", "--features", help="What the cold-item map reads: text+genre, text, genre, none."),
    factors: int = typer.Option(32, "--factors", help="Latent dimensions, 1..1024."),
    epochs: int = typer.Option(60, "--epochs", help="Most epochs (early stopping on held-out ratings ends sooner)."),
    min_item_ratings: int = typer.Option(1, "--min-item-ratings", help="Items with fewer ratings are treated as cold."),
    seed: int = typer.Option(0, "--seed", help="Seed of the split, initialisation and batch order."),
    overwrite: bool = OVERWRITE, allow_download: bool = DOWNLOAD, json_: bool = JSON,
) -> None:
    """Train on RATINGS: biased matrix factorisation for rated items, a ridge map from each item's text
    (and genres) into the factor space for cold items. One progress line per epoch on stderr."""
    from graft.recommend import RecommenderConfig
    from graft.recommend.fit import fit as fit_recommender

    def epoch_line(row: dict[str, Any]) -> None:
        if not json_:
            out.warn(f"epoch {row['epoch']:>3}  train RMSE {row['train_rmse']:.4f}  val RMSE {row['val_rmse']:.4f}"
                     + ("  best" if row["best"] else ""))

    def run() -> Any:
        config = RecommenderConfig(factors=factors, epochs=epochs, seed=seed, features=features,
                                   min_item_ratings=min_item_ratings)
        text = _item_text(item_id_column or item_column, text_column, genre_column, genre_sep) if items else None
        return fit_recommender(ratings, items, backbone, config=config, user_column=user_column, item_column=item_column,
                               rating_column=rating_column, item_text=text, out=out_dir, overwrite=overwrite,
                               allow_download=allow_download, progress=not json_, on_epoch=epoch_line)

    model = out.run(run)
    summary = _summary(model)
    if json_:
        return out.emit_json(summary)
    out.table(f"recommender → {out_dir}", ["what", "value"], [[k, v] for k, v in summary.items() if k != "mapping_search"])


def _item_text(item_id: str, text_columns: Optional[List[str]], genre_column: Optional[str], genre_sep: Optional[str]) -> Any:
    from graft.recommend import ItemText

    return ItemText(item_column=item_id, text_columns=tuple(text_columns or ("title",)), genre_column=genre_column,
                    genre_sep=genre_sep or "|")


def _summary(model: Any) -> dict[str, Any]:
    metrics = model.lineage.get("metrics") or {}
    c = model.catalogue
    return {"model": str(model.path), "users": len(c.users), "items": len(c.items), "cold_items": int(c.cold.sum()),
            "val_rmse": (metrics.get("val") or {}).get("rmse"), "best_epoch": metrics.get("best_epoch"),
            "backbone": (model.config.get("backbone") or {}).get("name"),
            "mapping": model.mapping.features if model.mapping else None,
            "mapping_alpha": model.mapping.alpha if model.mapping else None,
            "mapping_search": model.mapping.search if model.mapping else None}


@recommend_app.command("top")
def top(
    model: Path = typer.Argument(..., help="Recommender folder (written by `graft recommend fit`)."),
    user: str = typer.Option(..., "--user", "-u", help="User id, as in the ratings."),
    n: int = typer.Option(10, "-n", "--n", help="How many items."),
    no_cold: bool = typer.Option(False, "--no-cold", help="Leave out cold items (scored from their text)."),
    include_rated: bool = typer.Option(False, "--include-rated", help="Keep items the user already rated."),
    fallback: str = typer.Option("error", "--fallback", help="For a user the model does not know: error, or popular."),
    json_: bool = JSON,
) -> None:
    """The top-N items for a user, cold items included (marked)."""
    from graft.api import load

    rows = out.run(lambda: load(model).recommend(user, n=n, include_cold=not no_cold, exclude_rated=not include_rated,
                                                 unknown_user=fallback))
    if json_:
        return out.emit_json({"user": user, "items": rows})
    if rows and rows[0]["basis"] == "popular":
        out.warn(f"user {user!r} is not in the model's ratings: these are the most popular items (learned bias)")
    out.table(f"top {n} for user {user}", ["rank", "item", "title", "score", "cold"],
              [[r["rank"], r["item"], r["title"], r["score"], "cold" if r["cold"] else ""] for r in rows])


@recommend_app.command("score")
def score(
    model: Path = typer.Argument(..., help="Recommender folder."),
    user: str = typer.Option(..., "--user", "-u", help="User id."),
    item: List[str] = typer.Option(..., "--item", "-i", help="Item id; repeat for several."),
    json_: bool = JSON,
) -> None:
    """Predicted ratings of a user for the given items."""
    from graft.api import load

    def run() -> Any:
        rec = load(model)
        return rec, rec.predict([user] * len(item), item)

    rec, values = out.run(run)
    rows = [{"item": it, "title": rec.catalogue.titles[rec.catalogue.item_index[it]], "score": float(v),
             "cold": bool(rec.catalogue.cold[rec.catalogue.item_index[it]])} for it, v in zip(item, values)]
    if json_:
        return out.emit_json({"user": user, "scores": rows})
    out.table(f"predicted ratings of user {user}", ["item", "title", "score", "cold"],
              [[r["item"], r["title"], r["score"], "cold" if r["cold"] else ""] for r in rows])


@recommend_app.command("add-items")
def add_items(
    model: Path = typer.Argument(..., help="Recommender folder."),
    items: Path = typer.Argument(..., help="Table of new items (same columns as the training item table unless given)."),
    out_dir: Optional[Path] = typer.Option(None, "--out", help="Write the model with the new items here (default: "
                                                               "update MODEL in place, atomically)."),
    item_id_column: Optional[str] = ITEM_ID_COLUMN, text_column: Optional[List[str]] = TEXT_COLUMNS,
    genre_column: Optional[str] = GENRE_COLUMN, genre_sep: Optional[str] = GENRE_SEP,
    overwrite: bool = OVERWRITE, allow_download: bool = DOWNLOAD, json_: bool = JSON,
) -> None:
    """Add new items without retraining: each is scored from its text (and genres) through the model's map."""
    from graft.recommend.fit import add_items as add

    def run() -> Any:
        from graft._config import from_dict
        from graft.recommend import ItemText, Recommender

        rec = Recommender.load(model)
        text = None
        if item_id_column or text_column or genre_column or genre_sep:
            base = from_dict(ItemText, rec.config["item_text"])
            text = ItemText(item_id_column or base.item_column, tuple(text_column or base.text_columns),
                            genre_column or base.genre_column, genre_sep or base.genre_sep)
        return rec, add(rec, items, item_text=text, out=out_dir or model, overwrite=overwrite,
                        allow_download=allow_download, progress=not json_)

    before, after = out.run(run)
    added = after.catalogue.items[len(before.catalogue.items):]
    if json_:
        return out.emit_json({"model": str(after.path), "added": added})
    out.echo(f"added {len(added)} cold item(s) to {after.path} ({len(after.catalogue.items)} items now)")
