"""Tiny ``test_*`` backbones (random init, seeded) so most tests run in seconds.

They are real backbones: preprocessing, named groups, pooling and (for the image one) a source
head, so every code path written against the interface can be exercised without packaged weights.
"""

from __future__ import annotations

import contextlib
import zlib
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import torch
from torch import nn

from graft.backbones.base import Backbone, LayerGroup
from graft.backbones.spec import BackboneSpec
from graft.backbones.vision import SequentialImageBackbone
from graft.backbones.weights import load_into, load_state_dict, sha256_file


@contextlib.contextmanager
def _seeded(seed: int, random_init: bool = False) -> Iterator[None]:
    """"Pretrained" test weights come from ``seed``; random init (the scratch baseline) must differ.
    The caller's global RNG state is left as it was."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed + (1_000_003 if random_init else 0))
        yield


def _finish(backbone: Backbone, weights: Path | None, random_init: bool, tag: str) -> Backbone:
    if weights is not None:
        load_into(backbone, load_state_dict(weights), str(weights), strict=False)
        backbone.weights_sha256 = sha256_file(weights)
    else:
        backbone.weights_sha256 = "random" if random_init else tag
    return backbone.eval()


def build_test_cnn(spec: BackboneSpec, weights: Path | None, allow_download: bool,
                   random_init: bool = False, image_size: int | None = None, seed: int = 0, **_: Any) -> Backbone:
    if image_size is not None:
        spec = spec.with_input(image_size=int(image_size))
    with _seeded(seed, random_init):
        stages = [
            ("stem", nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.BatchNorm2d(8), nn.ReLU())),
            ("stage1", nn.Sequential(nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.BatchNorm2d(16), nn.ReLU())),
            ("stage2", nn.Sequential(nn.Conv2d(16, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU())),
        ]
        # LayerNorm keeps the random features at unit scale, like a pretrained network's
        pooling = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(1), nn.LayerNorm(16, elementwise_affine=False))
        bb = SequentialImageBackbone(spec, stages, pooling, nn.Linear(16, 5))
    bb.source_classes = [f"source{i}" for i in range(5)]
    return _finish(bb, weights, random_init, f"test-seed{seed}")


class _TokenState(nn.Module):
    """Embeds hashed token ids; keeps the mask in the state for later groups and pooling."""

    def __init__(self, vocab: int, dim: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, dim, padding_idx=0)

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {"hidden": self.embed(batch["input_ids"]), "mask": batch["attention_mask"]}


class _Residual(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, dim), nn.GELU())

    def forward(self, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {"hidden": state["hidden"] + self.mlp(state["hidden"]), "mask": state["mask"]}


class TestTextBackbone(Backbone):
    """Whitespace tokens hashed into buckets → embedding → residual MLPs → masked mean."""

    vocab = 512
    max_tokens = 64

    def __init__(self, spec: BackboneSpec) -> None:
        super().__init__(spec)
        dim = spec.feature_dim
        self.stages = nn.ModuleDict({"embeddings": _TokenState(self.vocab, dim),
                                     "layer_0": _Residual(dim), "layer_1": _Residual(dim)})

    def preprocess(self, item: Any) -> dict[str, torch.Tensor]:
        words = str(item).lower().split()[: self.max_tokens] or [""]
        ids = [1 + zlib.crc32(w.encode()) % (self.vocab - 1) for w in words]
        return {"input_ids": torch.tensor(ids), "attention_mask": torch.ones(len(ids), dtype=torch.long)}

    def collate(self, samples: Sequence[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
        return {k: nn.utils.rnn.pad_sequence([s[k] for s in samples], batch_first=True) for k in samples[0]}

    def layer_groups(self) -> list[LayerGroup]:
        return [LayerGroup(n, m) for n, m in self.stages.items()]

    def pool(self, state: dict[str, torch.Tensor]) -> torch.Tensor:
        mask = state["mask"].unsqueeze(-1).to(state["hidden"].dtype)
        return (state["hidden"] * mask).sum(1) / mask.sum(1).clamp_min(1.0)

    def pool_tap(self, output: Any, batch: Any, grid: int = 1, max_width: int = 1024) -> torch.Tensor:
        return self.pool(output)


def build_test_text(spec: BackboneSpec, weights: Path | None, allow_download: bool,
                    random_init: bool = False, seed: int = 0, **_: Any) -> Backbone:
    with _seeded(seed, random_init):
        bb = TestTextBackbone(spec)
    return _finish(bb, weights, random_init, f"test-seed{seed}")


class TestAudioBackbone(Backbone):
    """Waveform (fixed length) → strided conv1d stages → mean over time."""

    def __init__(self, spec: BackboneSpec) -> None:
        super().__init__(spec)
        d = spec.feature_dim
        self.stages = nn.ModuleDict({
            "conv0": nn.Sequential(nn.Conv1d(1, 8, 9, stride=4, padding=4), nn.ReLU()),
            "conv1": nn.Sequential(nn.Conv1d(8, d, 9, stride=4, padding=4), nn.ReLU()),
        })

    def preprocess(self, item: Any) -> torch.Tensor:
        rate = int(self.spec.input.sample_rate or 8000)
        length = int(rate * float(self.spec.input.max_seconds or 1.0))
        if isinstance(item, (str, Path)):
            from graft.backbones.audio_io import load_audio

            wave = load_audio(Path(item), rate)
        else:
            wave = np.asarray(item, dtype=np.float32)
        out = np.zeros(length, dtype=np.float32)
        out[: min(length, len(wave))] = wave[:length]
        return torch.from_numpy(out).unsqueeze(0)

    def layer_groups(self) -> list[LayerGroup]:
        return [LayerGroup(n, m) for n, m in self.stages.items()]

    def pool(self, state: torch.Tensor) -> torch.Tensor:
        return state.mean(-1)

    def pool_tap(self, output: Any, batch: Any, grid: int = 1, max_width: int = 1024) -> torch.Tensor:
        return output.mean(-1)  # (B, C, T) from conv1d: time is last, not second


def build_test_audio(spec: BackboneSpec, weights: Path | None, allow_download: bool,
                     random_init: bool = False, seed: int = 0, **_: Any) -> Backbone:
    with _seeded(seed, random_init):
        bb = TestAudioBackbone(spec)
    return _finish(bb, weights, random_init, f"test-seed{seed}")
