"""Data intake: every supported layout becomes one :class:`Dataset`; bad files become a :class:`SkipReport`.

Example:
    >>> from graft.data import make_dataset, read          # doctest: +SKIP
    >>> root = make_dataset("digits", "datasets/digits")   # doctest: +SKIP
    >>> ds = read(root)                                    # doctest: +SKIP
    >>> ds.classes[:3], ds.describe()["splits"]            # doctest: +SKIP
"""

from graft.data.builtin import BuiltinDataset, dataset_info, list_datasets, make_dataset
from graft.data.dataset import Dataset, SkipReport
from graft.data.images import load_image
from graft.data.read import from_arrays, from_frame, read

__all__ = [
    "BuiltinDataset",
    "Dataset",
    "SkipReport",
    "dataset_info",
    "from_arrays",
    "from_frame",
    "list_datasets",
    "load_image",
    "make_dataset",
    "read",
]
