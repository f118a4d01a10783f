"""Base learners every transfer strategy fits: LightGBM boosters or linear models, saved without pickle.

A learner takes the encoded float matrix (NaN = missing or unseen category), row weights, and
optionally a booster to continue from; it predicts values (regression) or class probabilities
(classification, all ``n_classes`` columns even when training saw fewer classes). It saves as a
LightGBM text model (``model_to_string``) or, for the linear learner, a safetensors file of its
standardisation and coefficients; nothing is unpickled on load.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from graft._config import check_ranges
from graft.errors import GraftError, UsageError, require
from graft.tabular.encode import one_hot

Kind = Literal["lightgbm", "linear"]


@dataclass
class LearnerConfig:
    """Settings of the base learner (one object for every strategy, saved in config.json)."""

    kind: Kind = field(default="lightgbm", metadata={"help": "lightgbm (gradient-boosted trees) | linear "
                                                            "(ridge / logistic regression on one-hot, standardised columns)"})
    n_estimators: int = field(default=200, metadata={"help": "boosting rounds (trees) of a LightGBM learner"})
    learning_rate: float = field(default=0.05, metadata={"help": "LightGBM shrinkage"})
    num_leaves: int = field(default=15, metadata={"help": "LightGBM leaves per tree"})
    min_child_samples: int = field(default=5, metadata={"help": "LightGBM rows per leaf at least (small: targets "
                                                                "of 50 rows must still split)"})
    alpha: float = field(default=1.0, metadata={"help": "linear learner: L2 strength (ridge alpha; 1/C for logistic)"})
    seed: int = field(default=0, metadata={"help": "LightGBM seed"})
    # one thread by default: on tables of a few hundred rows LightGBM's thread start-up costs more than the
    # work, and on a busy machine a 80-row fit took 50 s with every core and 0.1 s with one
    threads: int = field(default=1, metadata={"help": "LightGBM threads (0: its default, every core)"})

    def __post_init__(self) -> None:
        if self.kind not in ("lightgbm", "linear"):
            raise UsageError(f"LearnerConfig: kind must be 'lightgbm' or 'linear', got {self.kind!r}")
        check_ranges(self, {"n_estimators": "[1, 100000]", "learning_rate": "(0, 1]", "num_leaves": "[2, 131072]",
                            "min_child_samples": "[1, 100000]", "alpha": "(0, inf)", "threads": "[0, 1024]"})


def _lightgbm() -> Any:
    return require("lightgbm", "tabular")


class BoosterLearner:
    """A fitted LightGBM booster (text model format on disk)."""

    kind = "lightgbm"

    def __init__(self, booster: Any, task: str, n_classes: int) -> None:
        self.booster, self.task, self.n_classes = booster, task, n_classes

    def predict(self, X: np.ndarray) -> np.ndarray:
        out = self.booster.predict(X)
        if self.task == "regression":
            return np.asarray(out, dtype=np.float64)
        if self.n_classes == 2:
            return np.column_stack([1 - out, out])
        return np.asarray(out, dtype=np.float64).reshape(len(X), self.n_classes)

    def to_bytes(self) -> bytes:
        return self.booster.model_to_string().encode("utf-8")

    @classmethod
    def from_bytes(cls, data: bytes, task: str, n_classes: int, meta: dict[str, Any]) -> "BoosterLearner":
        lgb = _lightgbm()
        return cls(lgb.Booster(model_str=data.decode("utf-8")), task, n_classes)

    def meta(self) -> dict[str, Any]:
        return {"trees": int(self.booster.num_trees())}


class LinearLearner:
    """Ridge (regression) or multinomial logistic regression on one-hot, standardised columns."""

    kind = "linear"

    def __init__(self, tensors: dict[str, np.ndarray], task: str, n_classes: int, sizes: list[int]) -> None:
        self.tensors, self.task, self.n_classes, self.sizes = tensors, task, n_classes, sizes

    def _design(self, X: np.ndarray) -> np.ndarray:
        Z = one_hot(X, self.sizes)
        Z = np.where(np.isnan(Z), self.tensors["mean"], Z)  # a missing number: the training mean
        return (Z - self.tensors["mean"]) / self.tensors["scale"]

    def predict(self, X: np.ndarray) -> np.ndarray:
        scores = self._design(X) @ self.tensors["coef"].T + self.tensors["intercept"]
        if self.task == "regression":
            return scores[:, 0]
        present = self.tensors["classes"].astype(np.int64)
        if len(present) == 1:
            proba_present = np.ones((len(X), 1))
        elif scores.shape[1] == 1:  # binary: one score column for the second class
            p = 1 / (1 + np.exp(-scores[:, 0]))
            proba_present = np.column_stack([1 - p, p])
        else:
            e = np.exp(scores - scores.max(axis=1, keepdims=True))
            proba_present = e / e.sum(axis=1, keepdims=True)
        proba = np.zeros((len(X), self.n_classes))
        proba[:, present] = proba_present
        return proba

    def to_bytes(self) -> bytes:
        from safetensors.numpy import save

        return save({k: np.ascontiguousarray(v) for k, v in self.tensors.items()})

    @classmethod
    def from_bytes(cls, data: bytes, task: str, n_classes: int, meta: dict[str, Any]) -> "LinearLearner":
        from safetensors.numpy import load

        return cls(load(data), task, n_classes, list(meta["sizes"]))

    def meta(self) -> dict[str, Any]:
        return {"sizes": list(self.sizes)}


Learner = BoosterLearner | LinearLearner
SUFFIX = {"lightgbm": ".txt", "linear": ".safetensors"}


def fit_learner(config: LearnerConfig, task: str, n_classes: int, X: np.ndarray, y: np.ndarray,
                weight: np.ndarray | None = None, categorical: list[int] | None = None, sizes: list[int] | None = None,
                init: "BoosterLearner | None" = None, n_estimators: int | None = None) -> Learner:
    """Fit one learner on the encoded matrix ``X``.

    Args:
        task: ``"regression"`` (``y`` floats) or ``"classification"`` (``y`` class codes < ``n_classes``).
        weight: per-row weights (None: equal).
        categorical: positions of categorical columns (LightGBM splits them as categories).
        sizes: per column, its number of categories (the linear learner's one-hot layout).
        init: a LightGBM learner to continue boosting from (its trees are kept, new ones added).
        n_estimators: rounds for this fit instead of ``config.n_estimators``.
    """
    if config.kind == "linear":
        if init is not None:
            raise UsageError("continued boosting needs the lightgbm learner, not the linear one")
        return _fit_linear(config, task, n_classes, X, y, weight, sizes or [0] * X.shape[1])
    return _fit_booster(config, task, n_classes, X, y, weight, categorical or [], init, n_estimators)


def _params(config: LearnerConfig, task: str, n_classes: int) -> dict[str, Any]:
    params: dict[str, Any] = {
        "learning_rate": config.learning_rate, "num_leaves": config.num_leaves,
        "min_child_samples": config.min_child_samples, "min_data_per_group": config.min_child_samples,
        "cat_smooth": 1.0, "seed": config.seed, "deterministic": True, "verbose": -1,
        "feature_pre_filter": False}
    if config.threads:
        params["num_threads"] = config.threads
    if task == "regression":
        params["objective"] = "regression"
    elif n_classes == 2:
        params["objective"] = "binary"
    else:
        params |= {"objective": "multiclass", "num_class": n_classes}
    return params


def _fit_booster(config: LearnerConfig, task: str, n_classes: int, X: np.ndarray, y: np.ndarray,
                 weight: np.ndarray | None, categorical: list[int], init: BoosterLearner | None,
                 n_estimators: int | None) -> BoosterLearner:
    lgb = _lightgbm()
    data = lgb.Dataset(X, label=y, weight=weight, categorical_feature=categorical or "auto", free_raw_data=False,
                       params={"verbose": -1})
    rounds = n_estimators or config.n_estimators
    try:
        booster = lgb.train(_params(config, task, n_classes), data, num_boost_round=rounds,
                            init_model=init.booster if init is not None else None)
    except lgb.basic.LightGBMError as exc:
        raise GraftError(f"LightGBM could not fit the learner ({exc})") from exc
    return BoosterLearner(booster, task, n_classes)


def _fit_linear(config: LearnerConfig, task: str, n_classes: int, X: np.ndarray, y: np.ndarray,
                weight: np.ndarray | None, sizes: list[int]) -> LinearLearner:
    from sklearn.linear_model import LogisticRegression, Ridge

    Z = one_hot(X, sizes)
    with np.errstate(all="ignore"):
        mean = np.nan_to_num(np.nanmean(Z, axis=0)) if len(Z) else np.zeros(Z.shape[1])
    Z = np.where(np.isnan(Z), mean, Z)
    scale = Z.std(axis=0)
    scale[scale == 0] = 1.0
    Z = (Z - mean) / scale
    if task == "regression":
        model = Ridge(alpha=config.alpha).fit(Z, y, sample_weight=weight)
        coef, intercept, classes = model.coef_.reshape(1, -1), np.atleast_1d(model.intercept_), np.zeros(0)
    else:
        classes = np.unique(y.astype(np.int64))
        if len(classes) == 1:
            coef, intercept = np.zeros((1, Z.shape[1])), np.zeros(1)
        else:
            model = LogisticRegression(C=1.0 / config.alpha, max_iter=2000).fit(Z, y.astype(np.int64), sample_weight=weight)
            coef, intercept = model.coef_, model.intercept_
    tensors = {"mean": mean, "scale": scale, "coef": coef, "intercept": intercept, "classes": classes.astype(np.float64)}
    return LinearLearner({k: np.asarray(v, dtype=np.float64) for k, v in tensors.items()}, task, n_classes, sizes)


def learner_from_bytes(kind: str, data: bytes, task: str, n_classes: int, meta: dict[str, Any]) -> Learner:
    """Rebuild a saved learner (no pickle: LightGBM text or safetensors)."""
    cls = {"lightgbm": BoosterLearner, "linear": LinearLearner}.get(kind)
    if cls is None:
        raise GraftError(f"unknown learner kind {kind!r} in a saved table model; a newer graft wrote it: upgrade graft")
    return cls.from_bytes(data, task, n_classes, meta)
