"""The table of transferability scores: what each needs as input and which direction is better.

The driver (``graft rank``) reads ``needs`` to decide what to compute per backbone: features from
``forward_features``, or the source head's probabilities / predicted labels.

Example:
    >>> info = SCORES.get("logme")
    >>> info.needs, info.higher_is_better
    ('features', True)
    >>> SCORES.names("*hscore")
    ['hscore', 'regularized_hscore']
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Literal

from graft._registry import Registry
from graft.rank.baselines import knn_loo_accuracy, linear_probe_cv_accuracy
from graft.rank.logme import logme
from graft.rank.scores import hscore, leep, nce, regularized_hscore

Needs = Literal["features", "source_probs", "source_labels"]


@dataclass(frozen=True)
class ScoreInfo:
    """One registered score.

    Attributes:
        name: registry key, e.g. "logme".
        fn: ``fn(inputs, labels) -> float`` where ``inputs`` is what ``needs`` names.
        needs: "features" (n, d), "source_probs" (n, Z) softmax of the source head, or
            "source_labels" (n,) argmax of the source head.
        higher_is_better: direction of the score.
        description: one line for tables and ``--help``.
    """

    name: str
    fn: Callable[[Any, Any], float]
    needs: Needs
    higher_is_better: bool
    description: str


SCORES: Registry[ScoreInfo] = Registry("transferability score")


def register_score(info: ScoreInfo, *, overwrite: bool = False) -> ScoreInfo:
    """Add a score to :data:`SCORES` under ``info.name``."""
    SCORES.add(info.name, info, overwrite=overwrite)
    return info


for _info in (
    ScoreInfo("logme", logme, "features", True, "LogME: Bayesian linear-model evidence per sample"),
    ScoreInfo("leep", leep, "source_probs", True,
              "LEEP: log expected empirical prediction via the source head"),
    ScoreInfo("nce", nce, "source_labels", True, "NCE: negative conditional entropy H(Y | source label)"),
    ScoreInfo("hscore", hscore, "features", True, "H-score: class-mean variance over feature variance"),
    ScoreInfo("regularized_hscore", regularized_hscore, "features", True,
              "H-score with a Ledoit-Wolf shrunk covariance (stable when d ~ n)"),
    ScoreInfo("knn", knn_loo_accuracy, "features", True, "leave-one-out 5-NN accuracy (cosine)"),
    ScoreInfo("linear", linear_probe_cv_accuracy, "features", True,
              "5-fold cross-validated logistic-regression probe accuracy"),
):
    register_score(_info)
del _info
