"""A model's story: ``graft lineage`` prints the chain from a model back to the pretrained weights."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from graft.cli import output as out
from graft.cli.app import JSON, app


@app.command("lineage")
def lineage(model: Path = typer.Argument(..., help="Model folder (saved or exported)."), json_: bool = JSON) -> None:
    """The whole chain of MODEL to its root: per hop the data (fingerprint, source), method, settings,
    metrics and licences; a non-commercial or unknown licence anywhere in the chain is stated."""
    import graft

    chain = out.run(lambda: graft.lineage(model))
    if json_:
        return out.emit_json(chain)
    out.echo(f"lineage of {model}: hop 0 is this model, each next hop its parent")
    for i, hop in enumerate(chain["hops"]):
        for line in _hop_lines(i, hop):
            out.echo(line)
    out.echo(_root_line(chain["root"]))
    out.table("licences in the chain", ["what", "hop", "licence", "restriction"],
              [[i["what"], i["hop"], i["license"], i["restriction"] or "-"] for i in chain["licences"]])
    (out.warn if chain["restrictions"] else out.echo)(chain["statement"])


def _hop_lines(i: int, hop: dict[str, Any]) -> list[str]:
    lines = [f"hop {i}  {hop.get('model') or 'this model'}" + (f" ({hop['status']})" if hop.get("status") else ""),
             f"    method {hop.get('method')}; relation to its parent: {hop.get('relation') or '-'}"]
    for role, d in (hop.get("datasets") or {}).items():
        size = d.get("splits") or (f"{d['rows']} rows" if d.get("rows") is not None else "size not recorded")
        lines.append(f"    data {'' if role == 'training' else '(' + role + ') '}{d.get('source')}, fingerprint {d.get('fingerprint')}, "
                     f"{size}; licence: {d.get('license')}")
    if hop.get("settings"):
        lines.append("    settings " + ", ".join(f"{k}={v}" for k, v in hop["settings"].items()))
    scores = hop.get("metrics") or {}
    if scores:
        lines.append("    metrics " + "; ".join(f"{s} " + ", ".join(f"{NAMES[k]} {m[k]:.4f}" for k in NAMES if k in m)
                                                  for s, m in scores.items()))
    if hop.get("weights_license"):
        lines.append(f"    weights licence {hop['weights_license']}")
    return lines


NAMES = {"accuracy": "accuracy", "macro_f1": "macro-F1", "r2": "R²", "rmse": "RMSE", "mae": "MAE"}


def _root_line(root: dict[str, Any]) -> str:
    if root.get("kind") == "features":
        return "root   numeric features (no pretrained weights)"
    what = root.get("backbone") or root.get("hub_id") or root.get("weights_file") or "?"
    sha = str(root.get("weights_sha256") or "")
    return (f"root   {root.get('kind', '?')} {what}" + (f" (weights {sha[:16]})" if sha else "")
            + (f" from {root['weights_source']}" if root.get("weights_source") else "")
            + f"; licence: {root.get('license', 'unknown')}")
