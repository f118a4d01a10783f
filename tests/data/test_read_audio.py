"""Audio folders → Dataset of paths (validated by header), and waveform arrays."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from graft.data import from_arrays, read
from graft.errors import DataError, UsageError


def test_audio_folder_reads_wav_and_flac(tmp_path, wav):
    for i in range(3):
        wav(tmp_path / "yes" / f"{i}.wav", freq=300 + i)
        wav(tmp_path / "no" / f"{i}.flac", freq=600 + i)
    ds = read(tmp_path, val_fraction=0)
    assert ds.modality == "audio" and ds.classes == ["no", "yes"]
    assert all(isinstance(p, Path) for p in ds.items) and ds.sample_rate is None
    assert sorted(p.suffix for p in ds.items) == [".flac"] * 3 + [".wav"] * 3


def test_audio_extensions_option(tmp_path, wav):
    for name in ("a", "b"):
        for i in range(2):
            wav(tmp_path / name / f"{i}.wav").rename(tmp_path / name / f"{i}.snd")
    with pytest.raises(DataError, match="audio_extensions"):
        read(tmp_path)
    assert len(read(tmp_path, audio_extensions=(".snd",))) == 4
    assert len(read(tmp_path, audio_extensions="SND")) == 4


def test_split_folders_for_audio(tmp_path, wav):
    for split, n in (("train", 4), ("test", 2)):
        for name in ("a", "b"):
            for i in range(n):
                wav(tmp_path / split / name / f"{i}.wav", freq=200 + 10 * i)
    ds = read(tmp_path, val_fraction=0.25)
    assert (len(ds.train), len(ds.val), len(ds.test)) == (6, 2, 4)


def test_mixed_image_and_audio_needs_modality(tmp_path, wav, png):
    for name in ("a", "b"):
        wav(tmp_path / name / "x.wav")
        wav(tmp_path / name / "y.wav", freq=100)
        png(tmp_path / name / "z.png")
    with pytest.raises(DataError, match="modality="):
        read(tmp_path)
    assert read(tmp_path, modality="audio", val_fraction=0).class_counts() == {"a": 2, "b": 2}
    assert len(read(tmp_path, modality="image", val_fraction=0)) == 2


def test_waveform_arrays_need_a_sample_rate():
    waves = [np.zeros(100, dtype=np.float32), np.ones(80, dtype=np.float32) * 0.1]
    ds = from_arrays(waves, ["a", "b"], sample_rate=16000)
    assert ds.modality == "audio" and ds.sample_rate == 16000 and len(ds.items[1]) == 80
    with pytest.raises(UsageError, match="sample_rate"):
        from_arrays(waves, ["a", "b"], modality="audio")
