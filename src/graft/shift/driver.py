"""Domain distance between two datasets (or two sets of embeddings) in one backbone's feature space.

:func:`measure_shift` works on embeddings and is what drift checks and domain adaptation reuse
(a saved model keeps a reference sample of its training embeddings); :func:`dataset_shift` embeds
two datasets through the feature cache first.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from graft.shift.mmd import mmd
from graft.shift.proxy_a import proxy_a_distance

if TYPE_CHECKING:
    from graft.data.dataset import Dataset


@dataclass(frozen=True)
class ShiftResult:
    """How far apart two samples are.

    Attributes:
        mmd: unbiased MMD^2 with an RBF kernel (median-heuristic bandwidth).
        p_value: permutation-test p-value of "no shift" (None when no permutations were run).
        bandwidth: the kernel's length-scale.
        proxy_a_distance: 2 (1 - 2 err) of a cross-validated linear domain classifier, in [0, 2].
        domain_error: that classifier's balanced error (0.5: cannot tell the samples apart).
        domain_auc: its ROC AUC (0.5: indistinguishable, 1: separable).
        n_a: rows of the first sample used (after the ``max_samples`` cap).
        n_b: rows of the second sample used.
        size_a: rows of the first sample given.
        size_b: rows of the second sample given.
        feature_dim: embedding size.
        shifted: p_value < alpha.
        alpha: the significance level used for ``shifted``.
        backbone: the embedding backbone (None when embeddings were given).
        seconds: wall time, embedding included.
        summary: one sentence.
    """

    mmd: float
    p_value: float | None
    bandwidth: float | None
    proxy_a_distance: float
    domain_error: float
    domain_auc: float
    n_a: int
    n_b: int
    size_a: int
    size_b: int
    feature_dim: int
    shifted: bool
    alpha: float
    backbone: str | None = None
    seconds: float = 0.0
    summary: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def measure_shift(
    X: Any,
    Y: Any,
    *,
    max_samples: int | None = 1000,
    n_permutations: int = 500,
    folds: int = 5,
    alpha: float = 0.05,
    seed: int = 0,
) -> ShiftResult:
    """MMD (with a permutation p-value), proxy A-distance and domain-classifier AUC between two embedding sets.

    Args:
        X: (n_a, d) embeddings of the first sample (e.g. training data, or a model's reference sample).
        Y: (n_b, d) embeddings of the second (e.g. data seen in use).
        max_samples: each sample is randomly capped at this many rows for both measures
            (MMD costs O(n^2) memory); None for no cap.
        n_permutations: permutations for the MMD p-value (0: none).
        folds: cross-validation folds of the domain classifier.
        alpha: significance level for ``shifted``.
        seed: seeds the caps, permutations and folds.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> measure_shift(rng.normal(size=(200, 8)), rng.normal(size=(200, 8)) + 1, n_permutations=100).shifted
        True
    """
    check_settings(max_samples, n_permutations, folds, alpha, seed)
    start = time.perf_counter()
    m = mmd(X, Y, max_samples=max_samples, n_permutations=n_permutations, seed=seed)
    pad = proxy_a_distance(X, Y, folds=folds, max_samples=max_samples, seed=seed)
    shifted = m.p_value is not None and m.p_value < alpha
    result = ShiftResult(
        mmd=m.statistic, p_value=m.p_value, bandwidth=m.bandwidth, proxy_a_distance=pad.distance,
        domain_error=pad.error, domain_auc=pad.auc, n_a=m.n_x, n_b=m.n_y, size_a=len(X), size_b=len(Y),
        feature_dim=int(np.shape(X)[1]), shifted=shifted, alpha=alpha, seconds=round(time.perf_counter() - start, 3),
    )
    return _with_summary(result)


def check_settings(max_samples: int | None, n_permutations: int, folds: int, alpha: float, seed: int) -> None:
    """The shift settings in their ranges (UsageError stating the range)."""
    from graft._config import check_value

    check_value("max_samples", max_samples, "[2, 1000000]")
    check_value("n_permutations", n_permutations, "[0, 1000000]")
    check_value("folds", folds, "[2, 100]")
    check_value("alpha", alpha, "(0, 1)")
    check_value("seed", seed, "[0, 4294967295]")


def dataset_shift(
    data_a: "str | Path | Dataset | Sequence[Any]",
    data_b: "str | Path | Dataset | Sequence[Any]",
    backbone: str = "mobilenet_v2",
    *,
    weights: str | Path | None = None,
    image_size: int | None = None,
    allow_download: bool = False,
    batch_size: int = 64,
    progress: bool = False,
    max_samples: int | None = 1000,
    n_permutations: int = 500,
    alpha: float = 0.05,
    seed: int = 0,
) -> ShiftResult:
    """Domain distance between two datasets in ``backbone``'s embedding space (all items, all splits).

    Labels are not needed. Only up to ``max_samples`` items of each dataset are embedded (a seeded
    random subset), so comparing two large folders stays cheap; embeddings go through the cache.

    Args:
        data_a: dataset folder / table, a ``Dataset``, or a list of raw items (paths, texts).
        data_b: the same, for the second domain.
        backbone: the embedding backbone (the one the model in question uses).
        weights, image_size, allow_download, batch_size, progress: as for :func:`graft.embed`.
        max_samples, n_permutations, alpha, seed: as for :func:`measure_shift`.

    Example:
        >>> r = graft.dataset_shift("data/studio", "data/phone", backbone="mobilenet_v2")  # doctest: +SKIP
        >>> r.p_value, r.proxy_a_distance                                                 # doctest: +SKIP
    """
    from graft.api import backbone_options

    check_settings(max_samples, n_permutations, 5, alpha, seed)  # before any data is read
    backbone_options(image_size)
    start = time.perf_counter()
    options = dict(weights=weights, image_size=image_size, allow_download=allow_download, batch_size=batch_size,
                   progress=progress)
    x, size_a = _embed_sample(data_a, backbone, max_samples, seed, options)
    y, size_b = _embed_sample(data_b, backbone, max_samples, seed + 1, options)
    result = measure_shift(x, y, max_samples=max_samples, n_permutations=n_permutations, alpha=alpha, seed=seed)
    result = _replace(result, backbone=backbone, size_a=size_a, size_b=size_b,
                      seconds=round(time.perf_counter() - start, 3))
    return _with_summary(result)


def _embed_sample(data: Any, backbone: str, max_samples: int | None, seed: int,
                  options: dict[str, Any]) -> tuple[np.ndarray, int]:
    """Embeddings of at most ``max_samples`` seeded-random items of ``data``, and its full size."""
    from graft.api import as_dataset, embed
    from graft.data.dataset import Dataset

    is_array = False
    if isinstance(data, (str, Path, Dataset)):
        ds = as_dataset(data)
        items, is_array = ds.items, ds.modality == "array"
    else:
        items = list(data)
    keep = np.arange(len(items))
    if max_samples is not None and len(items) > max_samples:
        keep = np.sort(np.random.default_rng(seed).choice(len(items), size=max_samples, replace=False))
    chosen = [items[i] for i in keep]
    if is_array:  # numeric rows are their own embedding
        return np.asarray(chosen, dtype=np.float32), len(items)
    return embed(chosen, backbone, **options), len(items)


def _replace(result: ShiftResult, **changes: Any) -> ShiftResult:
    import dataclasses

    return dataclasses.replace(result, **changes)


def _with_summary(r: ShiftResult) -> ShiftResult:
    """Plain words: is there a shift, and how large (PAD < 0.5 small, < 1.5 clear, above: near-separable)."""
    if r.p_value is None:
        test = "no permutation test run"
    elif r.shifted:
        test = f"the two samples differ (MMD p = {r.p_value:.3g} < {r.alpha})"
    else:
        test = f"no significant difference (MMD p = {r.p_value:.3g} >= {r.alpha})"
    size = ("small" if r.proxy_a_distance < 0.5 else "clear" if r.proxy_a_distance < 1.5
            else "large: a linear classifier almost separates them")
    where = f" in {r.backbone}'s feature space" if r.backbone else ""
    summary = (f"{test}{where}; proxy A-distance {r.proxy_a_distance:.2f} of 2 ({size}), "
               f"domain-classifier AUC {r.domain_auc:.2f}; {r.n_a} vs {r.n_b} items compared.")
    return _replace(r, summary=summary)
