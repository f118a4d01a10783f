"""One generic registry serves every pluggable kind (backbones, schedules, rankers, adapters)."""

from __future__ import annotations

import difflib
import fnmatch
from typing import Callable, Generic, Iterator, TypeVar

from graft.errors import UsageError

T = TypeVar("T")


class Registry(Generic[T]):
    """A name → object table with a decorator for registration.

    Example:
        >>> schedules: Registry[type] = Registry("schedule")
        >>> @schedules.register("full")
        ... class Full: ...
        >>> schedules.get("full").__name__
        'Full'
    """

    def __init__(self, kind: str, hidden: Callable[[str], bool] | None = None) -> None:
        """``hidden``: names left out of the "Known: ..." list of an unknown name (e.g. the test
        backbones graft registers for its own tests); they still resolve."""
        self.kind = kind
        self._items: dict[str, T] = {}
        self._hidden = hidden or (lambda name: False)

    def register(self, name: str, *, overwrite: bool = False) -> Callable[[T], T]:
        def decorator(obj: T) -> T:
            self.add(name, obj, overwrite=overwrite)
            return obj

        return decorator

    def add(self, name: str, obj: T, *, overwrite: bool = False) -> None:
        if name in self._items and not overwrite:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._items[name] = obj

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            raise UsageError(self.unknown_message(name)) from None

    def unknown_message(self, name: str) -> str:
        known = [n for n in sorted(self._items) if not self._hidden(n)]
        close = difflib.get_close_matches(name, known, n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        return f"unknown {self.kind} {name!r}.{hint} Known: {', '.join(known)}."

    def names(self, pattern: str | None = None) -> list[str]:
        names = sorted(self._items)
        return [n for n in names if pattern is None or fnmatch.fnmatch(n, pattern)]

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._items)
