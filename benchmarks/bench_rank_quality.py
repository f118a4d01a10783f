"""Ranking quality: does each transferability score order the zoo as the accuracy actually reached does?

For every target task, every candidate backbone is (a) scored by ``rank_backbones`` on the labelled
training split and (b) trained for real: the test accuracy of the linear probe, and of the model
``graft fit`` returns. The weighted Kendall tau (hyperbolic weights, as in the LogME paper) between
each score and each accuracy is printed as a table score x task; parameter count is ranked as a
baseline ("bigger is better"). A score that ties every model (the plain H-score is C - 1 whenever
the sample has fewer items than feature dimensions) shows n/a.

- vision: the offline zoo (mobilenet_v2, efficientnet_lite0/1/2) on Fashion-MNIST, scikit-learn
  digits and font-rendered digits, with few labels (``--shots`` train + ``--val-shots`` val images
  per class; the whole test split), at ``--image-size`` px;
- text: the offline text backbones (minilm_l6, glove_6b_50d) on fortunes topics. With two models
  tau is +1 or -1: it only says whether the pair is ordered correctly.

``graft fit`` here is shortened so that 4 backbones x 3 tasks fit on a small CPU host: it tries
only the lp-ft schedule, for ``--epochs`` epochs (default 3), against the probe, and keeps the one
validation prefers (``fit(..., schedules=("lp-ft",), epochs=3)``).

Run: .venv/bin/python benchmarks/bench_rank_quality.py [--shots 10] [--image-size 64] [--epochs 3]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SCORE_ROWS = ("logme", "leep", "nce", "hscore", "regularized_hscore", "knn", "linear", "params")


def few_labels(ds, shots: int, val_shots: int, seed: int = 0):
    """``shots`` train and ``val_shots`` val items per class (seeded), every test item."""
    rng = np.random.default_rng(seed)
    keep = []
    for split, k in (("train", shots), ("val", val_shots)):
        for c in range(len(ds.classes)):
            members = np.flatnonzero((ds.splits == split) & (ds.labels == c))
            keep += rng.choice(members, size=min(k, len(members)), replace=False).tolist()
    keep += np.flatnonzero(ds.splits == "test").tolist()
    return ds.select(np.sort(np.array(keep)))


def truth(ds, backbone: str, epochs: int, image_size: int | None) -> dict:
    """Test accuracy of the probe and of (shortened) graft fit, and what fit chose."""
    from graft.train.finetune import fit

    model, report = fit(ds, backbone=backbone, image_size=image_size, schedules=("lp-ft",), epochs=epochs,
                        time_budget=1e9)
    probe = next(c for c in report["candidates"] if c["method"] == "probe")
    return {"probe": probe["test_accuracy"], "fit": model.lineage["metrics"]["test"]["accuracy"],
            "chosen": report["chosen"], "seconds": report["seconds"]}


def evaluate_task(name: str, ds, backbones: list[str], epochs: int, image_size: int | None) -> dict:
    from graft.rank import rank_backbones, weighted_kendall_tau

    start = time.perf_counter()
    ranked = rank_backbones(ds, backbones, image_size=image_size)
    rows = {r.backbone: r for r in ranked.rows}
    acc = {}
    for b in backbones:
        try:
            acc[b] = truth(ds, b, epochs, image_size)
        except Exception as exc:  # a backbone that cannot be fine-tuned still has a probe score
            print(f"  {name}: {b}: fit failed ({type(exc).__name__}: {exc}); using the probe alone")
            import graft

            p = graft.probe(ds, b, image_size=image_size).lineage["metrics"]["test"]["accuracy"]
            acc[b] = {"probe": p, "fit": float("nan"), "chosen": "probe (fit failed)", "seconds": 0.0}
    print(f"\n{name}: {len(ds.train)} train / {len(ds.val)} val / {len(ds.test)} test, "
          f"{len(ds.classes)} classes ({time.perf_counter() - start:.0f} s)")
    print(f"  {'backbone':20s} {'probe':>6s} {'fit':>6s} {'fit chose':>10s}  " + " ".join(f"{s[:8]:>8s}" for s in SCORE_ROWS))
    for b in backbones:
        values = [rows[b].scores.get(s) if s != "params" else rows[b].params / 1e6 for s in SCORE_ROWS]
        print(f"  {b:20s} {acc[b]['probe']:6.3f} {acc[b]['fit']:6.3f} {acc[b]['chosen']:>10s}  "
              + " ".join("     n/a" if v is None else f"{v:8.3f}" for v in values))
    taus = {}
    for score in SCORE_ROWS:
        values = [rows[b].params if score == "params" else rows[b].scores.get(score) for b in backbones]
        for target in ("probe", "fit"):
            ys = [acc[b][target] for b in backbones]
            ok = [i for i, v in enumerate(values) if v is not None and np.isfinite(ys[i])]
            xs = np.array([values[i] for i in ok], dtype=float)
            # a score that ties every model (H-score is C - 1 whenever n <= d) ranks nothing: its
            # rounding noise must not pass for an order
            tied = len(xs) < 2 or np.ptp(xs) <= 1e-9 * max(np.abs(xs).max(), 1.0)
            taus[(score, target)] = (float("nan") if tied or len({ys[i] for i in ok}) < 2
                                     else weighted_kendall_tau(xs, [ys[i] for i in ok]))
    return taus


def print_table(title: str, results: dict[str, dict]) -> None:
    tasks = list(results)
    print(f"\n{title}: weighted Kendall tau (score vs test accuracy), cells probe / fit")
    print(f"{'score':20s}" + "".join(f"{t:>22s}" for t in tasks) + f"{'mean':>16s}")
    for score in SCORE_ROWS:
        cells, probe_taus, fit_taus = [], [], []
        for t in tasks:
            p, f = results[t][(score, "probe")], results[t][(score, "fit")]
            probe_taus.append(p)
            fit_taus.append(f)
            cells.append(f"{_tau(p)} / {_tau(f)}")
        mean = f"{_tau(_mean(probe_taus))} / {_tau(_mean(fit_taus))}"
        print(f"{score:20s}" + "".join(f"{c:>22s}" for c in cells) + f"{mean:>16s}")


def _tau(value: float) -> str:
    return "  n/a" if not np.isfinite(value) else f"{value:+.2f}"


def _mean(values: list[float]) -> float:
    finite = [v for v in values if np.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shots", type=int, default=10, help="labelled train images per class")
    parser.add_argument("--val-shots", type=int, default=5)
    parser.add_argument("--text-shots", type=int, default=20)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--skip-text", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        os.environ.setdefault("GRAFT_CACHE", str(tmp / "cache"))
        import graft
        from graft.rank.driver import offline_backbones

        vision = offline_backbones("image")
        print(f"vision zoo: {', '.join(vision)}; {args.shots} train + {args.val_shots} val labels per class, "
              f"{args.image_size}px; fit = probe vs lp-ft ({args.epochs} epochs), chosen on val; cpus {os.cpu_count()}")
        makers = {
            "fashion_mnist": lambda: graft.make_dataset("fashion_mnist", tmp / "fm", per_class=100),
            "digits": lambda: graft.make_dataset("digits", tmp / "digits"),
            "font_digits": lambda: graft.make_dataset("font_digits", tmp / "fonts"),
        }
        results = {}
        for name, make in makers.items():
            try:
                ds = few_labels(graft.read(make()), args.shots, args.val_shots)
            except Exception as exc:
                print(f"{name}: skipped, cannot make the data ({exc})")
                continue
            results[name] = evaluate_task(name, ds, vision, args.epochs, args.image_size)
        if results:
            print_table(f"vision ({len(vision)} backbones)", results)
        text = offline_backbones("text")
        if not args.skip_text and len(text) >= 2:
            ds = few_labels(graft.read(graft.make_dataset("fortunes", tmp / "fortunes")), args.text_shots,
                            args.val_shots)
            print_table(f"text ({', '.join(text)})",
                        {"fortunes": evaluate_task("fortunes topics", ds, text, args.epochs, None)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
