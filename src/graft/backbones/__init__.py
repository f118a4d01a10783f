"""The backbone zoo: one interface for image, text and audio encoders, one registry, one factory."""

from graft.backbones.registry import (
    backbone_key,
    create_backbone,
    get_spec,
    is_registered,
    list_backbones,
    register_backbone,
    register_resolver,
)
from graft.backbones.spec import BackboneSpec, InputSpec, WeightSource

__all__ = [
    "BackboneSpec",
    "InputSpec",
    "WeightSource",
    "backbone_key",
    "create_backbone",
    "get_spec",
    "is_registered",
    "list_backbones",
    "register_backbone",
    "register_resolver",
]
