"""Label-free model selection: pick an adaptation method and its settings without target labels.

Every candidate ``(method, params)`` is fitted on part of the source plus the unlabelled target,
and scored by the criteria of `graft.adapt.criteria` (cluster consistency by default, DEV,
reverse validation, target entropy). A candidate replaces source-only only when it beats it by
more than ``min_gain``; the winner is refitted on the whole source, and the evidence table and a
sentence on why come back with it. Target labels are never read here.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from typing import Any, Literal, Sequence

import numpy as np
from sklearn.model_selection import train_test_split
from sklearn.utils.validation import check_is_fitted

from graft.adapt.base import DomainAdapter, check_domains, check_features
from graft.adapt.criteria import (
    cluster_consistency,
    dev_risk,
    dev_weights,
    label_entropy,
    prediction_entropy,
    reverse_error,
    target_clusterings,
)
from graft.adapt.density_ratio import effective_sample_size
from graft.adapt.registry import create_adapter, register_adapter
from graft.errors import UsageError

logger = logging.getLogger(__name__)

Criterion = Literal["cluster", "dev", "reverse", "entropy"]
Candidate = tuple[str, dict[str, Any]]
CRITERIA = ("cluster", "dev", "reverse", "entropy")

DEFAULT_GRID: dict[str, list[dict[str, Any]]] = {
    "source-only": [{}],
    "coral": [{"eps": 0.01}, {"eps": 0.1}, {"eps": 1.0}],
    "sa": [{"n_components": 10}, {"n_components": 20}, {"n_components": 40}],
    "iw": [{}],
    "kmm": [{}],
    "kliep": [{}],
    "self-train": [
        {"max_fraction": 0.5},
        {"max_fraction": 1.0},
        {"max_fraction": 1.0, "balance": "proportional"},
    ],
}


def candidate_label(method: str, params: dict[str, Any]) -> str:
    """``"coral(eps=0.1)"``: a method and its non-default settings, as shown in tables.

    Example:
        >>> candidate_label("sa", {"n_components": 10})
        'sa(n_components=10)'
    """
    args = ", ".join(f"{k}={v}" for k, v in params.items())
    return f"{method}({args})" if args else method


def default_candidates(methods: Sequence[str] | None = None) -> list[Candidate]:
    """The (method, params) grid searched by ``select``; ``source-only`` is always included.

    Example:
        >>> default_candidates(["coral"])[:2]
        [('source-only', {}), ('coral', {'eps': 0.01})]
    """
    names = list(DEFAULT_GRID) if methods is None else ["source-only", *[m for m in methods if m != "source-only"]]
    for name in names:
        if name not in DEFAULT_GRID:
            create_adapter(name)  # raises a UsageError naming the known methods if it is unknown
    return [(name, dict(params)) for name in names for params in DEFAULT_GRID.get(name, [{}])]


@dataclass
class CandidateScore:
    """The label-free evidence about one candidate; NaN where a criterion was not computed."""

    method: str
    params: dict[str, Any]
    cluster_consistency: float
    label_entropy: float
    dev_risk: float
    dev_se: float
    weight_ess: float
    source_val_error: float
    reverse_error: float
    target_entropy: float
    error: str = ""
    cluster_score: float = float("nan")

    @property
    def label(self) -> str:
        return candidate_label(self.method, self.params)

    def loss(self, criterion: str) -> float:
        """The criterion as a number to minimise (inf when missing)."""
        value = {
            "cluster": -self.cluster_score,
            "dev": self.dev_risk,
            "reverse": self.reverse_error,
            "entropy": self.target_entropy,
        }[criterion]
        return float(value) if np.isfinite(value) else float("inf")


@dataclass
class SelectionResult:
    """What ``select`` chose, the evidence table behind it, and a sentence on why."""

    method: str
    params: dict[str, Any]
    criterion: str
    reason: str
    table: list[CandidateScore] = field(default_factory=list)
    estimator: DomainAdapter | None = field(default=None, repr=False)

    @property
    def label(self) -> str:
        return candidate_label(self.method, self.params)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (without the fitted estimator)."""
        return {
            "method": self.method,
            "params": self.params,
            "criterion": self.criterion,
            "reason": self.reason,
            "table": [dataclasses.asdict(row) for row in self.table],
        }

    def format_table(self) -> str:
        """The evidence as an aligned text table, best candidate first by the criterion."""
        cols = ("cluster", "homog", "labels H", "DEV risk", "± se", "ESS", "src err", "reverse", "entropy")
        width = max([len("candidate"), *(len(r.label) for r in self.table)]) + 2
        lines = [f"{'candidate':<{width}}" + "".join(f"{c:>9}" for c in cols)]
        for r in sorted(self.table, key=lambda r: r.loss(self.criterion)):
            values = (r.cluster_score, r.cluster_consistency, r.label_entropy, r.dev_risk, r.dev_se,
                      r.weight_ess, r.source_val_error, r.reverse_error, r.target_entropy)  # fmt: skip
            lines.append(f"{r.label:<{width}}" + "".join(f"{v:>9.3f}" for v in values))
        return "\n".join(lines)


def set_cluster_scores(table: list["CandidateScore"]) -> None:
    """``cluster_score`` = homogeneity x ``min(1, label entropy / source-only's label entropy)``."""
    baselines = [r for r in table if r.method == "source-only" and np.isfinite(r.label_entropy)]
    reference = baselines[0].label_entropy if baselines else None
    for r in table:
        collapse = 1.0 if not reference else min(1.0, r.label_entropy / reference)
        r.cluster_score = r.cluster_consistency * collapse


@dataclass
class _Setting:
    """Everything the candidates are judged against, computed once."""

    Xs_train: np.ndarray
    Xs_val: np.ndarray
    ys_train: np.ndarray
    ys_val: np.ndarray
    Xt: np.ndarray
    cluster_rows: np.ndarray
    clusterings: list[np.ndarray]
    with_reverse: bool


def score_candidate(model: DomainAdapter, s: _Setting) -> dict[str, float]:
    """Fit ``model`` on the training source + target, then gather every label-free criterion."""
    model.fit(s.Xs_train, s.ys_train, s.Xt)
    errors = (model.predict(s.Xs_val) != s.ys_val).astype(np.float64)
    w = dev_weights(model.transform_source(s.Xs_train), model.transform_source(s.Xs_val), model.transform_target(s.Xt))
    risk, se = dev_risk(errors, w)
    proba = model.predict_proba(s.Xt)
    pred = proba.argmax(axis=1)
    return {
        "cluster_consistency": cluster_consistency(pred[s.cluster_rows], s.clusterings),
        "label_entropy": label_entropy(pred, proba.shape[1]),
        "dev_risk": risk,
        "dev_se": se,
        "weight_ess": effective_sample_size(w),
        "source_val_error": float(errors.mean()),
        "reverse_error": reverse_error(model, s.Xs_train, s.Xs_val, s.ys_val, s.Xt) if s.with_reverse else float("nan"),
        "target_entropy": prediction_entropy(proba),
    }


def split_source(
    Xs: np.ndarray, ys: np.ndarray, val_size: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Hold out ``val_size`` of the source, stratified when every class has two or more examples."""
    _, counts = np.unique(ys, return_counts=True)
    stratify = ys if counts.min() >= 2 else None
    try:
        parts = train_test_split(Xs, ys, test_size=val_size, random_state=seed, stratify=stratify)
    except ValueError:  # too few rows per class for a stratified split of this size
        parts = train_test_split(Xs, ys, test_size=val_size, random_state=seed)
    return parts[0], parts[1], parts[2], parts[3]


def _evidence(candidates: list[Candidate], setting: _Setting, common: dict[str, Any]) -> list[CandidateScore]:
    rows = []
    for name, params in candidates:
        try:
            scores = score_candidate(create_adapter(name, **{**common, **params}), setting)
            rows.append(CandidateScore(name, dict(params), **scores))
        except (UsageError, ValueError, np.linalg.LinAlgError) as exc:
            logger.warning("candidate %s%s failed: %s", name, params, exc)
            nan = float("nan")
            rows.append(CandidateScore(name, dict(params), *[nan] * 8, error=str(exc)))
    set_cluster_scores(rows)
    return rows


_WHAT = {
    "cluster": "the most cluster-consistent target predictions",
    "dev": "the lowest importance-weighted validation risk (DEV)",
    "reverse": "the lowest reverse-validation error",
    "entropy": "the lowest target prediction entropy",
}


def _decide(table: list[CandidateScore], criterion: str, min_gain: float) -> tuple[CandidateScore, str]:
    """The winner, and a sentence on why; source-only stays unless beaten by more than ``min_gain``."""
    best = min(table, key=lambda r: r.loss(criterion))
    if not np.isfinite(best.loss(criterion)):
        raise UsageError("every candidate failed; see the warnings logged for each")
    value = _shown(best, criterion)
    baseline = next((r for r in table if r.method == "source-only" and np.isfinite(r.loss(criterion))), None)
    if baseline is None or baseline is best:
        return best, f"{best.label} had {_WHAT[criterion]} ({criterion} {value:.3f})."
    gain = baseline.loss(criterion) - best.loss(criterion)
    base_value = _shown(baseline, criterion)
    if gain <= min_gain:
        return baseline, (
            f"no candidate beat source-only by more than min_gain={min_gain} on {criterion} "
            f"(best {best.label}: {value:.3f} vs {base_value:.3f}), so the target is left unadapted."
        )
    return best, f"{best.label} had {_WHAT[criterion]} ({criterion} {value:.3f} vs {base_value:.3f} for source-only)."


def _shown(row: CandidateScore, criterion: str) -> float:
    """The criterion as reported (cluster scores are maximised, the rest minimised)."""
    return -row.loss(criterion) if criterion == "cluster" else row.loss(criterion)


def _caution(row: CandidateScore, n_val: int) -> str:
    if np.isfinite(row.weight_ess) and row.weight_ess < 0.1 * n_val:
        return (
            f" DEV's validation weights are concentrated (ESS {row.weight_ess:.0f} of {n_val}): "
            "the domains barely overlap, so DEV says little here."
        )
    return ""


def select(
    Xs: Any,
    ys: Any,
    Xt: Any,
    candidates: Sequence[Candidate] | None = None,
    criterion: Criterion = "cluster",
    val_size: float = 0.25,
    min_gain: float = 0.01,
    C: float = 1.0,
    random_state: int = 0,
    refit: bool = True,
) -> SelectionResult:
    """Choose an adaptation method and its settings without target labels.

    Args:
        Xs: source embeddings, shape (n_source, d).
        ys: source labels.
        Xt: unlabelled target embeddings, shape (n_target, d).
        candidates: ``(method, params)`` pairs; default `default_candidates()`. Source-only is
            always added: it is the baseline the winner must beat.
        criterion: ``"cluster"`` (default), ``"dev"``, ``"reverse"`` or ``"entropy"``. All are
            reported as evidence, except reverse validation, computed only when it is the
            criterion because it doubles the cost.
        val_size: share of the source held out for validation.
        min_gain: how much a candidate must beat source-only by, on the criterion, to be chosen.
        C: head regularisation given to every candidate (a candidate's own ``C`` wins).
        random_state: seed of the source split and the target clusterings.
        refit: refit the winner on the whole source (``result.estimator``).

    Returns:
        The chosen method and params, the evidence table and the reason.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> Xs, ys = rng.normal(size=(80, 3)), np.repeat([0, 1], 40)
        >>> result = select(Xs, ys, rng.normal(0.5, 1, size=(60, 3)), candidates=[("source-only", {}), ("coral", {})])
        >>> result.method in {"source-only", "coral"}
        True
    """
    Xs, ys, Xt = check_domains(Xs, ys, Xt)
    if criterion not in CRITERIA:
        raise UsageError(f"unknown criterion {criterion!r}; use one of {', '.join(CRITERIA)}")
    candidates = default_candidates() if candidates is None else [(n, dict(p)) for n, p in candidates]
    if ("source-only", {}) not in candidates:
        candidates.insert(0, ("source-only", {}))  # the baseline every choice is measured against
    Xs_tr, Xs_val, ys_tr, ys_val = split_source(Xs, ys, val_size, random_state)
    rows, clusterings = target_clusterings(Xt, len(np.unique(ys)), random_state)
    setting = _Setting(Xs_tr, Xs_val, ys_tr, ys_val, Xt, rows, clusterings, criterion == "reverse")
    table = _evidence(candidates, setting, {"C": C})
    best, reason = _decide(table, criterion, min_gain)
    result = SelectionResult(best.method, best.params, criterion, reason + _caution(best, len(ys_val)), table)
    if refit:
        result.estimator = create_adapter(best.method, **{"C": C, **best.params}).fit(Xs, ys, Xt)
    return result


@register_adapter("auto")
class AutoAdapter(DomainAdapter):
    """``method="auto"``: the adapter chosen by `select` without target labels, refitted on all source.

    Args:
        candidates: ``(method, params)`` pairs; ``None``: `default_candidates()`.
        criterion: label-free criterion: ``"cluster"``, ``"dev"``, ``"reverse"`` or ``"entropy"``.
        val_size: share of the source held out for validation.
        min_gain: margin a candidate needs over source-only on the criterion.
        C: head regularisation given to every candidate.
        random_state: seed of the source split and target clusterings.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> Xs, ys = rng.normal(size=(80, 3)), np.repeat([0, 1], 40)
        >>> auto = AutoAdapter(candidates=[("source-only", {}), ("sa", {"n_components": 2})])
        >>> auto.fit(Xs, ys, rng.normal(size=(60, 3))).selection_.method in {"source-only", "sa"}
        True
    """

    def __init__(
        self,
        candidates: Sequence[Candidate] | None = None,
        criterion: Criterion = "cluster",
        val_size: float = 0.25,
        min_gain: float = 0.01,
        C: float = 1.0,
        random_state: int = 0,
    ) -> None:
        self.candidates = candidates
        self.criterion = criterion
        self.val_size = val_size
        self.min_gain = min_gain
        self.C = C
        self.random_state = random_state

    def _fit(self, Xs: np.ndarray, ys: np.ndarray, Xt: np.ndarray) -> None:
        self.selection_ = select(
            Xs, ys, Xt, self.candidates, self.criterion, self.val_size, self.min_gain, self.C, self.random_state
        )
        self.estimator_ = self.selection_.estimator

    def transform_source(self, X: Any) -> np.ndarray:
        return self.estimator_.transform_source(X)

    def transform_target(self, X: Any) -> np.ndarray:
        return self.estimator_.transform_target(X)

    def predict_proba(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "estimator_")
        return self.estimator_.predict_proba(check_features(X, "X", n_features=self.n_features_in_))
