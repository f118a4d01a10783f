"""Errors a user can act on. The CLI maps them to exit codes: 1 runtime error, 2 usage error."""

from __future__ import annotations


class GraftError(Exception):
    """Base class: a runtime problem with a message that says what to do next."""

    exit_code = 1


class UsageError(GraftError, ValueError):
    """Bad options, unknown names, arguments that do not fit together."""

    exit_code = 2


class DataError(GraftError):
    """A dataset that is unusable as a whole; the message names the file/field and the fix."""


class WeightsError(GraftError):
    """Weights that are missing, fail their checksum, or cannot be loaded safely."""


class MissingDependencyError(GraftError, ImportError):
    """An optional dependency is not installed; the message says what to install."""


def require(module: str, extra: str) -> object:
    """Import an optional dependency or raise an error that says how to install it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(
            f"{module} is needed for this feature: pip install 'graft[{extra}]' (or run `make setup`)"
        ) from exc
