"""Small adapters between CLI strings and API calls that need more than one line."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from graft._config import atomic_write_text


def run_embed(data: Path, backbone: str, weights: Path | None, image_size: int | None, allow_download: bool,
              out_file: Path | None, batch_size: int) -> dict[str, Any]:
    import graft

    if out_file is None:
        x = graft.embed(data, backbone, weights=weights, image_size=image_size, allow_download=allow_download,
                        batch_size=batch_size, progress=True)
        return {"n": len(x), "shape": list(x.shape)}
    from graft.api import embed_to_file

    return embed_to_file(data, out_file, backbone, weights=weights, image_size=image_size,
                         allow_download=allow_download, batch_size=batch_size, progress=True)


def run_demo(directory: Path, per_class: int, image_size: int, backbones: list[str] | None, progress: bool) -> dict[str, Any]:
    from graft.api import demo

    return demo(directory, per_class=per_class, image_size=image_size, backbones=backbones, progress=progress)


def write_predictions(rows: list[dict[str, Any]], path: Path) -> None:
    classes = list(rows[0]["probabilities"]) if rows else []
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["input", "label", *classes])
    for r in rows:
        writer.writerow([r["input"], r["label"], *(f"{r['probabilities'][c]:.6f}" for c in classes)])
    atomic_write_text(path, buffer.getvalue())
