"""N-way K-shot episodic evaluation: mean query accuracy over random episodes, with a 95% interval.

Each episode draws ``n_way`` classes, then ``k_shot`` support and ``n_query`` query examples per
class, without overlap; a fresh classifier is fitted on the support and scored on the queries.
The interval is the usual few-shot one, ``mean ± 1.96 * sd / sqrt(episodes)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from graft.errors import UsageError
from graft.fewshot.protonet import PrototypicalClassifier

ClassifierFactory = Callable[[], Any]


@dataclass
class EpisodeResult:
    """Mean query accuracy over episodes, its 95% interval, and every episode's accuracy."""

    mean: float
    ci95: tuple[float, float]
    per_episode: np.ndarray = field(repr=False)
    n_way: int = 0
    k_shot: int = 0
    n_query: int = 0

    @property
    def half_width(self) -> float:
        """Half the width of the 95% interval."""
        return (self.ci95[1] - self.ci95[0]) / 2

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "mean": self.mean,
            "ci95": list(self.ci95),
            "episodes": len(self.per_episode),
            "n_way": self.n_way,
            "k_shot": self.k_shot,
            "n_query": self.n_query,
        }

    def __str__(self) -> str:
        return (
            f"{self.mean:.3f} ± {self.half_width:.3f} (95% CI, {len(self.per_episode)} episodes, "
            f"{self.n_way}-way {self.k_shot}-shot)"
        )


def mean_ci95(values: np.ndarray) -> tuple[float, tuple[float, float]]:
    """Mean and normal-approximation 95% interval; a single value gives a zero-width interval.

    Example:
        >>> mean_ci95(np.array([0.5, 0.5]))
        (0.5, (0.5, 0.5))
    """
    mean = float(np.mean(values))
    half = 1.96 * float(np.std(values, ddof=1)) / np.sqrt(len(values)) if len(values) > 1 else 0.0
    return mean, (float(mean - half), float(mean + half))


EPISODE_RANGES = {"n_way": "[2, 1000]", "k_shot": "[1, 10000]", "n_query": "[1, 10000]", "episodes": "[1, 1000000]"}


def check_episode_design(n_way: int, k_shot: int, n_query: int, episodes: int) -> None:
    """The episode design's numbers in their ranges (no data needed: run it before reading any)."""
    from graft._config import check_value

    for name, value in {"n_way": n_way, "k_shot": k_shot, "n_query": n_query, "episodes": episodes}.items():
        check_value(name, value, EPISODE_RANGES[name])


def check_episode_setup(y: np.ndarray, n_way: int, k_shot: int, n_query: int, episodes: int,
                        class_names: Sequence[str] | None = None) -> dict[Any, np.ndarray]:
    """Rows of each class, after checking that every class can fill an episode.

    ``class_names[label]`` names a class in messages (otherwise the label value itself).
    """
    check_episode_design(n_way, k_shot, n_query, episodes)
    classes, counts = np.unique(y, return_counts=True)
    if len(classes) < n_way:
        raise UsageError(f"{n_way}-way episodes need {n_way} classes; the data has {len(classes)}")
    short = [(c, n) for c, n in zip(classes, counts) if n < k_shot + n_query]
    if short:
        named = ", ".join(f"class {_class_name(c, class_names)!r} has {int(n)}" for c, n in short[:5])
        raise UsageError(
            f"{named} example(s), but an episode needs k_shot + n_query = {k_shot + n_query} per class; "
            "lower k_shot or n_query, or drop the small classes"
        )
    return {c: np.flatnonzero(y == c) for c in classes}


def _class_name(label: Any, class_names: Sequence[str] | None) -> Any:
    """What a person calls a class: its name, else the plain Python value (never ``np.int64(0)``)."""
    if class_names is not None and 0 <= int(label) < len(class_names):
        return class_names[int(label)]
    return label.item() if hasattr(label, "item") else label


def sample_episode(
    rows_by_class: dict[Any, np.ndarray], n_way: int, k_shot: int, n_query: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Support and query row indices for one episode (disjoint, ``k_shot``/``n_query`` per class).

    Example:
        >>> rows = {0: np.arange(5), 1: np.arange(5, 10)}
        >>> s, q = sample_episode(rows, 2, 1, 2, np.random.default_rng(0))
        >>> len(s), len(q), len(set(s) & set(q))
        (2, 4, 0)
    """
    classes = list(rows_by_class)
    chosen = rng.choice(len(classes), size=n_way, replace=False)
    support, query = [], []
    for i in chosen:
        picked = rng.choice(rows_by_class[classes[i]], size=k_shot + n_query, replace=False)
        support.append(picked[:k_shot])
        query.append(picked[k_shot:])
    return np.concatenate(support), np.concatenate(query)


def episodic_eval(
    X: Any,
    y: Any,
    n_way: int = 5,
    k_shot: int = 1,
    n_query: int = 15,
    episodes: int = 100,
    classifier_factory: ClassifierFactory | None = None,
    seed: int = 0,
) -> EpisodeResult:
    """Mean N-way K-shot query accuracy of a classifier over random episodes, with a 95% interval.

    Args:
        X: embeddings, shape (n, d).
        y: class labels, shape (n,).
        n_way: classes per episode.
        k_shot: support examples per class.
        n_query: query examples per class.
        episodes: number of episodes.
        classifier_factory: returns a fresh unfitted classifier with ``fit``/``predict``;
            default `PrototypicalClassifier`.
        seed: seed of the episode draws.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> X = np.vstack([rng.normal(3 * c, 1, size=(20, 4)) for c in range(6)])
        >>> y = np.repeat(np.arange(6), 20)
        >>> episodic_eval(X, y, n_way=5, k_shot=1, n_query=5, episodes=10).mean > 0.8
        True
    """
    X, y = np.asarray(X, dtype=np.float64), np.asarray(y)
    if X.ndim != 2 or len(X) != len(y):
        raise UsageError(f"X must be (n, d) with one label per row; got X {X.shape}, y {y.shape}")
    rows_by_class = check_episode_setup(y, n_way, k_shot, n_query, episodes)
    factory = classifier_factory or PrototypicalClassifier
    rng = np.random.default_rng(seed)
    accuracies = np.empty(episodes)
    for e in range(episodes):
        support, query = sample_episode(rows_by_class, n_way, k_shot, n_query, rng)
        clf = factory().fit(X[support], y[support])
        accuracies[e] = np.mean(clf.predict(X[query]) == y[query])
    mean, ci = mean_ci95(accuracies)
    return EpisodeResult(mean, ci, accuracies, n_way, k_shot, n_query)
