"""Probe quality: test accuracy of a linear probe per offline backbone on built-in data.

- image: Fashion-MNIST, 100 per class train / 100 per class test, at 96 px, every offline vision
  backbone (goal: mobilenet_v2 ≥ 0.80);
- text: fortunes topics (train/test CSVs), ``minilm_l6`` vs ``glove_6b_50d``;
- audio: spoken digits, test voices never heard in training, ``whisper_tiny_en``.

Backbones not registered (or without their weights installed) are reported as skipped.

Run: .venv/bin/python benchmarks/bench_probe_quality.py [--per-class 100] [--image-size 96]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

GOAL = ("mobilenet_v2", 0.80)
TEXT = ("minilm_l6", "glove_6b_50d")
AUDIO = ("whisper_tiny_en",)


def probe_row(data: Path, backbone: str, **options) -> dict:
    import graft

    start = time.perf_counter()
    model = graft.probe(data, backbone, **options)
    metrics = model.lineage["metrics"]
    return {"backbone": backbone, "test": metrics["test"]["accuracy"], "val": metrics["val"]["accuracy"],
            "n_test": metrics["test"]["n"], "seconds": time.perf_counter() - start}


def report(task: str, data_fn, names, **options) -> dict[str, float]:
    import graft
    from graft.backbones.inventory import zoo_table

    registered = set(graft.list_backbones())
    offline = {r["name"] for r in zoo_table() if r["offline"]}
    wanted = [n for n in names if n in registered and n in offline]
    for name in names:
        if name not in registered:
            print(f"{task:28s} {name:20s} skipped: not registered")
        elif name not in offline:
            print(f"{task:28s} {name:20s} skipped: weights not installed")
    if not wanted:
        return {}
    try:
        data = data_fn()
    except Exception as exc:  # a missing Debian package, say
        print(f"{task:28s} {'':20s} skipped: cannot make the data ({exc})")
        return {}
    scores = {}
    for name in wanted:
        row = probe_row(data, name, **options)
        scores[name] = row["test"]
        print(f"{task:28s} {name:20s} test accuracy {row['test']:.3f} (val {row['val']:.3f}, "
              f"n_test {row['n_test']}, {row['seconds']:.0f} s)")
    return scores


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--per-class", type=int, default=100)
    parser.add_argument("--image-size", type=int, default=96)
    parser.add_argument("--use-cache", action="store_true",
                        help="use the normal feature cache (default: a fresh one, so seconds are first-run times)")
    args = parser.parse_args()

    import graft

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if not args.use_cache:
            os.environ["GRAFT_CACHE"] = str(tmp / "cache")
        vision = graft.list_backbones(modality="image")
        scores = report(f"fashion_mnist {args.per_class}/cls {args.image_size}px",
                        lambda: graft.make_dataset("fashion_mnist", tmp / "fm", per_class=args.per_class),
                        vision, image_size=args.image_size)
        report("fortunes topics", lambda: graft.make_dataset("fortunes", tmp / "fortunes"), TEXT)
        report("spoken digits, unseen voices", lambda: graft.make_dataset("spoken_digits", tmp / "spoken"), AUDIO)
    name, goal = GOAL
    if name not in scores:
        print(f"goal: {name} >= {goal}: not measured")
        return 1
    print(f"goal: {name} test accuracy {scores[name]:.3f} (goal >= {goal}): {'met' if scores[name] >= goal else 'NOT met'}")
    return 0 if scores[name] >= goal else 1


if __name__ == "__main__":
    sys.exit(main())
