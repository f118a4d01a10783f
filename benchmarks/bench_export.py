"""ONNX export vs PyTorch, on real data: a mobilenet_v2 probe and a fine-tuned mobilenet_v2 on the
Fashion-MNIST test split, and a minilm_l6 text probe on fortunes. Per model: the largest probability
difference ONNX-fp32 vs PyTorch over the whole test split, throughput of the graph (preprocessed
inputs, same thread count) ORT-fp32 / PyTorch and int8 / fp32 at batch 1 and 32, and int8's top-1
agreement and accuracy change (static QDQ for the CNNs, dynamic for the transformer); int8 is kept
with force=True so its speed is measured even where `graft export` would refuse it.

    nice python benchmarks/bench_export.py [--per-class 100] [--image-size 96] [--epochs 1] [--threads 1]
        [--models probe,finetuned,text] [--reuse]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

import graft
from _common import workspace


def _throughput(run, batch: dict, seconds: float) -> float:
    """Items per second of ``run(batch)``: after a warm-up, as many calls as fit in ``seconds`` (at least 3)."""
    n = len(next(iter(batch.values())))
    run(batch)
    calls, start = 0, time.perf_counter()
    while calls < 3 or time.perf_counter() - start < seconds:
        run(batch)
        calls += 1
    return calls * n / (time.perf_counter() - start)


def _graph_speeds(saved_dir: Path, export_dir: Path, items: list, seconds: float) -> dict:
    import torch

    from graft.export.graph import classifier_module
    from graft.export.runtime import ExportedModel

    saved, fp32 = graft.load(saved_dir), ExportedModel.load(export_dir)
    int8 = ExportedModel.load(export_dir, variant="int8") if fp32.info["files"].get("int8") else None
    backbone = saved.backbone() if not saved.config.backbone.lora else None
    module = classifier_module(backbone, saved.head, [i["name"] for i in fp32.inputs])
    out = {}
    for size in (1, 32):
        batch = fp32.preprocessor(items[:size])
        tensors = [torch.from_numpy(batch[name]) for name in batch]

        def torch_run(_: dict) -> None:
            with torch.inference_mode():
                module(*tensors)

        t = _throughput(torch_run, batch, seconds)
        f = _throughput(fp32.run, batch, seconds)
        out[f"torch_items_per_s_b{size}"] = round(t, 1)
        out[f"ort_fp32_items_per_s_b{size}"] = round(f, 1)
        out[f"ratio_ort_fp32_over_torch_b{size}"] = round(f / t, 2)
        if int8 is not None:
            q = _throughput(int8.run, batch, seconds)
            out[f"ort_int8_items_per_s_b{size}"] = round(q, 1)
            out[f"ratio_int8_over_fp32_b{size}"] = round(q / f, 2)
    return out


def _arm(name: str, saved_dir: Path, data: Path, quantize: str, seconds: float) -> dict:
    export_dir = saved_dir.with_name(saved_dir.name + "-onnx")
    start = time.perf_counter()
    # force: int8 below 99 % agreement is measured here too (the row says it would be refused)
    result = graft.export_model(saved_dir, export_dir, quantize=quantize, data=data, overwrite=True, force=True)
    export_s = time.perf_counter() - start
    test = graft.read(data).test
    torch_p = graft.load(saved_dir).predict_proba(test.items)
    onnx_p = graft.load(export_dir).predict_proba(test.items)
    q = result["quantization"] or {}
    row = {"model": name, "export_s": round(export_s, 1), "test_n": len(test),
           "max_prob_diff_test": float(np.abs(torch_p - onnx_p).max()),
           "parity_sample_max_diff": result["parity"]["max_abs_difference"],
           "torch_accuracy": float((torch_p.argmax(1) == test.labels).mean()),
           "int8_method": quantize, "int8_top1_agreement": q.get("top1_agreement"),
           "int8_accuracy_change": q.get("accuracy_change"), "int8_refused_without_force": bool(q.get("forced")),
           "size_mb_fp32": round(q.get("size_fp32", 0) / 1e6, 1), "size_mb_int8": round(q.get("size_int8", 0) / 1e6, 1)}
    row.update(_graph_speeds(saved_dir, export_dir, list(test.items[:32]), seconds))
    print(json.dumps(row), flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-class", type=int, default=100, help="Fashion-MNIST / fortunes items per class and split")
    parser.add_argument("--image-size", type=int, default=96)
    parser.add_argument("--epochs", type=int, default=1, help="lp-ft epochs of the fine-tuned arm")
    parser.add_argument("--seconds", type=float, default=3.0, help="timing window per throughput figure")
    parser.add_argument("--models", default="probe,finetuned,text")
    parser.add_argument("--threads", type=int, default=1,
                        help="threads for PyTorch and onnxruntime alike (1: robust on a busy host)")
    parser.add_argument("--reuse", action="store_true", help="keep models already trained in the workspace")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    os.environ["GRAFT_ORT_THREADS"] = str(args.threads)
    os.environ.setdefault("GRAFT_CACHE", tempfile.mkdtemp(prefix="graft-bench-export-cache-"))
    work = workspace("export")
    arms = args.models.split(",")
    rows = []
    if {"probe", "finetuned"} & set(arms):
        fm = work / "fashion_mnist"
        if not (args.reuse and fm.is_dir()):
            fm = graft.make_dataset("fashion_mnist", fm, per_class=args.per_class, overwrite=True)
    if "probe" in arms and not (args.reuse and (work / "mnv2-probe").is_dir()):
        graft.probe(fm, "mobilenet_v2", image_size=args.image_size, out=work / "mnv2-probe", overwrite=True)
    if "probe" in arms:
        rows.append(_arm("mobilenet_v2 probe", work / "mnv2-probe", fm, "static", args.seconds))
    if "finetuned" in arms and not (args.reuse and (work / "mnv2-ft").is_dir()):
        from graft.train.config import TrainConfig

        graft.finetune(fm, "mobilenet_v2", "lp-ft", image_size=args.image_size, out=work / "mnv2-ft", overwrite=True,
                       config=TrainConfig(epochs=args.epochs, batch_size=32, early_stopping=0))
    if "finetuned" in arms:
        rows.append(_arm("mobilenet_v2 lp-ft", work / "mnv2-ft", fm, "static", args.seconds))
    if "text" in arms:
        fortunes = work / "fortunes"
        if not (args.reuse and (work / "minilm-probe").is_dir()):
            fortunes = graft.make_dataset("fortunes", fortunes, per_class=args.per_class, overwrite=True)
            graft.probe(fortunes, "minilm_l6", out=work / "minilm-probe", overwrite=True)
        rows.append(_arm("minilm_l6 probe (fortunes)", work / "minilm-probe", fortunes, "dynamic", args.seconds))
    print("\nmodel | max |p_onnx - p_torch| (test) | ORT/torch b1 | ORT/torch b32 | int8/fp32 b1 | int8/fp32 b32 | int8 agreement | int8 acc change")
    for r in rows:
        print(f"{r['model']} | {r['max_prob_diff_test']:.2e} | {r['ratio_ort_fp32_over_torch_b1']} | {r['ratio_ort_fp32_over_torch_b32']} | "
              f"{r.get('ratio_int8_over_fp32_b1')} | {r.get('ratio_int8_over_fp32_b32')} | {r['int8_top1_agreement']} | {r['int8_accuracy_change']}")


if __name__ == "__main__":
    main()
