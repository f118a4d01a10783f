"""Few-shot classification on embeddings: prototypes, episodic evaluation, a meta-learned head.

Example:
    >>> from graft.fewshot import PrototypicalClassifier, episodic_eval
    >>> # episodic_eval(X, y, n_way=5, k_shot=1, classifier_factory=PrototypicalClassifier)

`MetaHead` needs torch, imported only when it is used.
"""

from graft.fewshot.episodes import EpisodeResult, episodic_eval, mean_ci95, sample_episode
from graft.fewshot.protonet import PrototypicalClassifier
from graft.fewshot.reptile import AdaptedHead, MetaHead

__all__ = [
    "AdaptedHead",
    "EpisodeResult",
    "MetaHead",
    "PrototypicalClassifier",
    "episodic_eval",
    "mean_ci95",
    "sample_episode",
]
