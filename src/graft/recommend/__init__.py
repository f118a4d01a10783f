"""Recommend: a collaborative model on the warm items plus a text-embedding map for cold items.

Importing this package registers the loader of recommender folders with ``graft.models``, so
``graft.load`` opens them; torch is imported only when a model is trained.

Example:
    >>> import graft
    >>> model = graft.fit_recommender("builtin:ml-100k", backbone="minilm_l6", out="models/ml")  # doctest: +SKIP
    >>> graft.load("models/ml").recommend("42", n=5)                                            # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from graft.models.saved import register_loader


def load_recommender(path: str | Path) -> Any:
    """Open a recommender folder (``"format": "graft-recommender"``)."""
    from graft.recommend.model import Recommender

    return Recommender.load(path)


register_loader("graft-recommender", load_recommender)

_LAZY = {"fit": "graft.recommend.fit", "add_items": "graft.recommend.fit", "RecommenderConfig": "graft.recommend.config",
         "ItemText": "graft.recommend.data", "Recommender": "graft.recommend.model",
         "read_ratings_data": "graft.recommend.data"}
__all__ = ["load_recommender", *_LAZY]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'graft.recommend' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_LAZY[name]), name)
