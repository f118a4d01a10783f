"""Linear probe: multinomial logistic regression on frozen features, regularisation chosen on validation."""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from graft.errors import UsageError
from graft.heads.linear import LinearHead

log = logging.getLogger(__name__)


@dataclass
class ProbeConfig:
    """Settings of the linear probe (shared by the API, the CLI and the saved config.json)."""

    C_grid: tuple[float, ...] = field(default=(0.01, 0.1, 1.0, 10.0), metadata={"help": "inverse L2 strengths tried"})
    C: float | None = field(default=None, metadata={"help": "fixed inverse L2 strength; skips the search"})
    max_iter: int = field(default=300, metadata={"help": "L-BFGS iterations per fit"})
    class_weight: str | None = field(default=None, metadata={"help": "None or 'balanced'"})
    refit_on_val: bool = field(default=True, metadata={"help": "after choosing C, refit on train+val"})
    val_fraction: float = field(default=0.2, metadata={"help": "held out when the data has no val split"})

    def __post_init__(self) -> None:
        from graft._config import check_ranges

        check_ranges(self, {"C_grid": "(0, inf)", "C": "(0, inf)", "max_iter": "[1, 1000000]", "val_fraction": "(0, 1)"})
        if not self.C_grid:
            raise UsageError("ProbeConfig: C_grid is empty; give at least one inverse L2 strength, e.g. (0.1, 1.0)")
        if self.class_weight not in (None, "balanced"):
            raise UsageError(f"ProbeConfig: class_weight={self.class_weight!r} must be None or 'balanced'")


@dataclass
class ProbeResult:
    head: LinearHead
    C: float
    search: list[dict[str, float]]  # per C: val accuracy and log loss
    val_metrics: dict[str, Any]
    n_iter: int = 0  # optimiser iterations of the final fit


# Below this many matrix entries one BLAS thread is faster: L-BFGS makes thousands of small
# matrix products, and multi-threaded OpenBLAS spends them synchronising its threads — on a busy
# 2-core host a probe on 200 x 1280 features took 13 s with 2 threads and 0.2 s with one.
_SINGLE_THREAD_BLAS_BELOW = 1 << 23


def _blas_threads_for(x: np.ndarray) -> Any:
    from contextlib import nullcontext

    if x.size >= _SINGLE_THREAD_BLAS_BELOW:
        return nullcontext()
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


#: Wider than this many times the rows, the fit runs in the row space of the standardised features.
ROW_SPACE_RATIO = 2.0


def _row_space(gram: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """From the Gram matrix ``z @ z.T`` of N rows of D columns (D > N): the rows' coordinates in an
    orthonormal basis of their span (N x R, R <= N), and the N x R matrix ``back`` with
    ``basis = z.T @ back``.

    An L2-penalised linear model's weights lie in the span of its training rows (any component
    outside changes no prediction and only adds to the penalty; the intercept is not penalised), so
    fitting on the coordinates with the same C and mapping the weights back (``(coef @ back.T) @ z``)
    gives the optimum of the fit on all D columns, at R instead of D columns per optimiser step:
    the multi-layer probe's 14,000 columns over 800 rows fit in a fraction of the time.
    """
    values, vectors = np.linalg.eigh(np.asarray(gram, dtype=np.float64))
    # float32 features: directions below ~1e-6 of the largest eigenvalue are rounding noise
    kept = values > max(float(values.max()), 1e-300) * 1e-6
    values, vectors = values[kept], vectors[:, kept]
    singular = np.sqrt(values)
    # the optimiser runs in float32, like a fit on float32 features: a third faster, and on the
    # screen's folds the same accuracies to the last digit
    return (vectors * singular).astype(np.float32), vectors / singular


#: Columns standardised at a time: the temporaries of the mean, the standard deviation and the
#: scaling then take N x 512 entries, not a copy of x each (10,000 x 14,000 float32 is 560 MB).
#: Reductions along the rows give the same bits whether they see all columns or a slice of them.
_STANDARDISE_COLUMNS = 512


def _standardise(x: np.ndarray, copy: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Columns to mean 0, variance 1: ``(z, mean, scale)``.

    ``z`` is the one new array of x's size (float32 stays float32: scikit-learn fits it without
    an upcast); with ``copy=False`` it is ``x`` itself, standardised in place (for a caller that
    built x for this fit only).
    """
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float64)
    mean = np.empty(x.shape[1], dtype=x.dtype)
    scale = np.empty(x.shape[1], dtype=x.dtype)
    for start in range(0, x.shape[1], _STANDARDISE_COLUMNS):
        part = x[:, start: start + _STANDARDISE_COLUMNS]
        mean[start: start + part.shape[1]] = part.mean(axis=0)
        scale[start: start + part.shape[1]] = part.std(axis=0)
    # A feature constant up to float noise (minilm_l6 has one, std 1e-8 among stds ~0.04) would get a
    # huge standardisation factor; it is left out instead (zero column, so its weight fits to zero).
    dead = scale <= max(1e-12, 1e-4 * float(np.median(scale)))
    scale[dead] = 1.0
    z = np.empty_like(x) if copy else x
    for start in range(0, x.shape[1], _STANDARDISE_COLUMNS):
        cols = slice(start, start + _STANDARDISE_COLUMNS)
        np.subtract(x[:, cols], mean[cols], out=z[:, cols])
        np.divide(z[:, cols], scale[cols], out=z[:, cols])
    z[:, dead] = 0.0
    return z, mean, scale


def _logistic(columns: np.ndarray, y: np.ndarray, C: float, config: ProbeConfig,
              sample_weight: np.ndarray | None = None) -> Any:
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression(C=C, max_iter=config.max_iter, class_weight=config.class_weight)
    with warnings.catch_warnings(), _blas_threads_for(columns):
        warnings.simplefilter("ignore")  # convergence warnings: max_iter is a deliberate budget
        clf.fit(columns, y, sample_weight=sample_weight)
    return clf


@dataclass
class RowSpaceFit:
    """A wide training matrix prepared once for fits at several C (``prepare_row_space``): its
    standardisation, the columns it left out, and its rows' coordinates in their span."""

    mean: np.ndarray
    scale: np.ndarray
    dead: np.ndarray
    coordinates: np.ndarray
    back: np.ndarray


def prepare_row_space(x: np.ndarray) -> RowSpaceFit | None:
    """What every fit on ``x`` at another C shares, when x is wide enough to fit in its rows' span
    (None otherwise): the standardisation, the Gram matrix's eigendecomposition — most of a wide
    fit's time. ``_fit_one(x, ..., prepared=...)`` then only runs the optimiser. x is not changed."""
    if x.shape[1] <= ROW_SPACE_RATIO * x.shape[0]:
        return None
    z, mean, scale = _standardise(x)
    dead = ~z.any(axis=0)
    coordinates, back = _row_space(z @ z.T)
    return RowSpaceFit(mean, scale, dead, coordinates, back)


def _fit_one(x: np.ndarray, y: np.ndarray, C: float, config: ProbeConfig, n_classes: int,
             sample_weight: np.ndarray | None = None, overwrite_x: bool = False,
             prepared: RowSpaceFit | None = None) -> tuple[LinearHead, int]:
    """One L2 logistic fit on standardised ``x``. ``overwrite_x``: x was built for this fit only and
    is standardised in place (no second copy of a large matrix); its values are lost. ``prepared``:
    ``prepare_row_space(x)``, made once for fits at several C."""
    if prepared is not None:
        clf = _logistic(prepared.coordinates, y, C, config, sample_weight)
        rows = clf.coef_ @ prepared.back.T  # weights over the training rows; z = (x - mean) / scale
        # in x's dtype: a float64 product would first copy all of a float32 x to float64
        coef = ((rows.astype(x.dtype) @ x).astype(np.float64) - rows.sum(axis=1, keepdims=True) * prepared.mean) \
            / prepared.scale
        coef[:, prepared.dead] = 0.0
        return _head(clf, coef, prepared.mean, prepared.scale, n_classes)
    z, mean, scale = _standardise(x, copy=not overwrite_x)
    columns, back = z, None
    if z.shape[1] > ROW_SPACE_RATIO * z.shape[0]:
        columns, back = _row_space(z @ z.T)
    clf = _logistic(columns, y, C, config, sample_weight)
    coef = clf.coef_
    if back is not None:  # from the row-space coordinates back to one weight per feature column
        coef = (coef @ back.T) @ z
    return _head(clf, coef, mean, scale, n_classes)


def _head(clf: Any, coef: np.ndarray, mean: np.ndarray, scale: np.ndarray, n_classes: int) -> tuple[LinearHead, int]:
    """The LinearHead of a fitted LogisticRegression whose weights per feature column are ``coef``."""
    weight = np.zeros((n_classes, len(mean)))
    bias = np.full(n_classes, -1e4)  # a class absent from training is never predicted
    intercept = clf.intercept_
    if len(clf.classes_) == 2:  # sklearn stores one row for binary problems
        coef, intercept = np.vstack([-coef[0] / 2, coef[0] / 2]), np.array([-intercept[0] / 2, intercept[0] / 2])
    weight[clf.classes_] = coef
    bias[clf.classes_] = intercept
    return LinearHead(weight, bias, mean, scale), int(np.max(clf.n_iter_))


def fold_accuracies(x: np.ndarray, y: np.ndarray, C: float, config: ProbeConfig, n_classes: int,
                    folds: list[tuple[np.ndarray, np.ndarray]]) -> list[float]:
    """Accuracy of the probe at ``C`` on each fold's held-out rows (``folds``: train / test row indices).

    Wide features (columns > ``ROW_SPACE_RATIO`` x rows) share one Gram matrix over all rows: the
    columns are standardised over every row (no labels are read), and each fold fits in its
    training rows' span (``_row_space``) and scores its held-out rows through the Gram matrix, so
    no fold touches the D columns again. Narrow ones fit each fold on its own (``_fit_one``).
    """
    if x.shape[1] <= ROW_SPACE_RATIO * len(x):
        return [float(np.mean(_fit_one(x[tr], y[tr], C, config, n_classes)[0].predict(x[te]) == y[te]))
                for tr, te in folds]
    z, _, _ = _standardise(x)
    gram = (z @ z.T).astype(np.float64)
    scores = []
    for tr, te in folds:
        columns, back = _row_space(gram[np.ix_(tr, tr)])
        clf = _logistic(columns, y[tr], C, config)
        decision = gram[np.ix_(te, tr)] @ back @ clf.coef_.T + clf.intercept_
        predicted = clf.classes_[(decision[:, 0] > 0).astype(int) if decision.shape[1] == 1 else decision.argmax(1)]
        scores.append(float(np.mean(predicted == y[te])))
    return scores


def fit_probe(x_train: np.ndarray, y_train: np.ndarray, x_val: np.ndarray | None, y_val: np.ndarray | None,
              n_classes: int, config: ProbeConfig | None = None) -> ProbeResult:
    """Fit the probe; choose C on validation (accuracy, then log loss), optionally refit on train+val.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> x = rng.normal(size=(60, 4)); y = (x[:, 0] > 0).astype(int)
        >>> fit_probe(x[:40], y[:40], x[40:], y[40:], 2).val_metrics["accuracy"] > 0.8
        True
    """
    from graft.metrics import classification_metrics

    config = config or ProbeConfig()
    x_train = np.asarray(x_train, dtype=np.float64)
    if len(np.unique(y_train)) < 2:
        raise UsageError("the probe needs at least 2 classes in the training split")
    grid = (config.C,) if config.C is not None else config.C_grid
    has_val = x_val is not None and y_val is not None and len(y_val) > 0
    search, best = [], None
    for C in grid:
        head, n_iter = _fit_one(x_train, y_train, C, config, n_classes)
        if not has_val:
            best = (C, head, 0.0, 0.0, n_iter)
            break
        proba = head.predict_proba(x_val)
        acc = float(np.mean(proba.argmax(1) == y_val))
        loss = float(-np.mean(np.log(np.clip(proba[np.arange(len(y_val)), y_val], 1e-12, None))))
        search.append({"C": C, "val_accuracy": acc, "val_log_loss": loss})
        if best is None or (acc, -loss) > (best[2], -best[3]):
            best = (C, head, acc, loss, n_iter)
    C, head, n_iter = best[0], best[1], best[4]
    val_metrics = classification_metrics(y_val, head.predict_proba(x_val), n_classes) if has_val else {}
    if has_val and config.refit_on_val:
        head, n_iter = _fit_one(np.vstack([x_train, x_val]), np.concatenate([y_train, y_val]), C, config, n_classes,
                                overwrite_x=True)
    log.info("probe: C=%s chosen on validation (%s)", C, search)
    return ProbeResult(head=head, C=C, search=search, val_metrics=val_metrics, n_iter=n_iter)
