"""First-order meta-learning of a small linear adapter + head over few-shot tasks (torch, CPU).

`MetaHead` meta-trains a linear adapter ``z = W x + b`` on N-way K-shot tasks sampled from a
labelled source collection, with Reptile (Nichol et al. 2018) or first-order MAML (Finn et al.
2017). Each task's head is initialised from the support prototypes in adapter space (as in
Proto-MAML, Triantafillou et al. 2020): ``logit_c = (2 mu_c . z - |mu_c|^2) / T``, i.e. minus the
squared distance to the prototype up to a per-example constant, so zero inner steps is exactly a
prototypical classifier in the adapted space, and each inner step fine-tunes adapter and head
together. Because the head is rebuilt per task, the meta-learned part is the adapter:
an initialisation from which a few gradient steps on K shots generalise.

``adapt(Xs, ys, steps)`` runs the same inner loop on new classes and returns a classifier.
"""

from __future__ import annotations

from typing import Any, Callable, Literal

import numpy as np
from sklearn.base import BaseEstimator

from graft.errors import UsageError, require
from graft.fewshot.episodes import check_episode_setup, sample_episode
from graft.fewshot.protonet import softmax

Algorithm = Literal["reptile", "fomaml"]


class AdaptedHead:
    """The classifier `MetaHead.adapt` returns: standardise, adapter, prototype-initialised head.

    Its arrays are plain numpy, so predicting needs no torch.
    """

    def __init__(
        self, classes: np.ndarray, mean: np.ndarray, scale: np.ndarray, params: dict[str, np.ndarray]
    ) -> None:
        self.classes_ = classes
        self.mean_ = mean
        self.scale_ = scale
        self.params_ = params

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, columns ordered as ``classes_``."""
        Z = (np.asarray(X, dtype=np.float64) - self.mean_) / self.scale_
        p = self.params_
        logits = (Z @ p["W"].T + p["b"]) @ p["head_w"].T + p["head_b"]
        return softmax(logits)

    def predict(self, X: Any) -> np.ndarray:
        """Predicted labels."""
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def score(self, X: Any, y: Any) -> float:
        """Accuracy on ``(X, y)``."""
        return float(np.mean(self.predict(X) == np.asarray(y)))


class _EpisodeLearner:
    """Adapter so `episodic_eval` can treat ``MetaHead.adapt`` as an unfitted classifier."""

    def __init__(self, meta: "MetaHead", steps: int | None) -> None:
        self.meta, self.steps = meta, steps

    def fit(self, X: Any, y: Any) -> "_EpisodeLearner":
        self.head_ = self.meta.adapt(X, y, steps=self.steps)
        return self

    def predict(self, X: Any) -> np.ndarray:
        return self.head_.predict(X)


def _torch() -> Any:
    return require("torch", "vision")


def _proto_head(torch: Any, Z: Any, codes: Any, n_classes: int, temperature: float) -> tuple[Any, Any]:
    """Head weights from prototypes: ``w_c = 2 mu_c / T``, ``b_c = -|mu_c|^2 / T``."""
    mu = torch.stack([Z[codes == c].mean(dim=0) for c in range(n_classes)])
    return 2 * mu / temperature, -(mu**2).sum(dim=1) / temperature


def _inner_loop(
    torch: Any, adapter: dict[str, Any], X: Any, codes: Any, n_classes: int, steps: int, lr: float, temperature: float
) -> dict[str, Any]:
    """SGD on the task's cross-entropy from the adapter's weights; returns the adapted parameters."""
    p = {k: v.detach().clone().requires_grad_(True) for k, v in adapter.items()}
    with torch.no_grad():
        head_w, head_b = _proto_head(torch, X @ p["W"].T + p["b"], codes, n_classes, temperature)
    p["head_w"], p["head_b"] = head_w.requires_grad_(True), head_b.requires_grad_(True)
    for _ in range(steps):
        loss = _loss(torch, p, X, codes)
        grads = torch.autograd.grad(loss, list(p.values()))
        with torch.no_grad():
            for v, g in zip(p.values(), grads):
                v -= lr * g
    return p


def _prototype_accuracy(
    torch: Any, adapter: dict[str, Any], Xs: Any, cs: Any, Xq: Any, cq: Any, n: int
) -> float:
    """Query accuracy of the zero-step head (nearest prototype in adapter space): the meta-training curve."""
    with torch.no_grad():
        Zs, Zq = Xs @ adapter["W"].T + adapter["b"], Xq @ adapter["W"].T + adapter["b"]
        w, b = _proto_head(torch, Zs, cs, n, 1.0)
        return float(((Zq @ w.T + b).argmax(dim=1) == cq).float().mean())


def _loss(torch: Any, p: dict[str, Any], X: Any, codes: Any) -> Any:
    logits = (X @ p["W"].T + p["b"]) @ p["head_w"].T + p["head_b"]
    return torch.nn.functional.cross_entropy(logits, codes)


class MetaHead(BaseEstimator):
    """Meta-learn a linear adapter for few-shot heads (Reptile or first-order MAML), then adapt.

    Args:
        algorithm: ``"reptile"`` (inner loop on support + query, move towards the adapted weights)
            or ``"fomaml"`` (inner loop on support, step along the query gradient at the adapted weights).
        n_way: classes per meta-training task.
        k_shot: support examples per class in a meta-training task.
        n_query: query examples per class in a meta-training task.
        embed_dim: adapter output size; ``None`` keeps the input size (identity start).
        meta_steps: outer iterations.
        meta_batch: tasks per outer iteration.
        inner_steps: SGD steps per task, and the default for `adapt`.
        inner_lr: inner-loop SGD learning rate.
        meta_lr: Reptile's interpolation step, or FOMAML's outer SGD learning rate.
        temperature: logit temperature of the prototype head; ``None``: the adapter size.
        seed: seed of the task draws and the adapter initialisation.

    Meta-learning pays when the source collection has many classes (dozens): with a handful,
    every task repeats the same classes and the adapter specialises to them, so expect about
    the accuracy of a prototypical classifier. ``history_`` holds, per outer step, the mean query
    accuracy of the zero-step (prototype) head on that step's training tasks.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> X = np.vstack([rng.normal(c, 1, size=(20, 8)) for c in range(6)])
        >>> y = np.repeat(np.arange(6), 20)
        >>> meta = MetaHead(n_way=3, k_shot=2, n_query=3, meta_steps=5).fit(X, y)
        >>> meta.adapt(X[:40:4], y[:40:4], steps=3).predict(X[:2]).shape
        (2,)
    """

    def __init__(
        self,
        algorithm: Algorithm = "reptile",
        n_way: int = 5,
        k_shot: int = 5,
        n_query: int = 10,
        embed_dim: int | None = None,
        meta_steps: int = 100,
        meta_batch: int = 4,
        inner_steps: int = 10,
        inner_lr: float = 0.1,
        meta_lr: float = 0.1,
        temperature: float | None = None,
        seed: int = 0,
    ) -> None:
        self.algorithm = algorithm
        self.n_way = n_way
        self.k_shot = k_shot
        self.n_query = n_query
        self.embed_dim = embed_dim
        self.meta_steps = meta_steps
        self.meta_batch = meta_batch
        self.inner_steps = inner_steps
        self.inner_lr = inner_lr
        self.meta_lr = meta_lr
        self.temperature = temperature
        self.seed = seed

    def fit(self, X: Any, y: Any) -> "MetaHead":
        """Meta-train the adapter on tasks drawn from the labelled collection ``(X, y)``."""
        if self.algorithm not in ("reptile", "fomaml"):
            raise UsageError(f"algorithm must be 'reptile' or 'fomaml', got {self.algorithm!r}")
        torch = _torch()
        X, y = np.asarray(X, dtype=np.float64), np.asarray(y)
        rows_by_class = check_episode_setup(y, self.n_way, self.k_shot, self.n_query, max(self.meta_steps, 1))
        # One scale for all features, not one per feature: per-feature scales fitted on the
        # meta-training classes would blow up pixels/dimensions that only new classes use.
        self.mean_ = X.mean(axis=0)
        self.scale_ = np.full(X.shape[1], float(X.std()) or 1.0)
        Z = torch.as_tensor((X - self.mean_) / self.scale_, dtype=torch.float32)
        rng = np.random.default_rng(self.seed)
        self.temperature_ = float(self.temperature or (self.embed_dim or X.shape[1]))
        adapter = self._init_adapter(torch, X.shape[1], rng)
        self.history_: list[float] = []
        for _ in range(self.meta_steps):
            draw = (rows_by_class, self.n_way, self.k_shot, self.n_query, rng)
            tasks = [sample_episode(*draw) for _ in range(self.meta_batch)]
            adapter = self._outer_step(torch, adapter, Z, y, tasks)
        self.adapter_ = {k: v.detach().numpy().astype(np.float64) for k, v in adapter.items()}
        return self

    def _init_adapter(self, torch: Any, d: int, rng: np.random.Generator) -> dict[str, Any]:
        k = self.embed_dim or d
        if k == d:
            W = np.eye(d)
        else:  # orthonormal rows (or columns): a norm-preserving random projection to start from
            q, _ = np.linalg.qr(rng.normal(size=(max(d, k), min(d, k))))
            W = q.T if k < d else q
        return {"W": torch.as_tensor(W, dtype=torch.float32), "b": torch.zeros(k)}

    def _outer_step(
        self, torch: Any, adapter: dict[str, Any], Z: Any, y: np.ndarray, tasks: list[Any]
    ) -> dict[str, Any]:
        """One Reptile or FOMAML update of the adapter from a batch of tasks."""
        update = {k: torch.zeros_like(v) for k, v in adapter.items()}
        accuracies = []
        for support, query in tasks:
            Xs, cs = _task_tensors(torch, Z, y, support)
            Xq, cq = _task_tensors(torch, Z, y, query, like=y[support])
            accuracies.append(_prototype_accuracy(torch, adapter, Xs, cs, Xq, cq, self.n_way))
            if self.algorithm == "reptile":
                both, codes = torch.cat([Xs, Xq]), torch.cat([cs, cq])
                p = self._inner(torch, adapter, both, codes, self.n_way, self.inner_steps)
                for k in update:
                    update[k] += p[k].detach() - adapter[k]
            else:
                p = self._inner(torch, adapter, Xs, cs, self.n_way, self.inner_steps)
                grads = torch.autograd.grad(_loss(torch, p, Xq, cq), [p["W"], p["b"]])
                for k, g in zip(("W", "b"), grads):
                    update[k] -= g
        self.history_.append(float(np.mean(accuracies)))
        return {k: adapter[k] + self.meta_lr * update[k] / len(tasks) for k in adapter}

    def _inner(self, torch: Any, adapter: dict[str, Any], X: Any, codes: Any, n: int, steps: int) -> dict[str, Any]:
        return _inner_loop(torch, adapter, X, codes, n, steps, self.inner_lr, self.temperature_)

    def adapt(self, Xs: Any, ys: Any, steps: int | None = None) -> AdaptedHead:
        """Fit a head for the classes of ``(Xs, ys)`` from the meta-learned adapter.

        Args:
            Xs: support embeddings of the new task.
            ys: their labels (any number of classes, at least two).
            steps: inner SGD steps; ``None``: ``inner_steps``; 0: a prototypical classifier in
                adapter space.

        Returns:
            A fitted classifier with ``predict``, ``predict_proba`` and ``score``.
        """
        if not hasattr(self, "adapter_"):
            raise UsageError("MetaHead.adapt needs a meta-trained head: call fit(X, y) first")
        torch = _torch()
        Xs, ys = np.asarray(Xs, dtype=np.float64), np.asarray(ys)
        if Xs.ndim != 2 or Xs.shape[1] != len(self.mean_) or len(Xs) != len(ys):
            raise UsageError(
                f"support must be (n, {len(self.mean_)}) with one label per row; got {Xs.shape}, {ys.shape}"
            )
        classes, codes = np.unique(ys, return_inverse=True)
        if len(classes) < 2:
            raise UsageError("a few-shot task needs at least two classes in the support set")
        Z = torch.as_tensor((Xs - self.mean_) / self.scale_, dtype=torch.float32)
        adapter = {k: torch.as_tensor(v, dtype=torch.float32) for k, v in self.adapter_.items()}
        n_steps = self.inner_steps if steps is None else steps
        p = self._inner(torch, adapter, Z, torch.as_tensor(codes), len(classes), n_steps)
        params = {k: v.detach().numpy().astype(np.float64) for k, v in p.items()}
        return AdaptedHead(classes, self.mean_, self.scale_, params)

    def as_factory(self, steps: int | None = None) -> Callable[[], _EpisodeLearner]:
        """A ``classifier_factory`` for `episodic_eval`: each episode adapts from the meta-learned start.

        Example:
            >>> # episodic_eval(X_new, y_new, classifier_factory=meta.as_factory(steps=10))
        """
        return lambda: _EpisodeLearner(self, steps)


def _task_tensors(
    torch: Any, Z: Any, y: np.ndarray, rows: np.ndarray, like: np.ndarray | None = None
) -> tuple[Any, Any]:
    """Features and class codes 0..n_way-1 of a task's rows (codes follow ``like``'s classes)."""
    classes = np.unique(y[rows] if like is None else like)
    codes = np.searchsorted(classes, y[rows])
    return Z[torch.as_tensor(rows)], torch.as_tensor(codes)
