"""A small synthetic ratings table where an item's text decides who likes it.

Two tastes: action fans rate action films high and romances low, romance fans the reverse. Each film's
title says which kind it is in different words, so the text carries the signal and the ids do not.
Twelve films are in the item table but have no ratings: the cold items.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

ACTION = ["explosion chase gun fight", "car chase bomb heist", "gun battle explosion war", "fight punch chase escape"]
ROMANCE = ["love kiss wedding heart", "romance love letter kiss", "wedding heart bride love", "kiss romance dance love"]


def films(n: int, start: int) -> list[tuple[str, str, str]]:
    """(item id, title, genre) alternating action / romance."""
    out = []
    for k in range(n):
        kind = "action" if k % 2 == 0 else "romance"
        words = (ACTION if kind == "action" else ROMANCE)[(k // 2) % 4]
        out.append((f"m{start + k}", f"{words} {k}", "Action" if kind == "action" else "Romance"))
    return out


@pytest.fixture(scope="session")
def taste_tables(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("taste")
    rng = np.random.default_rng(0)
    warm, cold = films(40, 0), films(12, 100)
    rows = []
    for u in range(60):
        fan = "action" if u % 2 == 0 else "romance"
        for item, _title, genre in warm:
            if rng.random() < 0.5:
                liked = (genre == "Action") == (fan == "action")
                rows.append((f"u{u}", item, float(np.clip(round((4.6 if liked else 1.6) + rng.normal(0, 0.4)), 1, 5))))
    ratings = pd.DataFrame(rows, columns=["userId", "movieId", "stars"])
    items = pd.DataFrame(warm + cold, columns=["movieId", "name", "kind"])
    ratings.to_csv(root / "ratings.csv", index=False)
    items.to_csv(root / "items.csv", index=False)
    new = pd.DataFrame([("n1", "explosion gun chase", "Action"), ("n2", "love kiss heart", "Romance")],
                       columns=["movieId", "name", "kind"])
    new.to_csv(root / "new.csv", index=False)
    return {"ratings": root / "ratings.csv", "items": root / "items.csv", "new": root / "new.csv",
            "cold": [c[0] for c in cold], "cold_kind": {c[0]: c[2] for c in cold}}

