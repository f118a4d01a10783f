"""Ship: saved model directories with config, weights, model card and lineage."""

from graft.models.config import BackboneRef, ModelConfig
from graft.models.saved import SavedModel

__all__ = ["BackboneRef", "ModelConfig", "SavedModel"]
