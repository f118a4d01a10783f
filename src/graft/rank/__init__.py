"""Choose: score how well frozen features of a pretrained model will transfer to a labelled task.

Closed-form scores (``logme``, ``leep``, ``nce``, ``hscore``, ``regularized_hscore``), two
baselines that actually fit something (``knn_loo_accuracy``, ``linear_probe_cv_accuracy``), the
:data:`SCORES` registry that says what each needs, and ``weighted_kendall_tau`` to judge a ranker.
All are pure functions on arrays, computed in float64. :func:`rank_backbones` runs them over the
zoo on a sample of a labelled dataset and returns a ranked :class:`RankResult`.

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
from graft.rank.driver import DEFAULT_SCORES, RankResult, RankRow, rank_backbones, stratified_sample
from graft.rank.evaluation import weighted_kendall_tau
from graft.rank.logme import logme, logme_reference
from graft.rank.registry import SCORES, ScoreInfo, register_score
from graft.rank.scores import hscore, leep, nce, regularized_hscore

__all__ = [
    "DEFAULT_SCORES",
    "RankResult",
    "RankRow",
    "SCORES",
    "ScoreInfo",
    "hscore",
    "knn_loo_accuracy",
    "leep",
    "linear_probe_cv_accuracy",
    "logme",
    "logme_reference",
    "nce",
    "rank_backbones",
    "register_score",
    "regularized_hscore",
    "stratified_sample",
    "weighted_kendall_tau",
]
