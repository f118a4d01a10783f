"""The words "zero".."nine" spoken by espeak-ng, as WAV class folders; test speakers are held out.

A speaker is an espeak-ng voice plus a variant (``en-us+m3``). Train and test speakers share no
variant, so the test split measures transfer to unseen voices. Each clip draws its speed (words per
minute) and pitch from the seed, so clips of one speaker differ too.
"""

from __future__ import annotations

import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from graft.data.builtin._output import Counts, check_per_class, materialise, require_program
from graft.data.builtin.registry import DATASETS, BuiltinDataset
from graft.errors import DataError, UsageError

PACKAGE = "espeak-ng"
WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
TRAIN_VOICES = ("en-us+m1", "en-us+f1", "en+m2", "en+f2", "en-us+m3", "en+f3", "en-gb-x-rp+m4", "en-us+klatt")
TEST_VOICES = ("en-us+m5", "en+f4", "en-gb-scotland+m6", "en-gb-x-rp+f5", "en-us+m7")
SPEED = (120, 200)  # words per minute, espeak-ng -s
PITCH = (25, 75)  # 0..99, espeak-ng -p


def make(
    out_dir: Path,
    per_class: int | None = None,
    seed: int = 0,
    *,
    train_voices: Sequence[str] = TRAIN_VOICES,
    test_voices: Sequence[str] = TEST_VOICES,
) -> Path:
    """Synthesise ``per_class`` clips per digit and split (default 20), cycling through the voices."""
    per_class = SPEC.default_per_class if per_class is None else per_class
    check_per_class(per_class)
    program = require_program("espeak-ng", PACKAGE, "spoken_digits")
    voices = {"train": list(train_voices), "test": list(test_voices)}
    if not voices["train"] or not voices["test"] or set(voices["train"]) & set(voices["test"]):
        raise UsageError("spoken_digits needs non-empty, disjoint train_voices and test_voices")
    params = {"per_class": per_class, "seed": seed, "options": voices}
    layout = "train/<digit>/<voice>_<n>.wav and test/<digit>/<voice>_<n>.wav, 22050 Hz mono 16-bit"
    return materialise(SPEC, out_dir, params, lambda tmp: _build(tmp, program, voices, per_class, seed), layout)


def _jobs(voices: dict[str, list[str]], per_class: int, seed: int) -> list[tuple[str, list[str]]]:
    """(output path relative to the root, espeak-ng arguments) for every clip."""
    jobs = []
    for split_id, (split, names) in enumerate(voices.items()):
        rng = np.random.default_rng([seed, split_id])
        for digit, word in enumerate(WORDS):
            for n in range(per_class):
                voice = names[n % len(names)]
                speed, pitch = int(rng.integers(*SPEED)), int(rng.integers(*PITCH))
                path = f"{split}/{digit}/{voice.replace('+', '_')}_{n:03d}.wav"
                jobs.append((path, ["-v", voice, "-s", str(speed), "-p", str(pitch), word]))
    return jobs


def _build(
    tmp: Path, program: str, voices: dict[str, list[str]], per_class: int, seed: int
) -> tuple[Counts, dict[str, Any]]:
    jobs = _jobs(voices, per_class, seed)
    for rel, _ in jobs:
        (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        list(pool.map(lambda job: _speak(program, tmp / job[0], job[1]), jobs))
    counts: Counts = {s: {str(d): per_class for d in range(len(WORDS))} for s in voices}
    return counts, {"words": list(WORDS), "speakers": voices, "speed_wpm": SPEED, "pitch": PITCH}


def _speak(program: str, path: Path, args: list[str]) -> None:
    result = subprocess.run([program, "-w", str(path), *args], capture_output=True, text=True, check=False)
    if result.returncode != 0 or not path.exists() or path.stat().st_size <= 44:
        raise DataError(f"espeak-ng failed for {' '.join(args)}: {result.stderr.strip() or 'no audio written'}")


SPEC = BuiltinDataset(
    name="spoken_digits",
    modality="audio",
    description="Spoken words zero..nine synthesised by espeak-ng; test voices unseen in train",
    license="GPL-3.0+ (espeak-ng); the generated audio carries no extra restriction",
    requires=(f"apt:{PACKAGE}",),
    make=make,
    default_per_class=20,
    source="espeak-ng text-to-speech (Debian espeak-ng)",
)
DATASETS.add(SPEC.name, SPEC)
