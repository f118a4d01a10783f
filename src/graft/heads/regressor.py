"""``TransferRegressor``: a pretrained backbone + ridge probe behind the scikit-learn estimator contract."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from graft.heads.linear import LinearHead
from graft.heads.regression import RidgeConfig, fit_ridge, predict_values


class TransferRegressor(RegressorMixin, BaseEstimator):
    """Frozen pretrained features + a ridge head, as a scikit-learn regressor.

    ``X`` is a list of raw inputs for the backbone (image paths, texts, audio paths) — or, with
    ``backbone="identity"``, a numeric 2-D array used as features directly (tabular data). ``y``
    is a number per input; features and targets are standardised inside (the target scaling is
    undone by ``predict``).

    Args:
        backbone: zoo name or generic source (see ``graft.list_backbones()``), or "identity".
        weights: optional local checkpoint for the backbone.
        image_size: input resolution for image backbones.
        alpha: L2 strength; ``None`` chooses it on a validation split of the training data
            (``val_fraction``) from ``alpha_grid`` by R², then refits on everything.
        alpha_grid: candidates for ``alpha``.
        val_fraction: share of the training data held out to choose ``alpha``.
        batch_size: backbone batch size.
        random_state: seed of the validation split.

    Example:
        >>> import numpy as np
        >>> X = np.random.default_rng(0).normal(size=(100, 3)); y = 2 * X[:, 0] + 1
        >>> TransferRegressor(backbone="identity").fit(X, y).score(X, y) > 0.99
        True
    """

    def __init__(self, backbone: str = "mobilenet_v2", weights: str | None = None, image_size: int | None = None,
                 alpha: float | None = None,
                 alpha_grid: Sequence[float] = (0.01, 0.1, 1.0, 10.0, 100.0, 1000.0, 10000.0),
                 val_fraction: float = 0.2, batch_size: int = 64, random_state: int = 0) -> None:
        self.backbone = backbone
        self.weights = weights
        self.image_size = image_size
        self.alpha = alpha
        self.alpha_grid = alpha_grid
        self.val_fraction = val_fraction
        self.batch_size = batch_size
        self.random_state = random_state

    def _features(self, X: Any, reset: bool) -> np.ndarray:
        if self.backbone == "identity":
            return validate_data(self, X, reset=reset, dtype=np.float64)
        from graft.api import backbone_options
        from graft.features.extract import embed_items

        return embed_items(list(X), self.backbone, weights=self.weights, batch_size=self.batch_size,
                           **backbone_options(self.image_size)).astype(np.float64)

    def fit(self, X: Any, y: Any) -> "TransferRegressor":
        if self.backbone == "identity":
            X, y = validate_data(self, X, y, dtype=np.float64, y_numeric=True)
        y = np.asarray(y, dtype=np.float64)
        if y.ndim != 1:
            y = y.reshape(len(y), -1)
            if y.shape[1] != 1:
                raise ValueError(f"TransferRegressor predicts one number per input; y has {y.shape[1]} columns")
            y = y[:, 0]
        if len(y) < 2:
            raise ValueError(f"TransferRegressor needs at least 2 samples to fit; got n_samples = {len(y)}")
        if not np.all(np.isfinite(y)):
            raise ValueError("y holds NaN or infinite values; every training input needs a finite target")
        config = RidgeConfig(alpha_grid=tuple(self.alpha_grid), alpha=self.alpha)  # checked before the extraction
        features = X if self.backbone == "identity" else self._features(X, reset=True)
        train, val = self._split(len(y))
        result = fit_ridge(features[train], y[train], features[val] if val is not None else None,
                           y[val] if val is not None else None, config)
        self.head_: LinearHead = result.head
        self.head_config_ = result.head_config()
        self.alpha_ = result.alpha
        self.search_ = result.search
        return self

    def _split(self, n: int) -> tuple[np.ndarray, np.ndarray | None]:
        everything = np.arange(n)
        if self.alpha is not None or len(self.alpha_grid) == 1 or n * self.val_fraction < 2 or n < 5:
            return everything, None  # nothing to choose, or too small to hold data out
        from sklearn.model_selection import train_test_split

        train, val = train_test_split(everything, test_size=self.val_fraction, random_state=self.random_state)
        return train, val

    def predict(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "head_")
        return predict_values(self.head_, self.head_config_, self._features(X, reset=False))
