"""graft: transfer learning from pretrained models, the whole way.

Choose (rank backbones on your data), transfer (probe, fine-tune), adapt, prove (verify against
baselines) and ship (saved models with lineage and a model card).

Example:
    >>> import graft
    >>> graft.list_backbones("efficientnet*")
    ['efficientnet_lite0', 'efficientnet_lite1', 'efficientnet_lite2']

Heavy dependencies (torch, timm, transformers) are imported only when a function needs them.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name → "module:attribute"; resolved on first access (PEP 562)
_LAZY = {
    "create_backbone": "graft.backbones:create_backbone",
    "list_backbones": "graft.backbones:list_backbones",
    "register_backbone": "graft.backbones:register_backbone",
    "BackboneSpec": "graft.backbones:BackboneSpec",
    "InputSpec": "graft.backbones:InputSpec",
    "read": "graft.data:read",
    "from_arrays": "graft.data:from_arrays",
    "from_frame": "graft.data:from_frame",
    "Dataset": "graft.data:Dataset",
    "list_datasets": "graft.data:list_datasets",
    "make_dataset": "graft.data:make_dataset",
    "embed": "graft.api:embed",
    "probe": "graft.api:probe",
    "evaluate": "graft.api:evaluate",
    "predict": "graft.api:predict",
    "load": "graft.api:load",
    "load_embeddings": "graft.api:load_embeddings",
    "lineage": "graft.models.lineage:lineage_chain",
    "FeatureStore": "graft.features.store:FeatureStore",
    "ProbeConfig": "graft.heads.probe:ProbeConfig",
    "TransferClassifier": "graft.heads.classifier:TransferClassifier",
    "TransferRegressor": "graft.heads.regressor:TransferRegressor",
    "RidgeConfig": "graft.heads.regression:RidgeConfig",
    "MultiLayerRidgeConfig": "graft.heads.regression_multilayer:MultiLayerRidgeConfig",
    "SavedModel": "graft.models:SavedModel",
    "finetune": "graft.train.finetune:finetune",
    "finetune_multitask": "graft.train.multitask:finetune_multitask",
    "fit": "graft.autofit:fit",
    "FitConfig": "graft.autofit:FitConfig",
    "find_lr": "graft.train.finetune:find_lr",
    "TrainConfig": "graft.train.config:TrainConfig",
    "demo": "graft.api:demo",
    "rank_backbones": "graft.rank.driver:rank_backbones",
    "dataset_shift": "graft.shift.driver:dataset_shift",
    "verify_transfer": "graft.verify:verify",
    "Verdict": "graft.verify:Verdict",
    "RankResult": "graft.rank.driver:RankResult",
    "ShiftResult": "graft.shift.driver:ShiftResult",
    "adapt": "graft.adapt.driver:adapt",
    "check_drift": "graft.drift.detect:check_drift",
    "readapt": "graft.drift.readapt:readapt",
    "cluster_dataset": "graft.cluster.driver:cluster_dataset",
    "export_model": "graft.export.driver:export_model",
    "ExportedModel": "graft.export.runtime:ExportedModel",
    "serve_models": "graft.serve.server:serve",
    "create_app": "graft.serve.app:create_app",
    "report": "graft.report:report",
    "transfer_table": "graft.tabular:transfer_table",
    "fit_recommender": "graft.recommend.fit:fit",
    "RecommenderConfig": "graft.recommend.config:RecommenderConfig",
}

__all__ = sorted(_LAZY) + ["__version__"]


def __getattr__(name: str) -> Any:
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'graft' has no attribute {name!r}")
    module, _, attr = target.partition(":")
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
