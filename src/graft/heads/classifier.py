"""``TransferClassifier``: a pretrained backbone + linear probe behind the scikit-learn estimator contract."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from graft.heads.linear import LinearHead
from graft.heads.probe import ProbeConfig, fit_probe


class TransferClassifier(ClassifierMixin, BaseEstimator):
    """Frozen pretrained features + a logistic-regression head, as a scikit-learn classifier.

    ``X`` is a list of raw inputs for the backbone (image paths, texts, audio paths) — or, with
    ``backbone="identity"``, a numeric 2-D array used as features directly (tabular data).

    Args:
        backbone: zoo name or generic source (see ``graft.list_backbones()``), or "identity".
        weights: optional local checkpoint for the backbone.
        image_size: input resolution for image backbones.
        C: inverse L2 strength; ``None`` chooses it on a stratified validation split of the
            training data (``val_fraction``) from ``C_grid``, then refits on everything.
        C_grid: candidates for ``C``.
        val_fraction: share of the training data held out to choose ``C``.
        max_iter: optimiser iterations.
        batch_size: backbone batch size.
        random_state: seed of the validation split.
        layers: ``"last"`` (the backbone's features) or ``"all"`` (a multi-layer probe over every
            block, ``graft.heads.multilayer``; the kept fraction of columns is chosen on the
            validation split too).
        keep_grid: candidate kept fractions for ``layers="all"``.
        keep: fixed kept fraction for ``layers="all"``; ``None`` chooses it from ``keep_grid``.

    Example:
        >>> clf = TransferClassifier(backbone="mobilenet_v2", image_size=96)   # doctest: +SKIP
        >>> clf.fit(train_paths, train_labels).score(test_paths, test_labels)  # doctest: +SKIP
        0.87
    """

    def __init__(self, backbone: str = "mobilenet_v2", weights: str | None = None, image_size: int | None = None,
                 C: float | None = None, C_grid: Sequence[float] = (0.01, 0.1, 1.0, 10.0), val_fraction: float = 0.2,
                 max_iter: int = 300, batch_size: int = 64, random_state: int = 0, layers: str = "last",
                 keep_grid: Sequence[float] = (0.05, 0.1, 0.25, 0.5, 1.0), keep: float | None = None) -> None:
        self.backbone = backbone
        self.weights = weights
        self.image_size = image_size
        self.C = C
        self.C_grid = C_grid
        self.val_fraction = val_fraction
        self.max_iter = max_iter
        self.batch_size = batch_size
        self.random_state = random_state
        self.layers = layers
        self.keep_grid = keep_grid
        self.keep = keep

    def _features(self, X: Any, reset: bool) -> np.ndarray:
        if self.backbone == "identity":
            return validate_data(self, X, reset=reset, dtype=np.float64)
        from graft.features.extract import embed_items
        from graft.api import backbone_options

        if self.layers == "all":
            from graft.features.taps import selected_features

            return selected_features(list(X), self.backbone, self.selection_, weights=self.weights,
                                     batch_size=self.batch_size, **backbone_options(self.image_size)).astype(np.float64)
        return embed_items(list(X), self.backbone, weights=self.weights, batch_size=self.batch_size,
                           **backbone_options(self.image_size)).astype(np.float64)

    def fit(self, X: Any, y: Any) -> "TransferClassifier":
        if self.backbone == "identity":
            X, y = validate_data(self, X, y, dtype=np.float64)
        y = np.asarray(y)
        check_classification_targets(y)
        self.classes_, y_index = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(f"TransferClassifier needs at least 2 classes; got {len(self.classes_)} class")
        if self.layers not in ("last", "all"):
            raise ValueError(f"layers={self.layers!r}: choose 'last' or 'all'")
        if self.layers == "all":
            return self._fit_multilayer(X, y_index)
        features = X if self.backbone == "identity" else self._features(X, reset=True)
        config = ProbeConfig(C_grid=tuple(self.C_grid), C=self.C, max_iter=self.max_iter)
        train, val = self._split(y_index)
        result = fit_probe(features[train], y_index[train], features[val] if val is not None else None,
                           y_index[val] if val is not None else None, len(self.classes_), config)
        self.head_: LinearHead = result.head
        self.C_ = result.C
        self.search_ = result.search
        self.n_iter_ = result.n_iter
        return self

    def _fit_multilayer(self, X: Any, y_index: np.ndarray) -> "TransferClassifier":
        from graft.api import backbone_options
        from graft.features.taps import tap_features
        from graft.heads.multilayer import MultiLayerConfig, fit_multilayer

        if self.backbone == "identity":
            raise ValueError("layers='all' needs a pretrained backbone; 'identity' has no layers")
        config = MultiLayerConfig(C_grid=tuple(self.C_grid), C=self.C, keep_grid=tuple(self.keep_grid), keep=self.keep,
                                  max_iter=self.max_iter)  # checked before the extraction, not after it
        taps = tap_features(list(X), self.backbone, weights=self.weights, batch_size=self.batch_size,
                            **backbone_options(self.image_size))
        train, val = self._split(y_index)
        rows = lambda idx: {t: v[idx] for t, v in taps.items()}  # noqa: E731
        result = fit_multilayer(rows(train), y_index[train], rows(val) if val is not None else None,
                                y_index[val] if val is not None else None, len(self.classes_), config)
        self.head_: LinearHead = result.head
        self.selection_ = result.head_config()
        self.C_, self.keep_, self.search_, self.n_iter_ = result.C, result.keep, result.search, result.n_iter
        return self

    def _split(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        everything = np.arange(len(y))
        fixed = self.C is not None and (self.layers != "all" or self.keep is not None)
        if fixed or np.bincount(y).min() < 2 or len(y) * self.val_fraction < len(self.classes_):
            return everything, None  # too small to hold data out: use the first C candidate / fixed C
        from sklearn.model_selection import train_test_split

        train, val = train_test_split(everything, test_size=self.val_fraction, stratify=y, random_state=self.random_state)
        return train, val

    def predict_proba(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "head_")
        return self.head_.predict_proba(self._features(X, reset=False))

    def decision_function(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "head_")
        scores = self.head_.decision_function(self._features(X, reset=False))
        return scores[:, 1] - scores[:, 0] if len(self.classes_) == 2 else scores

    def predict(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "head_")
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]
