"""Writing outputs without losing a user's files.

Three rules every writer of a user-visible output follows (saved models, built-in datasets,
embedding files, prediction tables):

- an existing output is replaced only when the caller says so (``overwrite``; ``--overwrite``);
- replacing a folder removes only what graft wrote there: the user's own files in it are carried
  into the new folder (hard links, copies where links fail) before it is swapped into place;
- temp files and folders are named ``.<target>.<kind>-<pid>-<random>`` so that the next write of
  the same target can tell a dead process's leftovers (removed, or a swapped-out folder restored)
  from a live writer's (left alone). Temps are created with the default modes, so the umask applies.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import shutil
import time
from pathlib import Path
from typing import Iterable

from graft.errors import UsageError

log = logging.getLogger(__name__)

OVERWRITE_HINT = "pass --overwrite (overwrite=True in Python) to replace it, or choose another path"
LEGACY_STALE_SECONDS = 600  # temps of graft versions without a pid in the name: stale after this long

_OURS = re.compile(r"^(tmp|old|building)-(\d+)-[0-9a-f]{8}(\.[A-Za-z0-9]+)?$")
_LEGACY = re.compile(r"^(?:(tmp|old|building)-[A-Za-z0-9_]{8}|[A-Za-z0-9_]{8}\.(?:npy|tmp))$")


def check_new_output(path: str | os.PathLike[str], overwrite: bool) -> None:
    """Refuse (UsageError naming the path and the flag) to write over an existing output.

    An empty folder holds nothing to lose and counts as new.
    """
    path = Path(path)
    clean_stale(path)
    if overwrite or not (path.exists() or path.is_symlink()):
        return
    if path.is_dir() and not any(path.iterdir()):
        return
    raise UsageError(f"{path} already exists; {OVERWRITE_HINT}")


def temp_path(target: Path, kind: str = "tmp", suffix: str = "") -> Path:
    """A sibling name for a temp of ``target`` that records this process's id."""
    return target.with_name(f".{target.name}.{kind}-{os.getpid()}-{secrets.token_hex(4)}{suffix}")


def make_temp_dir(target: Path, kind: str = "tmp") -> Path:
    """A fresh temp folder beside ``target`` (mode from the umask, unlike ``mkdtemp``'s 0700),
    after removing stale temps a killed writer of ``target`` left."""
    target.parent.mkdir(parents=True, exist_ok=True)
    clean_stale(target)
    path = temp_path(target, kind)
    path.mkdir()
    return path


def open_temp_file(target: Path, suffix: str = "") -> tuple[int, Path]:
    """An open descriptor and path of a new temp file beside ``target`` (mode 0666 less the umask)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    clean_stale(target)
    path = temp_path(target, "tmp", suffix)
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), path


def umask() -> int:
    """The process's umask (read from /proc where it can be: setting it to read it is not thread-safe)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    current = os.umask(0o022)
    os.umask(current)
    return current


def respect_umask(path: Path) -> None:
    """Give a file a library created 0600 (safetensors does) the mode the umask asks for."""
    os.chmod(path, 0o666 & ~umask())


def clean_stale(target: Path) -> None:
    """Remove the temps of ``target`` whose writer is gone; a swapped-out folder whose replacement
    never arrived (the target is missing) is renamed back instead."""
    parent = target.parent
    prefix = f".{target.name}."
    try:
        entries = [e for e in parent.iterdir() if e.name.startswith(prefix)]
    except OSError:
        return
    for entry in entries:
        kind = _stale_kind(entry.name[len(prefix):], entry)
        missing = not (target.exists() or target.is_symlink())
        if kind is None or (kind == "legacy-old" and missing):  # an old layout: leave it for the user
            continue
        if kind == "old" and missing:
            os.replace(entry, target)
            log.warning("restored %s from %s (a save was interrupted between its two renames)", target, entry.name)
            continue
        log.info("removing %s, left by an interrupted write of %s", entry, target.name)
        remove(entry)


def clean_stale_in(folder: Path) -> None:
    """Remove every dead writer's temp in ``folder`` (for folders of content-named files, such as
    the feature cache's shards, where the same target is rarely written twice)."""
    try:
        entries = [e for e in folder.iterdir() if e.name.startswith(".")]
    except OSError:
        return
    for entry in entries:
        name, _, rest = entry.name[1:].rpartition(".")
        ours = _OURS.match(rest) if name else None
        if ours is None and name:  # a suffix after the pid part (".npz.tmp-1-abcd1234.npy")
            stem, _, tail = name.rpartition(".")
            ours = _OURS.match(f"{tail}.{rest}") if stem else None
        if ours is not None and ours.group(1) == "tmp" and not _alive(int(ours.group(2))):
            log.info("removing %s, left by an interrupted write", entry)
            remove(entry)


def _stale_kind(rest: str, entry: Path) -> str | None:
    """The temp's kind ("tmp", "old", ...) when it is stale, else None (live, or not ours)."""
    ours = _OURS.match(rest)
    if ours:
        return None if _alive(int(ours.group(2))) else ours.group(1)
    legacy = _LEGACY.match(rest)
    if legacy:
        try:
            age = time.time() - entry.lstat().st_mtime
        except OSError:
            return None
        if age > LEGACY_STALE_SECONDS:
            return "legacy-old" if legacy.group(1) == "old" else "tmp"
    return None


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


def remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def foreign_files(folder: Path, owned: Iterable[str]) -> list[str]:
    """Paths (relative, ``/``-separated) of the files in ``folder`` that graft did not write."""
    owned = set(owned)
    found = []
    for root, _dirs, files in os.walk(folder):
        rel_root = Path(root).relative_to(folder)
        for name in files:
            rel = (rel_root / name).as_posix()
            if rel not in owned:
                found.append(rel)
    return sorted(found)


def swap_dir(new: Path, target: Path, keep: Iterable[str] = ()) -> None:
    """Move the finished folder ``new`` to ``target`` in one rename (the old one is swapped out
    first and removed afterwards). The files of ``target`` listed in ``keep`` are carried over.

    Raises:
        UsageError: a file to keep has the name of a file in the new folder (nothing is changed).
    """
    keep = list(keep)
    clash = [rel for rel in keep if (new / rel).exists()]
    if clash:
        raise UsageError(f"{target}: {', '.join(clash[:5])} {'is' if len(clash) == 1 else 'are'} not graft's "
                         "but the new output writes the same name; move them out of the folder first")
    for rel in keep:
        _carry(target / rel, new / rel)
    if target.exists():
        old = temp_path(target, "old")
        os.replace(target, old)
        os.replace(new, target)
        remove(old)
    else:
        os.replace(new, target)


def _carry(src: Path, dst: Path) -> None:
    """A hard link of ``src`` at ``dst`` (a copy on file systems without links)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    if src.is_symlink():
        os.symlink(os.readlink(src), dst)
        return
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)
