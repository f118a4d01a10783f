"""Cost of choosing: ranking the offline vision zoo vs fine-tuning one backbone, on a 1000-image task.

Fashion-MNIST with 1000 training images (125 per class made, 20 % held out as val), every offline
vision backbone, at one image size. Ranking starts from an empty feature cache (a new dataset has
no cached features) and computes every score, baselines included; it is also timed with the
closed-form scores only, and on a stratified ``--sample`` of the training images (all scores).
Fine-tuning is one ``lp-ft`` run of mobilenet_v2 with graft's default TrainConfig (6 epochs), in
another empty cache; ``graft fit`` (probe + two 8-epoch schedules) costs about 2.5x that.
Goal: ranking <= 0.1x fine-tuning.

Feature extraction is the floor: 4 forward passes per image against 6 epochs of forward + backward
(about 3 forward passes each) for one model, so on all 1000 images the ratio cannot go far below
4 / 18; ranking on a few hundred images is what meets the goal.

Run: .venv/bin/python benchmarks/bench_rank_cost.py [--image-size 96] [--train 1000] [--sample 250]
     [--finetune-seconds S]  (reuse a fine-tuning time measured on this host instead of re-running it)
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

GOAL = 0.1
CLOSED_FORM = ("logme", "leep", "nce", "hscore", "regularized_hscore")


def timed(fn):
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def task(tmp: Path, n_train: int):
    """Fashion-MNIST with exactly ``n_train`` training images (the rest of what was made is val/test)."""
    import graft

    per_class = math.ceil(n_train / 10 / 0.8)  # 10 classes; read() holds 20 % of train out as val
    return graft.read(graft.make_dataset("fashion_mnist", tmp / "fm", per_class=per_class))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image-size", type=int, default=96)
    parser.add_argument("--train", type=int, default=1000)
    parser.add_argument("--finetune-backbone", default="mobilenet_v2")
    parser.add_argument("--sample", type=int, default=250)
    parser.add_argument("--finetune-seconds", type=float, default=None)
    parser.add_argument("--only-sample", action="store_true", help="time only the sampled ranking (and fine-tuning)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        os.environ["GRAFT_CACHE"] = str(tmp / "cache-rank")
        from graft.rank.driver import offline_backbones
        from graft.train.config import TrainConfig
        from graft.train.finetune import finetune

        ds = task(tmp, args.train)
        zoo = offline_backbones("image")
        print(f"task: fashion_mnist, {len(ds.train)} train / {len(ds.val)} val images, {args.image_size}px; "
              f"zoo: {', '.join(zoo)}; cpus: {os.cpu_count()}")
        times = {}
        if not args.only_sample:
            times["all scores, every train image"] = rank_time(ds, zoo, args.image_size, tmp / "cache-all")
            times["closed-form scores, every train image"] = rank_time(ds, zoo, args.image_size, tmp / "cache-closed",
                                                                       scores=CLOSED_FORM)
        times[f"all scores, stratified sample of {args.sample}"] = rank_time(ds, zoo, args.image_size,
                                                                             tmp / "cache-sample", sample=args.sample)
        if args.finetune_seconds is None:
            os.environ["GRAFT_CACHE"] = str(tmp / "cache-finetune")
            model, t_ft = timed(lambda: finetune(ds, args.finetune_backbone, "lp-ft", image_size=args.image_size,
                                                 config=TrainConfig()))
            epochs = len(json.loads(model.extra_files["history.json"]))
            print(f"fine-tune {args.finetune_backbone} lp-ft ({epochs} epochs): {t_ft:7.1f} s "
                  f"(test accuracy {model.lineage['metrics']['test']['accuracy']:.3f})")
        else:
            t_ft = args.finetune_seconds
            print(f"fine-tune {args.finetune_backbone} lp-ft: {t_ft:7.1f} s (measured earlier, --finetune-seconds)")
    for what, seconds in times.items():
        print(f"rank {len(zoo)} backbones, {what:40s} {seconds:7.1f} s  ratio to fine-tuning {seconds / t_ft:.3f}")
    best = min(times.values()) / t_ft
    print(f"goal: ratio <= {GOAL}: {'met' if best <= GOAL else 'NOT met'} (best variant {best:.3f})")
    return 0 if best <= GOAL else 1


def rank_time(ds, zoo, image_size, cache: Path, **options) -> float:
    """Wall time of ranking ``zoo`` on ``ds`` from an empty feature cache, with a per-backbone breakdown."""
    from graft.rank import rank_backbones

    os.environ["GRAFT_CACHE"] = str(cache)
    result, seconds = timed(lambda: rank_backbones(ds, zoo, image_size=image_size, **options))
    print(f"ranking ({', '.join(f'{k}={v}' for k, v in options.items()) or 'every image, all scores'}), "
          f"{result.n_samples} images: {seconds:.1f} s; best {result.best}")
    for row in result.rows:
        extract = row.seconds - sum(row.score_seconds.values())
        print(f"  {row.backbone:20s} {row.seconds:6.1f} s  (build + embed {extract:5.1f} s; scores: "
              + ", ".join(f"{k} {v:.2f}" for k, v in row.score_seconds.items()) + ")")
    return seconds


if __name__ == "__main__":
    sys.exit(main())
