"""``fewshot_eval``: N-way K-shot episodes on a dataset's embeddings, several few-shot learners side by side.

Learners, each refitted from the K support shots of every episode:

- ``protonet``: nearest class mean of L2-normalised embeddings (`PrototypicalClassifier`);
- ``probe``: logistic regression on L2-normalised embeddings (C=10), the "good embedding is all
  you need" baseline (Tian et al. 2020);
- ``meta``: a `MetaHead` (Reptile by default) meta-trained on *other* classes, adapted per episode.

When ``meta`` is among the learners, the classes are split once (seeded): episodes are drawn only
from the held-out classes, for every learner, and meta-training sees only the rest — so the
numbers compare learners on classes none of them trained on.

Example:
    >>> report = fewshot_eval("data/fashion", "mobilenet_v2", n_way=5, k_shot=5, methods=("protonet", "meta"))  # doctest: +SKIP
    >>> report["methods"]["protonet"]["mean"], report["methods"]["protonet"]["ci95"]                        # doctest: +SKIP
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from graft.errors import UsageError
from graft.fewshot.episodes import check_episode_setup, episodic_eval

LEARNERS = ("protonet", "probe", "meta")


def probe_factory(C: float = 10.0) -> Callable[[], Any]:
    """Logistic regression on L2-normalised embeddings, a fresh one per episode."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import Normalizer

    return lambda: make_pipeline(Normalizer(), LogisticRegression(C=C, max_iter=1000))


def protonet_factory() -> Callable[[], Any]:
    from graft.fewshot.protonet import PrototypicalClassifier

    return lambda: PrototypicalClassifier(normalize=True)


def split_classes(classes: np.ndarray, n_eval: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A seeded split of the class ids into (evaluation, meta-training) classes."""
    order = np.random.default_rng(seed).permutation(classes)
    return np.sort(order[:n_eval]), np.sort(order[n_eval:])


def meta_factory(X: np.ndarray, y: np.ndarray, n_way: int, k_shot: int, seed: int,
                 meta_steps: int = 200) -> tuple[Callable[[], Any], dict[str, Any]]:
    """A `MetaHead` meta-trained on ``(X, y)`` and the factory that adapts it per episode."""
    from graft.fewshot.reptile import MetaHead

    Z = X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)
    n_train_way = min(n_way, len(np.unique(y)))
    counts = np.bincount(np.unique(y, return_inverse=True)[1])
    n_query = int(max(1, min(10, counts.min() - k_shot)))
    started = time.perf_counter()
    meta = MetaHead(n_way=n_train_way, k_shot=k_shot, n_query=n_query, meta_steps=meta_steps, seed=seed).fit(Z, y)
    info = {"meta_steps": meta_steps, "meta_train_seconds": round(time.perf_counter() - started, 2),
            "zero_step_train_accuracy": [round(h, 4) for h in meta.history_[-5:]]}

    class _Normalised:
        def __init__(self) -> None:
            self.inner = meta.as_factory()()

        def fit(self, Xs: Any, ys: Any) -> "_Normalised":
            Xs = np.asarray(Xs, dtype=np.float64)
            self.inner.fit(Xs / np.maximum(np.linalg.norm(Xs, axis=1, keepdims=True), 1e-12), ys)
            return self

        def predict(self, Xq: Any) -> np.ndarray:
            Xq = np.asarray(Xq, dtype=np.float64)
            return self.inner.predict(Xq / np.maximum(np.linalg.norm(Xq, axis=1, keepdims=True), 1e-12))

    return _Normalised, info


def fewshot_eval(
    data: Any,
    backbone: str | None = None,
    *,
    n_way: int = 5,
    k_shot: int = 5,
    n_query: int = 15,
    episodes: int = 100,
    methods: Sequence[str] = ("protonet", "probe"),
    holdout: int | None = None,
    meta_steps: int = 200,
    seed: int = 0,
    image_size: int | None = None,
    weights: str | Path | None = None,
    allow_download: bool = False,
    progress: bool = False,
    **read_options: Any,
) -> dict[str, Any]:
    """Mean episode accuracy with a 95% interval for each few-shot learner on ``data``.

    Args:
        data: labelled folder / table / `Dataset` (every split is used).
        backbone: zoo name (default ``mobilenet_v2``).
        n_way, k_shot, n_query, episodes: the episode design.
        methods: any of ``protonet``, ``probe``, ``meta``.
        holdout: classes held out of meta-training and used for episodes (``meta`` only; default
            ``max(n_way, n_classes // 2)``).
        meta_steps: outer steps of meta-training.
        seed: seed of the class split, meta-training and episodes (all learners see the same episodes).
        **read_options: for :func:`graft.data.read` (``label_column``, ``text_column``, ...).

    Returns:
        JSON-ready: per method ``mean``, ``ci95``, ``episodes``; the classes episodes came from.
    """
    from graft.api import DEFAULT_BACKBONE, as_dataset, embed

    unknown = [m for m in methods if m not in LEARNERS]
    if unknown or not methods:
        raise UsageError(f"unknown few-shot method(s) {unknown}; choose from {', '.join(LEARNERS)}")
    check_settings(n_way, k_shot, n_query, episodes, holdout, meta_steps, seed, image_size)
    ds = as_dataset(data, **read_options)
    from graft.data.regression import require_classes

    require_classes(ds, "graft fewshot (episodes of N classes)", "for a number use graft probe (a ridge probe)")
    ds = ds.select(ds.labels >= 0)
    y = ds.labels
    eval_ids, train_ids = _classes_for(y, n_way, methods, holdout, seed)
    in_eval = np.isin(y, eval_ids)
    check_episode_setup(y[in_eval], n_way, k_shot, n_query, episodes, ds.classes)  # fail before embedding
    backbone = backbone or DEFAULT_BACKBONE
    X = embed(ds, backbone, weights=weights, image_size=image_size, allow_download=allow_download, progress=progress)
    factories: dict[str, Callable[[], Any]] = {}
    report: dict[str, Any] = {"data": ds.source, "backbone": backbone, "n_way": n_way, "k_shot": k_shot,
                              "n_query": n_query, "episodes": episodes, "methods": {},
                              "eval_classes": [ds.classes[i] for i in eval_ids]}
    for name in methods:
        if name == "protonet":
            factories[name] = protonet_factory()
        elif name == "probe":
            factories[name] = probe_factory()
        else:
            factories[name], report["meta"] = meta_factory(X[~in_eval], y[~in_eval], n_way, k_shot, seed, meta_steps)
            report["meta_train_classes"] = [ds.classes[i] for i in train_ids]
    for name, factory in factories.items():
        started = time.perf_counter()
        result = episodic_eval(X[in_eval], y[in_eval], n_way, k_shot, n_query, episodes, factory, seed)
        report["methods"][name] = {**result.to_dict(), "seconds": round(time.perf_counter() - started, 2)}
    return report


def check_settings(n_way: int, k_shot: int, n_query: int, episodes: int, holdout: int | None, meta_steps: int,
                   seed: int, image_size: int | None) -> None:
    """Every numeric setting in its range, before any data is read."""
    from graft._config import check_value
    from graft.api import backbone_options
    from graft.fewshot.episodes import check_episode_design

    check_episode_design(n_way, k_shot, n_query, episodes)
    check_value("holdout", holdout, "[2, 100000]")
    check_value("meta_steps", meta_steps, "[1, 10000000]")
    check_value("seed", seed, "[0, 4294967295]")
    backbone_options(image_size)


def _classes_for(y: np.ndarray, n_way: int, methods: Sequence[str], holdout: int | None,
                 seed: int) -> tuple[np.ndarray, np.ndarray]:
    classes = np.unique(y)
    if "meta" not in methods:
        return classes, np.array([], dtype=classes.dtype)
    n_eval = holdout or max(n_way, len(classes) // 2)
    if n_eval < n_way or len(classes) - n_eval < 2:
        raise UsageError(f"meta-learning needs classes of its own: {len(classes)} classes cannot give {n_way}-way "
                         f"episodes on {max(n_eval, n_way)} held-out classes and meta-train on at least 2 others; "
                         "lower --n-way or drop meta")
    return split_classes(classes, n_eval, seed)
