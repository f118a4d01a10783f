"""A graft model as the source of the next one: "start from ImageNet, or from our model for the similar task?"

The similar task with plenty of labels (the source): Fashion-MNIST images of ``--per-class`` per class
labelled by a coarse grouping (tops, bottoms, shoes, bags). The task with few labels (the target): the
10 fine Fashion-MNIST classes, ``--shots`` labelled images per class, scored on the rest of its
images (disjoint from the source's). Both folders carry the built-in dataset's DATASET.json (MIT).

Sources compared on the target, all with the same probe settings:
- ``mobilenet_v2``: the ImageNet weights (the baseline);
- ``model:coarse-probe``: a probe on the source task (same features as ImageNet, its own head);
- ``model:coarse-ft``: mobilenet_v2 fine-tuned (``--schedule``, ``--epochs``) on the source task.
For each: LEEP and LogME from ``graft rank`` (LEEP through the model's own head), and the test
accuracy of a probe trained on the target from it; ratios against the ImageNet baseline. Last, the
lineage of the best target model (its chain and licences) and the cache: a second embedding of the
target with the fine-tuned source reads the cache (time ratio), under a key that differs from the parent's.

    python benchmarks/bench_model_source.py [--per-class 100] [--shots 10] [--image-size 64]
        [--schedule lp-ft] [--epochs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import graft
from _common import workspace
from graft.backbones import backbone_key
from graft.train.config import TrainConfig

GROUPS = {"tops": ("tshirt_top", "pullover", "coat", "shirt", "dress"), "bottoms": ("trouser",),
          "shoes": ("sandal", "sneaker", "ankle_boot"), "bags": ("bag",)}


def build_tasks(root: Path, per_class: int, shots: int) -> tuple[Path, Path]:
    """``source/`` (coarse groups of the made train split) and ``target/`` (fine classes of the test
    split: ``shots`` per class to train, the rest to test), as ordinary image folders."""
    made = graft.make_dataset("fashion_mnist", root / "fashion_mnist", per_class=per_class)
    group_of = {c: g for g, members in GROUPS.items() for c in members}
    source, target = root / "source", root / "target"
    for folder in (source, target):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        shutil.copy(made / "DATASET.json", folder / "DATASET.json")  # derived from it: same licence
    for cls_dir in sorted((made / "train").iterdir()):
        dest = source / "train" / group_of[cls_dir.name]
        dest.mkdir(parents=True, exist_ok=True)
        for f in cls_dir.iterdir():
            shutil.copy(f, dest / f"{cls_dir.name}_{f.name}")
    for cls_dir in sorted((made / "test").iterdir()):
        files = sorted(cls_dir.iterdir())
        for split, part in (("train", files[:shots]), ("test", files[shots:])):
            (target / split / cls_dir.name).mkdir(parents=True, exist_ok=True)
            for f in part:
                shutil.copy(f, target / split / cls_dir.name / f.name)
    return source, target


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--per-class", type=int, default=100, help="Fashion-MNIST images per class and split")
    parser.add_argument("--shots", type=int, default=10, help="labelled target images per class")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--schedule", default="lp-ft")
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    os.environ["GRAFT_CACHE"] = tempfile.mkdtemp(prefix="graft-bench-model-source-")
    root = workspace("model-source")
    source, target = build_tasks(root, args.per_class, args.shots)
    models = root / "models"
    shutil.rmtree(models, ignore_errors=True)
    t0 = time.perf_counter()
    graft.probe(source, "mobilenet_v2", image_size=args.image_size, out=models / "coarse-probe")
    t_probe = time.perf_counter() - t0
    t0 = time.perf_counter()
    ft = graft.finetune(source, "mobilenet_v2", args.schedule, image_size=args.image_size, out=models / "coarse-ft",
                        config=TrainConfig(epochs=args.epochs))
    t_ft = time.perf_counter() - t0
    print(f"source task (coarse, {graft.read(source).describe()['splits']}): probe {t_probe:.1f} s, "
          f"{args.schedule} {args.epochs} epochs {t_ft:.1f} s, val accuracy {ft.lineage['metrics']['val']['accuracy']:.4f}")

    candidates = ["mobilenet_v2", f"model:{models / 'coarse-probe'}", f"model:{models / 'coarse-ft'}"]
    ranked = graft.rank_backbones(target, candidates, scores=("leep", "logme"), by="logme", image_size=args.image_size)
    rows = {r.backbone: r for r in ranked.rows}
    accuracy, seconds = {}, {}
    for name in candidates:
        t0 = time.perf_counter()
        model = graft.probe(target, name, image_size=args.image_size,
                            out=models / f"target-from-{Path(name.partition(':')[2] or name).name}")
        seconds[name] = time.perf_counter() - t0
        accuracy[name] = model.lineage["metrics"]["test"]["accuracy"]
    base = accuracy["mobilenet_v2"]
    print(f"\ntarget task: 10 fine classes, {args.shots} labels per class; probe test accuracy, LEEP, LogME")
    print(f"{'source':<32} {'accuracy':>9} {'vs ImageNet':>12} {'LEEP':>8} {'LogME':>8} {'probe s':>8}")
    for name in candidates:
        short = name if ":" not in name else "model:" + Path(name.partition(":")[2]).name
        r = rows[name]
        print(f"{short:<32} {accuracy[name]:>9.4f} {accuracy[name] / base:>11.3f}x {r.scores['leep']:>8.4f} "
              f"{r.scores['logme']:>8.4f} {seconds[name]:>8.1f}")
    print(f"rank recommends: {ranked.recommendation}")

    best = max(candidates, key=lambda n: accuracy[n])
    best_dir = models / f"target-from-{Path(best.partition(':')[2] or best).name}"
    story = graft.lineage(best_dir)
    print(f"\nlineage of {best_dir.name}: " + " <- ".join(f"{h['method']}" for h in story["hops"])
          + f" <- {story['root']['kind']} {story['root'].get('backbone')} ({story['root']['license']})")
    print("licences: " + "; ".join(f"{i['what']}: {i['license']}" for i in story["licences"]))
    print("statement: " + story["statement"])

    items = graft.read(target).items
    ft_name = f"model:{models / 'coarse-ft'}"
    t0 = time.perf_counter()
    graft.embed(items, ft_name, image_size=args.image_size)
    warm = time.perf_counter() - t0
    print(f"\ncache: embedding the target again with {Path(ft_name).name} took {warm:.2f} s vs {seconds[ft_name]:.1f} s "
          f"for its first probe ({seconds[ft_name] / max(warm, 1e-9):.0f}x); keys differ from the parent's: "
          f"{backbone_key(ft_name, image_size=args.image_size) != backbone_key('mobilenet_v2', image_size=args.image_size)}")
    print(json.dumps({"accuracy": accuracy, "leep": {n: rows[n].scores["leep"] for n in candidates},
                      "logme": {n: rows[n].scores["logme"] for n in candidates}}, indent=1))


if __name__ == "__main__":
    main()
