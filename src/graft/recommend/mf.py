"""Explicit-feedback biased matrix factorisation in torch: r̂(u, i) = μ + b_u + b_i + p_u · q_i.

Trained with Adam on minibatches of ratings, L2 on the factors and biases a batch touches, early
stopping on a held-out slice of the ratings (the best epoch's parameters are kept).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from graft.recommend.config import RecommenderConfig

log = logging.getLogger(__name__)

EpochCallback = Callable[[dict[str, Any]], None]


@dataclass
class Factors:
    """A trained factorisation: every array indexed by the model's user / item positions."""

    global_mean: float
    user_factors: np.ndarray  # (users, k)
    user_bias: np.ndarray  # (users,)
    item_factors: np.ndarray  # (items, k)
    item_bias: np.ndarray  # (items,)
    history: list[dict[str, Any]] = field(default_factory=list)
    best_epoch: int = 0
    val_rmse: float = float("nan")

    def score(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Predicted ratings of (user position, item position) pairs."""
        dot = np.einsum("nk,nk->n", self.user_factors[users], self.item_factors[items])
        return (self.global_mean + self.user_bias[users] + self.item_bias[items] + dot).astype(np.float32)


def rmse(pred: np.ndarray, truth: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.asarray(pred, np.float64) - truth) ** 2))) if len(truth) else float("nan")


def validation_split(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Train / validation positions of ``n`` ratings (seeded)."""
    order = np.random.default_rng(seed).permutation(n)
    n_val = max(1, int(round(n * fraction))) if n > 1 else 0
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def train_factors(users: np.ndarray, items: np.ndarray, ratings: np.ndarray, n_users: int, n_items: int,
                  config: RecommenderConfig, on_epoch: EpochCallback | None = None) -> Factors:
    """Fit biased MF to ratings given as (user position, item position, rating) arrays.

    ``on_epoch`` gets ``{"epoch", "train_rmse", "val_rmse", "best"}`` after every epoch (the CLI's progress line).
    """
    import torch

    train, val = validation_split(len(ratings), config.val_fraction, config.seed)
    mu = float(ratings[train].mean())
    with torch.random.fork_rng(devices=[]):  # seeded init without touching the caller's RNG
        torch.manual_seed(config.seed)
        model = _make_model(n_users, n_items, config.factors)
    data = [torch.as_tensor(a) for a in (users.astype(np.int64), items.astype(np.int64), ratings.astype(np.float32))]
    optimiser = torch.optim.Adam(model.parameters(), lr=config.lr)
    generator = torch.Generator().manual_seed(config.seed)
    best: tuple[float, int, dict[str, torch.Tensor]] = (float("inf"), 0, {})
    history: list[dict[str, Any]] = []
    for epoch in range(1, config.epochs + 1):
        train_rmse = _epoch(model, optimiser, data, torch.as_tensor(train), mu, config, generator)
        val_rmse = _rmse_of(model, data, torch.as_tensor(val), mu)
        improved = len(val) == 0 or val_rmse < best[0] - 1e-5  # no val slice: keep the last
        if improved:
            best = (val_rmse, epoch, {k: v.detach().clone() for k, v in model.state_dict().items()})
        row = {"epoch": epoch, "train_rmse": train_rmse, "val_rmse": val_rmse, "best": improved}
        history.append(row)
        log.info("epoch %d: train RMSE %.4f, val RMSE %.4f%s", epoch, train_rmse, val_rmse, " (best)" if improved else "")
        if on_epoch is not None:
            on_epoch(row)
        if epoch - best[1] >= config.patience:
            break
    model.load_state_dict(best[2])
    return _factors_of(model, mu, history, best[1], best[0])


def _make_model(n_users: int, n_items: int, k: int) -> Any:
    """Embedding tables for the factors and biases (small random factors, zero biases)."""
    from torch import nn

    model = nn.Module()
    model.p, model.q = nn.Embedding(n_users, k), nn.Embedding(n_items, k)
    model.bu, model.bi = nn.Embedding(n_users, 1), nn.Embedding(n_items, 1)
    for table in (model.p, model.q):
        nn.init.normal_(table.weight, std=0.1)
    for table in (model.bu, model.bi):
        nn.init.zeros_(table.weight)
    return model


def _predict(model: Any, u: Any, i: Any, mu: float) -> tuple[Any, list[Any]]:
    p, q, bu, bi = model.p(u), model.q(i), model.bu(u).squeeze(1), model.bi(i).squeeze(1)
    return mu + bu + bi + (p * q).sum(1), [p, q, bu, bi]


def _epoch(model: Any, optimiser: Any, data: list[Any], train: Any, mu: float, config: RecommenderConfig,
           generator: Any) -> float:
    import torch

    users, items, ratings = data
    order = train[torch.randperm(len(train), generator=generator)]
    total = 0.0
    for start in range(0, len(order), config.batch_size):
        idx = order[start: start + config.batch_size]
        pred, parts = _predict(model, users[idx], items[idx], mu)
        err = ((pred - ratings[idx]) ** 2).mean()
        penalty = sum((t ** 2).sum() for t in parts) / len(idx)
        optimiser.zero_grad()
        (err + config.reg * penalty).backward()
        optimiser.step()
        total += float(err.detach()) * len(idx)
    return float(np.sqrt(total / max(len(order), 1)))


def _rmse_of(model: Any, data: list[Any], idx: Any, mu: float) -> float:
    import torch

    if len(idx) == 0:
        return float("nan")
    users, items, ratings = data
    with torch.no_grad():
        pred, _ = _predict(model, users[idx], items[idx], mu)
    return float(torch.sqrt(((pred - ratings[idx]) ** 2).mean()))


def _factors_of(model: Any, mu: float, history: list[dict[str, Any]], best_epoch: int, val_rmse: float) -> Factors:
    def arr(table: Any) -> np.ndarray:
        return table.weight.detach().cpu().numpy().astype(np.float32)

    return Factors(mu, arr(model.p), arr(model.bu)[:, 0].copy(), arr(model.q), arr(model.bi)[:, 0].copy(),
                   history, best_epoch, val_rmse)
