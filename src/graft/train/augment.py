"""Per-modality augmentation of preprocessed training inputs, driven by an explicit generator so a
resumed run draws exactly the same augmentations."""

from __future__ import annotations

from typing import Any

import torch


def augment_batch(batch: Any, modality: str, generator: torch.Generator, hflip: bool = True) -> Any:
    """Images: random resized crop (scale 0.6–1), horizontal flip, brightness/contrast jitter.
    Audio: gaussian noise, random time shift. Text: unchanged."""
    if modality == "image" and isinstance(batch, torch.Tensor) and batch.ndim == 4:
        return _images(batch, generator, hflip)
    if modality == "audio" and isinstance(batch, torch.Tensor):
        return _audio(batch, generator)
    return batch


def _rand(generator: torch.Generator, *shape: int) -> torch.Tensor:
    return torch.rand(*shape, generator=generator)


def _images(x: torch.Tensor, g: torch.Generator, hflip: bool) -> torch.Tensor:
    n, _, h, w = x.shape
    out = torch.empty_like(x)
    scales = 0.6 + 0.4 * _rand(g, n)
    ratios = torch.exp((torch.log(torch.tensor(4 / 3)) * (2 * _rand(g, n) - 1)))
    offsets = _rand(g, n, 2)
    flips = _rand(g, n) < 0.5
    for i in range(n):
        area = float(scales[i]) * h * w
        ch = max(1, min(h, int(round((area / float(ratios[i])) ** 0.5))))
        cw = max(1, min(w, int(round((area * float(ratios[i])) ** 0.5))))
        top = int(float(offsets[i, 0]) * (h - ch))
        left = int(float(offsets[i, 1]) * (w - cw))
        crop = x[i: i + 1, :, top: top + ch, left: left + cw]
        img = torch.nn.functional.interpolate(crop, size=(h, w), mode="bilinear", align_corners=False)[0]
        out[i] = img.flip(-1) if hflip and bool(flips[i]) else img
    brightness = (0.8 + 0.4 * _rand(g, n)).view(n, 1, 1, 1)
    contrast = (0.8 + 0.4 * _rand(g, n)).view(n, 1, 1, 1)
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
