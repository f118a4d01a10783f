"""Small adapters between CLI strings and API calls that need more than one line."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from graft._config import atomic_write_text


def run_embed(data: Path, backbone: str, weights: Path | None, image_size: int | None, allow_download: bool,
              out_file: Path | None, batch_size: int, overwrite: bool = False, **read_options: Any) -> dict[str, Any]:
    import graft

    if out_file is None:
        x = graft.embed(data, backbone, weights=weights, image_size=image_size, allow_download=allow_download,
                        batch_size=batch_size, progress=True, **read_options)
        return {"n": len(x), "shape": list(x.shape)}
    from graft.api import embed_to_file

    return embed_to_file(data, out_file, backbone, weights=weights, image_size=image_size,
                         allow_download=allow_download, batch_size=batch_size, progress=True, overwrite=overwrite,
                         **read_options)


def run_demo(directory: Path, per_class: int, image_size: int | None, backbones: list[str] | None, progress: Any,
             overwrite: bool = False, time_budget: float = 300.0) -> dict[str, Any]:
    from graft.api import demo

    return demo(directory, per_class=per_class, image_size=image_size, backbones=backbones, progress=progress,
                overwrite=overwrite, time_budget=time_budget)


def check_predictions_file(path: Path, overwrite: bool) -> None:
    """Before predicting: ``--out`` must be a file name, and a new one unless ``--overwrite``."""
    from graft._files import check_new_output
    from graft.errors import UsageError

    if path.is_dir():
        raise UsageError(f"--out {path} is a folder; predict writes one CSV file: give a file name such as "
                         f"{path / 'predictions.csv'}")
    check_new_output(path, overwrite)


def write_predictions(rows: list[dict[str, Any]], path: Path) -> None:
    classes = list(rows[0]["probabilities"]) if rows else []
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["input", "label", *classes])
    for r in rows:
        writer.writerow([r["input"], r["label"], *(f"{r['probabilities'][c]:.6f}" for c in classes)])
    atomic_write_text(path, buffer.getvalue())
