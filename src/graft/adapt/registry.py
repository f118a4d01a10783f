"""``register_adapter`` / ``create_adapter`` / ``list_adapters``: one table of adaptation methods.

An adapter's config is its constructor keywords (scikit-learn style), so the saved form is
``{"method": name, "params": estimator.get_params()}``, which `to_config` / `from_config` round-trip.
"""

from __future__ import annotations

from typing import Any, Callable, TypeVar

from graft._registry import Registry

T = TypeVar("T", bound=type)

ADAPTERS: Registry[type] = Registry("adaptation method")


def register_adapter(name: str) -> Callable[[T], T]:
    """Class decorator: make an adapter class available to `create_adapter` under ``name``.

    Example:
        >>> @register_adapter("my-method")  # doctest: +SKIP
        ... class MyAdapter(DomainAdapter): ...
    """

    def decorator(cls: T) -> T:
        ADAPTERS.add(name, cls)
        cls._registry_name = name  # lets to_config name the method of an instance
        return cls

    return decorator


def list_adapters(pattern: str | None = None) -> list[str]:
    """Registered method names, optionally filtered by a glob pattern.

    Example:
        >>> "coral" in list_adapters()
        True
    """
    return ADAPTERS.names(pattern)


def create_adapter(name: str, **params: Any) -> Any:
    """An unfitted adapter by method name; unknown names or keywords raise `UsageError`.

    Example:
        >>> create_adapter("coral", eps=0.1).eps
        0.1
    """
    from graft.errors import UsageError

    cls = ADAPTERS.get(name)
    known = set(cls().get_params(deep=False))
    unknown = sorted(set(params) - known)
    if unknown:
        raise UsageError(f"{name}: unknown option(s) {unknown}; known: {sorted(known)}")
    return cls(**params)


def to_config(adapter: Any) -> dict[str, Any]:
    """The JSON-ready config of an adapter: its method name and constructor keywords.

    Example:
        >>> to_config(create_adapter("sa", n_components=8))["params"]["n_components"]
        8
    """
    return {"method": type(adapter)._registry_name, "params": adapter.get_params(deep=False)}


def from_config(config: dict[str, Any]) -> Any:
    """Rebuild an unfitted adapter from `to_config` output."""
    return create_adapter(config["method"], **config.get("params", {}))
