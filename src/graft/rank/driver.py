"""``rank_backbones``: score every candidate backbone on a labelled sample of the user's data.

For each backbone: embed a stratified sample of the training split (through the feature cache),
run the source head where the weights have one (for LEEP / NCE), compute every requested score,
and time it all. The rows come back ranked by one score, with a recommendation.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from graft.errors import GraftError, UsageError
from graft.rank.registry import SCORES

if TYPE_CHECKING:
    from graft.backbones.base import Backbone
    from graft.data.dataset import Dataset

log = logging.getLogger(__name__)

DEFAULT_SCORES = ("logme", "leep", "nce", "hscore", "regularized_hscore", "knn", "linear")
# Below this many items per class the k-NN and CV-probe baselines say little; we still run them.
_MIN_PER_CLASS = 2


@dataclass
class RankRow:
    """One candidate backbone.

    Attributes:
        backbone: its name.
        scores: score name -> value; None where it could not be computed (see ``notes``).
        params: parameters of the feature extractor (the source classifier, if any, not counted).
        feature_dim: embedding size.
        seconds: wall time for this backbone: building it, embedding the sample, every score.
        score_seconds: wall time of each score alone.
        notes: why a score is missing, e.g. "no source head: leep, nce not computed".
        rank: 1 for the recommended backbone.
    """

    backbone: str
    scores: dict[str, float | None]
    params: int
    feature_dim: int
    seconds: float
    score_seconds: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    rank: int = 0


@dataclass
class RankResult:
    """The outcome of :func:`rank_backbones`.

    Attributes:
        rows: one per backbone, best first by ``by``.
        by: the score that orders ``rows``.
        scores: the scores computed, in column order.
        n_samples: labelled training items scored (the stratified sample).
        n_classes: classes in the sample.
        recommendation: one sentence a person can act on.
        failed: backbones that could not be scored, with the reason.
    """

    rows: list[RankRow]
    by: str
    scores: list[str]
    n_samples: int
    n_classes: int
    recommendation: str
    failed: list[dict[str, str]] = field(default_factory=list)

    @property
    def ranking(self) -> list[str]:
        """Backbone names, best first."""
        return [r.backbone for r in self.rows]

    @property
    def best(self) -> str | None:
        return self.rows[0].backbone if self.rows else None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"ranking": self.ranking, "best": self.best}


def rank_backbones(
    data: "str | Path | Dataset",
    backbones: Sequence[str] | None = None,
    *,
    modality: str | None = None,
    sample: int | None = None,
    scores: Sequence[str] = DEFAULT_SCORES,
    by: str = "logme",
    image_size: int | None = None,
    seed: int = 0,
    allow_download: bool = False,
    batch_size: int = 64,
    progress: bool = False,
    **read_options: Any,
) -> RankResult:
    """Rank pretrained backbones by how well their frozen features should transfer to ``data``.

    Args:
        data: a dataset folder / table, or a :class:`~graft.data.Dataset`; its labelled train split is scored.
        backbones: candidate names. Default: every backbone of ``modality`` whose weights are on this machine.
        modality: "image", "text" or "audio" when ``backbones`` is not given (default: the data's).
        sample: score a stratified sample of this many training items (default: all of them).
        scores: names from :data:`graft.rank.SCORES`. LEEP and NCE need a source classifier; for
            backbones without one they are None and the row says so.
        by: the score that orders the table (higher is better for all built-in scores).
        image_size: input resolution for image backbones (smaller is faster).
        seed: seeds the sample and the cross-validation folds.

    Returns:
        A :class:`RankResult`.

    Example:
        >>> result = graft.rank_backbones("data/pets", modality="image", sample=500)  # doctest: +SKIP
        >>> result.ranking, result.recommendation                                     # doctest: +SKIP
    """
    from graft.api import _require_labels, as_dataset

    if by not in scores:
        raise UsageError(f"--by {by!r} must be one of the scores computed: {', '.join(scores)}")
    infos = [SCORES.get(name) for name in scores]
    check_settings(sample, image_size, seed, batch_size)
    ds = as_dataset(data, **read_options)
    from graft.data.regression import require_classes

    require_classes(ds, "graft rank (LogME, LEEP, NCE, H-score)", "compare backbones on a number with graft probe "
                    "--backbone NAME for each (validation R²) or let graft fit choose")
    train = ds.train
    _require_labels(train, "train")
    names = candidate_backbones(ds.modality, backbones, modality)
    keep = stratified_sample(train.labels, sample, seed)
    items, labels = [train.items[i] for i in keep], train.labels[keep]
    if len(np.unique(labels)) < 2:
        raise UsageError(f"{ds.source}: ranking needs at least 2 classes in the training split")
    rows, failed = [], []
    # image_size means nothing to a text or audio encoder; it must not change their cache key either
    size = image_size if ds.modality == "image" else None
    for name in names:
        try:
            _check_modality(name, ds.modality)
            rows.append(_score_backbone(name, items, labels, infos, size, allow_download, batch_size, progress))
        except GraftError as exc:  # one unusable candidate must not sink the whole table
            log.warning("%s: not ranked: %s", name, exc)
            failed.append({"backbone": name, "reason": str(exc)})
    if not rows:
        raise UsageError("no backbone could be scored: " + "; ".join(f"{f['backbone']}: {f['reason']}" for f in failed))
    higher = SCORES.get(by).higher_is_better
    rows = order_rows(rows, by, higher)
    return RankResult(rows, by, list(scores), len(items), int(len(np.unique(labels))),
                      recommend(rows, by), failed)


def check_settings(sample: int | None, image_size: int | None, seed: int, batch_size: int) -> None:
    """Every numeric setting in its range before any data is read (the sample's upper bound and the
    per-class minimum depend on the data: ``stratified_sample`` checks those)."""
    from graft._config import check_value
    from graft.api import backbone_options

    check_value("--sample", sample, f"[{2 * _MIN_PER_CLASS}, inf)")
    check_value("--seed", seed, "[0, 4294967295]")
    check_value("--batch-size", batch_size, "[1, 65536]")
    backbone_options(image_size)


def candidate_backbones(data_modality: str, backbones: Sequence[str] | None, modality: str | None) -> list[str]:
    """The names to rank: as given, or the offline zoo of one modality."""
    if backbones and modality:
        raise UsageError("give either a list of backbones or a modality, not both")
    if backbones:
        return list(dict.fromkeys(backbones))
    wanted = modality or data_modality
    if wanted not in ("image", "text", "audio"):
        raise UsageError(f"cannot rank backbones for {wanted!r} data; pass the candidates with --backbones")
    names = offline_backbones(wanted)
    if not names:
        raise UsageError(f"no {wanted} backbone has its weights on this machine; run `make setup` "
                         "or name candidates with --backbones (see `graft models`)")
    return names


def offline_backbones(modality: str) -> list[str]:
    """Zoo backbones of ``modality`` whose weights are installed (no downloads)."""
    from graft.backbones.inventory import zoo_table

    return [r["name"] for r in zoo_table() if r["modality"] == modality and r["offline"]]


def stratified_sample(labels: np.ndarray, size: int | None, seed: int = 0) -> np.ndarray:
    """Sorted indices of a class-stratified random sample of ``size`` items (all items if None or more).

    Each class gets its share of ``size`` (largest remainders break ties), but at least
    min(2, its count), so every class stays scoreable; the largest classes give up what that costs.

    Example:
        >>> stratified_sample(np.array([0] * 90 + [1] * 10), 20).size
        20
    """
    labels = np.asarray(labels)
    n = len(labels)
    if size is None or size >= n:
        return np.arange(n)
    classes, counts = np.unique(labels, return_counts=True)
    smallest = int(np.minimum(_MIN_PER_CLASS, counts).sum())
    if size < smallest:  # fewer would leave classes unscoreable; silently taking more misreports the sample
        raise UsageError(f"--sample {size} is outside its allowed range [{smallest}, {n}] for this data: "
                         f"at least {_MIN_PER_CLASS} items for each of its {len(classes)} classes; "
                         f"a larger value than {n} scores every item")
    quota = _quotas(counts, size)
    rng = np.random.default_rng(seed)
    chosen = [rng.choice(np.flatnonzero(labels == c), size=q, replace=False) for c, q in zip(classes, quota)]
    return np.sort(np.concatenate(chosen))


def _quotas(counts: np.ndarray, size: int) -> np.ndarray:
    exact = counts * size / counts.sum()
    quota = np.floor(exact).astype(int)
    left = size - quota.sum()
    quota[np.argsort(-(exact - quota), kind="stable")[:left]] += 1
    floor = np.minimum(_MIN_PER_CLASS, counts)
    quota = np.maximum(quota, floor)
    # the minimums for small classes are paid for by the largest quotas, so the total stays ``size``
    for _ in range(max(int(quota.sum()) - size, 0)):
        spare = quota - floor
        if spare.max() <= 0:
            break
        quota[int(np.argmax(spare))] -= 1
    return quota


def _score_backbone(name: str, items: list[Any], labels: np.ndarray, infos: list[Any], image_size: int | None,
                    allow_download: bool, batch_size: int, progress: bool) -> RankRow:
    from graft.features.extract import embed_items

    start = time.perf_counter()
    bb = _build(name, image_size, allow_download)
    features = embed_items(items, bb, batch_size=batch_size, progress=progress)
    inputs: dict[str, Any] = {"features": features}
    notes = []
    if any(i.needs != "features" for i in infos):
        if bb.source_head is None:
            missing = ", ".join(i.name for i in infos if i.needs != "features")
            notes.append(f"no source head: {missing} not computed")
        else:
            inputs["source_probs"] = source_probabilities(bb, features)
            inputs["source_labels"] = inputs["source_probs"].argmax(axis=1)
    values: dict[str, float | None] = {}
    timings: dict[str, float] = {}
    for info in infos:
        if info.needs not in inputs:
            values[info.name] = None
            continue
        t0 = time.perf_counter()
        try:
            with _blas_threads(features):
                values[info.name] = float(info.fn(inputs[info.needs], labels))
        except UsageError as exc:  # e.g. a class too small for cross-validation
            values[info.name] = None
            notes.append(f"{info.name}: {exc}")
        timings[info.name] = round(time.perf_counter() - t0, 4)
    return RankRow(name, values, feature_params(bb), int(features.shape[1]), round(time.perf_counter() - start, 3),
                   timings, notes)


# Below this many feature entries the scores run with one BLAS thread: the baselines' L-BFGS makes
# thousands of small products, and threads on a busy 2-core host spend them synchronising
# (5-fold probe on 250 x 1280: 18 s with the default threads, 0.5 s with one; as in heads/probe.py).
_SINGLE_THREAD_BLAS_BELOW = 1 << 23


def _blas_threads(features: np.ndarray) -> Any:
    from contextlib import nullcontext

    if features.size >= _SINGLE_THREAD_BLAS_BELOW:
        return nullcontext()
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


def _check_modality(name: str, modality: str) -> None:
    from graft.backbones import get_spec, is_registered

    if is_registered(name) and get_spec(name).modality != modality:
        raise UsageError(f"{name} is a {get_spec(name).modality} backbone but the data is {modality}")


def _build(name: str, image_size: int | None, allow_download: bool) -> "Backbone":
    from graft.api import backbone_options
    from graft.backbones.registry import shared_backbone

    return shared_backbone(name, allow_download=allow_download, **backbone_options(image_size))


def feature_params(backbone: "Backbone") -> int:
    """Parameters of the feature extractor: everything but the source classifier."""
    head = sum(p.numel() for p in backbone.source_head.parameters()) if backbone.source_head is not None else 0
    return sum(p.numel() for p in backbone.parameters()) - head


def source_probabilities(backbone: "Backbone", features: np.ndarray, batch_size: int = 4096) -> np.ndarray:
    """Softmax of the source classifier on pooled features (what LEEP and NCE read)."""
    import torch

    out = []
    with torch.inference_mode():
        for start in range(0, len(features), batch_size):
            logits = backbone.source_logits(torch.from_numpy(np.ascontiguousarray(features[start:start + batch_size])))
            out.append(torch.softmax(logits.double(), dim=1).numpy())
    return np.concatenate(out)


def order_rows(rows: list[RankRow], by: str, higher_is_better: bool = True) -> list[RankRow]:
    """Rows sorted best first by ``by``; rows without that score go last, in name order."""
    sign = -1.0 if higher_is_better else 1.0
    ordered = sorted(rows, key=lambda r: (r.scores.get(by) is None, sign * (r.scores.get(by) or 0.0), r.backbone))
    for i, row in enumerate(ordered):
        row.rank = i + 1
    return ordered


def recommend(rows: list[RankRow], by: str) -> str:
    """One sentence: which backbone to start from, and whether the baselines agree."""
    best = rows[0]
    if best.scores.get(by) is None:
        return f"No backbone has a {by} score; rank by another score (e.g. --by logme)."
    text = f"Start from {best.backbone}: the highest {by} ({best.scores[by]:.4g}) of {len(rows)} candidate(s)"
    if len(rows) > 1 and rows[1].scores.get(by) is not None:
        text += f"; runner-up {rows[1].backbone} ({rows[1].scores[by]:.4g})"
    text += "."
    for baseline in ("linear", "knn"):
        if baseline == by or len(rows) < 2:
            continue
        scored = [r for r in rows if r.scores.get(baseline) is not None]
        if scored:
            top = max(scored, key=lambda r: (r.scores[baseline], -r.params))
            if top.backbone != best.backbone and top.scores[baseline] > (best.scores.get(baseline) or -1.0):
                text += (f" The {baseline} baseline prefers {top.backbone} ({top.scores[baseline]:.3f} vs "
                         f"{best.scores.get(baseline) or float('nan'):.3f}): worth a probe of both.")
            break
    return text
