"""Ship commands: export (ONNX, parity-checked, optional int8) and serve (HTTP, Open Inference Protocol V2)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from graft.cli import output as out
from graft.cli.app import JSON, app


@app.command("export")
def export(
    model: Path = typer.Argument(..., help="Saved model directory."),
    format_: str = typer.Option("onnx", "--format", help="Export format (onnx)."),
    quantize: str = typer.Option("none", "--quantize", help="int8: none, dynamic (transformers) or static (CNNs; calibrated on training data)."),
    out_dir: Optional[Path] = typer.Option(None, "--out", help="Folder to write (default: MODEL_DIR-onnx)."),
    data: Optional[Path] = typer.Option(None, "--data", help="Data for the parity check, calibration and the int8 test (default: the model's training data)."),
    force: bool = typer.Option(False, "--force", help="Keep int8 even when it agrees with fp32 on fewer than 99% of test items."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an earlier export at --out."),
    json_: bool = JSON,
) -> None:
    """Export a saved model to ONNX: parity-checked against PyTorch (1e-4), optionally int8."""
    from graft.export.driver import export_model

    result = out.run(lambda: export_model(model, out_dir, format=format_, quantize=quantize, data=data, force=force,
                                                 overwrite=overwrite))  # type: ignore[arg-type]
    if json_:
        return out.emit_json(result)
    p = result["parity"]
    out.echo(f"wrote {result['path']}: parity on {p['n']} training items, largest probability difference "
             f"{p['max_abs_difference']:.2e} (allowed {p['tolerance']:g})")
    q = result.get("quantization")
    if q:
        change = f", accuracy {q['fp32_accuracy']:.4f} → {q['int8_accuracy']:.4f} ({q['accuracy_change']:+.4f})" if "accuracy_change" in q else ""
        out.echo(f"int8 ({q['method']}): top-1 agreement {q['top1_agreement']:.2%} on {q['n']} {q['split']} items{change}"
                 + ("; kept with --force" if q.get("forced") else ""))


@app.command("serve")
def serve(
    models: List[Path] = typer.Argument(..., help="Saved or exported model directories."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (default: this machine only)."),
    port: int = typer.Option(8000, "--port", min=0, max=65535),
    backend: str = typer.Option("torch", "--backend", help="torch (saved models) or onnx (exported folders; saved models need `graft export` first)."),
    max_batch: int = typer.Option(32, "--max-batch", help="Largest micro-batch; 1 turns batching off."),
    max_latency_ms: float = typer.Option(5.0, "--max-latency-ms", help="Longest wait for a batch to fill."),
    max_queue: int = typer.Option(256, "--max-queue", help="Waiting inputs per model before 503 + Retry-After."),
    max_body_mb: float = typer.Option(16.0, "--max-body-mb", help="Largest request body (413 above)."),
    threads: Optional[int] = typer.Option(None, "--threads", help="Threads per forward pass (default: PyTorch's / onnxruntime's own)."),
    int8: bool = typer.Option(False, "--int8", help="Run the int8 graph of exported folders (exported with --quantize)."),
    token: Optional[str] = typer.Option(None, "--token", envvar="GRAFT_SERVE_TOKEN", help="Require 'Authorization: Bearer TOKEN' on inference endpoints (or set GRAFT_SERVE_TOKEN)."),
) -> None:
    """Serve models over HTTP: Open Inference Protocol V2, /predict for files and texts, /metrics."""
    from graft.serve import ServeSettings, serve as run

    settings = out.run(lambda: ServeSettings(backend=backend, max_batch=max_batch, max_latency_ms=max_latency_ms,  # type: ignore[arg-type]
                                             max_queue=max_queue, max_body_bytes=int(max_body_mb * 1024 * 1024), token=token,
                                             int8=int8, threads=threads))
    out.warn(f"serving {', '.join(str(m) for m in models)} on http://{host}:{port} (docs at /docs); Ctrl-C or SIGTERM stops")
    out.run(lambda: run(models, host=host, port=port, settings=settings))
