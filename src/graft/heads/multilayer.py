"""Multi-layer probe: one logistic regression over pooled features of every block, after Head2Toe.

Head2Toe (Evci et al., ICML 2022) reads pooled activations from every layer of a frozen network,
selects a fraction of the features, and fits a linear head on those. Here:

1. each tap (``graft.features.taps``) is normalised on its own (``"l2"``: unit-length rows, so
   taps of different widths and scales weigh alike), then all taps are concatenated;
2. a first L2 logistic regression on every column, for each C of the grid, scores relevance: the
   norm of each column's weights over the classes (the group norm Head2Toe's group lasso shrinks;
   a ridge fit ranks nearly alike at a fraction of the cost);
3. for each kept fraction (``keep_grid``) the top-scoring columns are refitted for each C; the
   pair with the best validation accuracy (then log loss; ties keep fewer columns) wins;
4. test-time averaging over cheap views (``views``) is used when validation says it helps;
5. the winner is refitted on train + val. The head is a ``LinearHead`` over the selected columns
   only, and prediction extracts only the taps that hold them.

Public API (stable; ``graft.fit`` builds on it):

* ``MultiLayerConfig`` — settings (JSON round-trip through ``graft._config``).
* ``fit_multilayer(train, y_train, val, y_val, n_classes, config=None, *, train_views=None,
  val_views=None) -> MultiLayerResult`` — ``train`` / ``val`` are ``{tap: (N, width) array}``
  (``graft.features.taps.tap_features``); ``train_views`` / ``val_views`` are
  ``{view: {tap: array}}`` with rows aligned to ``train`` / ``val``.
* ``MultiLayerResult`` — ``head``, ``selection`` (``TapSelection``), ``C``, ``keep``,
  ``val_metrics``, ``search``; ``result.features(taps)`` and ``result.predict_proba(taps,
  views=None)`` apply the selection to new tap features.

Example:
    >>> rng = np.random.default_rng(0)
    >>> taps = {"a": rng.normal(size=(80, 6)), "b": rng.normal(size=(80, 4))}
    >>> y = (taps["b"][:, 0] > 0).astype(int)
    >>> tr = {k: v[:60] for k, v in taps.items()}; va = {k: v[60:] for k, v in taps.items()}
    >>> r = fit_multilayer(tr, y[:60], va, y[60:], 2, MultiLayerConfig(C_grid=(1.0,), keep_grid=(0.2, 1.0)))
    >>> r.val_metrics["accuracy"] > 0.8
    True
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Literal, Mapping

import numpy as np

from graft._config import check_ranges
from graft.data.split import sample_rows
from graft.errors import UsageError
from graft.features.extract import _modality
from graft.features.taps import NORMALISATIONS, POOLINGS, _check_taps, combine_taps
from graft.features.views import check_view
from graft.heads.linear import LinearHead
from graft.heads.probe import ProbeConfig, _fit_one

log = logging.getLogger(__name__)

SOURCE_LOGITS = "source_logits"
#: Up to this many training rows the every-column fits of a search share one preparation
#: (two N x N float64 matrices: 64 MB at 2,000 rows); larger ones prepare each fit anew.
PREPARED_ROWS = 2000


@dataclass
class MultiLayerConfig:
    """Settings of the multi-layer probe (API, CLI and the saved config.json)."""

    C_grid: tuple[float, ...] = field(default=(0.01, 0.1, 1.0, 10.0), metadata={"help": "inverse L2 strengths tried"})
    C: float | None = field(default=None, metadata={"help": "fixed inverse L2 strength; skips the C search"})
    keep_grid: tuple[float, ...] = field(default=(0.05, 0.1, 0.25, 0.5, 1.0),
                                         metadata={"help": "fractions of the columns kept, tried on validation"})
    keep: float | None = field(default=None, metadata={"help": "fixed kept fraction; skips the keep search"})
    taps: tuple[str, ...] | None = field(default=None, metadata={"help": "tap names to read; None: every tap"})
    pooling: Literal["mean", "grid2", "grid3", "grid4"] = field(default="mean", metadata={
        "help": "spatial pooling of image taps: 'mean', or 'gridN' (N = 2..4: the means of the finest g x g grid, "
                "g <= N, with channels*g*g <= max_tap_width)"})
    max_tap_width: int = field(default=1024, metadata={"help": "width cap per tap for grid pooling"})
    normalisation: Literal["l2", "standard"] = field(default="l2", metadata={
        "help": "per-tap normalisation: 'l2' (unit-length rows per tap) or 'standard' (column standardisation only)"})
    include_source_logits: bool = field(default=True, metadata={"help": "use the source classifier's logits as a tap"})
    try_last_block: bool = field(default=True, metadata={
        "help": "also try the last block alone (the last-layer probe) when keep is searched, so validation can "
                "prefer it on tasks close to the source data"})
    views: tuple[str, ...] = field(default=(), metadata={
        "help": "cheap views (e.g. 'hflip' for images) added as training rows and tried for test-time averaging"})
    tta: Literal["auto", "on", "off"] = field(default="auto", metadata={
        "help": "test-time averaging over the views: 'auto' (when validation favours it), 'on', 'off'"})
    max_iter: int = field(default=300, metadata={"help": "L-BFGS iterations per fit"})
    class_weight: str | None = field(default=None, metadata={"help": "None or 'balanced'"})
    refit_on_val: bool = field(default=True, metadata={"help": "after choosing C and keep, refit on train+val"})
    selection_rows: int = field(default=10000, metadata={
        "help": "at most this many training rows (a stratified sample) choose the columns; then only the "
                "selected taps are extracted for the rest"})

    def __post_init__(self) -> None:
        self.C_grid = tuple(float(c) for c in self.C_grid)
        self.keep_grid = tuple(float(k) for k in self.keep_grid)
        self.views = tuple(self.views)
        self.taps = tuple(self.taps) if self.taps is not None else None
        check_ranges(self, {"C_grid": "(0, inf)", "C": "(0, inf)", "keep_grid": "(0, 1]", "keep": "(0, 1]",
                            "max_tap_width": "[1, 1000000]", "max_iter": "[1, 100000]",
                            "selection_rows": "[10, 10000000]"})
        if not self.C_grid or not self.keep_grid:
            raise UsageError("MultiLayerConfig: C_grid and keep_grid need at least one value each")
        for name, value, allowed in (("pooling", self.pooling, POOLINGS), ("normalisation", self.normalisation, NORMALISATIONS),
                                     ("tta", self.tta, ("auto", "on", "off")),
                                     ("class_weight", self.class_weight, (None, "balanced"))):
            if value not in allowed:
                raise UsageError(f"MultiLayerConfig: {name}={value!r}; choose one of {', '.join(map(str, allowed))}")

    def probe_config(self) -> ProbeConfig:
        """The logistic-regression settings shared with the last-layer probe."""
        return ProbeConfig(C_grid=self.C_grid, C=self.C, max_iter=self.max_iter, class_weight=self.class_weight,
                           refit_on_val=self.refit_on_val)


@dataclass
class TapSelection:
    """Which columns of which taps the head reads, and how the taps are prepared.

    ``columns`` is ordered from input to output and each list is sorted: the head's columns are
    their concatenation in that order.
    """

    columns: dict[str, list[int]]
    normalisation: str = "l2"
    pooling: str = "mean"
    max_tap_width: int = 1024
    tta_views: list[str] = field(default_factory=list)
    train_views: list[str] = field(default_factory=list)

    @property
    def taps(self) -> list[str]:
        return list(self.columns)

    @property
    def n_features(self) -> int:
        return sum(len(c) for c in self.columns.values())

    def as_dict(self) -> dict[str, Any]:
        """The ``selection`` argument of ``graft.features.taps.selected_features`` (and config.json)."""
        return {"taps": self.taps, "columns": {t: list(map(int, c)) for t, c in self.columns.items()},
                "normalisation": self.normalisation, "pooling": self.pooling, "max_tap_width": self.max_tap_width,
                "tta_views": list(self.tta_views), "train_views": list(self.train_views)}


@dataclass
class MultiLayerResult:
    """What ``fit_multilayer`` returns."""

    head: LinearHead
    selection: TapSelection
    C: float
    keep: float
    val_metrics: dict[str, Any]
    search: list[dict[str, float]]  # per (keep, C): columns, val accuracy, val log loss
    n_iter: int = 0

    def features(self, taps: dict[str, np.ndarray]) -> np.ndarray:
        """The head's input from per-tap features (only the selected taps are needed)."""
        return combine_taps(taps, self.selection.columns, self.selection.normalisation)

    def predict_proba(self, taps: dict[str, np.ndarray], views: dict[str, dict[str, np.ndarray]] | None = None) -> np.ndarray:
        """Class probabilities; with ``views`` (``{view: taps}``), averaged as the selection says."""
        return _proba(self.head, _averaged(self.features, taps, views, self.selection.tta_views))

    def head_config(self) -> dict[str, Any]:
        """The ``head`` entry of a saved model's config.json."""
        return {"type": "multilayer", "C": self.C, "keep": self.keep, **self.selection.as_dict()}


def _averaged(prepare: Any, taps: dict[str, np.ndarray], views: dict[str, dict[str, np.ndarray]] | None,
              use: list[str]) -> np.ndarray:
    """Mean of the prepared features over the original and the views in ``use`` (the head is
    affine in them, so this averages the logits)."""
    x = prepare(taps)
    missing = [v for v in use if not views or v not in views]
    if missing:
        raise UsageError(f"the model averages over view(s) {missing}; pass their features")
    for view in use:
        x += prepare(views[view])  # prepare returns a new array each time: adding in place is safe
    if use:
        x /= 1 + len(use)
    return x


def _tap_order(train: dict[str, np.ndarray], config: MultiLayerConfig) -> list[str]:
    taps = [t for t in train if (config.taps is None or t in config.taps)]
    if not config.include_source_logits:
        taps = [t for t in taps if t != SOURCE_LOGITS]
    if not taps:
        raise UsageError("the multi-layer probe got no taps to read; check MultiLayerConfig.taps")
    return taps


#: Rows scored at a time by ``_proba``: ``LinearHead`` works in float64 with two temporaries of the
#: input's size, i.e. 1000 val rows x 14,000 columns would take ~340 MB at once.
_PROBA_ROWS = 256


def _proba(head: LinearHead, x: np.ndarray) -> np.ndarray:
    """``head.predict_proba(x)`` a block of rows at a time (rows are independent)."""
    if len(x) <= _PROBA_ROWS:
        return head.predict_proba(x)
    return np.concatenate([head.predict_proba(x[i: i + _PROBA_ROWS]) for i in range(0, len(x), _PROBA_ROWS)])


def _scores(head: LinearHead, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    proba = _proba(head, x)
    acc = float(np.mean(proba.argmax(1) == y))
    loss = float(-np.mean(np.log(np.clip(proba[np.arange(len(y)), y], 1e-12, None))))
    return acc, loss


def _top_columns(relevance: np.ndarray, keep: float) -> np.ndarray:
    k = max(1, int(round(keep * len(relevance))))
    return np.sort(np.argsort(-relevance, kind="stable")[:k])


def fit_multilayer(train: Mapping[str, np.ndarray], y_train: np.ndarray, val: Mapping[str, np.ndarray] | None,
                   y_val: np.ndarray | None, n_classes: int, config: MultiLayerConfig | None = None, *,
                   train_views: dict[str, Mapping[str, np.ndarray]] | None = None,
                   val_views: dict[str, Mapping[str, np.ndarray]] | None = None,
                   prepared: dict[str, Any] | None = None) -> MultiLayerResult:
    """Select columns of the taps and fit the head; C and the kept fraction are chosen on validation.

    Args:
        train, val: ``{tap: (N, width)}`` per split (taps in input → output order), float16 or
            float32; ``train`` may be a ``StoredTaps`` (``tap_features(lazy=True)``): it is read one
            tap at a time into the single float32 matrix the fits share, and not kept.
        y_train, y_val: class indices.
        n_classes: number of classes.
        config: settings (``MultiLayerConfig()`` by default).
        train_views, val_views: ``{view: {tap: array}}`` for the views in ``config.views``, rows
            aligned with ``train`` / ``val``. Training views become extra rows; validation views
            decide test-time averaging.
        prepared: a dict kept by a caller that fits the same training features several times
            (``graft fit``'s trials at other C and kept fractions): the every-column fit's
            preparation (``graft.heads.probe.prepare_row_space``) is made once and stored there.

    Returns:
        the head over the selected columns, the selection, and the search.
    """
    from graft.metrics import classification_metrics

    config = config or MultiLayerConfig()
    y_train = np.asarray(y_train)
    if len(np.unique(y_train)) < 2:
        raise UsageError("the multi-layer probe needs at least 2 classes in the training split")
    taps = _tap_order(train, config)
    widths = {t: _width(train, t) for t in taps}
    everything = {t: list(range(w)) for t, w in widths.items()}
    views = list(config.views)
    _require_views(views, train_views, "train_views")
    has_val = val is not None and y_val is not None and len(y_val) > 0
    # One float32 matrix holds every prepared row the fits read: train (+ its views), then val (+ the
    # val views the refit on train + val adds). The search fits on its train rows; the final refit
    # reuses it in place (every column kept) or copies the kept columns out of it and frees it, so a
    # 10,000 x 14,000 sample is never held twice outside a fit's own standardised copy.
    train_blocks = [train] + [train_views[v] for v in views]  # type: ignore[index]
    val_blocks = [val] if has_val else []
    if has_val and config.refit_on_val and _has_views(views, val_views):
        val_blocks += [val_views[v] for v in views]  # type: ignore[index]
    n_train = sum(_rows(b) for b in train_blocks)
    x_all = np.empty((n_train + sum(_rows(b) for b in val_blocks), sum(widths.values())), np.float32)
    _fill_prepared(x_all, train_blocks + val_blocks, everything, config.normalisation)  # type: ignore[arg-type]
    x_train, y_rows = x_all[:n_train], np.concatenate([y_train] * len(train_blocks))
    x_val = x_all[n_train: n_train + _rows(val)] if has_val else None  # type: ignore[arg-type]
    probe = config.probe_config()
    grid = (config.C,) if config.C is not None else config.C_grid
    keeps = (config.keep,) if config.keep is not None else config.keep_grid
    last_block = _last_block_columns(taps, widths) if config.try_last_block and config.keep is None and has_val else None
    candidates, search = _search(x_train, y_rows, x_val, y_val if has_val else None, grid, keeps, probe, n_classes,
                                 last_block, {} if prepared is None else prepared)
    allowed = [c for c in candidates if c[4] in keeps or c[5] is last_block] or candidates
    # without validation there is nothing to choose on: the largest kept fraction, first C
    best = max(allowed, key=lambda c: c[:3]) if has_val else max(allowed, key=lambda c: c[4])
    _, _, _, C, keep, columns, head, n_iter = best
    selection = _selection(columns, taps, widths, config)
    selection.tta_views = _choose_tta(config, views, val_views, selection, head, val, y_val) if has_val else []
    val_metrics: dict[str, Any] = {}
    if has_val:
        sel_prepare = lambda f: combine_taps(f, selection.columns, config.normalisation)  # noqa: E731
        x_val_sel = _averaged(sel_prepare, val, val_views, selection.tta_views)
        val_metrics = classification_metrics(y_val, _proba(head, x_val_sel), n_classes)
        if config.refit_on_val:
            y_all = np.concatenate([y_rows] + [np.asarray(y_val)] * len(val_blocks))
            x = x_all if len(columns) == x_all.shape[1] else np.take(x_all, columns, axis=1, mode="clip")
            del x_all, x_train, x_val  # only x is left for the refit, standardised in place
            head, n_iter = _fit_one(x, y_all, C, probe, n_classes, overwrite_x=True)
            del x
    log.info("multi-layer probe: keep=%s (%d of %d columns, %d taps), C=%s, tta=%s", keep, len(columns),
             sum(widths.values()), len(selection.columns), C, selection.tta_views)
    return MultiLayerResult(head=head, selection=selection, C=float(C), keep=float(keep), val_metrics=val_metrics,
                            search=search, n_iter=n_iter)


def _search(x_train: np.ndarray, y_rows: np.ndarray, x_val: np.ndarray | None, y_val: np.ndarray | None,
            grid: tuple[float, ...], keeps: tuple[float, ...], probe: ProbeConfig, n_classes: int,
            last_block: np.ndarray | None = None,
            prepared: dict[str, Any] | None = None) -> tuple[list[tuple], list[dict[str, float]]]:
    """Fit every column at each C; rank columns by the best full fit's weight norms over the
    classes (the group norm Head2Toe's group lasso shrinks); fit the top fractions at each C; and,
    given ``last_block``'s columns, the last block alone at each C. The every-column fits share one
    preparation (``prepared["all"]``, made on first use) when the matrix is wide and small enough.

    Returns candidates ``(acc, -loss, -keep, C, keep, columns, head, n_iter)`` and the search rows.
    """
    from graft.heads.probe import prepare_row_space

    search: list[dict[str, float]] = []
    candidates: list[tuple] = []
    prepared = {} if prepared is None else prepared

    def consider(keep: float, columns: np.ndarray, C: float) -> LinearHead:
        subset = len(columns) < x_train.shape[1]
        x = x_train[:, columns] if subset else x_train
        if not subset and "all" not in prepared:  # its coordinates are N x N: kept for small N only
            prepared["all"] = prepare_row_space(x) if len(x) <= PREPARED_ROWS else None
        # a column subset is a copy made for this fit: standardised in place, not copied again
        head, n_iter = _fit_one(x, y_rows, C, probe, n_classes, overwrite_x=subset,
                                prepared=None if subset else prepared["all"])
        del x
        if y_val is not None:  # every column: x_val itself, not a copy of it
            acc, loss = _scores(head, x_val if not subset else x_val[:, columns], y_val)
        else:
            acc, loss = 0.0, 0.0
        search.append({"keep": keep, "C": C, "columns": int(len(columns)), "val_accuracy": acc, "val_log_loss": loss})
        candidates.append((acc, -loss, -keep, C, keep, columns, head, n_iter))
        return head

    all_columns = np.arange(x_train.shape[1])
    full = {C: consider(1.0, all_columns, C) for C in grid}
    ranking_C = max(candidates, key=lambda c: c[:2])[3]
    relevance = np.linalg.norm(full[ranking_C].weight, axis=0)
    for keep in sorted(k for k in keeps if k < 1.0):
        columns = _top_columns(relevance, keep)
        for C in (grid if y_val is not None else grid[:1]):
            consider(keep, columns, C)
    if last_block is not None:
        for C in grid:
            consider(len(last_block) / len(all_columns), last_block, C)
            search[-1]["last_block"] = 1.0
    return candidates, search


def _last_block_columns(taps: list[str], widths: dict[str, int]) -> np.ndarray | None:
    """Columns of the deepest tap that is not the source logits (the backbone's own features)."""
    blocks = [t for t in taps if t != SOURCE_LOGITS]
    if len(blocks) < 2:
        return None  # the only block: already the full fit
    start = sum(widths[t] for t in taps[: taps.index(blocks[-1])])
    return np.arange(start, start + widths[blocks[-1]])


def _has_views(views: list[str], given: dict[str, dict[str, np.ndarray]] | None) -> bool:
    return bool(views) and given is not None and all(v in given for v in views)


def _require_views(views: list[str], given: dict[str, dict[str, np.ndarray]] | None, what: str) -> None:
    if views and not _has_views(views, given):
        raise UsageError(f"MultiLayerConfig.views={views} but {what} lacks features for some of them; "
                         "extract them with tap_features(..., view=NAME)")


def _width(feats: Mapping[str, np.ndarray], tap: str) -> int:
    """Columns of one tap (a ``StoredTaps`` reads one row for it, not the tap)."""
    width = getattr(feats, "width", None)
    return int(width(tap)) if width is not None else int(feats[tap].shape[1])


def _rows(feats: Mapping[str, np.ndarray]) -> int:
    """Rows of a tap mapping (a ``StoredTaps`` knows without reading a tap)."""
    rows = getattr(feats, "rows", None)
    return int(rows) if rows is not None else len(next(iter(feats.values())))


def _fill_prepared(out: np.ndarray, blocks: list[Mapping[str, np.ndarray]], columns: dict[str, list[int]],
                   mode: str) -> np.ndarray:
    """Prepared features (``combine_taps``) of each block of rows, one below the other, written
    into ``out``: no block is ever copied into a stack, so the peak is ``out`` plus one tap."""
    start = 0
    for block in blocks:
        rows = _rows(block)
        combine_taps(block, columns, mode, out=out[start: start + rows])  # type: ignore[arg-type]
        start += rows
    return out


def _with_views(columns: dict[str, list[int]], mode: str, feats: Mapping[str, np.ndarray], y: np.ndarray,
                views: list[str], given: dict[str, Mapping[str, np.ndarray]] | None) -> tuple[np.ndarray, np.ndarray]:
    """Prepared rows of the original items, then of each view (same labels), in one array
    allocated once."""
    blocks = [feats] + [given[v] for v in views] if views else [feats]  # type: ignore[index]
    out = np.empty((sum(_rows(b) for b in blocks), sum(len(c) for c in columns.values())), np.float32)
    return _fill_prepared(out, blocks, columns, mode), np.concatenate([y] * len(blocks))


def _selection(columns: np.ndarray, taps: list[str], widths: dict[str, int], config: MultiLayerConfig) -> TapSelection:
    """Global column indices → sorted column indices per tap (taps without any left out)."""
    per_tap: dict[str, list[int]] = {}
    offset = 0
    for tap in taps:
        inside = columns[(columns >= offset) & (columns < offset + widths[tap])] - offset
        if len(inside):
            per_tap[tap] = inside.astype(int).tolist()
        offset += widths[tap]
    return TapSelection(columns=per_tap, normalisation=config.normalisation, pooling=config.pooling,
                        max_tap_width=config.max_tap_width, train_views=list(config.views))


def _choose_tta(config: MultiLayerConfig, views: list[str], val_views: dict[str, dict[str, np.ndarray]] | None,
                selection: TapSelection, head: LinearHead, val: dict[str, np.ndarray], y_val: np.ndarray) -> list[str]:
    """The views to average over at prediction: all of ``views`` or none, as validation (or ``tta``) says."""
    if not views or config.tta == "off":
        return []
    if config.tta == "on":
        _require_views(views, val_views, "val_views")
        return list(views)
    if not _has_views(views, val_views):
        return []
    prepare = lambda f: combine_taps(f, selection.columns, config.normalisation)  # noqa: E731
    plain = _scores(head, prepare(val), y_val)
    averaged = _scores(head, _averaged(prepare, val, val_views, views), y_val)
    # strictly better accuracy, or equal accuracy and lower log loss
    return list(views) if (averaged[0], -averaged[1]) > (plain[0], -plain[1]) else []


def refit_multilayer(result: MultiLayerResult, train: dict[str, np.ndarray], y_train: np.ndarray, n_classes: int,
                     config: MultiLayerConfig | None = None, *,
                     train_views: dict[str, dict[str, np.ndarray]] | None = None) -> MultiLayerResult:
    """Refit the head of ``result`` (same selection, C and views) on other rows, e.g. all of a
    large training split after the selection was chosen on a sample. ``train`` needs only the
    selected taps."""
    from dataclasses import replace

    config = config or MultiLayerConfig()
    selection = result.selection
    views = list(selection.train_views)
    _require_views(views, train_views, "train_views")
    x, y = _with_views(selection.columns, selection.normalisation, train, np.asarray(y_train), views, train_views)
    head, n_iter = _fit_one(x, y, result.C, config.probe_config(), n_classes, overwrite_x=True)
    return replace(result, head=head, n_iter=n_iter)


def _refit_blocks(result: MultiLayerResult, blocks: list[Mapping[str, np.ndarray]], y: np.ndarray, n_classes: int,
                  config: MultiLayerConfig) -> MultiLayerResult:
    """``refit_multilayer`` on rows given as blocks of taps (e.g. train read from the cache tap by
    tap, then val): one float32 matrix of the selected columns, filled block by block and
    standardised in place, is all the fit holds."""
    from dataclasses import replace

    selection = result.selection
    x = np.empty((sum(_rows(b) for b in blocks), selection.n_features), np.float32)
    _fill_prepared(x, blocks, selection.columns, selection.normalisation)
    head, n_iter = _fit_one(x, y, result.C, config.probe_config(), n_classes, overwrite_x=True)
    return replace(result, head=head, n_iter=n_iter)


@dataclass
class MultiLayerProbe:
    """A multi-layer probe trained on a dataset: the fit, its metrics, and a drift reference."""

    result: MultiLayerResult
    metrics: dict[str, Any]
    reference_features: np.ndarray  # selected features of (a sample of) the training rows
    reference_proba: np.ndarray  # probabilities on held-out rows (val, else train)


def probe_dataset(ds: Any, backbone: Any, config: MultiLayerConfig | None = None, *, weights: Any = None,
                  allow_download: bool = False, batch_size: int = 64, progress: bool = False, store: Any = None,
                  chosen: MultiLayerResult | None = None, **backbone_options: Any) -> MultiLayerProbe:
    """Extract taps, select and fit on a ``Dataset``'s splits, score its test split.

    Memory and compute stay bounded: every tap is extracted only for (at most
    ``config.selection_rows`` of) the training rows and for val; the rest of train and the test
    split get only the selected taps. Taps stay float16 (as cached) until each is normalised into
    the one float32 matrix a fit reads, and the rows of the full training split are read from the
    cache one tap at a time (``tap_features(lazy=True)``), so no split's taps are ever held whole
    in float32. ``chosen``: a result already fitted on these train / val
    splits with this config (``graft fit``'s search): its selection, C and validation metrics are
    kept and only the head is refitted (on train + val when ``config.refit_on_val``).
    """
    from graft.features.taps import available_taps, tap_features
    from graft.metrics import classification_metrics

    config = config or MultiLayerConfig()
    train, val, test = ds.train, ds.val, ds.test
    names = available_taps(backbone, weights=weights, allow_download=allow_download, store=store, **backbone_options)
    taps = _tap_order({t: None for t in names}, config)  # type: ignore[misc]
    _check_taps(config.taps or (), names, backbone)
    inner = [t for t in names if t != SOURCE_LOGITS]
    if len(inner) == 1 and chosen is None:  # asked for by hand (graft fit's arm table shows taps=1)
        log.warning("%s exposes one tap (%r: e.g. a frozen engine's final embedding), so --layers all is a probe on "
                    "selected columns of that layer; --layers last is the plain probe",
                    backbone if isinstance(backbone, str) else backbone.spec.name, inner[0])
    for view in config.views:  # before the first extraction, not after the pass without views
        check_view(view, _modality(backbone))

    def feats(items: list[Any], tap_list: list[str], view: str | None = None, lazy: bool = False) -> Any:
        # float16, as cached: half the memory of float32; combine_taps normalises each tap into float32
        return tap_features(items, backbone, taps=tap_list, weights=weights, allow_download=allow_download, view=view,
                            progress=progress, pooling=config.pooling, max_tap_width=config.max_tap_width, store=store,
                            batch_size=batch_size, dtype=np.float16, lazy=lazy, **backbone_options)

    def with_views(items: list[Any], tap_list: list[str], views: list[str], lazy: bool = False) -> tuple[Any, dict]:
        return feats(items, tap_list, lazy=lazy), {v: feats(items, tap_list, v, lazy=lazy) for v in views}

    views = list(config.views)

    def refit(result: MultiLayerResult) -> MultiLayerResult:
        """The head refitted on every training row (and val), reading only the selected taps, one at a time."""
        selected = result.selection.taps
        with_val = bool(len(val)) and config.refit_on_val
        blocks: list[Any] = []
        labels: list[np.ndarray] = []
        for view in [None, *views]:  # rows as refit_multilayer orders them: train, val, then each view's
            blocks.append(feats(list(train.items), selected, view, lazy=True))
            labels.append(train.labels)
            if with_val:
                blocks.append(va if view is None else va_views[view])
                labels.append(val.labels)
        return _refit_blocks(result, blocks, np.concatenate(labels), len(ds.classes), config)

    sample = sample_rows(train.labels, config.selection_rows)
    if chosen is not None:
        # the sample's selected taps give the drift reference, as for a fresh fit
        tr, tr_views = with_views([train.items[i] for i in sample], chosen.selection.taps, views, lazy=True)
        va, va_views = with_views(list(val.items), chosen.selection.taps, views) if len(val) else (None, None)
        result = refit(chosen)
    else:
        # the sample's taps are read from the cache one at a time into the fit's one float32 matrix
        # (10,000 rows of every grid4 tap of mobilenet_v2 are 280 MB as float16, 560 MB as float32)
        tr, tr_views = with_views([train.items[i] for i in sample], taps, views, lazy=True)
        va, va_views = with_views(list(val.items), taps, views) if len(val) else (None, None)
        result = fit_multilayer(tr, train.labels[sample], va, val.labels if len(val) else None, len(ds.classes),
                                config, train_views=tr_views, val_views=va_views)
        if len(sample) < len(train):
            result = refit(result)
    selected = result.selection.taps
    metrics: dict[str, Any] = {"val": result.val_metrics} if len(val) else {}
    if len(test):
        from graft.features.taps import cache_selected

        te, te_views = with_views(list(test.items), selected, result.selection.tta_views, lazy=True)
        x_test = _averaged(result.features, te, te_views, result.selection.tta_views)
        metrics["test"] = classification_metrics(test.labels, _proba(result.head, x_test), len(ds.classes))
        # a later evaluate of the saved model on this test split then reads these instead of recomputing
        cache_selected(list(test.items), backbone, result.head_config(), x_test, weights=weights, store=store,
                       **backbone_options)
    held_out = (va, va_views) if len(val) else (tr, tr_views)
    return MultiLayerProbe(result, metrics, result.features(tr), result.predict_proba(*held_out))
