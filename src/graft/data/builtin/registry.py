"""The built-in dataset table: what each one is, where it comes from, and how to make it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from graft._registry import Registry
from graft.data.dataset import Modality


class MakeFn(Protocol):
    def __call__(self, out_dir: Path, per_class: int | None, seed: int, **options: Any) -> Path: ...


@dataclass(frozen=True)
class BuiltinDataset:
    """One built-in dataset, materialised on demand into an ordinary folder / CSV layout.

    Attributes:
        name: registry name (``make_dataset(name, ...)``).
        modality: what ``read()`` gives back for it; ``"table"`` for a pair of tables made for
            ``graft transfer-table`` (not a ``read()`` dataset).
        description: one line for listings.
        license: licence of the source data.
        requires: packages it is made from, ``"apt:<name>"`` or ``"pip:<name>"``.
        make: ``make(out_dir, per_class, seed, **options) -> out_dir``.
        default_per_class: the cap used when ``per_class`` is ``None`` (``None``: everything).
        source: where the data comes from.
    """

    name: str
    modality: Modality | Literal["table"]
    description: str
    license: str
    requires: tuple[str, ...]
    make: MakeFn
    default_per_class: int | None
    source: str


DATASETS: Registry[BuiltinDataset] = Registry("dataset")
