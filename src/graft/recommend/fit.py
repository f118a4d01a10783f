"""Train a recommender: collaborative factors on the warm items, then the text map for the cold ones.

Warm items are those with at least ``min_item_ratings`` ratings; items of the item table with fewer
(none, for a brand-new item) are cold: their factors and bias come from their text and genres.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from graft.errors import DataError, UsageError
from graft.recommend.config import RecommenderConfig
from graft.recommend.data import ItemText, RatingsData, genre_vocabulary, one_hot, read_ratings_data
from graft.recommend.mapping import design, fit_mapping
from graft.recommend.mf import EpochCallback, Factors, rmse, train_factors
from graft.recommend.model import FORMAT, FORMAT_VERSION, Catalogue, Recommender

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

DEFAULT_BACKBONE = "minilm_l6"


@dataclass
class Collaborative:
    """Factors of the warm items, with the ratings (as positions) they were learnt from."""

    users: list[str]
    items: list[str]
    factors: Factors
    triples: tuple[np.ndarray, np.ndarray, np.ndarray]  # user position, item position, rating
    seen_users: np.ndarray  # user position of every rating, cold items' included (for already-rated exclusion)
    seen_item_ids: list[str]  # the item id of each of those ratings


def fit(ratings: "str | Path | pd.DataFrame", items: "str | Path | pd.DataFrame | None" = None,
        backbone: str | None = DEFAULT_BACKBONE, *, config: RecommenderConfig | None = None,
        user_column: str = "user", item_column: str = "item", rating_column: str = "rating",
        item_text: ItemText | None = None, out: str | Path | None = None, overwrite: bool = False,
        allow_download: bool = False, progress: bool = False, on_epoch: EpochCallback | None = None) -> Recommender:
    """Train a recommender that also ranks cold items (no ratings yet) from their text.

    Args:
        ratings: ``"builtin:ml-100k"`` (read in place from the recbole package), a table file or a DataFrame
            with user, item and rating columns (named by ``*_column``).
        items: the item table (ids, text columns, optional genres; see ``ItemText``), or None for a
            collaborative model alone. The built-in data brings its own.
        backbone: text backbone that embeds each item's text (``graft models``); unused for
            ``features="genre"``/``"none"``.
        config: factorisation and mapping settings.
        out: folder to save the model to (refused before any work when it would be refused at the end).
        on_epoch: called with each epoch's ``{"epoch", "train_rmse", "val_rmse", "best"}``.

    Example:
        >>> model = graft.fit_recommender("builtin:ml-100k", backbone="minilm_l6", out="models/ml")  # doctest: +SKIP
        >>> [r["title"] for r in model.recommend("42", n=2)]                                        # doctest: +SKIP
        ['Schindler's List', 'Casablanca']
    """
    from graft.models.saved import check_target

    config = config or RecommenderConfig()
    if out is not None:
        check_target(out, overwrite)
    data = read_ratings_data(ratings, items, user_column=user_column, item_column=item_column,
                             rating_column=rating_column, item_text=item_text)
    backbone = _check_backbone(backbone, config, data)
    collab = fit_collaborative(data, config, on_epoch)
    text = embed_texts(list(data.items["text"]), backbone, allow_download, progress) if backbone else None
    model = build(data, collab, text, config, backbone)
    if out is not None:
        model.save(out, overwrite=overwrite)
    return model


def _check_backbone(backbone: str | None, config: RecommenderConfig, data: RatingsData) -> str | None:
    """The text backbone the mapping needs (None when it reads no text), checked before training."""
    if data.items is None or "text" not in config.features:
        return None
    if not backbone:
        raise UsageError(f"features={config.features!r} embeds the item texts: name a text backbone (e.g. minilm_l6)")
    from graft.backbones import get_spec, is_registered

    if is_registered(backbone) and get_spec(backbone).modality != "text":
        raise UsageError(f"backbone {backbone!r} is a {get_spec(backbone).modality} backbone; item texts need a text "
                         "backbone (`graft models` lists them: e.g. minilm_l6)")
    return backbone


def fit_collaborative(data: RatingsData, config: RecommenderConfig, on_epoch: EpochCallback | None = None) -> Collaborative:
    """Biased MF on the ratings of the warm items (``min_item_ratings`` or more ratings, or no item table)."""
    r = data.ratings
    counts = r["item"].value_counts()
    listed = set(data.items["item"]) if data.items is not None else set()
    cold = {it for it, n in counts.items() if n < config.min_item_ratings and it in listed}
    warm_rows = ~r["item"].isin(cold).to_numpy()
    if not warm_rows.any():
        raise DataError(f"{data.source.get('ratings')}: no item has {config.min_item_ratings} or more ratings; "
                        "lower min_item_ratings")
    users, u = np.unique(r["user"].to_numpy(str), return_inverse=True)
    items, i = np.unique(r["item"].to_numpy(str)[warm_rows], return_inverse=True)
    ratings = r["rating"].to_numpy(np.float32)[warm_rows]
    factors = train_factors(u[warm_rows], i, ratings, len(users), len(items), config, on_epoch)
    return Collaborative(list(users), list(items), factors, (u[warm_rows], i, ratings),
                         u, list(r["item"].to_numpy(str)))


def embed_texts(texts: Sequence[str], backbone: str, allow_download: bool = False, progress: bool = False) -> np.ndarray:
    """Item texts through the backbone and graft's feature cache (``graft.features``)."""
    from graft.features.extract import embed_items

    return embed_items(list(texts), backbone, allow_download=allow_download, progress=progress)


def build(data: RatingsData, collab: Collaborative, text: np.ndarray | None, config: RecommenderConfig,
          backbone: str | None) -> Recommender:
    """The recommender: warm items from ``collab``, cold items of ``data.items`` through a mapping
    learnt from the warm items' ``text`` embeddings (rows in ``data.items`` order) and genres."""
    items = data.items
    warm_index = {it: k for k, it in enumerate(collab.items)}
    cold_ids = [it for it in items["item"] if it not in warm_index] if items is not None else []
    all_items = collab.items + cold_ids
    f = collab.factors
    mapping, q_cold, b_cold = None, np.zeros((0, f.item_factors.shape[1]), np.float32), np.zeros(0, np.float32)
    vocabulary = genre_vocabulary(items) if items is not None else []
    if items is not None:
        X = design(config.features, text, one_hot(list(items["genres"]), vocabulary))
        row_of = {it: k for k, it in enumerate(items["item"])}
        mapping = _fit_map(collab, X, row_of, config)
        if cold_ids:
            q_cold, b_cold = mapping.predict(X[[row_of[it] for it in cold_ids]])
    factors = Factors(f.global_mean, f.user_factors, f.user_bias, np.concatenate([f.item_factors, q_cold]),
                      np.concatenate([f.item_bias, b_cold]), f.history, f.best_epoch, f.val_rmse)
    catalogue = _catalogue(collab, items, all_items, len(cold_ids), vocabulary)
    index = catalogue.item_index
    seen = (collab.seen_users, np.array([index[it] for it in collab.seen_item_ids], np.int32))
    settings = _model_config(data, config, backbone)
    lineage = _lineage(data, config, backbone, collab, mapping, len(cold_ids))
    return Recommender(settings, catalogue, factors, mapping, seen, lineage)


def _fit_map(collab: Collaborative, X: np.ndarray, row_of: dict[str, int], config: RecommenderConfig) -> Any:
    """Ridge from item features to [factors, bias], over the warm items that have a text."""
    f = collab.factors
    mapped = np.array([k for k, it in enumerate(collab.items) if it in row_of], dtype=np.int64)
    if len(mapped) < 2:
        raise DataError("fewer than 2 rated items appear in the item table, so nothing maps text to taste; "
                        "check that the item table's ids (--item-id-column) match the ratings' item ids")
    counts = np.bincount(collab.triples[1], minlength=len(collab.items))
    targets = np.column_stack([f.item_factors[mapped], f.item_bias[mapped]])
    features = X[[row_of[collab.items[k]] for k in mapped]]
    u, i, r = collab.triples
    by_item = np.argsort(i, kind="stable")
    starts = np.searchsorted(i[by_item], np.arange(len(collab.items) + 1))

    def heldout_rmse(pred: np.ndarray, rows: np.ndarray) -> float:
        # the rating error of the held-out warm items' own ratings, scored with predicted factors
        parts = [(by_item[starts[mapped[k]]: starts[mapped[k] + 1]], p) for k, p in zip(rows, pred)]
        pos = np.concatenate([idx for idx, _ in parts])
        q = np.concatenate([np.repeat(p[None, :-1], len(idx), 0) for idx, p in parts])
        b = np.concatenate([np.full(len(idx), p[-1]) for idx, p in parts])
        guess = f.global_mean + f.user_bias[u[pos]] + b + np.einsum("nk,nk->n", f.user_factors[u[pos]], q)
        return rmse(guess, r[pos])

    return fit_mapping(config.features, features, targets, np.log1p(counts[mapped]).astype(np.float64),
                       config.alphas, config.mapping_holdout, config.seed, heldout_rmse)


def _catalogue(collab: Collaborative, items: "pd.DataFrame | None", all_items: list[str], n_cold: int,
               vocabulary: list[str]) -> Catalogue:
    info = {} if items is None else {it: (t, g) for it, t, g in zip(items["item"], items["title"], items["genres"])}
    counts = {}
    for it in collab.seen_item_ids:
        counts[it] = counts.get(it, 0) + 1
    return Catalogue(list(collab.users), all_items, [info.get(it, ("", []))[0] for it in all_items],
                     [list(info.get(it, ("", []))[1]) for it in all_items],
                     np.array([False] * (len(all_items) - n_cold) + [True] * n_cold),
                     np.array([counts.get(it, 0) for it in all_items], np.int32), vocabulary)


def _model_config(data: RatingsData, config: RecommenderConfig, backbone: str | None) -> dict[str, Any]:
    from graft._config import to_dict

    r = data.ratings["rating"]
    return {"format": FORMAT, "format_version": FORMAT_VERSION, "method": "recommend:biased-mf+ridge-text-map",
            "settings": to_dict(config), "backbone": _backbone_record(backbone), "item_text": to_dict(data.item_text),
            "rating_range": [float(r.min()), float(r.max())]}


def _backbone_record(backbone: str | None) -> dict[str, Any] | None:
    if backbone is None:
        return None
    from graft.backbones import get_spec, is_registered
    from graft.backbones.registry import weights_identity

    spec = get_spec(backbone) if is_registered(backbone) else None
    return {"name": backbone, "weights_sha256": weights_identity(backbone),
            "license": spec.license if spec else "see the weights' source", "modality": "text"}


def _lineage(data: RatingsData, config: RecommenderConfig, backbone: str | None, collab: Collaborative,
             mapping: Any, n_cold: int) -> dict[str, Any]:
    """lineage.json: the text backbone (weights hash, licence), the ratings data (fingerprint, licence), metrics."""
    import datetime as dt
    import sys

    from graft._config import to_dict
    from graft.models.lineage import package_versions

    ref = _backbone_record(backbone)
    parent = {"kind": "zoo" if ref else "random", "backbone": backbone, "relation": "finetune"} | (ref or {})
    source = data.source
    f = collab.factors
    metrics = {"val": {"rmse": f.val_rmse, "n": int(round(len(collab.triples[2]) * config.val_fraction))},
               "best_epoch": f.best_epoch}
    if mapping is not None:
        metrics["mapping"] = {"alpha": mapping.alpha, "search": mapping.search}
    dataset = {"source": source.get("name") or source.get("ratings"), "ratings": source.get("ratings"),
               "items": source.get("items"), "fingerprint": source.get("fingerprint"),
               "splits": {"ratings": len(data.ratings), "users": len(collab.users), "warm_items": len(collab.items),
                          "cold_items": n_cold},
               "license": source.get("license"), "license_from": source.get("license_from")}
    return {"parent": parent, "dataset": dataset, "method": "recommend:biased-mf+ridge-text-map",
            "settings": to_dict(config) | {"item_text": to_dict(data.item_text)}, "metrics": metrics,
            "history": f.history, "weights_license": (ref or {}).get("license"),
            "command": " ".join(sys.argv) if sys.argv and sys.argv[0].endswith("graft") else None,
            "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "versions": package_versions()}


def add_items(model: "str | Path | Recommender", items: "str | Path | pd.DataFrame", *, item_text: ItemText | None = None,
              out: str | Path | None = None, overwrite: bool = False, allow_download: bool = False,
              progress: bool = False) -> Recommender:
    """Add new (cold) items to a trained recommender without retraining: each is scored from its text.

    The item table is read with the model's own column settings unless ``item_text`` is given. The
    text backbone must still have the weights the model was trained with (sha256 checked). Saved to
    ``out`` (``overwrite`` needed unless it is the folder the model came from) when given.
    """
    from graft._config import from_dict
    from graft.errors import WeightsError
    from graft.recommend.data import read_items

    rec = Recommender.load(model) if isinstance(model, (str, Path)) else model
    text = item_text or from_dict(ItemText, rec.config["item_text"])
    table = read_items(items, text)
    features = rec.mapping.features if rec.mapping else "none"
    embedded = None
    if "text" in features:
        ref = rec.config["backbone"]
        now = _backbone_record(ref["name"])["weights_sha256"]
        if now != ref["weights_sha256"]:
            raise WeightsError(f"backbone {ref['name']!r} now has weights {now[:16]}…, the model was trained with "
                               f"{ref['weights_sha256'][:16]}…: its text map would be wrong; reinstall those weights "
                               "or train the recommender again")
        embedded = embed_texts(list(table["text"]), ref["name"], allow_download, progress)
    new = rec.with_items(table, embedded)
    if out is not None:
        same = rec.path is not None and Path(out).resolve() == Path(rec.path).resolve()
        new.path = rec.path if same else None
        new.save(out, overwrite=overwrite)
    return new
