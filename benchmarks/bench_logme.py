"""Vectorised LogME vs the per-class reference on a realistic feature matrix.

n = 10,000 samples, d = 1,280 features (EfficientNet-B0 width), C = 10 classes, float64, with some
class structure. Both run in this process; each time is the best of a few repeats. Fails (exit 1)
unless the vectorised version is at least 2x faster and agrees to 1e-6 relative.

Run: PYTHONPATH=src python benchmarks/bench_logme.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from graft.rank import logme, logme_reference

MIN_SPEEDUP = 2.0
MAX_REL_DIFF = 1e-6


def make_features(n: int, d: int, n_classes: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, n_classes, n)
    centres = rng.normal(size=(n_classes, d))
    features = rng.normal(size=(n, d)) + 0.3 * centres[labels]
    return features, labels


def best_time(fn, *args, repeats: int) -> tuple[float, float]:
    times, value = [], float("nan")
    for _ in range(repeats):
        start = time.perf_counter()
        value = fn(*args)
        times.append(time.perf_counter() - start)
    return min(times), value


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--d", type=int, default=1_280)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    features, labels = make_features(args.n, args.d, args.classes)
    t_ref, ref = best_time(logme_reference, features, labels, repeats=args.repeats)
    t_fast, fast = best_time(logme, features, labels, repeats=args.repeats)
    speedup, rel_diff = t_ref / t_fast, abs(fast - ref) / abs(ref)
    print(f"n={args.n} d={args.d} C={args.classes}: reference {t_ref:.3f}s, vectorised {t_fast:.3f}s, "
          f"score {fast:.6f}")
    print(f"logme speedup vs reference: {speedup:.1f}x (rel diff {rel_diff:.0e})")
    ok = speedup >= MIN_SPEEDUP and rel_diff <= MAX_REL_DIFF
    if not ok:
        print(f"FAIL: need speedup >= {MIN_SPEEDUP}x and rel diff <= {MAX_REL_DIFF:g}", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
