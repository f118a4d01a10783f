"""A linear softmax head in plain numpy: what a probe saves and what prediction needs."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class LinearHead:
    """``softmax(((x - mean) / scale) @ weight.T + bias)``.

    Attributes:
        weight: (C, D) class weights.
        bias: (C,) intercepts.
        mean, scale: (D,) feature standardisation fitted on the training features.
    """

    weight: np.ndarray
    bias: np.ndarray
    mean: np.ndarray
    scale: np.ndarray

    @property
    def n_classes(self) -> int:
        return int(self.weight.shape[0])

    @property
    def n_features(self) -> int:
        return int(self.weight.shape[1])

    def decision_function(self, features: np.ndarray) -> np.ndarray:
        x = (np.asarray(features, dtype=np.float64) - self.mean) / self.scale
        return x @ self.weight.T.astype(np.float64) + self.bias

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        z = self.decision_function(features)
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        return p / p.sum(axis=1, keepdims=True)

    def predict(self, features: np.ndarray) -> np.ndarray:
        return np.argmax(self.decision_function(features), axis=1)

    def to_tensors(self, prefix: str = "head.") -> dict[str, np.ndarray]:
        return {f"{prefix}{k}": np.ascontiguousarray(getattr(self, k), dtype=np.float32)
                for k in ("weight", "bias", "mean", "scale")}

    @classmethod
    def from_tensors(cls, tensors: dict[str, np.ndarray], prefix: str = "head.") -> "LinearHead":
        return cls(**{k: np.asarray(tensors[f"{prefix}{k}"], dtype=np.float64) for k in ("weight", "bias", "mean", "scale")})
