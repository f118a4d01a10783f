"""Drift detection: false-alarm rate on no-shift data, detection rate on mild and strong shifts.

Models are linear probes (which store the drift reference: a sample of training embeddings and
held-out confidences), checked with `graft.drift.check_drift`'s tests on random subsets of
unseen data:

- Fashion-MNIST (mobilenet_v2, 96 px), probe on the train split; new data = subsets of the test
  split as is (no shift); with a quarter of the images given contrast x0.8 and brightness +15
  (mild: part of the traffic changed); with every image changed that way; with contrast x0.5 and
  brightness +70 (strong: washed out); and the test split restricted to three classes (label shift).
- digits (mobilenet_v2, 96 px), probe on handwritten digits; new data = unseen handwritten digits
  (no shift) and digits rendered from fonts (strong: a different domain).

Run: .venv/bin/python benchmarks/bench_drift.py [--subsets 10] [--size 200]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np


def changed_copy(src: Path, dst: Path, contrast: float, brightness: float) -> Path:
    """Every image of ``src`` with its contrast scaled around mid-grey and brightness added."""
    from PIL import Image

    for path in sorted(src.rglob("*.png")):
        pixels = np.asarray(Image.open(path).convert("L"), dtype=np.float32)
        changed = np.clip((pixels - 128.0) * contrast + 128.0 + brightness, 0, 255).astype(np.uint8)
        out = dst / path.relative_to(src)
        out.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(changed).save(out)
    return dst


def rates(model, reference, new_emb: np.ndarray, subsets: int, size: int, config) -> dict:
    from graft.drift import compare

    ref_emb = np.asarray(reference["embeddings"], dtype=np.float64)
    ref_conf = np.asarray(reference["confidence"], dtype=np.float64)
    severities, p_values, auc_p, aucs = [], [], [], []
    rng = np.random.default_rng(0)
    for s in range(subsets):
        rows = rng.choice(len(new_emb), size=min(size, len(new_emb)), replace=False)
        report = compare(model, ref_emb, ref_conf, np.asarray(new_emb[rows], dtype=np.float64), config)
        severities.append(report.severity)
        p_values.append(report.mmd_p_value)
        auc_p.append(report.domain_p_value)
        aucs.append(report.domain_auc)
    counts = Counter(severities)
    return {"flagged": 1 - counts["none"] / subsets, "strong": counts["strong"] / subsets, "mild": counts["mild"] / subsets,
            "median_p": float(np.median(p_values)), "median_auc_p": float(np.median(auc_p)),
            "median_auc": float(np.median(aucs))}


def scenario_rows(name: str, model, conditions: dict, args, config) -> None:
    print(f"\n{name}: {args.subsets} subsets of {args.size} new examples each")
    print(f"{'condition':<26}{'flagged':>9}{'mild':>7}{'strong':>8}{'MMD p':>9}{'AUC p':>9}{'AUC':>7}  (medians)")
    for label, emb in conditions.items():
        r = rates(model, model.reference, emb, args.subsets, args.size, config)
        what = "false alarms" if label.startswith("no shift") else "detected"
        print(f"{label:<26}{r['flagged']:>9.2f}{r['mild']:>7.2f}{r['strong']:>8.2f}{r['median_p']:>9.3g}"
              f"{r['median_auc_p']:>9.2g}{r['median_auc']:>7.3f}   ({what})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--subsets", type=int, default=10, help="random subsets per condition")
    parser.add_argument("--size", type=int, default=200, help="new examples per subset")
    parser.add_argument("--image-size", type=int, default=96)
    args = parser.parse_args()

    import graft
    from graft.drift import DriftConfig
    from threadpoolctl import threadpool_limits

    config = DriftConfig()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp, threadpool_limits(limits=1, user_api="blas"):
        tmp = Path(tmp)
        fm = graft.make_dataset("fashion_mnist", tmp / "fm", per_class=100)
        model = graft.probe(fm, "mobilenet_v2", image_size=args.image_size)
        test_dir = fm / "test"
        mild = changed_copy(test_dir, tmp / "fm_mild", 0.8, 15.0)
        strong = changed_copy(test_dir, tmp / "fm_strong", 0.5, 70.0)
        ds = graft.read(test_dir)
        keep3 = np.isin(ds.labels, [0, 1, 2])
        emb = {label: model.embed(graft.read(path).items) for label, path in
               (("no shift (test split)", test_dir), ("all: contrast/brightness", mild), ("strong: washed out", strong))}
        quarter = np.random.default_rng(1).random(len(ds)) < 0.25
        mixed = np.where(quarter[:, None], emb["all: contrast/brightness"], emb["no shift (test split)"])
        emb = {"no shift (test split)": emb["no shift (test split)"], "mild: 1/4 contrast/bright.": mixed,
               "all: contrast/brightness": emb["all: contrast/brightness"], "strong: washed out": emb["strong: washed out"],
               "label shift: 3 classes": emb["no shift (test split)"][keep3]}
        scenario_rows("Fashion-MNIST, mobilenet_v2 probe", model, emb, args, config)

        digits = graft.make_dataset("digits", tmp / "digits")
        fonts = graft.make_dataset("font_digits", tmp / "fonts")
        model = graft.probe(digits, "mobilenet_v2", image_size=args.image_size)
        emb = {"no shift (test split)": model.embed(graft.read(digits).test.items),
               "strong: fonts, not hands": model.embed(graft.read(fonts).items)}
        scenario_rows("handwritten digits, mobilenet_v2 probe", model, emb, args, config)
    print(f"\nthresholds: alpha {config.alpha}, strong AUC {config.strong_auc}, confidence drop {config.confidence_drop}; "
          f"{time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
