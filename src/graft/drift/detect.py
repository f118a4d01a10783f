"""``check_drift``: has the data a saved model meets moved away from the data it was trained for?

Three tests compare the model's stored reference (a sample of its training embeddings and the
confidence of its held-out predictions, ``model.reference``) with new data embedded by the same
backbone (``model.embed``):

- **MMD permutation test** (Gretton et al. 2012) on the embeddings, RBF kernel, median bandwidth:
  strong against shifts of the whole sample.
- **Domain-classifier test** (a classifier two-sample test, Lopez-Paz & Oquab 2017): the
  cross-validated AUC of a logistic regression telling new from reference embeddings, with the
  Mann–Whitney normal approximation for its one-sided p-value. The AUC also says *how big* the
  shift is (0.5: none, 1.0: separable), and the test finds shifts that touch only part of the new
  data (a quarter of the images re-lit), where the median-bandwidth MMD has little power.
- **Confidence shift**: a one-sided Kolmogorov–Smirnov test that the new max-probabilities are
  lower than the reference ones, and the drop in mean confidence; *does the model notice*.

Severity (thresholds are fields of `DriftConfig`):

- ``none``: neither embedding test rejects at ``alpha / 2`` (default alpha 0.01; Bonferroni, so
  the false-alarm rate stays at most ``alpha``).
- ``strong``: a test rejects and either the domain classifier separates the samples
  (AUC ≥ ``strong_auc``, 0.80) or confidence dropped by ≥ ``confidence_drop`` (0.10) with KS p < ``alpha``.
- ``mild``: a test rejects, the classifier separates the samples only partly and confidence holds.

The drift *decision* rests on the embeddings alone; confidence only grades it. A confidence drop
without an embedding shift is reported but not counted: stored reference confidences can be
optimistic (a head scored on examples it was fitted on), and an alarm that fires on every
unchanged batch would teach people to ignore it. Changes of class mix move the embeddings too,
so the MMD test sees them.

The most shifted classes compare, per class the model predicts, the share of reference vs new
examples given that class and the MMD between them.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Sequence

import numpy as np

from graft.errors import UsageError

if TYPE_CHECKING:
    from graft.models.saved import SavedModel

log = logging.getLogger(__name__)

Severity = Literal["none", "mild", "strong"]


@dataclass
class DriftConfig:
    """Thresholds and sample sizes of the drift tests."""

    alpha: float = field(default=0.01, metadata={"help": "false-alarm level: each embedding test runs at alpha/2; the KS test at alpha"})
    strong_auc: float = field(default=0.80, metadata={"help": "domain-classifier AUC from which a significant shift is strong"})
    confidence_drop: float = field(default=0.10, metadata={"help": "mean max-probability drop that counts as a confidence shift"})
    n_permutations: int = field(default=500, metadata={"help": "permutations of the MMD test"})
    max_samples: int = field(default=1000, metadata={"help": "rows of each sample used by MMD and the domain classifier"})
    top_classes: int = field(default=5, metadata={"help": "most shifted classes reported"})
    min_class_rows: int = field(default=5, metadata={"help": "rows per sample needed for a class's MMD"})
    seed: int = field(default=0, metadata={"help": "seeds subsampling, permutations and folds"})

    def __post_init__(self) -> None:
        from graft._config import check_ranges

        check_ranges(self, {"alpha": "(0, 1)", "strong_auc": "[0.5, 1]", "confidence_drop": "[0, 1]",
                            "n_permutations": "[1, 1000000]", "max_samples": "[10, 1000000]", "top_classes": "[0, 10000]",
                            "min_class_rows": "[2, 1000000]", "seed": "[0, 4294967295]"})


@dataclass
class ClassShift:
    """One class, as the model predicts it, in the reference vs the new data."""

    name: str
    reference_share: float
    new_share: float
    share_change: float
    mmd: float | None  # MMD^2 between reference and new embeddings predicted as this class
    p_value: float | None


@dataclass
class DriftReport:
    """The outcome of `check_drift`; ``drifted`` is what scripts act on (``graft drift`` exits 3)."""

    severity: Severity
    mmd: float
    mmd_p_value: float
    domain_auc: float
    domain_p_value: float
    confidence_reference: float
    confidence_new: float
    confidence_drop: float
    confidence_ks: float
    confidence_p_value: float
    most_shifted_classes: list[ClassShift]
    n_reference: int
    n_new: int
    reasons: list[str]
    thresholds: dict[str, float]

    @property
    def drifted(self) -> bool:
        return self.severity != "none"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "drifted": self.drifted}

    def summary(self) -> str:
        return f"drift: {self.severity} — " + "; ".join(self.reasons)


def auc_p_value(auc: float, n_x: int, n_y: int) -> float:
    """One-sided p-value of an AUC above 0.5 by chance (Mann–Whitney normal approximation).

    Example:
        >>> round(auc_p_value(0.5, 100, 100), 3), auc_p_value(0.7, 400, 200) < 1e-6
        (0.5, True)
    """
    from scipy.stats import norm

    return float(norm.sf((auc - 0.5) / np.sqrt((n_x + n_y + 1) / (12.0 * n_x * n_y))))


def embedding_tests(reference: np.ndarray, new: np.ndarray, config: DriftConfig) -> dict[str, float]:
    """MMD^2, its permutation p-value and RBF bandwidth; the domain-classifier AUC and its p-value."""
    from graft.shift import domain_classifier_auc, mmd

    result = mmd(reference, new, n_permutations=config.n_permutations, max_samples=config.max_samples, seed=config.seed)
    auc = domain_classifier_auc(reference, new, max_samples=config.max_samples, seed=config.seed)
    n_x, n_y = min(len(reference), config.max_samples), min(len(new), config.max_samples)
    return {"mmd": result.statistic, "mmd_p": float(result.p_value), "bandwidth": float(result.bandwidth),
            "auc": auc, "auc_p": auc_p_value(auc, n_x, n_y)}


def confidence_test(reference: np.ndarray, new: np.ndarray) -> tuple[float, float, float]:
    """Drop in mean confidence, KS statistic and one-sided p-value (new confidences lower)."""
    from scipy.stats import ks_2samp

    # new confidences stochastically smaller means CDF_new > CDF_reference somewhere, which is
    # scipy's alternative "less" (F(x) < G(x) with F the first sample's CDF)
    result = ks_2samp(reference, new, alternative="less")
    return float(np.mean(reference) - np.mean(new)), float(result.statistic), float(result.pvalue)


def class_shifts(ref_emb: np.ndarray, ref_pred: np.ndarray, new_emb: np.ndarray, new_pred: np.ndarray,
                 classes: Sequence[str], bandwidth: float, config: DriftConfig) -> list[ClassShift]:
    """Per predicted class: share in each sample and the MMD between the two; most shifted first."""
    from graft.shift import mmd

    rows = []
    for c, name in enumerate(classes):
        r, n = ref_emb[ref_pred == c], new_emb[new_pred == c]
        ref_share, new_share = len(r) / len(ref_emb), len(n) / len(new_emb)
        stat = p = None
        if min(len(r), len(n)) >= config.min_class_rows:
            res = mmd(r, n, bandwidth=bandwidth, n_permutations=100, max_samples=200, seed=config.seed)
            stat, p = res.statistic, res.p_value
        if max(ref_share, new_share) > 0:
            rows.append(ClassShift(name, ref_share, new_share, new_share - ref_share, stat, p))
    rows.sort(key=lambda s: (-(s.mmd if s.mmd is not None else -np.inf), -abs(s.share_change)))
    by_share = sorted(rows, key=lambda s: -abs(s.share_change))
    top = rows[: config.top_classes]
    # a class that (almost) vanished or appeared has no MMD: keep it in view by its share change
    top += [s for s in by_share[:2] if s not in top and abs(s.share_change) >= 0.05]
    return top


def confidence_change(drop: float, means: tuple[float, float] | None = None) -> str:
    """"mean confidence fell by 0.031 (0.666 → 0.635)": the direction in words, the size unsigned,
    so the sentence and the table's "reference → new" never disagree."""
    verb = "fell" if drop > 0 else "rose" if drop < 0 else "did not change"
    size = f" by {abs(drop):.3f}" if drop else ""
    return f"mean confidence {verb}{size}" + (f" ({means[0]:.3f} → {means[1]:.3f})" if means else "")


def severity_of(mmd_p: float, auc: float, auc_p: float, drop: float, ks_p: float,
                config: DriftConfig, means: tuple[float, float] | None = None) -> tuple[Severity, list[str]]:
    """The documented severity rule, and the reasons in words. ``drop`` is reference minus new mean
    confidence; ``means`` (reference, new), when given, is quoted as the table shows it."""
    level = config.alpha / 2  # two embedding tests, Bonferroni
    shifted = mmd_p < level or auc_p < level
    confident_drop = ks_p < config.alpha and drop >= config.confidence_drop
    reasons = [
        f"MMD p={mmd_p:.3g}, domain-classifier p={auc_p:.3g} (each against alpha/2 = {level:.3g}): "
        f"{'the embeddings differ' if shifted else 'no detectable embedding shift'}",
        f"domain-classifier AUC {auc:.3f} ({'≥' if auc >= config.strong_auc else '<'} {config.strong_auc} for strong)",
        confidence_change(drop, means) + f" (KS p={ks_p:.3g})"
        + (" — the model is less sure on the new data" if confident_drop and shifted else "")
        + (" without an embedding shift: not counted (reference confidences may be optimistic)"
           if confident_drop and not shifted else ""),
    ]
    if not shifted:
        return "none", reasons
    if auc >= config.strong_auc or confident_drop:
        return "strong", reasons
    return "mild", reasons


def reference_of(model: "SavedModel", reference_data: Any = None, batch_size: int = 64,
                 progress: bool = False) -> dict[str, np.ndarray]:
    """The model's stored reference, or one built from ``reference_data`` for models saved without it."""
    if reference_data is not None:
        from graft.api import as_dataset, reference_sample

        ds = as_dataset(reference_data)
        emb = model.embed(ds.items, batch_size=batch_size, progress=progress)
        return reference_sample(emb, model.head.predict_proba(emb))
    if not model.reference or "embeddings" not in model.reference:
        raise UsageError(f"{model.path or 'the model'} has no drift reference (reference.safetensors): it was saved "
                         "before graft kept one, or by a method that does not; pass the training data as "
                         "--reference DATA (Python: reference_data=...)")
    return model.reference


def check_drift(model: "SavedModel | str", new_data: Any, *, config: DriftConfig | None = None,
                reference_data: Any = None, batch_size: int = 64, progress: bool = False) -> DriftReport:
    """Compare new data with what ``model`` was trained for; a `DriftReport` with a severity.

    Args:
        model: a `SavedModel` or its folder.
        new_data: folder / table / `Dataset` / list of raw items met in use (labels not needed).
        config: thresholds and sample sizes (`DriftConfig`).
        reference_data: data standing in for the model's stored reference, when it has none.
        batch_size, progress: embedding settings.

    Example:
        >>> report = check_drift("models/fashion", "incoming/2024-06/")   # doctest: +SKIP
        >>> report.severity, report.mmd_p_value                           # doctest: +SKIP
        ('mild', 0.002)
    """
    from graft.api import _as_model, _items_of

    config = config or DriftConfig()
    model = _as_model(model)
    reference = reference_of(model, reference_data, batch_size, progress)
    # new data need no labels: a table without a label column reads as unlabelled
    items = _items_of(new_data, label_column=None) if isinstance(new_data, (str, Path)) else _items_of(new_data)
    if len(items) < 2:
        raise UsageError(f"drift checks need at least 2 new examples; got {len(items)}")
    new_emb = np.asarray(model.embed(items, batch_size=batch_size, progress=progress), dtype=np.float64)
    return compare(model, np.asarray(reference["embeddings"], dtype=np.float64),
                   np.asarray(reference["confidence"], dtype=np.float64), new_emb, config)


def compare(model: "SavedModel", ref_emb: np.ndarray, ref_conf: np.ndarray, new_emb: np.ndarray,
            config: DriftConfig) -> DriftReport:
    """`check_drift` on embeddings already computed."""
    if ref_emb.shape[1] != new_emb.shape[1]:
        raise UsageError(f"the new data's embeddings have {new_emb.shape[1]} features but the model's reference has "
                         f"{ref_emb.shape[1]}: they must come from the model's backbone")
    t = embedding_tests(ref_emb, new_emb, config)
    new_proba = model.head.predict_proba(new_emb)
    drop, ks, ks_p = confidence_test(ref_conf, new_proba.max(axis=1))
    means = (float(ref_conf.mean()), float(new_proba.max(axis=1).mean()))
    severity, reasons = severity_of(t["mmd_p"], t["auc"], t["auc_p"], drop, ks_p, config, means)
    shifts = class_shifts(ref_emb, model.head.predict(ref_emb), new_emb, new_proba.argmax(axis=1),
                          model.classes, t["bandwidth"], config)
    thresholds = {"alpha": config.alpha, "strong_auc": config.strong_auc, "confidence_drop": config.confidence_drop}
    return DriftReport(severity, t["mmd"], t["mmd_p"], t["auc"], t["auc_p"], float(ref_conf.mean()),
                       float(new_proba.max(axis=1).mean()), drop, ks, ks_p, shifts, len(ref_emb), len(new_emb),
                       reasons, thresholds)
