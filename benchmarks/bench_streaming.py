"""Streaming: peak memory of ``graft embed DATA --out X.npy`` on 60k images vs 6k.

Fashion-MNIST's training set is written out twice as ordinary PNG class folders with
``graft datasets make``: 600 per class (6,000 images) and all of it (6,000 per class, 60,000
images). Each ``graft embed .../train --out X.npy`` runs as its own subprocess with a fresh,
empty ``GRAFT_CACHE`` and its peak RSS is read from the kernel (``os.wait4``). A small input size
keeps the run short; memory that grows with N (item lists, the cache index, the output array)
is what this measures. Goal: peak RSS(60k) ≤ 1.5× peak RSS(6k).

Run: .venv/bin/python benchmarks/bench_streaming.py [--image-size 32] [--backbone mobilenet_v2]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GOAL = 1.5
_SCRIPT = Path(sys.executable).parent / "graft"
GRAFT = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "graft.cli.main"]


def graft(args: list[str]) -> float:
    """Run ``graft ARGS`` (not measured); return its wall time."""
    start = time.perf_counter()
    result = subprocess.run(GRAFT + args, capture_output=True, text=True)
    if result.returncode:
        raise SystemExit(f"graft {' '.join(args)} failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return time.perf_counter() - start


def measured(args: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, peak RSS MiB) of one ``graft`` run, from the kernel's rusage of that child."""
    start = time.perf_counter()
    proc = subprocess.Popen(GRAFT + args, env={**os.environ, **env}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    assert proc.stderr is not None
    err = proc.stderr.read()  # drain while it runs (progress bars), then reap with wait4
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"graft {' '.join(args)} failed ({proc.returncode}):\n{err[-3000:].decode(errors='replace')}")
    return time.perf_counter() - start, usage.ru_maxrss / 1024  # Linux reports KiB


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--backbone", default="mobilenet_v2")
    parser.add_argument("--small", type=int, default=600, help="per class for the small run")
    parser.add_argument("--large", type=int, default=6000, help="per class for the large run (6000 = all)")
    parser.add_argument("--workdir", type=Path, default=None, help="keep the datasets here between runs")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        work = args.workdir or Path(tmp)
        results = {}
        for per_class in (args.small, args.large):
            data = work / f"fashion_mnist_{per_class}"
            t_make = graft(["datasets", "make", "fashion_mnist", str(data), "--per-class", str(per_class)])
            n = sum(1 for _ in (data / "train").rglob("*.png"))
            env = {"GRAFT_CACHE": str(Path(tmp) / f"cache-{per_class}"), "HF_HUB_OFFLINE": "1"}
            cmd = ["embed", str(data / "train"), "--backbone", args.backbone, "--image-size", str(args.image_size),
                   "--out", str(Path(tmp) / f"x-{per_class}.npy"), "--json"]
            seconds, peak = measured(cmd, env)
            results[n] = peak
            print(f"{n:6d} images: peak RSS {peak:7.1f} MiB, embed {seconds:.1f} s (dataset written in {t_make:.1f} s)")
    (n_small, small), (n_large, large) = sorted(results.items())
    ratio = large / small
    print(f"peak RSS ratio {n_large // 1000}k/{n_small // 1000}k: {ratio:.2f} (goal <= {GOAL}); "
          f"{args.backbone} at {args.image_size} px")
    return 0 if ratio <= GOAL else 1


if __name__ == "__main__":
    sys.exit(main())
