"""Audio files: a header check at read time. Decoding and resampling happen later, in the backbone."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from graft.errors import require

logger = logging.getLogger(__name__)

AUDIO_EXTENSIONS: tuple[str, ...] = (".wav", ".flac", ".ogg", ".mp3")


def check_audio(path: Path) -> str | None:
    """Why ``path`` cannot be used as audio, or ``None`` when it can (reads the header only)."""
    soundfile: Any = require("soundfile", "audio")
    try:
        if path.stat().st_size == 0:
            return "empty file: 0 bytes"
        info = soundfile.info(str(path))
    except Exception as exc:  # LibsndfileError (a RuntimeError), OSError, … by version and format
        return f"unreadable audio: {exc}"
    if info.frames <= 0 or info.samplerate <= 0:
        return f"empty audio: {info.frames} frames at {info.samplerate} Hz"
    return None

