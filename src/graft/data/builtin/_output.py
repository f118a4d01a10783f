"""Writing a built-in dataset: build in a temp folder beside the target, then rename into place.

The target holds ``DATASET.json`` (provenance) and ``README.md`` only once it is complete, so a
``DATASET.json`` with the same parameters means "already made": re-running is a no-op. The manifest
lists every file the build wrote: a build with other parameters replaces a folder only when the
caller allows it (``allow_overwrite``), and then only those files; anything the user added is kept.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
from PIL import Image

from graft._config import atomic_write_text, write_json
from graft._files import OVERWRITE_HINT, clean_stale, foreign_files, make_temp_dir, remove, swap_dir
from graft.data.builtin.registry import BuiltinDataset
from graft.errors import MissingDependencyError, UsageError

logger = logging.getLogger(__name__)

MANIFEST = "DATASET.json"
FORMAT_VERSION = 1
Counts = dict[str, dict[str, int]]  # split → class → number of items
# Set by make_dataset for the one call, so that each builder need not pass it along.
_OVERWRITE: contextvars.ContextVar[bool] = contextvars.ContextVar("graft_dataset_overwrite", default=False)


@contextlib.contextmanager
def allow_overwrite(overwrite: bool) -> Iterator[None]:
    """Within the block, ``materialise`` may replace an earlier build with other parameters."""
    token = _OVERWRITE.set(overwrite)
    try:
        yield
    finally:
        _OVERWRITE.reset(token)


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
        out_dir: target folder; created, or (within ``allow_overwrite(True)``) the files of another
            build of a graft dataset in it replaced.
        params: everything that changes the output (per_class, seed, options).
        build: writes the files into a fresh folder and returns counts and extra provenance.
        layout: one line describing the files, for the README.
    """
    out = Path(out_dir).absolute()
    # Through JSON so tuples compare equal to the lists read back from an earlier manifest.
    params = json.loads(json.dumps({"name": spec.name, "format_version": FORMAT_VERSION, **params}))
    clean_stale(out)  # first: an interrupted build's swapped-out folder is restored, then judged
    existing = _manifest(out)
    if existing is not None and existing.get("params") == params:
        logger.info("%s already holds %s with these parameters", out, spec.name)
        return out
    owned = _check_replaceable(out, existing, params)
    tmp = make_temp_dir(out, "building")
    try:
        counts, extra = build(tmp)
        manifest = _manifest_data(spec, params, counts, extra, layout)
        manifest["files"] = foreign_files(tmp, ()) + [MANIFEST, "README.md"]  # all of them: what the build wrote
        write_json(tmp / MANIFEST, manifest)
        atomic_write_text(tmp / "README.md", _readme(spec, manifest))
        swap_dir(tmp, out, foreign_files(out, owned) if owned is not None else ())
    except BaseException:
        remove(tmp)
        raise
    logger.info("made %s in %s (%d items)", spec.name, out, manifest["total"])
    return out


def _manifest(out: Path) -> dict[str, Any] | None:
    try:
        return json.loads((out / MANIFEST).read_text("utf-8"))
    except (OSError, ValueError):
        return None


def _check_replaceable(out: Path, existing: dict[str, Any] | None, params: dict[str, Any]) -> set[str] | None:
    """The files of an earlier build that may be replaced (None: nothing there); refuses a folder
    of other files, and an earlier build unless overwriting is allowed."""
    if out.is_file():
        raise UsageError(f"{out} is a file; give a folder path for the dataset")
    if not out.is_dir() or not any(out.iterdir()):
        return None
    if existing is None:
        raise UsageError(f"{out} exists and is not a graft dataset (no {MANIFEST}); choose a new or empty folder")
    if not _OVERWRITE.get():
        before = existing.get("params") or {}
        changed = {k: f"{before.get(k)!r} -> {v!r}" for k, v in params.items() if before.get(k) != v}
        raise UsageError(f"{out} already holds {existing.get('name', 'a dataset')} made with other parameters "
                         f"({changed}); {OVERWRITE_HINT} (only the files graft wrote there are replaced)")
    if not isinstance(existing.get("files"), list):
        raise UsageError(f"{out} was made by an older graft that did not record which files it wrote, so it cannot "
                         "replace only those; move your own files out and delete the folder, or choose another")
    return set(existing["files"])


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
