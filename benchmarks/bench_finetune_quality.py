"""Fashion-MNIST, 100 labels per class train, 100 per class test, mobilenet_v2 at 96 px:
test accuracy and wall time of the linear probe, a fastai-style recipe (freeze 1 epoch, unfreeze 3,
one-cycle; graft's `fastai` schedule) and `graft fit` (goal: fit >= 0.86).

    python benchmarks/bench_finetune_quality.py [--budget SECONDS]
"""

from __future__ import annotations

import argparse
import time

import graft
from _common import workspace
from graft.train.config import TrainConfig
from graft.train.finetune import finetune, fit

SIZE = 96


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--budget", type=float, default=1200.0)
    args = parser.parse_args()
    data = graft.make_dataset("fashion_mnist", workspace("fm-quality"), per_class=100)
    ds = graft.read(data)
    rows = []

    start = time.perf_counter()
    probe = graft.probe(ds, "mobilenet_v2", image_size=SIZE)
    rows.append(("probe", probe.lineage["metrics"]["test"]["accuracy"], time.perf_counter() - start))

    start = time.perf_counter()
    fastai = finetune(ds, "mobilenet_v2", "fastai", image_size=SIZE,
                      config=TrainConfig(epochs=4, lr=2e-3, early_stopping=0, schedule="fastai"))
    rows.append(("fastai recipe (1 frozen + 3 unfrozen, one-cycle)", fastai.lineage["metrics"]["test"]["accuracy"],
                 time.perf_counter() - start))

    start = time.perf_counter()
    model, report = fit(ds, backbone="mobilenet_v2", image_size=SIZE, time_budget=args.budget)
    rows.append((f"graft fit (chose {report['chosen']})", model.lineage["metrics"]["test"]["accuracy"],
                 time.perf_counter() - start))

    print(f"Fashion-MNIST {len(ds.train)} train / {len(ds.val)} val / {len(ds.test)} test, mobilenet_v2 @{SIZE}px")
    for name, acc, seconds in rows:
        print(f"  {name:55s} test acc {acc:.4f}   {seconds:7.1f} s")
    print(f"  fit candidates: {report['candidates']}")
    print(f"graft fit test accuracy: {rows[-1][1]:.4f} (goal >= 0.86); wall time vs probe {rows[-1][2] / rows[0][2]:.1f}x, "
          f"vs fastai recipe {rows[-1][2] / rows[1][2]:.1f}x")


if __name__ == "__main__":
    main()
