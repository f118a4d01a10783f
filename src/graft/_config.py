"""JSON round-trip for the dataclass configs shared by the API, the CLI and saved models."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any, TypeVar

from graft.errors import UsageError

C = TypeVar("C")


def to_dict(config: Any) -> dict[str, Any]:
    """A dataclass as a plain JSON-serialisable dict (tuples become lists)."""
    return json.loads(json.dumps(dataclasses.asdict(config), default=_json_default))


def from_dict(cls: type[C], data: dict[str, Any]) -> C:
    """Build a dataclass from a dict, refusing keys it does not know (typos must not pass silently)
    and values of the wrong type (a traceback deep inside training otherwise)."""
    known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - known)
    if unknown:
        takes = ", ".join(f"{k} ({describe_type(t)})" for k, t in _field_types(cls).items())
        raise UsageError(f"{cls.__name__}: unknown setting(s) {unknown}; settings it takes: {takes}")
    check_types(cls, data)
    return cls(**data)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "tolist"):
        return obj.tolist()
    raise TypeError(f"not JSON-serialisable: {type(obj).__name__}")


def dumps(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=False, default=_json_default)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write a file so a reader never sees half of it: temp file in the same folder, fsync, rename."""
    from graft._files import open_temp_file

    path = Path(path)
    fd, tmp = open_temp_file(path)  # mode from the umask (mkstemp would make it 0600); stale temps cleaned
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike[str], data: Any) -> None:
    atomic_write_text(path, dumps(data) + "\n")


# --- settings checks: every numeric setting has a range, every option its type ------------------
# Ranges are written in interval notation ("[1, inf)", "(0, 1]") so that the code and the error
# message say the same thing; a user who typed a bad value reads exactly what is allowed.


def check_ranges(config: Any, ranges: dict[str, str]) -> None:
    """Raise a UsageError naming a setting of ``config`` of the wrong type, or every setting
    outside its allowed interval.

    Args:
        config: a dataclass instance (called from its ``__post_init__``).
        ranges: field name -> interval, e.g. ``{"epochs": "[1, 10000]", "dropout": "[0, 1)"}``.
            ``None`` values (unset optional settings) pass; a list or tuple has each element checked.

    Example:
        >>> check_ranges(TrainConfig(), {"epochs": "[1, inf)"})   # doctest: +SKIP
    """
    check_types(type(config), {f.name: getattr(config, f.name) for f in dataclasses.fields(config)})
    problems = []
    for name, interval in ranges.items():
        value = getattr(config, name)
        values = value if isinstance(value, (list, tuple)) else [value]
        if not all(v is None or in_range(v, interval) for v in values):
            problems.append(f"{name}={value!r} is outside its allowed range {interval}{_help_of(config, name)}")
    if problems:
        raise UsageError(f"{type(config).__name__}: " + "; ".join(problems))


def in_range(value: Any, interval: str) -> bool:
    """Whether ``value`` is a real number (not a bool, not NaN) inside ``interval`` ("[a, b)", ...)."""
    import math
    import numbers

    if isinstance(value, bool) or not isinstance(value, numbers.Real) or math.isnan(value):
        return False
    lo, hi = (float(s) for s in interval[1:-1].split(","))
    above = value >= lo if interval[0] == "[" else value > lo
    below = value <= hi if interval[-1] == "]" else value < hi
    return above and below


def check_value(what: str, value: Any, interval: str) -> None:
    """A single setting outside a dataclass (a function argument): UsageError stating the range."""
    if value is not None and not in_range(value, interval):
        raise UsageError(f"{what}={value!r} is outside its allowed range {interval}")


def _help_of(config: Any, name: str) -> str:
    fields = {f.name: f for f in dataclasses.fields(config)}
    text = fields[name].metadata.get("help") if name in fields else None
    return f" ({text})" if text else ""


def check_types(cls: type, data: dict[str, Any]) -> None:
    """Refuse values whose JSON type does not fit the dataclass field (``frozen_groups="abc"``)
    with a UsageError naming the key, the expected type and every setting ``cls`` takes."""
    hints = _field_types(cls)
    for key, value in data.items():
        tp = hints.get(key)
        if tp is not None and not _matches(value, tp):
            takes = ", ".join(f"{k} ({describe_type(t)})" for k, t in hints.items())
            raise UsageError(f"{cls.__name__}: {key}={value!r} must be {describe_type(tp)}. Settings it takes: {takes}")


def _field_types(cls: type) -> dict[str, Any]:
    """Field name -> resolved type; a hint that cannot be resolved (a TYPE_CHECKING import) is skipped."""
    import sys
    import typing

    module = vars(sys.modules.get(cls.__module__, object()))
    out: dict[str, Any] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        try:
            out[f.name] = eval(f.type, module, dict(vars(typing))) if isinstance(f.type, str) else f.type  # noqa: S307
        except Exception:  # the hint names a type only imported for the type checker
            continue
    return out


def _matches(value: Any, tp: Any) -> bool:
    import numbers
    import types
    import typing

    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any:
        return True
    if tp is type(None):
        return value is None
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, a) for a in args)
    if origin is typing.Literal:
        return value in args
    if tp is bool:
        return isinstance(value, bool)
    if tp is int:  # numbers.Integral / Real also admit numpy scalars
        return isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if tp is float:
        return isinstance(value, numbers.Real) and not isinstance(value, bool)
    if origin in (list, tuple) or tp in (list, tuple):
        element = args[0] if args else Any
        return isinstance(value, (list, tuple)) and all(_matches(v, element) for v in value)
    if origin is dict or tp is dict:
        return isinstance(value, dict)
    return isinstance(value, tp) if isinstance(tp, type) else True


def describe_type(tp: Any) -> str:
    """A type as a user reads it: ``int`` -> "an integer", ``float | None`` -> "a number or null"."""
    import types
    import typing

    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(describe_type(a) for a in args)
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin in (list, tuple):
        return f"a list of {describe_type(args[0]) if args else 'values'}"
    names = {int: "an integer", float: "a number", bool: "true or false", str: "text", type(None): "null", dict: "a JSON object"}
    return names.get(tp, getattr(tp, "__name__", str(tp)))
