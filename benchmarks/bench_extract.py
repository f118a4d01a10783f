"""Extraction throughput: graft's streaming extractor vs a hand-written inference loop.

Both sides run the same backbone module (``mobilenet_v2`` at 96 px by default), the same batch
size and the same Fashion-MNIST images, in this one process. The hand loop is what a user would
write: preprocess each image with the backbone's own ``preprocess``, stack, forward under
``torch.inference_mode()``. graft's side is ``embed_items(..., use_cache=False)`` (no disk cache,
so only the extraction itself is compared), and by name as ``graft fit`` extracts (the shared
eval-only copy with batch norm folded). Runs alternate (hand, graft, by name, hand, …) and the
medians are compared, since a shared machine is noisy. Goal: graft/hand throughput ratio ≥ 1.0.

Run: .venv/bin/python benchmarks/bench_extract.py [--n 500] [--image-size 96] [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

GOAL = 1.0


def fashion_items(n: int, root: Path) -> list[Path]:
    import graft

    per_class = (n + 19) // 20  # 10 classes x (train + test)
    data = graft.make_dataset("fashion_mnist", root / "fashion_mnist", per_class=per_class)
    return sorted(data.rglob("*.png"))[:n]


def hand_loop(backbone, items: list[Path], batch_size: int) -> np.ndarray:
    import torch

    out = []
    with torch.inference_mode():
        for start in range(0, len(items), batch_size):
            batch = torch.stack([backbone.preprocess(item) for item in items[start: start + batch_size]])
            out.append(backbone.forward_features(batch).float().numpy())
    return np.concatenate(out)


def graft_loop(backbone, items: list[Path], batch_size: int) -> np.ndarray:
    from graft.features.extract import embed_items

    return embed_items(items, backbone, batch_size=batch_size, use_cache=False)


def graft_by_name(name_and_size: tuple[str, int], items: list[Path], batch_size: int) -> np.ndarray:
    """Extraction by backbone name, as ``graft fit`` / ``graft probe`` run it: the shared eval-only
    copy, batch norm folded into the convolutions (``graft.backbones.fuse``)."""
    from graft.features.extract import embed_items

    name, size = name_and_size
    return embed_items(items, name, image_size=size, batch_size=batch_size, use_cache=False)


def timed(fn, *args) -> tuple[float, np.ndarray]:
    start = time.perf_counter()
    value = fn(*args)
    return time.perf_counter() - start, value


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--image-size", type=int, default=96)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--backbone", default="mobilenet_v2")
    args = parser.parse_args()

    import torch

    import graft

    with tempfile.TemporaryDirectory() as tmp:
        items = fashion_items(args.n, Path(tmp))
        backbone = graft.create_backbone(args.backbone, image_size=args.image_size)
        print(f"{len(items)} Fashion-MNIST images, {args.backbone} at {args.image_size} px, batch {args.batch_size}, "
              f"torch threads {torch.get_num_threads()}, {args.rounds} alternating rounds")
        warm = items[: args.batch_size * 2]
        _, ref = timed(hand_loop, backbone, warm, args.batch_size)
        _, got = timed(graft_loop, backbone, warm, args.batch_size)
        named = (args.backbone, args.image_size)
        _, folded = timed(graft_by_name, named, warm, args.batch_size)
        max_diff = float(np.abs(ref - got).max())
        folded_diff = float(np.abs(ref - folded).max())
        hand, ours, by_name = [], [], []
        for _ in range(args.rounds):
            hand.append(timed(hand_loop, backbone, items, args.batch_size)[0])
            ours.append(timed(graft_loop, backbone, items, args.batch_size)[0])
            by_name.append(timed(graft_by_name, named, items, args.batch_size)[0])
    hand_s, graft_s, name_s = statistics.median(hand), statistics.median(ours), statistics.median(by_name)
    ratio = hand_s / graft_s
    runs = lambda ts: ", ".join(f"{t:.2f}" for t in ts)  # noqa: E731
    print(f"hand loop:               median {len(items) / hand_s:.1f} img/s (runs: {runs(hand)} s)")
    print(f"graft, module given:     median {len(items) / graft_s:.1f} img/s (runs: {runs(ours)} s)")
    print(f"graft, by name (folded): median {len(items) / name_s:.1f} img/s (runs: {runs(by_name)} s)")
    print(f"features agree: max |graft - hand| = {max_diff:.2e}; folded: {folded_diff:.2e}")
    print(f"throughput ratio graft/hand: {ratio:.2f} (goal >= {GOAL}); by name (folded)/hand: {hand_s / name_s:.2f}")
    return 0 if ratio >= GOAL and max_diff < 1e-4 and folded_diff < 1e-3 else 1


if __name__ == "__main__":
    sys.exit(main())
