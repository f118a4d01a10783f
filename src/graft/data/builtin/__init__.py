"""Built-in datasets, made from locally installed packages into the ordinary user layouts.

Each one is written as image/audio class folders or CSV files, so it reads back with
:func:`graft.data.read` like any user dataset and doubles as an example of the formats.

Example:
    >>> list_datasets()                                              # doctest: +SKIP
    ['digits', 'fashion_mnist', 'font_digits', 'fortunes', 'spoken_digits']
    >>> root = make_dataset("digits", "datasets/digits")             # doctest: +SKIP
"""

from __future__ import annotations

import inspect
import os
from pathlib import Path
from typing import Any

from graft.data.builtin import adult, diamonds, digits, fashion_mnist, font_digits, fortunes, fortunes_lang, spoken_digits  # noqa: F401
from graft.data.builtin._output import allow_overwrite
from graft.data.builtin.registry import DATASETS, BuiltinDataset
from graft.errors import UsageError

__all__ = ["BuiltinDataset", "dataset_info", "list_datasets", "make_dataset"]


def list_datasets(pattern: str | None = None) -> list[str]:
    """Names of the built-in datasets, optionally filtered by a glob ``pattern`` (``"*digits"``)."""
    return DATASETS.names(pattern)


def dataset_info(name: str) -> BuiltinDataset:
    """The description, licence, source and requirements of one built-in dataset."""
    return DATASETS.get(name)


def make_dataset(
    name: str, out_dir: str | os.PathLike[str], per_class: int | None = None, seed: int = 0,
    overwrite: bool = False, **options: Any
) -> Path:
    """Materialise a built-in dataset into ``out_dir`` and return that folder.

    Args:
        name: one of :func:`list_datasets`.
        out_dir: target folder (created; the same parameters make this a no-op; a previous build
            there with other parameters is replaced only with ``overwrite``, and then only the files
            that build wrote: files the user added are kept).
        per_class: cap on items per class and split; ``None`` for the dataset's default.
        seed: chooses the subsample (and split) deterministically.
        **options: dataset-specific options (``font_digits``: ``size``; ``fortunes``: ``categories``;
            ``fortunes_lang``: ``languages``;
            ``spoken_digits``: ``train_voices``, ``test_voices``).

    Raises:
        UsageError: unknown name or option. MissingDependencyError: a needed package is not installed.
    """
    spec = DATASETS.get(name)
    accepted = [p for p in inspect.signature(spec.make).parameters if p not in ("out_dir", "per_class", "seed")]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise UsageError(f"{name} has no option(s) {unknown}; it accepts {accepted or 'none'}")
    with allow_overwrite(overwrite):
        return spec.make(Path(out_dir), per_class, seed, **options)
