"""Cold items: a ridge map from what is known of an item (text embedding, genres) into the
collaborative item space (its factors and its bias), learnt on the warm items.

The ridge strength is the one whose predicted factors give the lowest rating RMSE on warm items held
out of the fit — the error that matters for a cold item, not the error of the factors themselves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

Loss = Callable[[np.ndarray, np.ndarray], float]  # (predicted [factors, bias] rows, item positions) -> RMSE


@dataclass
class Mapping:
    """Standardise the features, then ``targets = X @ coef.T + intercept``; targets = [factors..., bias]."""

    features: str
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray  # (k + 1, D)
    intercept: np.ndarray  # (k + 1,)
    alpha: float
    search: list[dict[str, float]] = field(default_factory=list)

    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Item factors (n, k) and biases (n,) of items with features ``X``."""
        out = ((X - self.mean) / self.scale) @ self.coef.T + self.intercept if X.shape[1] else (
            np.tile(self.intercept, (len(X), 1)))
        out = out.astype(np.float32)
        return out[:, :-1], out[:, -1]

    def to_tensors(self) -> dict[str, np.ndarray]:
        return {"mapping.mean": self.mean, "mapping.scale": self.scale, "mapping.coef": self.coef,
                "mapping.intercept": self.intercept}

    @classmethod
    def from_tensors(cls, tensors: dict[str, np.ndarray], info: dict[str, Any]) -> "Mapping":
        return cls(info["features"], tensors["mapping.mean"], tensors["mapping.scale"], tensors["mapping.coef"],
                   tensors["mapping.intercept"], float(info["alpha"]), list(info.get("search") or []))


def design(features: str, text: np.ndarray | None, genres: np.ndarray | None) -> np.ndarray:
    """The mapping's input: the text embedding and/or the genre one-hot, as ``features`` names."""
    n = len(text) if text is not None else len(genres) if genres is not None else 0
    blocks = []
    if "text" in features.split("+"):
        blocks.append(np.asarray(text, np.float32))
    if "genre" in features.split("+"):
        blocks.append(np.asarray(genres, np.float32))
    return np.concatenate(blocks, axis=1) if blocks else np.zeros((n, 0), np.float32)


def fit_mapping(features: str, X: np.ndarray, targets: np.ndarray, weights: np.ndarray, alphas: tuple[float, ...],
                holdout: float, seed: int, loss: Loss) -> Mapping:
    """Choose the ridge strength on held-out warm items (``loss``), then refit on every warm item."""
    order = np.random.default_rng(seed).permutation(len(X))
    n_out = max(1, int(round(len(X) * holdout))) if len(X) > 2 else 0
    held, kept = np.sort(order[:n_out]), np.sort(order[n_out:])
    search = []
    for alpha in alphas if X.shape[1] else alphas[:1]:  # nothing to regularise without features
        if n_out == 0:
            break
        trial = _ridge(features, X[kept], targets[kept], weights[kept], alpha)
        factors, bias = trial.predict(X[held])
        search.append({"alpha": alpha, "heldout_rmse": loss(np.column_stack([factors, bias]), held)})
    best = min(search, key=lambda r: r["heldout_rmse"])["alpha"] if search else alphas[0]
    final = _ridge(features, X, targets, weights, best)
    final.search = search
    return final


def _ridge(features: str, X: np.ndarray, Y: np.ndarray, w: np.ndarray, alpha: float) -> Mapping:
    from sklearn.linear_model import Ridge

    if X.shape[1] == 0:  # "none": every cold item is the (weighted) average warm item
        intercept = (np.average(Y, axis=0, weights=w)).astype(np.float32)
        return Mapping(features, np.zeros(0, np.float32), np.ones(0, np.float32),
                       np.zeros((Y.shape[1], 0), np.float32), intercept, alpha)
    mean = np.average(X, axis=0, weights=w).astype(np.float32)
    scale = np.sqrt(np.average((X - mean) ** 2, axis=0, weights=w)).astype(np.float32)
    scale[scale < 1e-6] = 1.0  # a constant column (a genre no warm item has) stays as it is
    model = Ridge(alpha=alpha).fit((X - mean) / scale, Y, sample_weight=w)
    return Mapping(features, mean, scale, model.coef_.astype(np.float32).reshape(Y.shape[1], -1),
                   np.asarray(model.intercept_, np.float32).reshape(-1), alpha)
