"""What every domain adapter shares: input checks, the classifier head, the estimator skeleton.

A domain adapter learns from labelled source embeddings ``(Xs, ys)`` and unlabelled target
embeddings ``Xt`` and then classifies *target-domain* inputs. Methods differ in one of two places:
they move the source features (alignment) or they weight the source examples (weighting), and
some add pseudo-labelled target examples (self-training). The head is the same for all of them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted

from graft.adapt.registry import register_adapter
from graft.errors import UsageError


def check_features(X: Any, name: str = "X", n_features: int | None = None) -> np.ndarray:
    """A finite, non-empty 2-D float array, or a `UsageError` that says what is wrong.

    Example:
        >>> check_features([[0.0, 1.0]], "Xt").shape
        (1, 2)
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise UsageError(f"{name} must be a 2-D array (n_examples, n_features); got shape {X.shape}")
    if X.shape[0] == 0:
        raise UsageError(f"{name} is empty: it needs at least one example (row)")
    if n_features is not None and X.shape[1] != n_features:
        raise UsageError(
            f"{name} has {X.shape[1]} features but the source has {n_features}; "
            "source and target must be embedded by the same backbone (same feature size)"
        )
    bad = ~np.isfinite(X).all(axis=1)
    if bad.any():
        rows = np.flatnonzero(bad)[:5].tolist()
        raise UsageError(
            f"{name} has NaN or infinite values in {int(bad.sum())} row(s), e.g. rows {rows}; "
            "drop or impute them first"
        )
    return X


def check_domains(Xs: Any, ys: Any, Xt: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate a labelled source and an unlabelled target sample for adaptation.

    Example:
        >>> Xs, ys, Xt = check_domains([[0.0], [1.0]], [0, 1], [[0.5]])
        >>> Xs.shape, Xt.shape
        ((2, 1), (1, 1))
    """
    Xs = check_features(Xs, "Xs (source)")
    Xt = check_features(Xt, "Xt (target)", n_features=Xs.shape[1])
    ys = np.asarray(ys)
    if ys.ndim != 1 or len(ys) != len(Xs):
        raise UsageError(f"ys must be 1-D with one label per source row: {len(Xs)} rows, labels shape {ys.shape}")
    if len(np.unique(ys)) < 2:
        raise UsageError(
            f"the source has a single class ({ys[0]!r}); a classifier needs labelled examples of at least two classes"
        )
    return Xs, ys, Xt


def make_head(C: float = 1.0, standardize: bool = True, max_iter: int = 1000) -> Pipeline:
    """The classifier every adapter trains: logistic regression, on standardised features by default.

    Example:
        >>> make_head(C=0.5).fit([[0.0], [1.0]], [0, 1]).predict([[0.9]]).tolist()
        [1]
    """
    steps: list[Any] = [StandardScaler()] if standardize else []
    return make_pipeline(*steps, LogisticRegression(C=C, max_iter=max_iter))


def fit_head(
    head: Pipeline, X: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None
) -> Pipeline:
    """Fit ``head`` with optional per-example weights (routed to the logistic regression step)."""
    if sample_weight is None:
        return head.fit(X, y)
    return head.fit(X, y, logisticregression__sample_weight=sample_weight)


class DomainAdapter(ClassifierMixin, BaseEstimator):
    """Base class: ``fit(Xs, ys, Xt)`` then classify target-domain inputs.

    Subclasses implement `_fit` and, when they move features, `transform_source` /
    `transform_target` (identity here). Label-free model selection reads those two maps to see
    the space the head was trained in. Every hyperparameter is a keyword stored unchanged by
    ``__init__``; everything learned ends in ``_`` (scikit-learn contract).
    """

    def fit(self, Xs: Any, ys: Any, Xt: Any) -> "DomainAdapter":
        """Learn from labelled source ``(Xs, ys)`` and unlabelled target ``Xt``; returns self."""
        Xs, ys, Xt = check_domains(Xs, ys, Xt)
        self.classes_ = np.unique(ys)
        self.n_features_in_ = Xs.shape[1]
        self._fit(Xs, ys, Xt)
        return self

    def _fit(self, Xs: np.ndarray, ys: np.ndarray, Xt: np.ndarray) -> None:
        raise NotImplementedError

    def _head(self) -> Pipeline:
        return make_head(C=self.C, standardize=self.standardize, max_iter=self.max_iter)

    def transform_source(self, X: Any) -> np.ndarray:
        """Source inputs in the space the head was trained in (identity unless the method aligns)."""
        return np.asarray(X, dtype=np.float64)

    def transform_target(self, X: Any) -> np.ndarray:
        """Target inputs in the space the head predicts in (identity unless the method aligns)."""
        return np.asarray(X, dtype=np.float64)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities for target-domain inputs, columns ordered as ``classes_``."""
        check_is_fitted(self, "head_")
        X = check_features(X, "X", n_features=self.n_features_in_)
        return self.head_.predict_proba(self.transform_target(X))

    def predict(self, X: Any) -> np.ndarray:
        """Predicted labels for target-domain inputs."""
        proba = self.predict_proba(X)  # raises NotFittedError before classes_ is touched
        return self.classes_[np.argmax(proba, axis=1)]


@register_adapter("source-only")
class SourceOnly(DomainAdapter):
    """The baseline: the head trained on the source alone, ignoring the target.

    Args:
        C: inverse regularisation strength of the logistic-regression head.
        standardize: standardise features before the head.
        max_iter: iteration cap of the head's solver.

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> Xs, ys = rng.normal(size=(40, 3)), np.repeat([0, 1], 20)
        >>> SourceOnly().fit(Xs, ys, rng.normal(size=(10, 3))).predict(Xs[:2]).shape
        (2,)
    """

    def __init__(self, C: float = 1.0, standardize: bool = True, max_iter: int = 1000) -> None:
        self.C = C
        self.standardize = standardize
        self.max_iter = max_iter

    def _fit(self, Xs: np.ndarray, ys: np.ndarray, Xt: np.ndarray) -> None:
        self.head_ = fit_head(self._head(), Xs, ys)
