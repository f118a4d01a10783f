"""Checkpoints and data built so that the answer to "did transfer help?" is known in advance."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file


def _test_cnn_state() -> dict[str, torch.Tensor]:
    from graft.backbones import create_backbone

    return {k: v.clone() for k, v in create_backbone("test_cnn").state_dict().items()}


@pytest.fixture(scope="session")
def useless_weights(tmp_path_factory) -> Path:
    """test_cnn with every convolution zeroed: each image gets the same features, and fine-tuning
    starts with no gradient reaching the early layers (a source that is useless for any target)."""
    state = _test_cnn_state()
    for stage in ("stem", "stage1", "stage2"):
        state[f"stages.{stage}.0.weight"].zero_()
        state[f"stages.{stage}.0.bias"].zero_()
    path = tmp_path_factory.mktemp("weights") / "useless.safetensors"
    save_file(state, str(path))
    return path


@pytest.fixture(scope="session")
def edge_weights(tmp_path_factory) -> Path:
    """test_cnn whose first layer holds horizontal and vertical edge detectors (what the first layer
    of a pretrained image network learns) and whose later layers pass them on to the pooling."""
    state = _test_cnn_state()
    sobel = torch.tensor([[1.0, 2.0, 1.0], [0.0, 0.0, 0.0], [-1.0, -2.0, -1.0]])
    stem = torch.zeros(8, 3, 3, 3)
    for o in range(8):  # channels 0-3 see horizontal edges, 4-7 vertical ones, in both polarities
        kernel = sobel if o < 4 else sobel.T
        stem[o] = (kernel if o % 2 == 0 else -kernel).expand(3, 3, 3) / 3
    state["stages.stem.0.weight"] = stem
    for stage, (c_out, c_in) in {"stage1": (16, 8), "stage2": (16, 16)}.items():
        w = torch.zeros(c_out, c_in, 3, 3)
        w[torch.arange(c_out), torch.arange(c_out) % c_in, 1, 1] = 1.0  # pass channels through
        state[f"stages.{stage}.0.weight"] = w
    for stage in ("stem", "stage1", "stage2"):
        state[f"stages.{stage}.0.bias"].zero_()
        n = state[f"stages.{stage}.1.weight"].numel()
        state.update({f"stages.{stage}.1.weight": torch.ones(n), f"stages.{stage}.1.bias": torch.zeros(n),
                      f"stages.{stage}.1.running_mean": torch.zeros(n), f"stages.{stage}.1.running_var": torch.ones(n)})
    path = tmp_path_factory.mktemp("weights") / "edges.safetensors"
    save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    return path


@pytest.fixture(scope="session")
def stripes(tmp_path_factory) -> Path:
    """Horizontal vs vertical stripes in random colours and widths, 16 px: 4 train, 6 val and 20
    test images per class. Too few examples to learn orientation from random initialisation."""
    root = tmp_path_factory.mktemp("stripes")
    rng = np.random.default_rng(1)
    size = 16
    for split, n in {"train": 4, "val": 6, "test": 20}.items():
        for cls in ("horizontal", "vertical"):
            for i in range(n):
                half, phase = int(rng.integers(2, 4)), int(rng.integers(0, 6))
                wave = ((np.arange(size) + phase) // half) % 2
                mask = np.repeat(wave[:, None], size, 1) if cls == "horizontal" else np.repeat(wave[None, :], size, 0)
                bright, dark = rng.integers(150, 256, 3), rng.integers(0, 100, 3)
                pixels = np.where(mask[..., None] == 1, bright, dark) + rng.normal(0, 10, (size, size, 3))
                path = root / split / cls / f"{i}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(path)
    return root
