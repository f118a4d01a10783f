"""``adapt``: labelled source data + unlabelled target data → a saved model for the target domain.

The path every shallow method takes: embed both domains with one frozen backbone (through the
feature cache), fit the chosen adapter on ``(Xs, ys, Xt)`` (``"auto"``: the label-free choice of
`graft.adapt.select`), then fold the adapter into a plain `LinearHead` over *raw target-domain
embeddings*. Every shallow method is linear in the embedding — CORAL and instance weighting
only change what the head is trained on, subspace alignment projects the target with an affine
map, and the head standardises then applies logistic regression — so the fold is exact: the
saved model predicts what the fitted estimator predicts. The deep methods (``dann``,
``deep-coral``, ``mmd``) fine-tune the backbone instead (`graft.adapt.deep`).

Target labels are never read while adapting; ``target_eval`` (labelled target data) only scores.

Example:
    >>> model, report = adapt("fonts/", "handwriting/", "mobilenet_v2", out="models/digits")  # doctest: +SKIP
    >>> report["chosen"], report["reason"]                                                      # doctest: +SKIP
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Literal

import numpy as np

from graft.errors import GraftError, UsageError

if TYPE_CHECKING:
    from graft.data.dataset import Dataset
    from graft.heads.linear import LinearHead
    from graft.models.saved import SavedModel
    from graft.train.config import TrainConfig

log = logging.getLogger(__name__)

SHALLOW_METHODS = ("auto", "source-only", "coral", "sa", "iw", "kmm", "kliep", "self-train")
DEEP_METHODS = ("dann", "deep-coral", "mmd")
METHODS = SHALLOW_METHODS + DEEP_METHODS
Method = Literal["auto", "source-only", "coral", "sa", "iw", "kmm", "kliep", "self-train", "dann", "deep-coral", "mmd"]
ABSENT_CLASS_BIAS = -1e4  # a class with no source example is never predicted (as in the probe)


@dataclass
class AdaptConfig:
    """Settings of ``adapt`` (shared by the API, the CLI and the saved lineage)."""

    method: str = field(default="auto", metadata={"help": " | ".join(METHODS)})
    params: dict[str, Any] = field(default_factory=dict, metadata={"help": "the method's own settings (constructor keywords)"})
    criterion: str = field(default="cluster", metadata={"help": "label-free criterion of auto: cluster | dev | reverse | entropy"})
    C: float = field(default=1.0, metadata={"help": "inverse L2 strength of the logistic-regression head"})
    seed: int = field(default=0, metadata={"help": "seed of the source split, clusterings and weights"})

    def __post_init__(self) -> None:
        from graft._config import check_ranges

        check_ranges(self, {"C": "(0, inf)", "seed": "[0, 4294967295]"})


@dataclass
class Domains:
    """The two (or three) datasets of one adaptation job, checked, and what embeds them."""

    source: "Dataset"
    target: "Dataset"
    target_eval: "Dataset | None"
    backbone: str
    embedded_with: str | None = None  # the backbone named in embeddings files, when inputs are those


# --- inputs -----------------------------------------------------------------------------------
def read_embeddings_file(path: str | Path) -> tuple["Dataset", str]:
    """An embeddings file written by ``graft embed --out`` (``.npy`` + ``.json`` sidecar) as an
    ``array`` dataset, and the backbone that made it."""
    from graft.data.dataset import Dataset

    from graft.api import load_embeddings

    path = Path(path)
    X, meta = load_embeddings(path)  # checks that the .npy and its sidecar come from the same run
    labels = np.asarray(meta.get("labels", [-1] * len(X)), dtype=np.int64)
    splits = np.asarray(meta.get("splits", ["train"] * len(X)), dtype=object)
    ds = Dataset(items=list(np.asarray(X, dtype=np.float32)), labels=labels, classes=list(meta.get("classes", [])),
                 modality="array", splits=splits, source=str(path.absolute()))
    return ds, str(meta.get("backbone", "unknown"))


def _is_embeddings_file(data: Any) -> bool:
    return isinstance(data, (str, Path)) and Path(data).suffix == ".npy"


def _read(data: Any, what: str) -> tuple["Dataset", str | None]:
    from graft.api import as_dataset

    if _is_embeddings_file(data):
        return read_embeddings_file(data)
    if what == "target" and isinstance(data, (str, Path)):
        return as_dataset(data, label_column=None), None  # a target table needs no label column
    return as_dataset(data), None


def load_domains(source: Any, target: Any, backbone: str | None, target_eval: Any = None) -> Domains:
    """Read and check source, target (labels ignored) and the optional labelled target-eval data.

    One clear error for each way they cannot be adapted between: a source without two labelled
    classes, an empty target, different modalities, or embeddings made by different backbones.
    """
    from graft.api import DEFAULT_BACKBONE

    ds_s, bb_s = _read(source, "source")
    ds_t, bb_t = _read(target, "target")
    ds_e, bb_e = _read(target_eval, "target_eval") if target_eval is not None else (None, None)
    check_source(ds_s)
    if len(ds_t) == 0:
        raise UsageError(f"the target {ds_t.source} is empty: adaptation needs unlabelled examples of the target domain")
    for other in (ds_t, ds_e):
        if other is not None and other.modality != ds_s.modality:
            raise UsageError(f"the source is {ds_s.modality} data but {other.source} is {other.modality} data; "
                             "source and target must be the same kind of input, embedded by the same backbone")
    embedded = _check_embedders(backbone, [(ds_s, bb_s), (ds_t, bb_t)] + ([(ds_e, bb_e)] if ds_e is not None else []))
    name = embedded or backbone or DEFAULT_BACKBONE
    return Domains(ds_s, ds_t, ds_e, name, embedded)


def _check_embedders(backbone: str | None, pairs: list[tuple["Dataset", str | None]]) -> str | None:
    recorded = {ds.source: bb for ds, bb in pairs}
    if all(bb is None for bb in recorded.values()):
        return None
    if any(bb is None for bb in recorded.values()):
        raise UsageError("give source and target both as embeddings files (.npy from `graft embed --out`) "
                         "or both as data, so that one backbone embeds both")
    names = sorted(set(recorded.values()))
    if len(names) > 1:
        detail = ", ".join(f"{Path(src).name} by {bb}" for src, bb in recorded.items())
        raise UsageError(f"the inputs were embedded by different backbones ({detail}); "
                         "embed source and target with the same backbone (`graft embed --backbone NAME`)")
    if backbone is not None and backbone != names[0]:
        raise UsageError(f"the embeddings files were made by {names[0]}, not by --backbone {backbone}")
    return names[0]


def check_source(ds: "Dataset") -> None:
    """The source needs labelled examples of at least two classes."""
    from graft.data.regression import require_classes

    require_classes(ds, "graft adapt", "domain adaptation here trains classifiers: for a number, train a ridge "
                    "probe (graft probe) on the source, or see graft's table-to-table transfer")
    labelled = ds.labels[ds.labels >= 0]
    if len(labelled) == 0:
        raise UsageError(f"the source {ds.source} has no labelled examples; adaptation needs a labelled source")
    present = np.unique(labelled)
    if len(present) < 2:
        raise UsageError(f"the source {ds.source} has a single class ({ds.classes[present[0]]!r}); "
                         "a classifier needs labelled examples of at least two classes")


def check_method(method: str) -> str:
    if method not in METHODS:
        import difflib

        close = difflib.get_close_matches(method, METHODS, n=2)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise UsageError(f"unknown adaptation method {method!r}.{hint} Known: {', '.join(METHODS)}.")
    return method


# --- folding an adapter into a LinearHead -------------------------------------------------------
def affine_map(transform: Callable[[np.ndarray], np.ndarray], n_features: int,
               seed: int = 0) -> tuple[np.ndarray | None, np.ndarray]:
    """``(A, c)`` with ``transform(x) == x @ A + c``; ``A`` is ``None`` for the identity.

    Raises `GraftError` when ``transform`` is not affine (then it cannot be exported as a linear head).

    Example:
        >>> A, c = affine_map(lambda x: 2 * x + 1, 2)
        >>> A.tolist(), c.tolist()
        ([[2.0, 0.0], [0.0, 2.0]], [1.0, 1.0])
    """
    offset = np.asarray(transform(np.zeros((1, n_features))), dtype=np.float64)[0]
    A = np.asarray(transform(np.eye(n_features)), dtype=np.float64) - offset
    probe = np.random.default_rng(seed).normal(size=(4, n_features))
    mapped = np.asarray(transform(probe), dtype=np.float64)
    if not np.allclose(mapped, probe @ A + offset, rtol=1e-6, atol=1e-6 * (1 + np.abs(mapped).max())):
        raise GraftError("the adapter's target map is not affine, so it cannot be saved as a linear head")
    if A.shape == (n_features, n_features) and np.allclose(A, np.eye(n_features)) and np.allclose(offset, 0):
        return None, offset
    return A, offset


def _logistic_parts(pipeline: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
    """``coef (K, d)``, ``intercept (K,)`` (binary expanded to two softmax rows) and the scaler's mean/scale."""
    steps = [step for _, step in pipeline.steps]
    lr, scaler = steps[-1], (steps[0] if len(steps) > 1 else None)
    coef, intercept = np.asarray(lr.coef_, dtype=np.float64), np.asarray(lr.intercept_, dtype=np.float64)
    if len(lr.classes_) == 2:  # sklearn keeps one row; softmax([-z/2, z/2]) == sigmoid(z)
        coef, intercept = np.vstack([-coef[0] / 2, coef[0] / 2]), np.array([-intercept[0] / 2, intercept[0] / 2])
    if scaler is None:
        return coef, intercept, None, None
    return coef, intercept, np.asarray(scaler.mean_, dtype=np.float64), np.asarray(scaler.scale_, dtype=np.float64)


def export_head(estimator: Any, n_classes: int) -> "LinearHead":
    """The fitted adapter as a `LinearHead` over raw target-domain embeddings (exact for every
    shallow method: all are affine maps followed by standardisation and logistic regression).

    ``estimator.classes_`` are class indices ``0..n_classes-1``; classes with no source example
    get a bias of -1e4 so they are never predicted.
    """
    from graft.heads.linear import LinearHead

    inner = getattr(estimator, "estimator_", estimator)  # auto: the refitted winner
    d = int(estimator.n_features_in_)
    coef, intercept, mu, sigma = _logistic_parts(inner.head_)
    A, offset = affine_map(inner.transform_target, d)
    if A is None and mu is not None:  # the probe's form: standardise raw features, then linear
        weight, bias, mean, scale = coef, intercept, mu, sigma
    else:
        w = coef / sigma if sigma is not None else coef
        b = intercept - (w @ mu if mu is not None else 0.0)
        if A is None:
            weight, bias = w, b + w @ offset
        else:
            weight, bias = w @ A.T, b + w @ offset
        mean, scale = np.zeros(d), np.ones(d)
    full_w, full_b = np.zeros((n_classes, d)), np.full(n_classes, ABSENT_CLASS_BIAS)
    rows = np.asarray(estimator.classes_, dtype=np.int64)
    full_w[rows], full_b[rows] = weight, bias
    return LinearHead(full_w, full_b, mean, scale)


# --- fitting ------------------------------------------------------------------------------------
def fit_adapter(config: AdaptConfig, Xs: np.ndarray, ys: np.ndarray, Xt: np.ndarray) -> tuple[Any, dict[str, Any]]:
    """Fit ``config.method`` on the embeddings; returns the estimator and what to report about it."""
    from graft.adapt.registry import create_adapter
    from graft.adapt.selection import candidate_label

    params = dict(config.params)
    if config.method == "auto":
        params = {"criterion": config.criterion, "random_state": config.seed, **params}
    elif "random_state" in _param_names(config.method):
        params.setdefault("random_state", config.seed)
    estimator = create_adapter(config.method, C=config.C, **params).fit(Xs, ys, Xt)
    selection = getattr(estimator, "selection_", None)
    inner = getattr(estimator, "estimator_", estimator)
    info: dict[str, Any] = {
        "chosen": candidate_label(selection.method, selection.params) if selection else candidate_label(config.method, config.params),
        "reason": selection.reason if selection else f"{config.method} was asked for (--method {config.method})",
        "selection": selection.to_dict() if selection else None,
        "effective_sample_size": getattr(inner, "effective_sample_size_", None),
        "pseudo_labels": getattr(inner, "n_pseudo_labels_", None),
    }
    return estimator, info


def _param_names(method: str) -> set[str]:
    from graft.adapt.registry import ADAPTERS

    return set(ADAPTERS.get(method)().get_params(deep=False))


def labelled(ds: "Dataset", X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    keep = ds.labels >= 0
    return X[keep], ds.labels[keep]


def eval_split(ds: "Dataset") -> "Dataset":
    """What ``target_eval`` is scored on: its test split when it has one, else every labelled item
    (the convention of ``graft evaluate``)."""
    ds = ds.test if ds.has_split("test") else ds
    return ds.select(ds.labels >= 0)


def score_eval(ds: "Dataset", X: np.ndarray, classes: list[str], predict_proba: Callable[[np.ndarray], np.ndarray]) -> dict[str, Any]:
    """Accuracy and macro-F1 of ``predict_proba`` on labelled target-eval embeddings (classes matched by name)."""
    from graft.api import _map_classes
    from graft.metrics import classification_metrics

    labels, keep, unknown = _map_classes(ds, classes)
    if not keep.any():
        raise UsageError(f"{ds.source}: none of its classes {ds.classes} are source classes {classes}")
    metrics = classification_metrics(labels[keep], predict_proba(X[keep]), len(classes))
    metrics["unknown_class_items"] = unknown
    return metrics


def _embed(ds: "Dataset", domains: Domains, weights: Any, image_size: int | None, allow_download: bool,
           progress: bool) -> np.ndarray:
    from graft.api import embed

    return embed(ds, domains.backbone, weights=weights, image_size=image_size, allow_download=allow_download,
                 progress=progress)


def _record(ds: "Dataset") -> dict[str, Any]:
    from graft.models.lineage import dataset_record

    return dataset_record(ds)


def adapt(
    source: Any,
    target: Any,
    backbone: str | None = None,
    method: Method = "auto",
    out: str | Path | None = None,
    target_eval: Any = None,
    image_size: int | None = None,
    *,
    params: dict[str, Any] | None = None,
    criterion: str = "cluster",
    C: float = 1.0,
    seed: int = 0,
    weights: str | Path | None = None,
    train_config: "TrainConfig | None" = None,
    allow_download: bool = False,
    progress: bool = False,
    overwrite: bool = False,
) -> tuple["SavedModel", dict[str, Any]]:
    """Adapt a classifier from labelled ``source`` data to unlabelled ``target`` data.

    Args:
        source: labelled data (folder, table, `Dataset`, or a ``.npy`` from ``graft embed --out``).
        target: data of the target domain; its labels, if any, are ignored.
        backbone: zoo name; default ``mobilenet_v2`` (or the one that made the embeddings files).
        method: ``auto`` (label-free choice), ``source-only``, ``coral``, ``sa``, ``iw``, ``kmm``,
            ``kliep``, ``self-train`` on frozen embeddings, or ``dann``, ``deep-coral``, ``mmd``
            (fine-tune the backbone with target batches).
        out: folder to save the model to.
        target_eval: labelled target-domain data, used only to score (its test split if it has one).
        image_size: input resolution of image backbones.
        params: the method's own settings (e.g. ``{"eps": 0.1}`` for CORAL, ``{"candidates": [...]}`` for auto).
        criterion: label-free criterion of ``auto``: ``cluster``, ``dev``, ``reverse`` or ``entropy``.
        C: inverse L2 strength of the head.
        seed: seed of every random choice.
        weights: a local checkpoint for the backbone.
        train_config: fine-tuning settings of the deep methods (`graft.train.config.TrainConfig`).
        allow_download: allow fetching backbone weights.
        progress: show progress bars.
        overwrite: replace an existing model at ``out`` (only the files graft wrote there).

    Returns:
        The model (a `SavedModel`, saved to ``out`` when given) and a report: the method chosen and
        why, the selection evidence, sizes, and target-eval metrics when ``target_eval`` was given
        (with the source-only baseline beside them).

    Example:
        >>> model, report = adapt("fonts/", "handwriting/", "mobilenet_v2", target_eval="handwriting/")  # doctest: +SKIP
        >>> report["target_eval"]["accuracy"], report["source_only"]["accuracy"]                    # doctest: +SKIP
    """
    from graft.api import check_out

    config = AdaptConfig(method=check_method(method), params=dict(params or {}), criterion=criterion, C=C, seed=seed)
    check_out(out, overwrite)
    started = time.perf_counter()
    domains = load_domains(source, target, backbone, target_eval)
    if config.method in DEEP_METHODS:
        from graft.adapt.deep import adapt_deep

        model, report = adapt_deep(domains, config, train_config, weights=weights, image_size=image_size,
                                   allow_download=allow_download, progress=progress)
    else:
        model, report = _adapt_shallow(domains, config, weights, image_size, allow_download, progress)
    report["seconds"] = round(time.perf_counter() - started, 2)
    if out is not None:
        from graft.api import save_model
        from graft.report import attach

        attach(model, domains.source, out, eval_data=domains.target_eval)  # report.html, saved with the model
        report["model"] = str(save_model(model, out, domains.source, overwrite=overwrite))
    return model, report


def _adapt_shallow(domains: Domains, config: AdaptConfig, weights: Any, image_size: int | None,
                   allow_download: bool, progress: bool) -> tuple["SavedModel", dict[str, Any]]:
    from graft._config import to_dict
    from graft.adapt.base import SourceOnly
    from graft.api import _package, reference_sample

    embed = lambda ds: _embed(ds, domains, weights, image_size, allow_download, progress)  # noqa: E731
    Xs, ys = labelled(domains.source, embed(domains.source))
    Xt = embed(domains.target)
    estimator, info = fit_adapter(config, Xs, ys, Xt)
    n_classes = len(domains.source.classes)
    head = export_head(estimator, n_classes)
    metrics, baseline = {}, None
    if domains.target_eval is not None:
        ds_e = eval_split(domains.target_eval)
        Xe = embed(ds_e)
        metrics["target_eval"] = score_eval(ds_e, Xe, domains.source.classes, head.predict_proba)
        base = export_head(SourceOnly(C=config.C).fit(Xs, ys, Xt), n_classes)
        baseline = score_eval(ds_e, Xe, domains.source.classes, base.predict_proba)
    adaptation = _adaptation_record(domains, config, info)
    settings = {"adapt": to_dict(config), "chosen": info["chosen"]}
    model = _package(domains.source, domains.backbone, weights, image_size, head, f"adapt:{config.method}", settings, metrics,
                     head_config={"type": "linear", "C": config.C, "adapter": info["chosen"]}, adaptation=adaptation)
    model.reference = reference_sample(Xt, head.predict_proba(Xt), seed=config.seed)
    report = {**_report_base(domains, config, info, len(Xs), len(Xt)),
              "target_eval": metrics.get("target_eval"), "source_only": baseline}
    return model, report


def _adaptation_record(domains: Domains, config: AdaptConfig, info: dict[str, Any]) -> dict[str, Any]:
    """What lineage.json keeps about the adaptation: both domains, the method and the evidence."""
    return {
        "source": _record(domains.source),
        "target": _record(domains.target) | {"labels_used": False},
        "target_eval": _record(domains.target_eval) if domains.target_eval is not None else None,
        "method": config.method,
        "chosen": info["chosen"],
        "reason": info["reason"],
        "selection": info.get("selection"),
        "effective_sample_size": info.get("effective_sample_size"),
        "embedded_with": domains.embedded_with,
    }


def _report_base(domains: Domains, config: AdaptConfig, info: dict[str, Any], n_source: int,
                 n_target: int) -> dict[str, Any]:
    return {"method": config.method, "chosen": info["chosen"], "reason": info["reason"],
            "selection": info.get("selection"), "effective_sample_size": info.get("effective_sample_size"),
            "backbone": domains.backbone, "classes": list(domains.source.classes),
            "n_source": n_source, "n_target": n_target}
