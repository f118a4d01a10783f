"""Fine-tuning vs probing for text and audio transformers, with and without LoRA.

- text: ``minilm_l6`` on fortunes topics (6 categories; train/test CSVs, val carved from train):
  linear probe vs ``lp-ft`` fine-tuning of every weight vs ``lp-ft`` with LoRA adapters;
- audio: ``whisper_tiny_en`` on spoken digits, test voices never heard in training: probe vs
  ``lp-ft`` fine-tuning vs ``lp-ft`` with LoRA.

Every arm starts from an empty feature cache (its own temp ``GRAFT_CACHE``), so each wall time
includes the feature extraction that arm needs. Whisper runs with a 2 s window (registered here as
``whisper_tiny_en_2s``, the same weights): the clips are single words, and the default 10 s window
costs 5x more per step on CPU. ``graft.finetune`` takes no backbone option but ``image_size``, hence
the registered variant rather than ``max_seconds=2``.

Run: .venv/bin/python benchmarks/bench_finetune_text_audio.py [--text-per-class 30] [--audio-per-class 12]
     [--epochs 3] [--lora 8] [--only text|audio]
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

AUDIO_BACKBONE = "whisper_tiny_en_2s"


def arm(name: str, run: Callable[[], Any]) -> dict[str, Any]:
    """Run one arm against an empty feature cache; its test/val accuracy, wall time, parameter counts."""
    with tempfile.TemporaryDirectory(prefix="graft-bench-cache-") as cache:
        os.environ["GRAFT_CACHE"] = cache
        start = time.perf_counter()
        model = run()
        seconds = time.perf_counter() - start
    metrics = model.lineage["metrics"]
    settings = model.lineage.get("settings", {})
    row = {"arm": name, "test": metrics["test"]["accuracy"], "val": metrics.get("val", {}).get("accuracy", float("nan")),
           "n_test": metrics["test"]["n"], "seconds": seconds, "trainable": "", "saved": ""}
    counts = settings.get("lora") or _counts(model)
    if counts:
        row["trainable"] = f"{counts['trainable']:,} / {counts['total']:,}"
    with tempfile.TemporaryDirectory(prefix="graft-bench-model-") as out:
        model.save(Path(out) / "m")
        row["saved"] = f"{(Path(out) / 'm' / 'model.safetensors').stat().st_size / 1e6:.2f} MB"
    return row


def _counts(model: Any) -> dict[str, int] | None:
    import json

    history = model.extra_files.get("history.json")
    if not history:
        return None
    last = json.loads(history)[-1]
    return {"trainable": last["trainable_params"], "total": last["total_params"]}


def print_rows(task: str, rows: list[dict[str, Any]]) -> None:
    print(f"\n{task}")
    print(f"{'arm':22s} {'test acc':>8s} {'val acc':>8s} {'n_test':>6s} {'wall s':>7s}  {'trainable / total params':>26s}  saved weights")
    for r in rows:
        print(f"{r['arm']:22s} {r['test']:8.3f} {r['val']:8.3f} {r['n_test']:6d} {r['seconds']:7.1f}  {r['trainable']:>26s}  {r['saved']}")


def arms(data: Path, backbone: str, epochs: int, lora: int, lr: float, batch_size: int) -> list[dict[str, Any]]:
    import graft
    from graft.train.config import TrainConfig

    # augment=False: text has none and the probe sees clean audio too; no early stopping in a 3-epoch run
    base = dict(epochs=epochs, lr=lr, batch_size=batch_size, augment=False, early_stopping=0)
    return [
        arm("probe", lambda: graft.probe(data, backbone)),
        arm("lp-ft (all weights)", lambda: graft.finetune(data, backbone, "lp-ft", config=TrainConfig(**base))),
        arm(f"lp-ft + LoRA r={lora}", lambda: graft.finetune(data, backbone, "lp-ft", config=TrainConfig(**base, lora=lora))),
    ]


def register_short_whisper(seconds: float) -> None:
    from graft.backbones import get_spec, register_backbone
    from graft.backbones.whisper import whisper_tiny_en

    spec = get_spec("whisper_tiny_en")
    register_backbone(spec.replace(name=AUDIO_BACKBONE).with_input(max_seconds=seconds), whisper_tiny_en)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--text-per-class", type=int, default=30, help="fortunes quotes per category and split cap")
    parser.add_argument("--audio-per-class", type=int, default=12, help="spoken digits clips per digit and split")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--lora", type=int, default=8, help="LoRA rank")
    parser.add_argument("--lr", type=float, default=1e-3, help="head LR; lp-ft fine-tunes the backbone at lr/10 (LoRA adapters: x lora_lr_factor 10)")
    parser.add_argument("--seconds", type=float, default=2.0, help="whisper window")
    parser.add_argument("--only", choices=["text", "audio"], default=None)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    import torch

    import graft

    print(f"torch threads {torch.get_num_threads()}, cpus {os.cpu_count()}, epochs {args.epochs}, LoRA rank {args.lora}")
    with tempfile.TemporaryDirectory(prefix="graft-bench-data-") as tmp:
        if args.only in (None, "text"):
            data = graft.make_dataset("fortunes", Path(tmp) / "fortunes", per_class=args.text_per_class)
            rows = arms(data, "minilm_l6", args.epochs, args.lora, args.lr, 16)
            print_rows(f"text: minilm_l6 on fortunes topics (6 classes, per_class {args.text_per_class})", rows)
        if args.only in (None, "audio"):
            register_short_whisper(args.seconds)
            data = graft.make_dataset("spoken_digits", Path(tmp) / "digits", per_class=args.audio_per_class)
            rows = arms(data, AUDIO_BACKBONE, args.epochs, args.lora, args.lr, 16)
            print_rows(f"audio: whisper_tiny_en ({args.seconds:g} s window) on spoken digits, held-out voices "
                       f"(per_class {args.audio_per_class})", rows)


if __name__ == "__main__":
    main()
