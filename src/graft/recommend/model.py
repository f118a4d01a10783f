"""A trained recommender and its folder: config.json · model.safetensors · ids.json · lineage.json · README.md.

No pickle: ids and settings are JSON, arrays safetensors; config.json records the sha256 of every
other file, checked on load. Saving is atomic (a temp folder swapped into place, ``graft._files``).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from graft.errors import GraftError, UsageError
from graft.models.folder import CONFIG, checksums, read_config, read_verified, replaceable, write_folder
from graft.recommend.mapping import Mapping
from graft.recommend.mf import Factors

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

FORMAT = "graft-recommender"
FORMAT_VERSION = 1
WEIGHTS, IDS, LINEAGE, CARD = "model.safetensors", "ids.json", "lineage.json", "README.md"
NOT_A_CLASSIFIER = ("this folder holds a recommender, not a classifier: use model.recommend(user) / "
                    "model.predict(users, items), or `graft recommend top MODEL --user ID`")


@dataclass
class Catalogue:
    """The model's users and items by position, with what is known of each item."""

    users: list[str]
    items: list[str]
    titles: list[str]
    genres: list[list[str]]
    cold: np.ndarray  # bool per item: factors from the text mapping, not from ratings
    n_ratings: np.ndarray  # ratings per item in the training data
    genre_vocabulary: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.user_index = {u: i for i, u in enumerate(self.users)}
        self.item_index = {it: i for i, it in enumerate(self.items)}


class Recommender:
    """Ratings of users for items, warm items from collaborative factors, cold items from their text.

    Example:
        >>> model = graft.load("models/movies")                  # doctest: +SKIP
        >>> model.recommend("42", n=3)[0]["title"]                # doctest: +SKIP
        'Casablanca'
        >>> model.predict(["42", "42"], ["1", "50"])              # doctest: +SKIP
        array([3.71, 4.42], dtype=float32)
    """

    classes: list[str] = []  # not a classifier: graft.load's contract asks for the attribute

    def __init__(self, config: dict[str, Any], catalogue: Catalogue, factors: Factors, mapping: Mapping | None,
                 seen: tuple[np.ndarray, np.ndarray], lineage: dict[str, Any] | None = None, path: Path | None = None) -> None:
        self.config, self.catalogue, self.factors, self.mapping = config, catalogue, factors, mapping
        self.seen_users, self.seen_items = (np.asarray(a, np.int32) for a in seen)
        self.lineage, self.path = lineage or {}, path
        order = np.argsort(self.seen_users, kind="stable")  # per-user runs of rated items (CSR)
        self.seen_users, self.seen_items = self.seen_users[order], self.seen_items[order]
        self._starts = np.searchsorted(self.seen_users, np.arange(len(catalogue.users) + 1))

    # --- scoring -----------------------------------------------------------------------------------
    def predict(self, users: Sequence[Any], items: Sequence[Any]) -> np.ndarray:
        """Predicted ratings of (user, item) pairs; cold items are scored from their text.

        Raises:
            UsageError: a user or item the model does not know (its id is named).
        """
        if len(users) != len(items):
            raise UsageError(f"predict: {len(users)} users and {len(items)} items; give one user per item")
        u = np.array([self._user(x) for x in users], dtype=np.int64)
        i = np.array([self._item(x) for x in items], dtype=np.int64)
        return np.clip(self.factors.score(u, i), *self.rating_range)

    def predict_proba(self, items: Sequence[Any], **_: Any) -> np.ndarray:
        """Refused: a recommender scores (user, item) pairs, it has no classes."""
        raise UsageError(NOT_A_CLASSIFIER)

    def predict_rows(self, inputs: Sequence[Any]) -> Any:
        """Refused (``graft predict`` on this folder): see ``recommend`` / ``predict``."""
        raise UsageError(NOT_A_CLASSIFIER)

    def recommend(self, user: Any, n: int = 10, include_cold: bool = True, exclude_rated: bool = True,
                  unknown_user: str = "error") -> list[dict[str, Any]]:
        """The ``n`` items with the highest predicted rating for ``user``.

        Args:
            user: a user id of the ratings the model was trained on.
            n: how many items.
            include_cold: also rank cold items (scored from their text).
            exclude_rated: leave out the items the user already rated.
            unknown_user: ``"error"`` (default) or ``"popular"``: for a user the model does not know,
                rank items by their bias (how far above average everyone rates them) and say so in
                each row's ``basis``.

        Returns:
            Rows ``{"rank", "item", "title", "score", "cold", "basis"}``, best first.
        """
        if unknown_user not in ("error", "popular"):
            raise UsageError(f"unknown_user={unknown_user!r}; choose 'error' or 'popular'")
        if n < 1:
            raise UsageError(f"n={n}: ask for at least one item")
        known = str(user) in self.catalogue.user_index
        if not known and unknown_user == "error":
            self._user(user)  # raises, naming the user
        f = self.factors
        if known:
            u = self.catalogue.user_index[str(user)]
            scores = f.global_mean + f.user_bias[u] + f.item_bias + f.item_factors @ f.user_factors[u]
        else:
            log.info("user %r is not in the model's ratings: items ranked by popularity (their learned bias)", user)
            scores = f.global_mean + f.item_bias
        scores = np.asarray(scores, np.float64).copy()
        if not include_cold:
            scores[self.catalogue.cold] = -np.inf
        if known and exclude_rated:
            scores[self.rated_by(u)] = -np.inf
        return self._rows(scores, n, "user" if known else "popular")

    def rated_by(self, user_position: int) -> np.ndarray:
        """Item positions the user rated in the training data."""
        return self.seen_items[self._starts[user_position]: self._starts[user_position + 1]]

    @property
    def rating_range(self) -> tuple[float, float]:
        low, high = self.config["rating_range"]
        return float(low), float(high)

    def _rows(self, scores: np.ndarray, n: int, basis: str) -> list[dict[str, Any]]:
        top = np.argsort(-scores, kind="stable")[:n]
        top = top[np.isfinite(scores[top])]
        low, high = self.rating_range
        c = self.catalogue
        return [{"rank": r + 1, "item": c.items[i], "title": c.titles[i], "score": float(np.clip(scores[i], low, high)),
                 "cold": bool(c.cold[i]), "basis": basis} for r, i in enumerate(top)]

    def _user(self, user: Any) -> int:
        try:
            return self.catalogue.user_index[str(user)]
        except KeyError:
            some = ", ".join(repr(u) for u in self.catalogue.users[:3])
            raise UsageError(f"user {str(user)!r} is not in the model's ratings ({len(self.catalogue.users)} users, "
                             f"e.g. {some}); for a new user ask for popular items (unknown_user='popular', "
                             "--fallback popular)") from None

    def _item(self, item: Any) -> int:
        try:
            return self.catalogue.item_index[str(item)]
        except KeyError:
            raise UsageError(f"item {str(item)!r} is not in the model ({len(self.catalogue.items)} items); add new "
                             "items with add_items (graft recommend add-items)") from None

    # --- new items -------------------------------------------------------------------------------------
    def with_items(self, items: "pd.DataFrame", text_features: np.ndarray | None) -> "Recommender":
        """A copy with ``items`` (columns item, title, genres) added as cold items, scored through the mapping."""
        from graft.recommend.data import one_hot
        from graft.recommend.mapping import design

        if self.mapping is None:
            raise UsageError("this recommender was trained without item texts, so it cannot score new items; "
                             "train it with an item table (--items) and a text backbone")
        c = self.catalogue
        clash = [it for it in items["item"] if it in c.item_index]
        if clash:
            raise UsageError(f"item {clash[0]!r} is already in the model ({len(clash)} of the new items are); "
                             "give only new item ids")
        X = design(self.mapping.features, text_features, one_hot(list(items["genres"]), c.genre_vocabulary))
        q, b = self.mapping.predict(X)
        f = self.factors
        factors = Factors(f.global_mean, f.user_factors, f.user_bias, np.concatenate([f.item_factors, q]),
                          np.concatenate([f.item_bias, b]), f.history, f.best_epoch, f.val_rmse)
        catalogue = Catalogue(c.users, c.items + list(items["item"]), c.titles + list(items["title"]),
                              c.genres + [list(g) for g in items["genres"]],
                              np.concatenate([c.cold, np.ones(len(items), bool)]),
                              np.concatenate([c.n_ratings, np.zeros(len(items), np.int32)]), c.genre_vocabulary)
        lineage = dict(self.lineage)
        lineage["added_items"] = list(self.lineage.get("added_items") or []) + [{"n": len(items)}]
        return Recommender(self.config, catalogue, factors, self.mapping, (self.seen_users, self.seen_items), lineage)

    # --- persistence -------------------------------------------------------------------------------
    def save(self, directory: str | Path, overwrite: bool = False) -> Path:
        """Write the model folder atomically; an earlier model there is replaced only with ``overwrite``."""
        target = Path(directory)
        same = self.path is not None and target.resolve() == Path(self.path).resolve()
        # rewriting the folder it was loaded from needs no flag
        write_folder(target, self._write, replaceable(target, overwrite or same, {WEIGHTS, IDS, LINEAGE, CARD}))
        self.path = target
        return target

    def _write(self, folder: Path) -> None:
        from safetensors.numpy import save_file

        from graft._config import write_json
        from graft._files import respect_umask
        from graft.recommend.card import render_card

        save_file({k: np.ascontiguousarray(v) for k, v in self._tensors().items()}, str(folder / WEIGHTS),
                  metadata={"format": FORMAT})
        respect_umask(folder / WEIGHTS)
        c = self.catalogue
        write_json(folder / IDS, {"users": c.users, "items": c.items, "titles": c.titles, "genres": c.genres,
                                  "genre_vocabulary": c.genre_vocabulary})
        write_json(folder / LINEAGE, self.lineage)
        (folder / CARD).write_text(render_card(self), encoding="utf-8")
        config = dict(self.config)
        config["mapping"] = ({"features": self.mapping.features, "alpha": self.mapping.alpha, "search": self.mapping.search}
                             if self.mapping else None)
        config["files"] = checksums(folder)
        write_json(folder / CONFIG, config)

    def _tensors(self) -> dict[str, np.ndarray]:
        f, c = self.factors, self.catalogue
        tensors = {"user_factors": f.user_factors, "user_bias": f.user_bias, "item_factors": f.item_factors,
                   "item_bias": f.item_bias, "global_mean": np.array([f.global_mean], np.float32),
                   "item_cold": c.cold.astype(np.uint8), "item_ratings": c.n_ratings.astype(np.int32),
                   "seen_users": self.seen_users, "seen_items": self.seen_items}
        return tensors | (self.mapping.to_tensors() if self.mapping else {})

    @classmethod
    def load(cls, directory: str | Path) -> "Recommender":
        """Open a recommender folder (JSON + safetensors, checksums verified)."""
        from safetensors.numpy import load

        path = Path(directory)
        config = read_config(path)
        if config.get("format") != FORMAT or config.get("format_version") != FORMAT_VERSION:
            raise GraftError(f"{path / CONFIG}: format {config.get('format')!r} version {config.get('format_version')!r} "
                             f"is not a {FORMAT} v{FORMAT_VERSION} folder this graft reads; upgrade graft or train again")
        try:
            t = load(read_verified(path, WEIGHTS, config.get("files") or {}))
            ids = json.loads(read_verified(path, IDS, config.get("files") or {}))
            factors = Factors(float(t["global_mean"][0]), t["user_factors"], t["user_bias"], t["item_factors"], t["item_bias"])
            catalogue = Catalogue(ids["users"], ids["items"], ids["titles"], ids["genres"], t["item_cold"].astype(bool),
                                  t["item_ratings"], ids.get("genre_vocabulary") or [])
            mapping = Mapping.from_tensors(t, config["mapping"]) if config.get("mapping") else None
        except GraftError:
            raise
        except Exception as exc:  # SafetensorError, missing keys, a damaged ids.json
            raise GraftError(f"{path}: cannot read the recommender ({type(exc).__name__}: {exc}); the folder is "
                             "damaged or incomplete; train and save it again") from exc
        _check_shapes(path, factors, catalogue)
        lineage = json.loads((path / LINEAGE).read_text(encoding="utf-8")) if (path / LINEAGE).is_file() else {}
        return cls(config, catalogue, factors, mapping, (t["seen_users"], t["seen_items"]), lineage, path)


def _check_shapes(path: Path, f: Factors, c: Catalogue) -> None:
    n_u, n_i = len(c.users), len(c.items)
    if f.user_factors.shape[0] != n_u or f.item_factors.shape[0] != n_i or len(c.cold) != n_i:
        raise GraftError(f"{path}: {IDS} lists {n_u} users and {n_i} items but {WEIGHTS} holds "
                         f"{f.user_factors.shape[0]} and {f.item_factors.shape[0]}; the folder is inconsistent")
