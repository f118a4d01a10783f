"""Writing a built-in dataset: build in a temp folder beside the target, then rename into place.

The target holds ``DATASET.json`` (provenance) and ``README.md`` only once it is complete, so a
``DATASET.json`` with the same parameters means "already made": re-running is a no-op.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np
from PIL import Image

from graft._config import atomic_write_text, write_json
from graft.data.builtin.registry import BuiltinDataset
from graft.errors import MissingDependencyError, UsageError

logger = logging.getLogger(__name__)

MANIFEST = "DATASET.json"
FORMAT_VERSION = 1
Counts = dict[str, dict[str, int]]  # split → class → number of items


def materialise(
    spec: BuiltinDataset,
    out_dir: str | os.PathLike[str],
    params: dict[str, Any],
    build: Callable[[Path], tuple[Counts, dict[str, Any]]],
    layout: str,
) -> Path:
    """Make ``out_dir`` with ``build(tmp_dir) -> (counts, extra provenance)`` unless already made.

    Args:
        spec: the dataset being made (name, licence, source for the manifest).
        out_dir: target folder; created, or replaced when it holds another build of a graft dataset.
        params: everything that changes the output (per_class, seed, options).
        build: writes the files into a fresh folder and returns counts and extra provenance.
        layout: one line describing the files, for the README.
    """
    out = Path(out_dir).absolute()
    # Through JSON so tuples compare equal to the lists read back from an earlier manifest.
    params = json.loads(json.dumps({"name": spec.name, "format_version": FORMAT_VERSION, **params}))
    existing = _manifest(out)
    if existing is not None and existing.get("params") == params:
        logger.info("%s already holds %s with these parameters", out, spec.name)
        return out
    _check_replaceable(out, existing)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.building-"))
    try:
        counts, extra = build(tmp)
        manifest = _manifest_data(spec, params, counts, extra, layout)
        write_json(tmp / MANIFEST, manifest)
        atomic_write_text(tmp / "README.md", _readme(spec, manifest))
        _swap_into_place(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    logger.info("made %s in %s (%d items)", spec.name, out, manifest["total"])
    return out


def _manifest(out: Path) -> dict[str, Any] | None:
    try:
        return json.loads((out / MANIFEST).read_text("utf-8"))
    except (OSError, ValueError):
        return None


def _check_replaceable(out: Path, existing: dict[str, Any] | None) -> None:
    if out.is_file():
        raise UsageError(f"{out} is a file; give a folder path for the dataset")
    if out.is_dir() and existing is None and any(out.iterdir()):
        raise UsageError(f"{out} exists and is not a graft dataset (no {MANIFEST}); choose a new or empty folder")


def _swap_into_place(tmp: Path, out: Path) -> None:
    old = None
    if out.exists():
        old = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.old-"))
        os.replace(out, old / "data")
    os.replace(tmp, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _manifest_data(
    spec: BuiltinDataset, params: dict[str, Any], counts: Counts, extra: dict[str, Any], layout: str
) -> dict[str, Any]:
    return {
        "name": spec.name,
        "description": spec.description,
        "modality": spec.modality,
        "source": spec.source,
        "license": spec.license,
        "requires": list(spec.requires),
        "made_by": f"graft {_graft_version()}",
        "layout": layout,
        "params": params,
        "seed": params.get("seed"),
        "per_class": params.get("per_class"),
        "counts": counts,
        "total": int(sum(sum(c.values()) for c in counts.values())),
        **extra,
    }


def _graft_version() -> str:
    from graft import __version__

    return __version__


def _readme(spec: BuiltinDataset, manifest: dict[str, Any]) -> str:
    splits = list(manifest["counts"])
    classes = sorted({c for per in manifest["counts"].values() for c in per}, key=_natural)
    header = "| class | " + " | ".join(splits) + " |\n|---|" + "---|" * len(splits) + "\n"
    body = "".join(
        f"| {c} | " + " | ".join(str(manifest["counts"][s].get(c, 0)) for s in splits) + " |\n" for c in classes
    )
    return (
        f"# {spec.name}\n\n{spec.description}\n\n"
        f"- Source: {spec.source}\n- Licence: {spec.license}\n- Made by: {manifest['made_by']} "
        f"(seed {manifest['seed']}, per_class {manifest['per_class']})\n- Layout: {manifest['layout']}\n\n"
        f"{header}{body}\n"
        "Read it like any user dataset:\n\n```python\nfrom graft.data import read\n"
        "ds = read(\"path/to/this/folder\")\n```\n\n"
        f"Provenance: `{MANIFEST}`.\n"
    )


def _natural(name: str) -> tuple[int, str]:
    return (int(name), name) if name.isdigit() else (1 << 30, name)


def require_file(path: Path, package: str, dataset: str) -> None:
    """MissingDependencyError naming the Debian package when a source file is absent."""
    if not path.exists():
        raise MissingDependencyError(
            f"the {dataset} dataset is made from the Debian package {package} ({path} not found): "
            f"sudo apt-get install {package}  (or run `make setup`)"
        )


def require_program(program: str, package: str, dataset: str) -> str:
    """Full path of ``program``, or MissingDependencyError naming the Debian package."""
    found = shutil.which(program)
    if found is None:
        raise MissingDependencyError(
            f"the {dataset} dataset needs the program {program} from the Debian package {package}: "
            f"sudo apt-get install {package}  (or run `make setup`)"
        )
    return found


def save_png(array: np.ndarray, path: Path) -> None:
    """Write a uint8 grey image (folders created as needed; the whole tree is renamed at the end)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.ascontiguousarray(array, dtype=np.uint8), "L").save(path)


def cap(indices: np.ndarray, per_class: int | None, rng_key: list[int]) -> np.ndarray:
    """A deterministic random subset of at most ``per_class`` indices, returned sorted."""
    if per_class is None or len(indices) <= per_class:
        return np.sort(indices)
    rng = np.random.default_rng(rng_key)
    return np.sort(rng.permutation(indices)[:per_class])


def check_per_class(per_class: int | None) -> None:
    if per_class is not None and (not isinstance(per_class, (int, np.integer)) or per_class < 1):
        raise UsageError(f"per_class must be a positive integer or None, got {per_class!r}")
