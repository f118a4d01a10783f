"""Domain adaptation, measured through `graft.adapt.driver.adapt` (the path `graft adapt` takes).

- images: digits rendered from fonts (labelled source, `font_digits`, 8x8 like load_digits) →
  scikit-learn's handwritten digits (`digits`, unlabelled target), frozen `mobilenet_v2` features.
  Target accuracy of source-only, every method and auto (goal: auto ≥ source-only + 10 points).
  "test" scores the digits' test split (451) — the model saw those images unlabelled, as every
  unsupervised DA setting does; "all" scores every target image (1797).
- speech: spoken digits, espeak-ng voices of the train split (labelled) → the disjoint voices of
  the test split (unlabelled), `whisper_tiny_en` (or `test_audio` when it is not registered), and the
  same split on 64-band log spectra (no backbone), a representation the voices move more.

Target labels are read only to score. Each method's model is the saved form (a LinearHead over raw
target embeddings), so this measures what ships.

Run: .venv/bin/python benchmarks/bench_adapt.py [--image-size 96] [--deep] [--skip-speech]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SHALLOW = ("source-only", "coral", "sa", "iw", "kmm", "kliep", "self-train", "auto")
DEEP = ("dann", "deep-coral", "mmd")
GOAL_POINTS = 0.10


def accuracy_on(model, ds, X) -> float:
    """Accuracy of ``model``'s head on embeddings ``X`` of every labelled item of ``ds`` (classes by name)."""
    from graft.api import _map_classes

    labels, keep, _ = _map_classes(ds, model.classes)
    return float(np.mean(model.head.predict(X[keep]) == labels[keep]))


def run_methods(task: str, source, target, backbone: str, methods, image_size=None, train_config=None) -> dict:
    import graft
    from graft.adapt.driver import adapt
    from graft.api import as_dataset

    target_ds = as_dataset(target)
    X_all = graft.embed(target_ds, backbone, image_size=image_size)
    rows, base = {}, None
    print(f"\n{task} — backbone {backbone}" + (f", {image_size}px" if image_size else ""))
    print(f"{'method':<12}{'test acc':>10}{'all acc':>10}{'Δ test':>9}{'seconds':>9}  chosen / why")
    for method in methods:
        start = time.perf_counter()
        model, report = adapt(source, target, backbone, method, target_eval=target, image_size=image_size,
                              train_config=train_config)
        seconds = time.perf_counter() - start
        test = report["target_eval"]["accuracy"]
        every = accuracy_on(model, target_ds, X_all if method not in DEEP else model.embed(target_ds.items))
        base = report["source_only"]["accuracy"] if base is None else base
        rows[method] = {"test": test, "all": every, "seconds": seconds, "chosen": report["chosen"]}
        why = report["chosen"] if method != "auto" else f"{report['chosen']}: {report['reason']}"
        print(f"{method:<12}{test:>10.3f}{every:>10.3f}{test - base:>+9.3f}{seconds:>9.1f}  {why}")
    return rows


def digits_task(tmp: Path, image_size: int | None, deep: bool, only: tuple[str, ...] | None = None) -> dict:
    import graft

    source = graft.make_dataset("font_digits", tmp / "font_digits")
    target = graft.make_dataset("digits", tmp / "digits")
    methods = only or (SHALLOW + (DEEP if deep else ()))
    methods = ("source-only",) + tuple(m for m in methods if m != "source-only")  # the baseline row comes first
    train_config = None
    if any(m in DEEP for m in methods):
        from graft.train.config import TrainConfig

        train_config = TrainConfig(epochs=2, batch_size=32, hflip=False, augment=False)
    return run_methods("fonts → handwritten digits", source, target, "mobilenet_v2", methods, image_size, train_config)


def speech_task(tmp: Path) -> dict:
    import graft

    backbone = "whisper_tiny_en" if "whisper_tiny_en" in graft.list_backbones() else "test_audio"
    try:
        ds = graft.read(graft.make_dataset("spoken_digits", tmp / "spoken", per_class=20))
    except Exception as exc:  # espeak-ng missing
        print(f"\nspeech: skipped ({exc})")
        return {}
    source, target = ds.select(ds.splits != "test"), ds.test
    rows = run_methods("spoken digits: train voices → unseen voices", source, target, backbone, SHALLOW)
    # the same shift on hand-made features (log spectrum, 64 bands), where the voices matter more
    from graft.cluster.driver import raw_features
    from graft.data import from_arrays

    spectra = {name: from_arrays(raw_features(part), part.labels, classes=part.classes, splits=part.splits,
                                 source=f"spoken_digits {name} log-spectra") for name, part in (("train", source), ("test", target))}
    run_methods("spoken digits, log-spectrum features (no backbone)", spectra["train"], spectra["test"], "identity", SHALLOW)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--image-size", type=int, default=96, help="mobilenet_v2 input size (224 is its native size)")
    parser.add_argument("--deep", action="store_true", help="also fine-tune with dann / deep-coral / mmd (slow on CPU)")
    parser.add_argument("--skip-speech", action="store_true")
    parser.add_argument("--methods", help="comma-separated subset of the digits methods (source-only always runs)")
    args = parser.parse_args()
    from threadpoolctl import threadpool_limits

    with tempfile.TemporaryDirectory() as tmp, threadpool_limits(limits=1, user_api="blas"):
        only = tuple(args.methods.split(",")) if args.methods else None
        rows = digits_task(Path(tmp), args.image_size, args.deep, only)
        if not args.skip_speech:
            speech_task(Path(tmp))
    if "auto" not in rows:
        return 0
    gain = rows["auto"]["test"] - rows["source-only"]["test"]
    met = gain >= GOAL_POINTS
    print(f"\ngoal: auto ≥ source-only + {GOAL_POINTS:.2f} on the digits test split: {gain:+.3f} → {'met' if met else 'NOT met'}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
