"""Few-shot classification on embeddings: prototypes, episodic evaluation, a meta-learned head.

Example:
    >>> from graft.fewshot import PrototypicalClassifier, episodic_eval
    >>> # episodic_eval(X, y, n_way=5, k_shot=1, classifier_factory=PrototypicalClassifier)

`MetaHead` and `fit_setfit` (SetFit-style contrastive tuning of a sentence encoder) need torch,
imported only when they are used; `fewshot_eval` runs episodes for several learners on a dataset.
"""

from graft.fewshot.driver import fewshot_eval
from graft.fewshot.episodes import EpisodeResult, episodic_eval, mean_ci95, sample_episode
from graft.fewshot.protonet import PrototypicalClassifier
from graft.fewshot.reptile import AdaptedHead, MetaHead
from graft.fewshot.setfit import SetFitConfig, fit_setfit

__all__ = [
    "AdaptedHead",
    "EpisodeResult",
    "MetaHead",
    "PrototypicalClassifier",
    "SetFitConfig",
    "episodic_eval",
    "fewshot_eval",
    "fit_setfit",
    "mean_ci95",
    "sample_episode",
]
