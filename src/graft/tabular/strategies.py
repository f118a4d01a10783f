"""Table-to-table transfer strategies: one registered ``@dataclass`` per method, ``fit`` → ``Ensemble``.

The dataclass *is* the method's config (PEFT-style): its fields are the method's settings, saved in
config.json, and ``fit(data, learner)`` trains it on a ``TransferData``. The boosting methods
(TrAdaBoost, TrAdaBoost.R2) live in ``graft.tabular.boosting`` and register here too.

Example:
    >>> from graft.tabular.strategies import create_method, list_methods
    >>> "pooled" in list_methods()
    True
    >>> create_method("pooled", target_weight=5.0).target_weight
    5.0
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, TypeVar

import numpy as np

from graft._config import check_ranges, from_dict, to_dict
from graft._registry import Registry
from graft.errors import UsageError
from graft.tabular.ensemble import Ensemble, TransferData, augment_source, augment_target
from graft.tabular.learners import LearnerConfig, fit_learner

T = TypeVar("T", bound=type)
METHODS: Registry[type] = Registry("table transfer method")
TASKS = ("regression", "classification")


def register_method(name: str) -> Callable[[T], T]:
    """Class decorator: make a strategy available under ``name`` (``method=name``, ``--method name``)."""

    def decorator(cls: T) -> T:
        METHODS.add(name, cls)
        cls.name = name
        return cls

    return decorator


def list_methods(task: str | None = None, learner: str | None = None) -> list[str]:
    """Registered method names; with ``task`` / ``learner`` kind, only those that support them."""
    return [n for n in METHODS.names() if supports(n, task, learner) is None]


def supports(name: str, task: str | None, learner: str | None = None) -> str | None:
    """None when method ``name`` can run for ``task`` with a ``learner`` kind, else why not."""
    cls = METHODS.get(name)
    if task is not None and task not in cls.tasks:
        other = [n for n in METHODS.names() if task in METHODS.get(n).tasks and n.startswith(name.split("_")[0])]
        hint = f"; for {task} use {other[0]}" if other else ""
        return f"{name} is for {' / '.join(cls.tasks)} only{hint}"
    if learner is not None and learner not in cls.learners:
        return f"{name} needs the {' or '.join(cls.learners)} learner, not {learner}"
    return None


def create_method(name: str, **params: Any) -> Any:
    """A strategy config by name; unknown settings and bad values raise ``UsageError`` naming them."""
    return from_dict(METHODS.get(name), params)


def method_config(method: Any) -> dict[str, Any]:
    """``{"method": name, "params": {...}}``: what config.json records."""
    return {"method": method.name, "params": to_dict(method)}


class Strategy:
    """Shared class attributes of the strategies."""

    name: ClassVar[str]
    tasks: ClassVar[tuple[str, ...]] = TASKS
    learners: ClassVar[tuple[str, ...]] = ("lightgbm", "linear")
    summary: ClassVar[str] = ""

    def fit(self, data: TransferData, learner: LearnerConfig) -> Ensemble:  # pragma: no cover - interface
        raise NotImplementedError


def _single(data: TransferData, learner: LearnerConfig, X: np.ndarray, y: np.ndarray,
            weight: np.ndarray | None = None) -> Ensemble:
    model = fit_learner(learner, data.task, data.n_classes, X, y, weight, data.categorical, data.sizes)
    return Ensemble([model], data.task, data.n_classes)


def _pool(data: TransferData, source_weight: np.ndarray | None, target_weight: float) -> tuple[np.ndarray, ...]:
    ws = np.ones(len(data.Xs)) if source_weight is None else source_weight
    return (np.vstack([data.Xs, data.Xt]), np.concatenate([data.ys, data.yt]),
            np.concatenate([ws, np.full(len(data.Xt), target_weight)]))


@register_method("target_only")
@dataclass
class TargetOnly(Strategy):
    """The baseline: the labelled target rows alone (the source is not used)."""

    summary: ClassVar[str] = "the labelled target rows alone"

    def fit(self, data: TransferData, learner: LearnerConfig) -> Ensemble:
        return _single(data, learner, data.Xt, data.yt)


@register_method("source_only")
@dataclass
class SourceOnly(Strategy):
    """The source rows alone, applied to the target unchanged."""

    summary: ClassVar[str] = "the source rows alone"

    def fit(self, data: TransferData, learner: LearnerConfig) -> Ensemble:
        return _single(data, learner, data.Xs, data.ys)


@register_method("pooled")
@dataclass
class Pooled(Strategy):
    """Source and target rows in one training set; target rows weighted ``target_weight`` each."""

    target_weight: float = field(default=1.0, metadata={"help": "weight of each target row (a source row weighs 1)"})
    summary: ClassVar[str] = "source + target rows together"

    def __post_init__(self) -> None:
        check_ranges(self, {"target_weight": "(0, inf)"})

    def fit(self, data: TransferData, learner: LearnerConfig) -> Ensemble:
        X, y, w = _pool(data, None, self.target_weight)
        return _single(data, learner, X, y, w)


@dataclass
class _Weighted(Strategy):
    target_weight: float = field(default=1.0, metadata={"help": "weight of each target row (source weights have mean 1)"})
    kind: ClassVar[str] = "classifier"

    def __post_init__(self) -> None:
        check_ranges(self, {"target_weight": "(0, inf)"})

    def key(self) -> str:
        """Which cached density-ratio weights this method uses."""
        return self.kind

    def fit(self, data: TransferData, learner: LearnerConfig) -> Ensemble:
        if self.key() not in data.source_weights:
            from graft.tabular.weights import source_weights

            data.source_weights[self.key()] = source_weights(self.kind, data.Xs, data.Xt, data.sizes, seed=data.seed)
        X, y, w = _pool(data, data.source_weights[self.key()], self.target_weight)
        return _single(data, learner, X, y, w)


@register_method("weight_classifier")
@dataclass
class WeightClassifier(_Weighted):
    """Source rows weighted by ``p(target|x) / p(source|x)`` from a logistic domain classifier, pooled with the target."""

    summary: ClassVar[str] = "source rows re-weighted by a domain classifier, + target"
    kind: ClassVar[str] = "classifier"


@register_method("weight_kmm")
@dataclass
class WeightKMM(_Weighted):
    """Source rows weighted by kernel mean matching (Huang et al. 2007), pooled with the target."""

    summary: ClassVar[str] = "source rows re-weighted by kernel mean matching, + target"
    kind: ClassVar[str] = "kmm"


@register_method("augment")
@dataclass
class Augment(Strategy):
    """Daumé's feature augmentation ("frustratingly easy", 2007): every feature three times — shared,
    source-only and target-only copies — so the learner can split on what holds in both domains
    and on what holds in one. A copy a row does not have is missing (NaN), not 0, so a tree cannot
    confuse it with a real zero."""

    target_weight: float = field(default=1.0, metadata={"help": "weight of each target row (a source row weighs 1)"})
    summary: ClassVar[str] = "Daumé: shared / source / target copies of each feature"

    def __post_init__(self) -> None:
        check_ranges(self, {"target_weight": "(0, inf)"})

    def fit(self, data: TransferData, learner: LearnerConfig) -> Ensemble:
        d = data.n_features
        X = np.vstack([augment_source(data.Xs), augment_target(data.Xt)])
        y = np.concatenate([data.ys, data.yt])
        w = np.concatenate([np.ones(len(data.Xs)), np.full(len(data.Xt), self.target_weight)])
        categorical = [j + k * d for k in range(3) for j in data.categorical]
        model = fit_learner(learner, data.task, data.n_classes, X, y, w, categorical, data.sizes * 3)
        return Ensemble([model], data.task, data.n_classes, augment=True)


@register_method("continue_boosting")
@dataclass
class ContinueBoosting(Strategy):
    """A LightGBM model fitted on the source, then boosted further on the target rows (LightGBM's
    ``init_model``): the new trees fit what the source model gets wrong on the target."""

    extra_estimators: int = field(default=100, metadata={"help": "trees added on the target rows"})
    target_learning_rate: float = field(default=0.05, metadata={"help": "shrinkage of the added trees"})
    summary: ClassVar[str] = "LightGBM on the source, boosted further on the target"
    learners: ClassVar[tuple[str, ...]] = ("lightgbm",)

    def __post_init__(self) -> None:
        check_ranges(self, {"extra_estimators": "[1, 100000]", "target_learning_rate": "(0, 1]"})

    def fit(self, data: TransferData, learner: LearnerConfig) -> Ensemble:
        base = fit_learner(learner, data.task, data.n_classes, data.Xs, data.ys, None, data.categorical, data.sizes)
        tuned = dataclasses.replace(learner, learning_rate=self.target_learning_rate)
        model = fit_learner(tuned, data.task, data.n_classes, data.Xt, data.yt, None, data.categorical, data.sizes,
                            init=base, n_estimators=self.extra_estimators)  # type: ignore[arg-type]
        return Ensemble([model], data.task, data.n_classes)


def check_method(name: str, task: str, learner: str) -> None:
    """UsageError when ``name`` cannot run for ``task`` with ``learner`` (the message says what can)."""
    why = supports(name, task, learner)
    if why is not None:
        raise UsageError(f"{why}; methods for {task} with the {learner} learner: {', '.join(list_methods(task, learner))}")


import graft.tabular.boosting  # noqa: E402,F401  (registers tradaboost and tradaboost_r2)
