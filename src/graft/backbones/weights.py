"""Finding and loading weights safely: package resources, local files, opt-in downloads.

Weights load through safetensors or ``torch.load(weights_only=True)``; there is no fallback to
unpickling, so a checkpoint that carries code is refused, never executed.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from graft.errors import WeightsError

if TYPE_CHECKING:
    import numpy as np
    import torch

    from graft.backbones.spec import BackboneSpec, WeightSource

log = logging.getLogger(__name__)


def package_path(location: str) -> Path | None:
    """``"python_package:relative/path"`` → absolute path inside the installed package, if present."""
    package, _, rel = location.partition(":")
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    root = Path(list(spec.submodule_search_locations)[0])
    path = root / rel
    return path if path.exists() else None


@lru_cache(maxsize=64)
def _sha256_cached(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_file(path: str | Path) -> str:
    """SHA-256 of a file (memoised on path, size and modification time)."""
    st = Path(path).stat()
    return _sha256_cached(str(path), st.st_size, st.st_mtime_ns)


def state_sha256(state: "dict[str, np.ndarray]") -> str:
    """SHA-256 over a state dict of arrays (names in sorted order, then each array's bytes)."""
    import numpy as np

    digest = hashlib.sha256()
    for key in sorted(state):
        digest.update(key.encode())
        digest.update(np.ascontiguousarray(state[key]).tobytes())
    return digest.hexdigest()


def sha256_dir(path: str | Path) -> str:
    """SHA-256 over the weight files of a model directory (names and contents)."""
    digest = hashlib.sha256()
    for file in sorted(Path(path).rglob("*")):
        if file.is_file() and file.suffix in {".safetensors", ".bin", ".pt", ".pth", ".npy", ".json", ".txt", ".parquet", ".model"}:
            digest.update(str(file.relative_to(path)).encode())
            digest.update(sha256_file(file).encode())
    return digest.hexdigest()


def verify_sha256(path: Path, expected: str | None) -> str:
    actual = sha256_dir(path) if path.is_dir() else sha256_file(path)
    if expected and actual != expected:
        raise WeightsError(
            f"checksum mismatch for {path}: expected sha256 {expected[:16]}…, got {actual[:16]}…. "
            "The file is corrupt or not the expected weights; reinstall its package (`make setup`)."
        )
    return actual


def find_local(source: "WeightSource") -> Path | None:
    if source.kind == "package":
        return package_path(source.location)
    if source.kind == "file":
        path = Path(source.location).expanduser()
        return path if path.exists() else None
    return None


def resolve(spec: "BackboneSpec") -> tuple[Path | None, "WeightSource | None"]:
    """The first locally available weight source of a spec, checksum-verified."""
    for source in spec.weights:
        path = find_local(source)
        if path is not None:
            verify_sha256(path, source.sha256)
            return path, source
    return None, None


def check_weights_arg(weights: "str | Path | None") -> "Path | str | None":
    """A ``weights`` argument as the loaders take it: None (the registered weights), ``"random"``
    (deliberate random initialisation: also when given as a path named ``random`` that does not
    exist), or an existing checkpoint file. Anything else is a UsageError that says what to pass."""
    from graft.errors import UsageError

    if weights is None:
        return None
    path = Path(weights).expanduser()
    if str(weights) == "random" and not path.exists():
        return "random"
    hint = ("--weights takes a checkpoint file (.safetensors, or a plain-tensor .pt/.pth) or the word "
            "'random' for random initialisation; leave it out to use the backbone's registered weights")
    if not path.exists():
        raise UsageError(f"--weights {weights}: no such file. {hint}")
    if path.is_dir():
        raise UsageError(f"--weights {weights}: is a folder, not a weights file. {hint} (for a Hugging Face "
                         f"model folder use --backbone hf:{weights})")
    return path


def missing_weights_error(spec: "BackboneSpec") -> WeightsError:
    lines = [f"no weights found for backbone {spec.name!r}. Looked in:"]
    lines += [f"  - {s.describe()}" for s in spec.weights] or ["  - (no sources registered)"]
    lines.append(
        "Install the package named above (`make setup` installs all packaged weights), pass "
        "weights=FILE / --weights FILE, or allow a download with allow_download=True / --allow-download."
    )
    return WeightsError("\n".join(lines))


def load_state_dict(path: str | Path) -> dict[str, "torch.Tensor"]:
    """Read a checkpoint without executing code: safetensors, or torch.load(weights_only=True).

    Common wrappers (``{"state_dict": ...}``, ``{"model": ...}``) are unwrapped.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file not found: {path}")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except Exception as exc:  # safetensors raises its own error types
            raise WeightsError(f"{path}: not a valid safetensors file ({exc})") from exc
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:
        raise WeightsError(
            f"{path}: refused to load. Only safetensors files and plain tensor checkpoints "
            f"(torch.load with weights_only=True) are accepted; this file needs unpickling of "
            f"arbitrary objects, which can run code. Convert it to safetensors where you trust it. ({exc})"
        ) from exc
    for key in ("state_dict", "model", "model_state_dict"):
        if isinstance(obj, dict) and key in obj and isinstance(obj[key], dict):
            obj = obj[key]
    if not isinstance(obj, dict) or not all(hasattr(v, "shape") for v in obj.values()):
        raise WeightsError(f"{path}: expected a mapping of parameter names to tensors")
    return {k.removeprefix("module."): v for k, v in obj.items()}


def load_into(module: "torch.nn.Module", state: dict[str, "torch.Tensor"], source: str, strict: bool = True) -> None:
    """Load a state dict with an error that lists what did not match."""
    result = module.load_state_dict(state, strict=False)
    problems = []
    if result.missing_keys and strict:
        problems.append(f"missing keys: {result.missing_keys[:5]}{'…' if len(result.missing_keys) > 5 else ''}")
    if result.unexpected_keys and strict:
        problems.append(f"unexpected keys: {result.unexpected_keys[:5]}{'…' if len(result.unexpected_keys) > 5 else ''}")
    if problems:
        raise WeightsError(f"{source} does not fit this architecture ({'; '.join(problems)})")
