"""Table-to-table transfer on real pairs: every method vs target-only and source-only, auto's pick, and a
constructed negative-transfer case.

Pairs (built-in, real data): ``diamonds`` (price, regression: cuts other than Fair → Fair) and ``adult``
(income, classification: born in the US → elsewhere). For each pair and each number of labelled
target rows (``--sizes``), ``--repeats`` times: draw that many labelled target rows at random, fit
every method on the source + those rows, and score it on the *other* target rows (held out, never
seen); run ``transfer_table(method="auto")`` on the same rows and score the model it keeps. Scores
are R² (regression) or accuracy, shown as mean ± 95 % t-interval half-width over the repeats, with
the gain over target-only measured in the same run, and seconds per fit.

Negative case: the diamonds source with its price relation inverted (price → max + min − price).
``method="pooled"`` (naive transfer) and ``auto`` are run on it; the verdict must say negative
transfer for pooled and the saved model must be target-only.

    nice python benchmarks/bench_table_transfer.py --repeats 5 --sizes 50,100,300
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", default="diamonds,adult", help="comma-separated: diamonds, adult")
    parser.add_argument("--sizes", default="50,100,300", help="labelled target rows, comma-separated")
    parser.add_argument("--repeats", type=int, default=5, help="random draws of the labelled target rows per size")
    parser.add_argument("--source-rows", type=int, default=5000, help="random subsample of the source (0: all)")
    parser.add_argument("--n-estimators", type=int, default=200, help="trees of the LightGBM learner")
    parser.add_argument("--folds", type=int, default=5, help="auto: cross-validation folds over the labelled rows")
    parser.add_argument("--cv-repeats", type=int, default=1, help="auto: repeats of those folds")
    parser.add_argument("--methods", default=None, help="comma-separated methods (default: every one for the task)")
    parser.add_argument("--skip-negative", action="store_true", help="leave out the constructed negative case")
    parser.add_argument("--json", type=Path, default=None, help="also write every measurement here")
    return parser.parse_args()


def load_pair(name: str) -> tuple[Any, Any, str]:
    """(source frame, target pool frame, label) of a built-in pair, read as graft datasets make writes it
    (into this run's own temp folder)."""
    from graft.data import make_dataset

    root = make_dataset(name, Path(os.environ["GRAFT_BENCH_TMP"]) / "pairs" / name, per_class=6)
    import pandas as pd

    source = pd.read_csv(root / "source.csv")
    pool = pd.concat([pd.read_csv(root / "target.csv"), pd.read_csv(root / "target_test.csv")], ignore_index=True)
    return source, pool, {"diamonds": "price", "adult": "income"}[name]


def held_out_score(task: str, model: Any, test: Any, label: str) -> float:
    from graft.tabular.evaluate import score

    if task == "regression":
        return score(task, test[label].to_numpy(dtype=float), model.predict(test))["score"]
    return float(np.mean(model.predict(test) == test[label].astype(str).to_numpy()))


def one_draw(source: Any, pool: Any, label: str, n: int, seed: int, methods: list[str] | None,
             args: argparse.Namespace) -> dict[str, Any]:
    """Every method and auto on one draw of ``n`` labelled target rows; scores on the rest of the pool."""
    from graft.tabular import fit_table, list_methods, transfer_table
    from graft.tabular.frames import infer_task
    from graft.tabular.learners import LearnerConfig

    order = np.random.default_rng(seed).permutation(len(pool))
    labelled, test = pool.iloc[order[:n]].reset_index(drop=True), pool.iloc[order[n:]].reset_index(drop=True)
    task = infer_task(pool[label], label)[0]
    learner = LearnerConfig(n_estimators=args.n_estimators, seed=seed)
    rows = args.source_rows or None
    out: dict[str, Any] = {"scores": {}, "seconds": {}}
    for method in methods or list_methods(task):
        if method not in list_methods(task):
            continue
        start = time.perf_counter()
        model = fit_table(source, labelled, label, method, learner=learner, max_source_rows=rows, seed=seed)
        out["seconds"][method] = time.perf_counter() - start
        out["scores"][method] = held_out_score(task, model, test, label)
    start = time.perf_counter()
    result = transfer_table(source, labelled, label, learner=learner, max_source_rows=rows, seed=seed,
                            folds=args.folds, repeats=args.cv_repeats,
                            candidates=[m for m in (methods or []) if m in list_methods(task)] or None)
    out["seconds"]["auto"] = time.perf_counter() - start
    out["scores"]["auto"] = held_out_score(task, result.model, test, label)
    out["auto_pick"], out["auto_kept"], out["auto_verdict"] = result.chosen, result.kept, result.verdict["verdict"]
    out["task"] = task
    return out


def interval(values: list[float]) -> tuple[float, float]:
    from graft.verify.stats import t_interval

    iv = t_interval(values)
    return iv.mean, iv.half_width


def report_pair(name: str, draws: dict[int, list[dict[str, Any]]]) -> None:
    sizes = sorted(draws)
    task = draws[sizes[0]][0]["task"]
    metric = "R²" if task == "regression" else "accuracy"
    methods = list(draws[sizes[0]][0]["scores"])
    print(f"\n== {name}: held-out target {metric}, mean ± 95% half-width over {len(draws[sizes[0]])} draws ==")
    print(f"{'method':<19}" + "".join(f"{'n=' + str(n):>34}" for n in sizes))
    for method in methods:
        cells = []
        for n in sizes:
            scores = [d["scores"][method] for d in draws[n]]
            gains = [d["scores"][method] - d["scores"]["target_only"] for d in draws[n]]
            mean, half = interval(scores)
            gmean, ghalf = interval(gains)
            secs = np.mean([d["seconds"][method] for d in draws[n]])
            cells.append(f"{mean:7.4f}±{half:.4f} Δ{gmean:+.3f}±{ghalf:.3f} {secs:5.1f}s")
        print(f"{method:<19}" + "".join(f"{c:>34}" for c in cells))
    for n in sizes:
        picks = defaultdict(int)
        for d in draws[n]:
            picks[d["auto_pick"] + ("→target_only" if d["auto_kept"] != d["auto_pick"] else "")] += 1
        verdicts = defaultdict(int)
        for d in draws[n]:
            verdicts[d["auto_verdict"]] += 1
        to = interval([d["scores"]["target_only"] for d in draws[n]])[0]
        so = interval([d["scores"]["source_only"] for d in draws[n]])[0]
        au = interval([d["scores"]["auto"] for d in draws[n]])[0]
        print(f"n={n}: auto picked {dict(picks)}; verdicts {dict(verdicts)}; auto {au:.4f} vs target_only {to:.4f} "
              f"(x{au / to:.2f}) vs source_only {so:.4f}")


def negative_case(args: argparse.Namespace) -> dict[str, Any]:
    """The diamonds source with its price relation inverted: pooled must be judged negative transfer."""
    from graft.tabular import transfer_table
    from graft.tabular.learners import LearnerConfig

    source, pool, label = load_pair("diamonds")
    inverted = source.copy()
    inverted[label] = inverted[label].max() + inverted[label].min() - inverted[label]
    labelled = pool.sample(n=100, random_state=0).reset_index(drop=True)
    learner = LearnerConfig(n_estimators=args.n_estimators)
    out: dict[str, Any] = {}
    print("\n== negative case: diamonds source with price inverted, 100 labelled Fair rows ==")
    for method in ("pooled", "auto"):
        with tempfile.TemporaryDirectory() as tmp:
            result = transfer_table(inverted, labelled, label, method, out=Path(tmp) / "m", learner=learner,
                                    max_source_rows=args.source_rows or None, folds=args.folds, repeats=2)
            import graft

            saved = graft.load(Path(tmp) / "m").config["method"]
        out[method] = {"verdict": result.verdict, "chosen": result.chosen, "kept": result.kept, "saved": saved,
                       "table": result.table}
        print(f"method={method}: chose {result.chosen}, saved {saved}; verdict {result.verdict['verdict']}: "
              f"{result.verdict['summary']}")
        for r in result.table:
            print(f"   {r['method']:<18} {r['score']:8.4f} ± {r['half_width']:.4f}   vs target_only: {r['vs_target_only']}")
    return out


def main() -> None:
    args = parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-table-") as cache:
        os.environ["GRAFT_BENCH_TMP"] = cache
        sizes = [int(s) for s in args.sizes.split(",")]
        methods = args.methods.split(",") if args.methods else None
        record: dict[str, Any] = {"args": {k: str(v) for k, v in vars(args).items()}, "pairs": {}}
        start = time.perf_counter()
        for name in args.pairs.split(","):
            source, pool, label = load_pair(name)
            draws = {n: [] for n in sizes}
            for n in sizes:
                for seed in range(args.repeats):
                    draws[n].append(one_draw(source, pool, label, n, seed, methods, args))
                    print(f"[{time.perf_counter() - start:6.0f}s] {name} n={n} draw {seed + 1}/{args.repeats}: auto "
                          f"picked {draws[n][-1]['auto_pick']}", flush=True)
            report_pair(name, draws)
            record["pairs"][name] = {str(n): d for n, d in draws.items()}
        if not args.skip_negative:
            record["negative"] = negative_case(args)
        print(f"\ntotal {time.perf_counter() - start:.0f} s")
        if args.json:
            args.json.write_text(json.dumps(record, indent=1, default=str))


if __name__ == "__main__":
    main()
