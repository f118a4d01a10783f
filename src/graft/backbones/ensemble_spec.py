"""Names, spec and weights identity of ``"ensemble:a+b"`` backbones (``graft.backbones.ensemble``),
without torch: listing backbones and computing cache keys import no network code."""

from __future__ import annotations

import hashlib
from typing import Any, Sequence

from graft.backbones.spec import BackboneSpec
from graft.errors import UsageError

PREFIX = "ensemble:"


def is_ensemble(name: Any) -> bool:
    return isinstance(name, str) and name.startswith(PREFIX)


def ensemble_name(members: Sequence[str]) -> str:
    return PREFIX + "+".join(members)


def members_of(name: str) -> list[str]:
    """The member names of ``"ensemble:a+b"``; a clear error for fewer than two or a repeated one."""
    members = [m for m in name[len(PREFIX):].split("+") if m]
    if len(members) < 2 or len(set(members)) != len(members):
        raise UsageError(f"{name!r}: an ensemble names two or more different backbones, e.g. "
                         "ensemble:efficientnet_lite1+efficientnet_lite0")
    return members


def ensemble_spec(name: str) -> BackboneSpec:
    """The ensemble's spec from its members' (built without building any network)."""
    from graft.backbones.registry import get_spec, is_registered

    members = members_of(name)
    missing = [m for m in members if not is_registered(m)]
    if missing:
        raise UsageError(f"{name!r}: {', '.join(missing)} is not a zoo backbone (see `graft models`); an ensemble "
                         "is made of zoo backbones of one modality")
    specs = [get_spec(m) for m in members]
    modalities = {s.modality for s in specs}
    if len(modalities) > 1 or modalities - {"image", "text"}:
        raise UsageError(f"{name!r}: an ensemble is made of image backbones or of text backbones, not of "
                         + " and ".join(f"{s.modality} ({s.name})" for s in specs))
    return BackboneSpec(name=name, modality=specs[0].modality, architecture=name,
                        feature_dim=sum(s.feature_dim for s in specs),
                        input=specs[0].input, license=" + ".join(dict.fromkeys(s.license for s in specs)),
                        groups=tuple(f"{m}/{g}" for m, s in zip(members, specs) for g in s.groups),
                        description="the features of " + ", ".join(members) + " side by side")


def weights_identity(name: str) -> str:
    """What identifies an ensemble's weights: its members' identities, in order."""
    from graft.backbones.registry import weights_identity as member_identity

    return hashlib.sha256("+".join(f"{m}={member_identity(m)}" for m in members_of(name)).encode()).hexdigest()
