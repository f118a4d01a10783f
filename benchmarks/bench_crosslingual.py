"""Cross-lingual transfer on fortunes by topic: train on English, predict Russian or Spanish.

Data: the built-in `fortunes_lang` (Debian fortunes / fortunes-ru / fortunes-es), `--per-class`
quotes per topic and language. Tasks: English → Russian (5 topics: computers, education, love,
politics, work) and English → Spanish (3 topics: computers, politics, science); the English side is
restricted to the target's topics (`en-XX-topics.csv`).

Per encoder (`usem3`, `multilingual_e5_small`, and the English-only `minilm_l6` as the "ignore the
language" baseline) and per repeat (seed r): the target rows are split 50/50 (stratified) into a
labelled pool and a test half; n = min(#English, #pool) labels are drawn from each side, and three
heads (graft's logistic-regression head, `graft.adapt` C=1, standardised) are scored on the test half:

- source-only: trained on n English labels (`graft.adapt` method `source-only`);
- adapted: the same English labels + the unlabelled target pool, through `graft.adapt.fit_adapter`
  with each of `--methods` (default: coral, sa, self-train; `auto` is ~6x slower, add it when time
  allows; importance weighting is left out: English and Russian texts share no support to re-weight);
- oracle: trained on n target-language labels (the pool).

Features go through graft's FeatureStore in this benchmark's own cache (`--cache`), so a re-run
embeds nothing. 95 % t-intervals over the repeats; majority = the test half's largest class.

Run: nice .venv/bin/python benchmarks/bench_crosslingual.py [--repeats 5] [--per-class 300]
     [--encoders usem3,multilingual_e5_small,minilm_l6] [--targets ru,es] [--methods coral,sa,self-train]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _common import workspace  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--encoders", default="usem3,multilingual_e5_small,minilm_l6")
    parser.add_argument("--targets", default="ru,es")
    parser.add_argument("--methods", default="coral,sa,self-train",
                        help="graft.adapt methods (auto is ~6x slower than the others: add it when time allows)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--blas-threads", type=int, default=1,
                        help="BLAS threads of the heads (1: small L-BFGS problems run faster on a busy host)")
    parser.add_argument("--per-class", type=int, default=300, help="quotes per topic and language")
    parser.add_argument("--cache", type=Path, default=None, help="feature cache (default: a benchmark workspace)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    return parser.parse_args(argv)


def load(root: Path, name: str) -> tuple[list[str], np.ndarray, list[str]]:
    import pandas as pd

    table = pd.read_csv(root / name, keep_default_na=False)
    classes = sorted(table["label"].unique())
    return table["text"].tolist(), np.array([classes.index(c) for c in table["label"]]), classes


def embed(texts: list[str], encoder: str, store) -> np.ndarray:
    from graft.features.extract import embed_items

    start = time.perf_counter()
    x = embed_items(texts, encoder, store=store, progress=False)
    print(f"  {encoder}: {len(texts)} texts embedded / read from cache in {time.perf_counter() - start:.1f} s",
          flush=True)
    return x.astype(np.float64)


def stratified_take(y: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` indices of ``y`` with class shares as in ``y`` (a stratified random subsample)."""
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(y))
    if n >= len(y):
        return idx
    taken, _ = train_test_split(idx, train_size=n, stratify=y, random_state=int(rng.integers(1 << 31)))
    return np.sort(taken)


def one_repeat(xs, ys, xt, yt, methods: list[str], seed: int) -> dict[str, float]:
    from sklearn.model_selection import train_test_split

    from graft.adapt.driver import AdaptConfig, fit_adapter

    rng = np.random.default_rng(seed)
    pool, test = train_test_split(np.arange(len(yt)), test_size=0.5, stratify=yt, random_state=seed)
    n = min(len(ys), len(pool))
    src = stratified_take(ys, n, rng)
    lab = pool[stratified_take(yt[pool], n, rng)]
    out: dict = {"n_labels": float(n), "majority": float(np.bincount(yt[test]).max() / len(test))}

    def score(method: str, X, y, unlabelled) -> float:
        estimator, info = fit_adapter(AdaptConfig(method=method, seed=seed), X, y, unlabelled)
        if method == "auto":
            out["auto_chose"] = info["chosen"]  # what the label-free selection picked
        return float(np.mean(estimator.predict(xt[test]) == yt[test]))

    out["source-only"] = score("source-only", xs[src], ys[src], xt[pool])
    for method in methods:
        out[method] = score(method, xs[src], ys[src], xt[pool])
    out["oracle"] = score("source-only", xt[lab], yt[lab], xt[pool])
    return out


def interval(values: list[float]) -> tuple[float, float]:
    from graft.verify.stats import t_interval

    iv = t_interval(values, 0.95)
    return iv.mean, (iv.high - iv.low) / 2


def main(argv: list[str] | None = None) -> dict:
    from threadpoolctl import threadpool_limits

    from graft.data import make_dataset
    from graft.features.store import FeatureStore

    args = parse_args(argv)
    encoders, targets = args.encoders.split(","), args.targets.split(",")
    methods = [m for m in args.methods.split(",") if m]
    work = workspace("crosslingual")
    store = FeatureStore(args.cache or work / "cache")
    data = make_dataset("fortunes_lang", work / f"fortunes_lang-{args.per_class}", per_class=args.per_class,
                        languages=["en", *targets], overwrite=True)
    results: dict = {"per_class": args.per_class, "repeats": args.repeats, "methods": methods, "rows": []}
    for encoder in encoders:
        print(f"\n== {encoder}", flush=True)
        for target in targets:
            s_text, ys, s_classes = load(data, f"en-{target}-topics.csv")
            t_text, yt, t_classes = load(data, f"{target}.csv")
            assert s_classes == t_classes, (s_classes, t_classes)
            xs, xt = embed(s_text, encoder, store), embed(t_text, encoder, store)
            start = time.perf_counter()
            with threadpool_limits(limits=args.blas_threads, user_api="blas"):
                runs = [one_repeat(xs, ys, xt, yt, methods, seed) for seed in range(args.repeats)]
            row = {"encoder": encoder, "task": f"en→{target}", "topics": t_classes, "n_source": len(ys),
                   "n_target": len(yt), "n_labels": int(runs[0]["n_labels"]), "seconds": time.perf_counter() - start}
            for key in ["majority", "source-only", *methods, "oracle"]:
                row[key] = interval([r[key] for r in runs])
            if "auto" in methods:
                row["auto_chose"] = [r["auto_chose"] for r in runs]
            results["rows"].append(row)
            print_row(row, methods)
    print_table(results["rows"], methods, args)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return results


def fmt(pair: tuple[float, float]) -> str:
    return f"{pair[0]:.3f}±{pair[1]:.3f}"


def print_row(row: dict, methods: list[str]) -> None:
    cells = ", ".join(f"{k} {fmt(row[k])}" for k in ["source-only", *methods, "oracle"])
    print(f"  {row['task']} ({len(row['topics'])} topics, n={row['n_labels']} labels per side): {cells} "
          f"[{row['seconds']:.0f} s]" + (f"; auto chose {row['auto_chose']}" if "auto_chose" in row else ""), flush=True)


def print_table(rows: list[dict], methods: list[str], args: argparse.Namespace) -> None:
    cols = ["majority", "source-only", *methods, "oracle"]
    print(f"\nTarget-language test accuracy, mean ± 95 % half-width over {args.repeats} splits "
          f"(per-class {args.per_class}); 'gap closed' = share of the oracle's lead over source-only that the "
          "best adapter closes (best picked on these test scores: optimistic); 'vs minilm' = source-only ratio to "
          "minilm_l6's")
    print("| encoder | task | " + " | ".join(cols) + " | gap closed | vs minilm |")
    print("|---|---|" + "---|" * (len(cols) + 2))
    base = {r["task"]: r["source-only"][0] for r in rows if r["encoder"] == "minilm_l6"}
    for r in rows:
        best = max(r[m][0] for m in methods) if methods else r["source-only"][0]
        lead = r["oracle"][0] - r["source-only"][0]
        gap = f"{(best - r['source-only'][0]) / lead:+.2f}" if abs(lead) > 1e-9 else "n/a"
        ratio = f"{r['source-only'][0] / base[r['task']]:.2f}x" if r["task"] in base else "n/a"
        print(f"| {r['encoder']} | {r['task']} | " + " | ".join(fmt(r[c]) for c in cols) + f" | {gap} | {ratio} |")


if __name__ == "__main__":
    main()
