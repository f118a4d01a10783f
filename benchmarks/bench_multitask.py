"""Multi-task fine-tuning (one backbone, a head per task) against training each task alone on the
same budget (same backbone, schedule, epochs and settings): per-task test accuracy and total wall time.

Pairs:
- ``fashion``: Fashion-MNIST (``--per-class`` per class) with its 10 classes as one task and a coarse
  grouping of the same images as the other: tops (t-shirt/top, pullover, coat, shirt, dress: garments
  for the upper or whole body), bottoms (trouser), shoes (sandal, sneaker, ankle boot), bags (bag).
  Both tasks label the same items, so the multi-task run passes each image through the backbone once.
- ``digits``: scikit-learn's handwritten digits and digits rendered from fonts (``graft datasets make
  digits / font_digits``): the same 10 classes in two domains, disjoint items (no flips: digits).

Every run starts from an empty feature cache, so each time includes its own feature extraction. Times
are wall seconds and CPU seconds of the process (the CPU time is the steadier figure on a shared machine).

    python benchmarks/bench_multitask.py [--pairs fashion,digits] [--per-class 100] [--image-size 96]
        [--backbone mobilenet_v2] [--schedule lp-ft] [--epochs 4]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np

import graft
from _common import workspace
from graft.data.dataset import Dataset
from graft.train.config import TrainConfig
from graft.train.finetune import finetune
from graft.train.multitask import finetune_multitask

GROUPS = {"tops": ("tshirt_top", "pullover", "coat", "shirt", "dress"), "bottoms": ("trouser",),
          "shoes": ("sandal", "sneaker", "ankle_boot"), "bags": ("bag",)}


def coarse(ds: Dataset) -> Dataset:
    """The same items and splits, labelled by ``GROUPS``."""
    group_of = {c: g for g, members in GROUPS.items() for c in members}
    classes = sorted(GROUPS)
    labels = np.array([classes.index(group_of[ds.classes[y]]) for y in ds.labels])
    return Dataset(list(ds.items), labels, classes, ds.modality, ds.splits.copy(), source=f"{ds.source} (coarse)")


def pair(name: str, per_class: int) -> tuple[dict[str, Dataset], bool]:
    """The two tasks of a pair (name → data) and whether horizontal flips suit them."""
    if name == "fashion":
        fine = graft.read(graft.make_dataset("fashion_mnist", workspace("mt-fashion"), per_class=per_class))
        return {"fashion": fine, "fashion_coarse": coarse(fine)}, True
    if name == "digits":
        hand = graft.read(graft.make_dataset("digits", workspace("mt-digits"), per_class=per_class))
        fonts = graft.read(graft.make_dataset("font_digits", workspace("mt-font-digits"), per_class=per_class))
        return {"digits": hand, "font_digits": fonts}, False
    raise SystemExit(f"unknown pair {name!r}: choose fashion or digits")


def timed_run(run):
    """``run()`` against an empty feature cache: (model, wall seconds, CPU seconds of this process)."""
    with tempfile.TemporaryDirectory(prefix="graft-bench-cache-") as cache:
        os.environ["GRAFT_CACHE"] = cache
        start, cpu = time.perf_counter(), time.process_time()
        model = run()
        return model, time.perf_counter() - start, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", default="fashion,digits")
    parser.add_argument("--per-class", type=int, default=100, help="examples per class and split (train, test)")
    parser.add_argument("--image-size", type=int, default=96)
    parser.add_argument("--backbone", default="mobilenet_v2")
    parser.add_argument("--schedule", default="lp-ft")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--arms", default="alone,multi", help="alone (each task by itself), multi (one multi-task "
                                                             "run), or both; separate processes can run one each")
    args = parser.parse_args()
    arms = {a.strip() for a in args.arms.split(",")}
    for name in args.pairs.split(","):
        tasks, flips = pair(name.strip(), args.per_class)
        config = TrainConfig(schedule=args.schedule, epochs=args.epochs, hflip=flips)
        alone, wall_alone, cpu_alone = {}, 0.0, 0.0
        for task, ds in tasks.items() if "alone" in arms else ():
            model, wall, cpu = timed_run(lambda: finetune(ds, args.backbone, args.schedule, config=config,
                                                          image_size=args.image_size))
            alone[task] = model.lineage["metrics"]["test"]["accuracy"]
            wall_alone, cpu_alone = wall_alone + wall, cpu_alone + cpu
            print(f"  alone {task}: test accuracy {alone[task]:.4f} in {wall:.0f} s wall, {cpu:.0f} s CPU "
                  f"(best epoch {model.lineage['settings']['best_epoch']})", flush=True)
        if "multi" not in arms:
            continue
        model, wall_multi, cpu_multi = timed_run(lambda: finetune_multitask(
            list(tasks.values()), args.backbone, args.schedule, task_names=list(tasks), config=config,
            image_size=args.image_size))
        record = model.lineage["tasks"]
        sizes = {t: f"{len(d.train)}/{len(d.val)}/{len(d.test)}" for t, d in tasks.items()}
        print(f"\n{name}: {args.backbone} @{args.image_size}px, {args.schedule} {args.epochs} epochs; "
              f"train/val/test {sizes}")
        print(f"{'task':<16}{'alone':>8}{'multi-task':>12}{'diff':>8}  multi-task best / stopped epoch")
        for task in tasks:
            multi = record[task]["metrics"]["test"]["accuracy"]
            solo = alone.get(task, float("nan"))
            print(f"{task:<16}{solo:>8.4f}{multi:>12.4f}{multi - solo:>+8.4f}  "
                  f"{record[task]['best_epoch']} / {record[task]['stopped_epoch']}")
        print(f"multi-task run: {wall_multi:.0f} s wall, {cpu_multi:.0f} s CPU", flush=True)
        if alone:
            print(f"total time, both tasks: alone {wall_alone:.0f} s wall / {cpu_alone:.0f} s CPU (two runs), multi-task "
                  f"{wall_multi:.0f} s wall / {cpu_multi:.0f} s CPU (one run): ratio multi/alone {wall_multi / wall_alone:.2f} "
                  f"wall, {cpu_multi / cpu_alone:.2f} CPU; saved epoch {model.lineage['settings']['best_epoch']}\n", flush=True)


if __name__ == "__main__":
    main()
