"""What every graft model folder shares, whatever it holds (a SavedModel, a table-transfer model, a
recommender): ``config.json`` lists the sha256 of every other file, saving builds the folder in a
temporary sibling and swaps it into place, replacing only what graft wrote there, and loading reads
each file only after its checksum matches.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Callable, Iterable

from graft._files import OVERWRITE_HINT, clean_stale, foreign_files, make_temp_dir, remove, swap_dir
from graft.errors import GraftError, UsageError

CONFIG = "config.json"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def checksums(folder: Path) -> dict[str, str]:
    """The sha256 of every file written so far into ``folder`` (config.json records them)."""
    return {p.name: sha256(p.read_bytes()) for p in sorted(folder.iterdir()) if p.is_file()}


def replaceable(target: Path, overwrite: bool, also: Iterable[str] = ()) -> set[str] | None:
    """The files of an earlier model at ``target`` that saving may replace (None: nothing there).

    Never a folder of the user's own files (``--out .`` must not touch the working directory), never
    an earlier model without ``overwrite``. ``also``: names older versions wrote without listing them.
    """
    clean_stale(target)  # first: an interrupted save's swapped-out model is restored, then judged
    if target.is_file():
        raise UsageError(f"{target} is a file; give a folder path for the model")
    if not target.is_dir() or not any(target.iterdir()):
        return None
    if not (target / CONFIG).is_file():
        raise UsageError(f"{target} exists and is not a graft model directory (no {CONFIG}); "
                         "choose an empty or new folder for --out")
    if not overwrite:
        raise UsageError(f"{target} already holds a model; {OVERWRITE_HINT} (only the files graft wrote "
                         "there are replaced)")
    try:
        recorded = set(json.loads((target / CONFIG).read_text(encoding="utf-8")).get("files") or {})
    except (OSError, ValueError, AttributeError):
        recorded = set()
    return recorded | {CONFIG} | set(also)


def write_folder(target: Path, write: Callable[[Path], None], owned: set[str] | None) -> Path:
    """Build the folder with ``write(tmp)`` in a temporary sibling, then swap it into ``target``,
    keeping the user's own files there (those not in ``owned``, what ``replaceable`` returned)."""
    tmp = make_temp_dir(target)
    try:
        write(tmp)
        swap_dir(tmp, target, foreign_files(target, owned) if owned is not None else ())
    except BaseException:
        remove(tmp)
        raise
    return target


def read_config(path: Path) -> dict[str, Any]:
    """config.json as a dict; a missing one means "not a model folder", a damaged one says so."""
    try:
        data = json.loads((path / CONFIG).read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"{path} is not a graft model directory (no readable {CONFIG})") from exc
    except ValueError as exc:
        raise GraftError(f"{path / CONFIG} is not valid JSON ({exc}); the folder is damaged") from exc
    if not isinstance(data, dict):
        raise GraftError(f"{path / CONFIG} does not hold a JSON object; the folder is damaged")
    return data


def read_verified(path: Path, name: str, files: dict[str, str], strict: bool = True) -> bytes:
    """The bytes of ``name``, checked against the sha256 config.json recorded at save (``files``).

    ``strict=False`` accepts a file when config.json lists no checksums at all (folders saved before
    graft recorded them)."""
    try:
        data = (path / name).read_bytes()
    except OSError as exc:
        raise GraftError(f"{path / name}: cannot read it ({exc.strerror or exc}); the folder is damaged or "
                         "incomplete; save or train the model again") from exc
    expected = files.get(name)
    if expected is not None and sha256(data) != expected:
        raise GraftError(f"{path / name} is corrupted: its sha256 differs from the one {CONFIG} recorded when the "
                         "model was saved, so its predictions cannot be trusted; restore the folder from a backup "
                         "or train and save the model again")
    if expected is None and (files or strict):
        raise GraftError(f"{path / name} is not among the files {CONFIG} lists; the folder was changed after "
                         "saving; restore it from a backup or save the model again")
    return data
