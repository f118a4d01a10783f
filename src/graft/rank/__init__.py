"""Choose: score how well frozen features of a pretrained model will transfer to a labelled task.

Closed-form scores (``logme``, ``leep``, ``nce``, ``hscore``, ``regularized_hscore``), two
baselines that actually fit something (``knn_loo_accuracy``, ``linear_probe_cv_accuracy``), the
:data:`SCORES` registry that says what each needs, and ``weighted_kendall_tau`` to judge a ranker.
All are pure functions on arrays, computed in float64.

Example:
    >>> import numpy as np
    >>> from graft.rank import SCORES
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 3, 300)
    >>> feats = np.eye(3)[y] + 0.3 * rng.normal(size=(300, 3))
    >>> SCORES.get("logme").fn(feats, y) > SCORES.get("logme").fn(rng.normal(size=(300, 3)), y)
    True
"""

from graft.rank.baselines import knn_loo_accuracy, linear_probe_cv_accuracy
from graft.rank.evaluation import weighted_kendall_tau
from graft.rank.logme import logme, logme_reference
from graft.rank.registry import SCORES, ScoreInfo, register_score
from graft.rank.scores import hscore, leep, nce, regularized_hscore

__all__ = [
    "SCORES",
    "ScoreInfo",
    "hscore",
    "knn_loo_accuracy",
    "leep",
    "linear_probe_cv_accuracy",
    "logme",
    "logme_reference",
    "nce",
    "register_score",
    "regularized_hscore",
    "weighted_kendall_tau",
]
