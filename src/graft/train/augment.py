"""Per-modality augmentation of preprocessed training inputs, driven by an explicit generator so a
resumed run draws exactly the same augmentations."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from graft.train.config import TrainConfig


def augment_batch(batch: Any, modality: str, generator: torch.Generator, config: "TrainConfig") -> Any:
    """Images: random resized crop (area ``config.crop_scale``–1), horizontal flip (``config.hflip``),
    brightness/contrast jitter (±``config.color_jitter``). Audio: gaussian noise, random time shift,
    SpecAugment masks. Text: unchanged."""
    if modality == "image" and isinstance(batch, torch.Tensor) and batch.ndim == 4:
        return _images(batch, generator, config.hflip, config.crop_scale, config.color_jitter)
    if modality == "audio" and isinstance(batch, torch.Tensor):
        return _audio(batch, generator)
    return batch


def _rand(generator: torch.Generator, *shape: int) -> torch.Tensor:
    return torch.rand(*shape, generator=generator)


def _images(x: torch.Tensor, g: torch.Generator, hflip: bool, crop_scale: float, jitter: float) -> torch.Tensor:
    n, _, h, w = x.shape
    out = torch.empty_like(x)
    scales = crop_scale + (1 - crop_scale) * _rand(g, n)
    ratios = torch.exp((torch.log(torch.tensor(4 / 3)) * (2 * _rand(g, n) - 1)))
    offsets = _rand(g, n, 2)
    flips = _rand(g, n) < 0.5
    for i in range(n):
        area = float(scales[i]) * h * w
        ch = max(1, min(h, int(round((area / float(ratios[i])) ** 0.5))))
        cw = max(1, min(w, int(round((area * float(ratios[i])) ** 0.5))))
        top = int(float(offsets[i, 0]) * (h - ch))
        left = int(float(offsets[i, 1]) * (w - cw))
        img = x[i]
        if crop_scale < 1:
            crop = x[i: i + 1, :, top: top + ch, left: left + cw]
            img = torch.nn.functional.interpolate(crop, size=(h, w), mode="bilinear", align_corners=False)[0]
        out[i] = img.flip(-1) if hflip and bool(flips[i]) else img
    brightness = (1 - jitter + 2 * jitter * _rand(g, n)).view(n, 1, 1, 1)
    contrast = (1 - jitter + 2 * jitter * _rand(g, n)).view(n, 1, 1, 1)
    mean = out.mean(dim=(1, 2, 3), keepdim=True)
    return (out - mean) * contrast + mean * brightness


def _audio(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Waveforms (B, 1, T) or spectrograms (B, F, T): time shift + noise; spectrograms also get
    one frequency and one time mask (SpecAugment)."""
    n = x.shape[0]
    shifts = ((_rand(g, n) - 0.5) * 0.2 * x.shape[-1]).long()
    out = torch.stack([torch.roll(x[i], int(shifts[i]), dims=-1) for i in range(n)])
    out = out + torch.randn(x.shape, generator=g) * 0.005 * _rand(g, n).view(n, *([1] * (x.ndim - 1)))
    if x.ndim == 3 and x.shape[1] > 8:
        f, t = x.shape[1], x.shape[2]
        for i in range(n):
            f0, fw = int(_rand(g, 1) * f), int(_rand(g, 1) * f * 0.15)
            t0, tw = int(_rand(g, 1) * t), int(_rand(g, 1) * t * 0.1)
            out[i, f0: f0 + fw, :] = out[i].mean()
            out[i, :, t0: t0 + tw] = out[i].mean()
    return out
