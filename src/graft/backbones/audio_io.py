"""Reading audio files into mono float32 waveforms at the sample rate a backbone expects.

Example:
    >>> wave = load_audio("clip.flac", sample_rate=16000)   # doctest: +SKIP
    >>> wave.dtype, wave.ndim
    (dtype('float32'), 1)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from graft.errors import DataError, require


def load_audio(path: str | Path, sample_rate: int) -> np.ndarray:
    """Read an audio file as a 1-D float32 waveform in [-1, 1] at ``sample_rate`` Hz.

    Multi-channel audio is mixed down to mono by averaging the channels; other sample rates are
    resampled with librosa (soxr, high quality). Formats are whatever libsndfile reads
    (WAV, FLAC, OGG/Vorbis, Opus, and MP3 with libsndfile >= 1.1).

    Args:
        path: the audio file.
        sample_rate: the target rate in Hz.

    Raises:
        DataError: the file is missing, unreadable or holds no samples; the message names the file.
    """
    sf = require("soundfile", "audio")
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as exc:  # soundfile raises LibsndfileError, RuntimeError or OSError by version
        raise DataError(f"{path}: cannot read audio ({exc}). Supported: WAV, FLAC, OGG, MP3.") from exc
    if data.shape[0] == 0:
        raise DataError(f"{path}: the audio file holds no samples")
    wave = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    if rate != sample_rate:
        librosa = require("librosa", "audio")
        wave = librosa.resample(wave, orig_sr=rate, target_sr=sample_rate)
    return np.ascontiguousarray(wave, dtype=np.float32)
