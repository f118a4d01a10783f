"""Multi-layer vs last-layer probes: accuracy per backbone and task, extraction memory, prediction latency.

Three parts, each measured against its baseline in the same run, with an empty feature cache of its own:

(a) ``accuracy``: last-layer probe (``fit_probe`` on the backbone's features) vs multi-layer probe
    (``fit_multilayer`` on every tap) — test accuracy, extraction and fit seconds — for every offline vision backbone on Fashion-MNIST 100/class
    (800 train / 200 val / 1000 test), scikit-learn digits and rendered font digits; ``minilm_l6`` on
    the fortunes topics (40 labels per class: 32 train + 8 val, 30 test per class); ``whisper_tiny_en``
    on spoken digits whose test voices are never heard in training. ``--views`` adds a multi-layer
    probe with horizontally flipped training rows (test-time averaging when validation favours it).
(b) ``rss``: peak RSS (``ru_maxrss``), each figure in a fresh subprocess, over N Fashion-MNIST
    training images (``--rss-images``, default 60000), taps pooled by ``--rss-pooling`` (default
    grid4, the fit default):
    * extraction (the issue's goal): every tap of the N images extracted into an empty cache, then
      the selection sample (``--selection-rows`` rows, every tap) read into the one float32 matrix
      the column selection fits on, as ``graft.probe(layers="all")`` reads it — vs the last-layer
      embeddings of the same N images (``embed_items``);
    * the whole probe (unless ``--rss-extraction-only``): ``graft.probe`` of a dataset of the N
      training images + 1000 val + 1000 test images (Fashion-MNIST's test file) with
      ``layers="all"`` (``MultiLayerConfig(pooling=...)``: selection on the sample, fits, refit on
      every training row, test scoring) vs the last-layer ``graft.probe`` — what a user's probe on
      60k images costs in memory. These children reuse the cache the extraction children filled
      (their extraction peak is the figure above); ``--rss-C`` fixes C to shorten the run (the
      matrices, hence the memory, do not depend on how many Cs are tried).
    Measured 2026-12-01 (``--parts rss --rss-C 1.0``, mobilenet_v2, 96 px, grid4), peak RSS MiB:
    60,000 images: extraction 1636 vs 1233 (1.33x), whole probe 2268 (keep 0.25, 3570 columns)
    vs 3090 (0.73x); 10,000 images: extraction 1611 vs 984 (1.64x: the 10,000 x 14,280 float32
    selection matrix, 545 MiB, does not shrink with N), whole probe 2215 vs 1387 (1.60x).
(c) ``latency``: prediction latency of a multi-layer model (``--pooling``, default grid4, the fit
    default) vs a last-layer model of the same backbone, batch 1 and 32, on images never seen
    before (so both compute; the backbone is built once, as in a serving process).

Example:
    python benchmarks/bench_multilayer.py --parts accuracy --tasks fashion_mnist --backbones mobilenet_v2
    python benchmarks/bench_multilayer.py --parts rss --rss-images 10000 --rss-C 1.0
    python benchmarks/bench_multilayer.py --parts latency
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

VISION = ("mobilenet_v2", "efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2")
VISION_TASKS = ("fashion_mnist", "digits", "font_digits")
AUDIO_BACKBONE = "whisper_tiny_en_2s"
FASHION_IDX = Path("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")
FASHION_DIR = FASHION_IDX.parent


# --- (a) accuracy --------------------------------------------------------------------------------


def _fortunes_40(root: Path) -> Any:
    """Fortunes topics with 40 labelled quotes per class (32 train + 8 val) and 30 test quotes per class."""
    import graft
    from graft.data import read

    ds = read(graft.make_dataset("fortunes", root / "fortunes", per_class=150))
    keep = []
    for c in range(len(ds.classes)):
        for split, n in (("train", 32), ("val", 8), ("test", 30)):
            keep += list(np.flatnonzero((ds.labels == c) & (ds.splits == split))[:n])
    return ds.select(np.sort(keep))


def _register_short_whisper(seconds: float) -> None:
    from graft.backbones import get_spec, register_backbone
    from graft.backbones.whisper import whisper_tiny_en

    spec = get_spec("whisper_tiny_en")
    register_backbone(spec.replace(name=AUDIO_BACKBONE).with_input(max_seconds=seconds), whisper_tiny_en)


def _split(feats: dict[str, np.ndarray], ds: Any, split: str) -> dict[str, np.ndarray]:
    return {t: v[ds.splits == split] for t, v in feats.items()}


def accuracy_rows(ds: Any, backbone: str, image_size: int | None, views: bool,
                  pooling: str = "mean") -> list[dict[str, Any]]:
    """Last-layer probe vs multi-layer probe on one dataset, from one extraction of every tap.

    The last-layer probe reads the backbone's own features: for the CNNs of the zoo the pooled
    output of the last block is exactly that (same computation; ``test_multilayer`` checks it),
    for text and audio they are embedded separately (``graft.embed``).
    """
    import graft
    from graft.features.taps import tap_features
    from graft.heads.multilayer import MultiLayerConfig, fit_multilayer
    from graft.heads.probe import fit_probe
    from graft.metrics import classification_metrics

    n_classes, y = len(ds.classes), {s: ds.labels[ds.splits == s] for s in ("train", "val", "test")}
    start = time.perf_counter()
    taps = tap_features(ds, backbone, image_size=image_size, pooling=pooling)
    extract_all = time.perf_counter() - start
    start = time.perf_counter()
    if backbone in VISION:
        last_block = [t for t in taps if t != "source_logits"][-1]
        x = taps[last_block].astype(np.float32)
    else:
        x = graft.embed(ds, backbone, image_size=image_size)
    extract_last = time.perf_counter() - start if backbone not in VISION else float("nan")
    rows = []
    start = time.perf_counter()
    probe = fit_probe(x[ds.splits == "train"], y["train"], x[ds.splits == "val"], y["val"], n_classes)
    test = classification_metrics(y["test"], probe.head.predict_proba(x[ds.splits == "test"]), n_classes)
    rows.append({"arm": "last layer", "test": test["accuracy"], "val": probe.val_metrics["accuracy"], "n_test": test["n"],
                 "extract": extract_last, "fit": time.perf_counter() - start, "features": probe.head.n_features})
    configs = [("all layers", MultiLayerConfig(pooling=pooling), None)]
    if views:
        start = time.perf_counter()
        flipped = tap_features(ds, backbone, image_size=image_size, view="hflip", pooling=pooling)
        configs.append(("all layers + hflip", MultiLayerConfig(views=("hflip",), pooling=pooling),
                        (flipped, time.perf_counter() - start)))
    for name, config, view in configs:
        start = time.perf_counter()
        tv = {"hflip": _split(view[0], ds, "train")} if view else None
        vv = {"hflip": _split(view[0], ds, "val")} if view else None
        result = fit_multilayer(_split(taps, ds, "train"), y["train"], _split(taps, ds, "val"), y["val"], n_classes,
                                config, train_views=tv, val_views=vv)
        proba = result.predict_proba(_split(taps, ds, "test"), {"hflip": _split(view[0], ds, "test")} if view else None)
        test = classification_metrics(y["test"], proba, n_classes)
        sel = result.selection
        rows.append({"arm": name, "test": test["accuracy"], "val": result.val_metrics["accuracy"], "n_test": test["n"],
                     "extract": extract_all + (view[1] if view else 0.0), "fit": time.perf_counter() - start,
                     "features": sel.n_features, "keep": result.keep, "taps": len(sel.taps), "deepest": sel.taps[-1],
                     "tta": ",".join(sel.tta_views) or "-"})
    return rows


def print_accuracy(task: str, backbone: str, rows: list[dict[str, Any]]) -> None:
    base = rows[0]
    print(f"\n{task} · {backbone}")
    print(f"{'arm':20s} {'test acc':>8s} {'Δ vs last':>9s} {'val acc':>8s} {'n_test':>6s} {'extract s':>9s} {'fit s':>6s} "
          f"{'features':>8s}  selection")
    for r in rows:
        sel = f"keep {r['keep']:.3g}, {r['taps']} taps up to {r['deepest']}, tta {r['tta']}" if "keep" in r else "-"
        extract = "(shared)" if r["extract"] != r["extract"] else f"{r['extract']:9.1f}"
        print(f"{r['arm']:20s} {r['test']:8.3f} {r['test'] - base['test']:+9.3f} {r['val']:8.3f} {r['n_test']:6d} "
              f"{extract:>9s} {r['fit']:6.1f} {r['features']:8d}  {sel}", flush=True)


def run_accuracy(args: argparse.Namespace, root: Path) -> None:
    import graft
    from graft.data import read

    for task in args.tasks:
        if task in VISION_TASKS:
            data = read(graft.make_dataset(task, root / task, per_class=args.per_class))
            for backbone in args.backbones:
                print_accuracy(f"{task} ({args.per_class}/class, {args.image_size} px)", backbone,
                               accuracy_rows(data, backbone, args.image_size, args.views, args.pooling))
        elif task == "fortunes":
            print_accuracy("fortunes topics (6 classes, 40 labels/class)", "minilm_l6",
                           accuracy_rows(_fortunes_40(root), "minilm_l6", None, False))
        elif task == "spoken_digits":
            _register_short_whisper(args.seconds)
            data = read(graft.make_dataset("spoken_digits", root / "spoken", per_class=args.audio_per_class))
            print_accuracy(f"spoken digits, unseen test voices ({args.seconds:g} s window)", "whisper_tiny_en",
                           accuracy_rows(data, AUDIO_BACKBONE, None, False))


# --- (b) peak RSS --------------------------------------------------------------------------------


def _idx(name: str) -> np.ndarray:
    with gzip.open(FASHION_DIR / name, "rb") as fh:
        data = fh.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * dims).reshape(shape)


def fashion_images(n: int) -> np.ndarray:
    """The first ``n`` Fashion-MNIST training images (uint8, 28x28) from the Debian package's IDX file."""
    return _idx(FASHION_IDX.name)[:n]


def fashion_dataset(n: int, held_out: int = 100) -> Any:
    """The first ``n`` training images as the train split, ``held_out`` per class of the test file
    as val and as many others as test (uint8 arrays, as a user's in-memory data would be)."""
    from graft.data.dataset import Dataset

    train_x, train_y = fashion_images(n), _idx("train-labels-idx1-ubyte.gz")[:n]
    test_x, test_y = _idx("t10k-images-idx3-ubyte.gz"), _idx("t10k-labels-idx1-ubyte.gz")
    val_rows = np.concatenate([np.flatnonzero(test_y == c)[:held_out] for c in range(10)])
    test_rows = np.concatenate([np.flatnonzero(test_y == c)[held_out: 2 * held_out] for c in range(10)])
    items = list(train_x) + list(test_x[val_rows]) + list(test_x[test_rows])
    labels = np.concatenate([train_y, test_y[val_rows], test_y[test_rows]]).astype(np.int64)
    splits = ["train"] * n + ["val"] * len(val_rows) + ["test"] * len(test_rows)
    return Dataset(items=items, labels=labels, classes=[f"class_{c}" for c in range(10)], modality="image",
                   splits=np.array(splits, dtype=object))


RSS_MODES = ("last", "all", "probe-last", "probe-all")


def rss_child(mode: str, n: int, backbone: str, image_size: int, selection_rows: int, pooling: str = "mean",
              C: float | None = None) -> None:
    """Runs in a fresh process: extract (or probe), then print peak RSS (MiB) as JSON."""
    start = time.perf_counter()
    info: dict[str, Any] = {}
    if mode == "last":
        from graft.features.extract import embed_items

        x = embed_items(list(fashion_images(n)), backbone, image_size=image_size)
        info["width"] = x.shape[1]
    elif mode == "all":
        from graft.features.taps import available_taps, combine_taps, extract_taps, tap_features

        items = list(fashion_images(n))
        taps = available_taps(backbone, image_size=image_size)
        extract_taps(items, backbone, taps, image_size=image_size, pooling=pooling)
        # the selection's input, read as graft.probe(layers="all") reads it: tap by tap from the
        # cache into one float32 matrix of every column
        sample = tap_features(items[:selection_rows], backbone, image_size=image_size, pooling=pooling,
                              dtype=np.float16, lazy=True)
        everything = {t: list(range(sample.width(t))) for t in sample}
        info["width"] = combine_taps(sample, everything, "l2").shape[1]
    else:
        import graft
        from graft.heads.multilayer import MultiLayerConfig

        data = fashion_dataset(n)
        if mode == "probe-last":
            model = graft.probe(data, backbone, image_size=image_size)
        else:
            config = MultiLayerConfig(pooling=pooling, selection_rows=selection_rows, C=C)
            model = graft.probe(data, backbone, image_size=image_size, config=config)
            info["keep"] = model.config.head["keep"]
        info["width"] = model.head.n_features
        info["test_accuracy"] = model.lineage["metrics"]["test"]["accuracy"]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"mode": mode, "n": n, "peak_rss_mib": peak, "seconds": time.perf_counter() - start, **info}))


def run_rss(args: argparse.Namespace, root: Path) -> None:
    results = {}
    modes = RSS_MODES[:2] if args.rss_extraction_only else RSS_MODES
    for mode in modes:
        # a probe child reuses the cache its extraction child filled (that child measured extraction)
        env = {**os.environ, "GRAFT_CACHE": str(root / f"rss-cache-{mode.removeprefix('probe-')}")}
        cmd = [sys.executable, __file__, "--rss-child", mode, "--rss-images", str(args.rss_images),
               "--image-size", str(args.image_size), "--rss-backbone", args.rss_backbone,
               "--rss-pooling", args.rss_pooling, "--selection-rows", str(args.selection_rows)]
        if args.rss_C is not None:
            cmd += ["--rss-C", str(args.rss_C)]
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
        results[mode] = json.loads(out.strip().splitlines()[-1])
        print(f"  ({mode}: {json.dumps(results[mode])})", flush=True)
    print(f"\npeak RSS, {args.rss_backbone} at {args.image_size} px, {args.rss_images} Fashion-MNIST training images, "
          f"taps pooled by {args.rss_pooling}, selection sample {args.selection_rows} rows")
    print(f"{'':44s} {'peak RSS MiB':>12s} {'wall s':>8s} {'width':>6s}")
    labels = {"last": "last layer: embed_items", "all": "every tap (+ selection sample matrix)",
              "probe-last": "graft.probe, last layer", "probe-all": "graft.probe, layers='all'"}
    for mode in modes:
        r = results[mode]
        print(f"{labels[mode]:44s} {r['peak_rss_mib']:12.0f} {r['seconds']:8.0f} {r['width']:6d}")
    ratio = results["all"]["peak_rss_mib"] / results["last"]["peak_rss_mib"]
    print(f"extraction ratio multi-layer / last-layer: {ratio:.2f}x (allowed <= 1.5x)")
    if not args.rss_extraction_only:
        ratio = results["probe-all"]["peak_rss_mib"] / results["probe-last"]["peak_rss_mib"]
        multi, last = results["probe-all"], results["probe-last"]
        print(f"whole-probe ratio multi-layer / last-layer: {ratio:.2f}x (keep {multi['keep']}, "
              f"test accuracy {multi['test_accuracy']:.3f} vs {last['test_accuracy']:.3f})", flush=True)


# --- (c) latency ---------------------------------------------------------------------------------


def run_latency(args: argparse.Namespace, root: Path) -> None:
    import graft
    from graft.data import read
    from graft.features.extract import embed_items
    from graft.features.store import FeatureStore
    from graft.features.taps import LazyBackbone, selected_features
    from graft.heads.multilayer import MultiLayerConfig

    data = read(graft.make_dataset("fashion_mnist", root / "fashion_mnist", per_class=args.per_class))
    backbone = args.rss_backbone
    last = graft.probe(data, backbone, image_size=args.image_size)
    multi = graft.probe(data, backbone, image_size=args.image_size,
                        config=MultiLayerConfig(pooling=args.latency_pooling))
    head = multi.config.head
    print(f"\nprediction latency, {backbone} at {args.image_size} px; multi-layer model: {multi.head.n_features} "
          f"features from {len(head['taps'])} taps (deepest {head['taps'][-1]}), pooling {head['pooling']}, "
          f"keep {head['keep']}, "
          f"tta {head['tta_views'] or '-'}")
    source = LazyBackbone(backbone, options={"image_size": args.image_size})
    built = source.get()  # built once, as a serving process keeps it
    pool = fashion_images(args.latency_calls * 33 * 2)
    counter = iter(range(len(pool)))

    def fresh(batch: int) -> list[np.ndarray]:
        # arrays never embedded before (the probes saw PNG files): cache misses, the network runs every call
        return [pool[next(counter)] for _ in range(batch)]

    store = FeatureStore(root / "latency-cache")

    def timed_call(fn: Any) -> tuple[float, float]:
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        return time.perf_counter() - wall, time.process_time() - cpu

    # wall time is what a caller waits; CPU time (all threads of this process) is less disturbed
    # by other jobs on a shared host
    print(f"{'batch':>5s} {'last wall ms':>12s} {'multi wall ms':>13s} {'ratio':>6s} {'last CPU ms':>11s} "
          f"{'multi CPU ms':>12s} {'ratio':>6s}  (medians of {args.latency_calls} calls, alternating, cache misses)")
    for batch in (1, 32):
        t_last, t_multi = [], []
        for _ in range(args.latency_calls):
            items = fresh(batch)
            t_last.append(timed_call(lambda: last.head.predict_proba(embed_items(items, built, store=store))))
            items = fresh(batch)
            t_multi.append(timed_call(lambda: multi.head.predict_proba(selected_features(items, source, head, store=store))))
        (aw, ac), (bw, bc) = (np.median(np.array(t), axis=0) * 1000 for t in (t_last, t_multi))
        print(f"{batch:5d} {aw:12.1f} {bw:13.1f} {bw / aw:6.2f} {ac:11.1f} {bc:12.1f} {bc / ac:6.2f}", flush=True)
    print("allowed: ratio <= 1.3")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--parts", nargs="+", choices=["accuracy", "rss", "latency"], default=["accuracy", "rss", "latency"])
    parser.add_argument("--tasks", nargs="+", default=[*VISION_TASKS, "fortunes", "spoken_digits"],
                        choices=[*VISION_TASKS, "fortunes", "spoken_digits"])
    parser.add_argument("--backbones", nargs="+", default=list(VISION), help="vision backbones for part (a)")
    parser.add_argument("--per-class", type=int, default=100, help="images per class and split (vision tasks)")
    parser.add_argument("--image-size", type=int, default=96)
    parser.add_argument("--views", action="store_true", help="(a): also a multi-layer probe with hflip views")
    parser.add_argument("--pooling", choices=["mean", "grid2", "grid3", "grid4"], default="mean",
                        help="(a): spatial pooling of image taps (gridN: the finest grid <= N within the width cap)")
    parser.add_argument("--audio-per-class", type=int, default=20, help="spoken digit clips per digit and split")
    parser.add_argument("--seconds", type=float, default=2.0, help="whisper window")
    parser.add_argument("--rss-images", type=int, default=60000, help="(b): Fashion-MNIST training images to extract")
    parser.add_argument("--rss-backbone", default="mobilenet_v2", help="backbone of parts (b) and (c)")
    parser.add_argument("--rss-pooling", choices=["mean", "grid2", "grid3", "grid4"], default="grid4",
                        help="(b): pooling of every tap (grid4: graft fit's default)")
    parser.add_argument("--selection-rows", type=int, default=10000, help="(b): rows whose every tap is read back")
    parser.add_argument("--rss-C", type=float, default=None,
                        help="(b): fixed C of the whole multi-layer probe (default: the C search a user gets)")
    parser.add_argument("--rss-extraction-only", action="store_true",
                        help="(b): only the extraction figures, not the whole probes")
    parser.add_argument("--latency-pooling", choices=["mean", "grid2", "grid3", "grid4"], default="grid4",
                        help="(c): pooling of the multi-layer model's taps (grid4: graft fit's default)")
    parser.add_argument("--latency-calls", type=int, default=15)
    parser.add_argument("--cache", type=Path, default=None, help="feature cache to reuse (default: an empty temp one)")
    parser.add_argument("--rss-child", choices=list(RSS_MODES), help=argparse.SUPPRESS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.rss_child:
        rss_child(args.rss_child, args.rss_images, args.rss_backbone, args.image_size, args.selection_rows,
                  args.rss_pooling, args.rss_C)
        return
    import torch

    print(f"torch threads {torch.get_num_threads()}, cpus {os.cpu_count()}")
    with tempfile.TemporaryDirectory(prefix="graft-bench-multilayer-") as tmp:
        root = Path(tmp)
        # an empty cache of its own, unless --cache names one to reuse across runs
        os.environ["GRAFT_CACHE"] = str(args.cache or root / "cache")
        if "accuracy" in args.parts:
            run_accuracy(args, root)
        if "latency" in args.parts:
            run_latency(args, root)
        if "rss" in args.parts:
            run_rss(args, root)


if __name__ == "__main__":
    main()
