"""Reading audio files into mono float32 waveforms at the sample rate a backbone expects.

Example:
    >>> wave = load_audio("clip.flac", sample_rate=16000)   # doctest: +SKIP
    >>> wave.dtype, wave.ndim
    (dtype('float32'), 1)
"""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

import numpy as np

from graft.errors import DataError, require


def load_audio(path: str | Path | BinaryIO, sample_rate: int, name: str | None = None) -> np.ndarray:
    """Read an audio file as a 1-D float32 waveform in [-1, 1] at ``sample_rate`` Hz.

    Multi-channel audio is mixed down to mono by averaging the channels; other sample rates are
    resampled with librosa (soxr, high quality). Formats are whatever libsndfile reads
    (WAV, FLAC, OGG/Vorbis, Opus, and MP3 with libsndfile >= 1.1).

    Args:
        path: the audio file, or an open binary file (e.g. ``io.BytesIO`` of an upload).
        sample_rate: the target rate in Hz.
        name: what messages call the audio (default: ``path``).

    Raises:
        DataError: the file is missing, unreadable or holds no samples; the message names the file.
    """
    sf = require("soundfile", "audio")
    name = name or str(path)
    try:
        data, rate = sf.read(path if hasattr(path, "read") else str(path), dtype="float32", always_2d=True)
    except Exception as exc:  # soundfile raises LibsndfileError, RuntimeError or OSError by version
        raise DataError(f"{name}: cannot decode the audio ({exc}). Supported: WAV, FLAC, OGG, MP3.") from exc
    if data.shape[0] == 0:
        raise DataError(f"{name}: the audio holds no samples")
    wave = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    if rate != sample_rate:
        librosa = require("librosa", "audio")
        wave = librosa.resample(wave, orig_sr=rate, target_sr=sample_rate)
    return np.ascontiguousarray(wave, dtype=np.float32)
