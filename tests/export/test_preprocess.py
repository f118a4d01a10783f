"""Preprocessing as data reproduces the backbone's own preprocessing exactly (numpy + Pillow only)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from graft.backbones import create_backbone
from graft.errors import UsageError
from graft.export.preprocess import Preprocessor, describe


@pytest.mark.parametrize("crop_pct, interpolation", [(1.0, "bilinear"), (0.875, "bicubic")])
def test_image_preprocessing_matches_the_backbone(tmp_path, crop_pct, interpolation):
    bb = create_backbone("test_cnn", image_size=40)
    bb.spec = bb.spec.with_input(crop_pct=crop_pct, interpolation=interpolation)
    pre = Preprocessor(describe(bb, "image", 16, tmp_path), tmp_path)
    rng = np.random.default_rng(0)
    images = [Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)) for h, w in ((57, 91), (120, 33), (40, 40), (9, 13))]
    images += [Image.fromarray(rng.integers(0, 256, (30, 50), dtype=np.uint8), "L"),
               Image.fromarray(rng.integers(0, 256, (30, 50, 4), dtype=np.uint8), "RGBA")]
    path = tmp_path / "photo.png"
    images[0].save(path)
    for item in [*images, path]:
        assert np.array_equal(pre.one(item)["pixel_values"], bb.preprocess(item).numpy())


def test_hashed_words_and_waveform_match_the_test_backbones(tmp_path):
    text = create_backbone("test_text")
    pre = Preprocessor(describe(text, "text", 16, tmp_path), tmp_path)
    for s in ["Hello  World", "", "word " * 100]:
        ours, theirs = pre.one(s), text.preprocess(s)
        assert all(np.array_equal(ours[k], theirs[k].numpy()) for k in theirs)
    audio = create_backbone("test_audio")
    pre = Preprocessor(describe(audio, "audio", 16, tmp_path), tmp_path)
    for n in (100, 8000, 12000):
        wave = np.sin(np.arange(n) / 7).astype(np.float32)
        assert np.array_equal(pre.one(wave)["input_values"], audio.preprocess(wave).numpy())


def test_padding_and_bad_items(tmp_path):
    text = create_backbone("test_text")
    pre = Preprocessor(describe(text, "text", 16, tmp_path), tmp_path)
    batch = pre(["a b c", "a"])
    assert batch["input_ids"].shape == (2, 3) and batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    with pytest.raises(UsageError, match="str items"):
        pre.one(42)
    with pytest.raises(UsageError, match="unknown"):
        Preprocessor({"kind": "spectrogram"}, tmp_path)


@pytest.mark.weights
def test_whisper_log_mel_matches_the_backbone(tmp_path):
    try:
        bb = create_backbone("whisper_tiny_en")
    except Exception as exc:  # WeightsError / missing package
        pytest.skip(f"packaged Whisper tiny.en not available ({exc})")
    pre = Preprocessor(describe(bb, "audio", 384, tmp_path), tmp_path)
    rng = np.random.default_rng(0)
    for n in (1000, 16000 * 3, 16000 * 12):
        wave = (0.3 * np.sin(np.arange(n) / 5) + 0.01 * rng.normal(size=n)).astype(np.float32)
        ours, theirs = pre.one(wave), bb.preprocess(wave)
        assert int(ours["frames"]) == int(theirs["frames"])
        assert np.abs(ours["features"] - theirs["features"].numpy()).max() < 1e-4
