"""Domain adaptation on embeddings: align, re-weight or self-train, and choose without target labels.

Example:
    >>> from graft.adapt import create_adapter
    >>> model = create_adapter("coral")  # then model.fit(Xs, ys, Xt).predict(X_target)

``adapt(source, target, backbone, method)`` runs the whole job on datasets (embed, adapt, save);
the deep methods (``dann``, ``deep-coral``, ``mmd``) live in `graft.adapt.deep` (imports torch).
"""

from graft.adapt.alignment import CORAL, SubspaceAlignment, coral_map
from graft.adapt.base import DomainAdapter, SourceOnly, check_domains
from graft.adapt.criteria import cluster_consistency, dev_risk, prediction_entropy
from graft.adapt.driver import AdaptConfig, adapt, export_head
from graft.adapt.density_ratio import (
    domain_classifier_weights,
    effective_sample_size,
    kliep_weights,
    kmm_weights,
)
from graft.adapt.evaluate import AdapterReport, compare_adapters, format_reports
from graft.adapt.registry import create_adapter, from_config, list_adapters, register_adapter, to_config
from graft.adapt.selection import AutoAdapter, CandidateScore, SelectionResult, default_candidates, select
from graft.adapt.selftrain import SelfTraining
from graft.adapt.weighting import KLIEP, KMM, ImportanceWeighting

__all__ = [
    "AdaptConfig",
    "AdapterReport",
    "AutoAdapter",
    "CORAL",
    "CandidateScore",
    "DomainAdapter",
    "ImportanceWeighting",
    "KLIEP",
    "KMM",
    "SelectionResult",
    "SelfTraining",
    "SourceOnly",
    "SubspaceAlignment",
    "adapt",
    "check_domains",
    "cluster_consistency",
    "compare_adapters",
    "coral_map",
    "create_adapter",
    "default_candidates",
    "dev_risk",
    "domain_classifier_weights",
    "effective_sample_size",
    "export_head",
    "format_reports",
    "from_config",
    "kliep_weights",
    "kmm_weights",
    "list_adapters",
    "prediction_entropy",
    "register_adapter",
    "select",
    "to_config",
]
