"""Cached re-runs: wall time of a second identical ``graft probe`` / ``graft embed`` vs the first.

Each command runs as a subprocess (the way a user runs it), first with a fresh, empty
``GRAFT_CACHE``, then again on the unchanged data with that cache. Data: Fashion-MNIST,
``--per-class`` per class for train and for test (default 200: 2000 + 2000 images), at the
backbone's default input size. Goal: second run ≤ 0.05× the first.

What a cached run still pays, and the first run too: interpreter start and imports, reading and
hashing the dataset, reading the cached features — and for ``probe`` fitting the head, which the
cache cannot skip. The script prints that floor so the ratio can be read against it.

Run: .venv/bin/python benchmarks/bench_cache.py [--per-class 200] [--backbone mobilenet_v2]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GOAL = 0.05
_SCRIPT = Path(sys.executable).parent / "graft"
GRAFT = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "graft.cli.main"]


def run(args: list[str], cache: Path) -> float:
    env = {**os.environ, "GRAFT_CACHE": str(cache), "HF_HUB_OFFLINE": "1"}
    start = time.perf_counter()
    result = subprocess.run(GRAFT + args, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"graft {' '.join(args)} failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--per-class", type=int, default=200)
    parser.add_argument("--backbone", default="mobilenet_v2")
    args = parser.parse_args()

    import graft

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data = graft.make_dataset("fashion_mnist", tmp / "fashion_mnist", per_class=args.per_class)
        n = len(list(data.rglob("*.png")))
        print(f"Fashion-MNIST {n} images ({args.per_class}/class train + test), {args.backbone} at its default size")
        ratios = {}
        for command in ("probe", "embed"):
            cache = tmp / f"cache-{command}"
            extra = ["--out", str(tmp / f"{command}-out" / ("model" if command == "probe" else "x.npy")), "--json"]
            cmd = [command, str(data), "--backbone", args.backbone, *extra]
            first = run(cmd, cache)
            second = run(cmd, cache)
            ratios[command] = second / first
            print(f"graft {command}: first {first:.1f} s, cached re-run {second:.1f} s")
        floor = run(["models", "--json"], tmp / "cache-floor")
        print(f"floor: `graft models` (interpreter + CLI start) {floor:.1f} s")
        for command, ratio in ratios.items():
            print(f"cached/first wall-time ratio, graft {command}: {ratio:.3f} (goal <= {GOAL})")
    return 0 if all(r <= GOAL for r in ratios.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
