"""Preprocessing as data: how a raw item becomes the ONNX graph's inputs.

``describe`` writes what a client needs (a dict for config.json, plus tokenizer files for text) and
``Preprocessor`` runs it again with numpy, Pillow and the ``tokenizers`` library only, so an
exported folder needs no torch and no backbone code. Each kind reproduces the backbone's own
``preprocess`` + ``collate``; the parity check at export compares the two end to end.

Kinds:
    ``image``: decode to RGB → resize the shorter side (PIL, the backbone's interpolation) →
        centre crop → /255 → (x - mean) / std → NCHW float32 ``pixel_values``.
    ``tokenizer``: a Hugging Face ``tokenizer.json`` (truncated to ``max_tokens``), padded to the
        longest text of the batch → int64 ``input_ids`` / ``attention_mask`` (/ ``token_type_ids``).
    ``hashed_words``: graft's tiny test text backbone (whitespace words hashed with CRC32).
    ``waveform``: mono float32 at ``sample_rate``, zero-padded / cut to ``num_samples`` → (B, 1, N).
    ``log_mel``: Whisper's 80-bin log-mel of the padded window (filterbank in ``mel_filters.npy``)
        → ``features`` (B, 80, frames) and ``frames`` (B,), the encoder frames of real audio.
    ``word_ids``: word-vector models: the vocabulary in ``vocab.txt`` (one word per line, row
        order) and the tokenising regexes → ``ids`` / ``mask`` (padded) and ``empty`` (no known word).
    ``features``: numeric rows as they are (B, D) float32.
"""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from graft.errors import DataError, UsageError

if TYPE_CHECKING:
    from graft.backbones.base import Backbone

TOKENIZER_DIR = "tokenizer"
MEL_FILTERS = "mel_filters.npy"
VOCAB = "vocab.txt"
_PIL_FILTERS = {"bilinear": 2, "bicubic": 3, "nearest": 0, "lanczos": 1}  # PIL.Image.Resampling values


def describe(backbone: "Backbone | None", modality: str, feature_dim: int, folder: Path) -> dict[str, Any]:
    """The preprocessing of ``backbone`` as JSON-able data; tokenizer files go into ``folder``.

    Raises:
        UsageError: a backbone whose preprocessing has no data form yet (the message names it).
    """
    if modality == "array" or backbone is None:
        return {"kind": "features", "feature_dim": int(feature_dim)}
    kind = type(backbone).__name__
    if modality == "image":
        return _describe_image(backbone)
    if kind == "TransformerTextBackbone":
        return _describe_tokenizer(backbone, folder)
    if kind == "TestTextBackbone":
        return {"kind": "hashed_words", "vocab": int(backbone.vocab), "max_tokens": int(backbone.max_tokens)}
    if kind == "TestAudioBackbone":
        rate = int(backbone.spec.input.sample_rate or 8000)
        return {"kind": "waveform", "sample_rate": rate, "num_samples": int(rate * float(backbone.spec.input.max_seconds or 1.0))}
    if kind == "WhisperEncoderBackbone":
        return _describe_log_mel(backbone, folder)
    if kind == "WordVectorBackbone":
        return _describe_word_vectors(backbone, folder)
    raise UsageError(f"backbone {backbone.spec.name!r} ({kind}): its preprocessing cannot be exported as data yet; "
                     "ONNX export supports image backbones, transformers text backbones, raw-waveform audio and Whisper")


def _describe_image(backbone: "Backbone") -> dict[str, Any]:
    from graft.backbones.spec import IMAGENET_MEAN, IMAGENET_STD

    spec = backbone.spec.input
    size = int(spec.image_size or 224)
    return {"kind": "image", "image_size": size, "resize_shorter_to": int(round(size / spec.crop_pct)),
            "crop": [size, size], "interpolation": spec.interpolation, "scale": 1 / 255,
            "mean": list(spec.mean or IMAGENET_MEAN), "std": list(spec.std or IMAGENET_STD),
            "layout": "NCHW", "channels": "RGB"}


def _describe_tokenizer(backbone: Any, folder: Path) -> dict[str, Any]:
    tokenizer = backbone.tokenizer
    if not getattr(tokenizer, "is_fast", False):
        raise UsageError(f"backbone {backbone.spec.name!r}: only fast (tokenizer.json) tokenizers can be exported")
    tokenizer.save_pretrained(str(folder / TOKENIZER_DIR))
    sample = backbone.preprocess("a")
    return {"kind": "tokenizer", "files": TOKENIZER_DIR, "tokenizer_file": f"{TOKENIZER_DIR}/tokenizer.json",
            "max_tokens": int(backbone.spec.input.max_tokens), "lowercase": bool(backbone.lowercase),
            "pad_id": int(backbone.pad_id), "padding_side": getattr(tokenizer, "padding_side", "right"),
            "inputs": list(sample)}


def _describe_log_mel(backbone: Any, folder: Path) -> dict[str, Any]:
    from graft.backbones import whisper

    np.save(folder / MEL_FILTERS, backbone._filters.numpy().astype(np.float32), allow_pickle=False)
    return {"kind": "log_mel", "sample_rate": int(backbone.spec.input.sample_rate or whisper.SAMPLE_RATE),
            "num_samples": int(backbone.num_samples), "n_fft": whisper.N_FFT, "hop": whisper.HOP,
            "window": "hann (periodic)", "mel_filters": MEL_FILTERS, "max_frames": int(backbone.max_frames),
            "log": "log10, clamped to 8 below the maximum, then (x + 4) / 4"}


def _describe_word_vectors(backbone: Any, folder: Path) -> dict[str, Any]:
    from graft.backbones import wordvec

    words = sorted(backbone.vocab, key=backbone.vocab.__getitem__)
    if [backbone.vocab[w] for w in (words[0], words[-1])] != [0, len(words) - 1] or any("\n" in w for w in words[:1000]):
        raise UsageError(f"backbone {backbone.spec.name!r}: its vocabulary cannot be written one word per line")
    (folder / VOCAB).write_text("\n".join(words) + "\n", encoding="utf-8")
    return {"kind": "word_ids", "vocab_file": VOCAB, "lowercase": bool(backbone.lowercase),
            "token_pattern": wordvec._TOKEN.pattern, "piece_pattern": wordvec._PIECE.pattern,
            "unknown": "a token with no vector: its pieces (piece_pattern) that have one, else dropped"}


class Preprocessor:
    """Raw items → the graph's input arrays, from the ``preprocess`` dict of an export.

    Example:
        >>> pre = Preprocessor({"kind": "features", "feature_dim": 2}, Path("."))
        >>> pre([[1, 2], [3, 4]])["features"].shape
        (2, 2)
    """

    def __init__(self, spec: dict[str, Any], folder: Path) -> None:
        self.spec = spec
        self.kind = spec.get("kind")
        self._tok = _load_tokenizer(spec, folder) if self.kind == "tokenizer" else None
        self._filters = np.load(folder / spec["mel_filters"], allow_pickle=False) if self.kind == "log_mel" else None
        self._vocab = _load_vocab(folder / spec["vocab_file"]) if self.kind == "word_ids" else None
        if self.kind not in ("image", "tokenizer", "hashed_words", "waveform", "features", "log_mel", "word_ids"):
            raise UsageError(f"{folder}: preprocessing kind {self.kind!r} is unknown to this graft version")

    def one(self, item: Any) -> dict[str, np.ndarray]:
        """One raw item → unbatched arrays (raises DataError / UsageError for an unusable item)."""
        return getattr(self, f"_{self.kind}")(item)

    def collate(self, samples: Sequence[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
        """Stack samples into a batch; token sequences are padded to the longest."""
        if self.kind in ("tokenizer", "hashed_words"):
            return self._pad(samples)
        if self.kind == "word_ids":  # as WordVectorBackbone.collate: ids padded with 0, a mask, empty rows flagged
            length = max(1, max(s["ids"].size for s in samples))
            ids, mask = np.zeros((len(samples), length), np.int64), np.zeros((len(samples), length), bool)
            for row, sample in enumerate(samples):
                ids[row, : sample["ids"].size], mask[row, : sample["ids"].size] = sample["ids"], True
            return {"ids": ids, "mask": mask, "empty": ~mask.any(axis=1)}
        return {k: np.stack([s[k] for s in samples]) for k in samples[0]}

    def __call__(self, items: Sequence[Any]) -> dict[str, np.ndarray]:
        return self.collate([self.one(item) for item in items])

    # --- kinds ----------------------------------------------------------------------------------
    def _image(self, item: Any) -> dict[str, np.ndarray]:
        from PIL import Image

        from graft.data.images import load_image

        s = self.spec
        image = load_image(item)
        width, height = image.size
        short, long = (width, height) if width <= height else (height, width)
        new_short, new_long = s["resize_shorter_to"], int(s["resize_shorter_to"] * long / short)
        size = (new_short, new_long) if width <= height else (new_long, new_short)
        if size != image.size:  # torchvision's resize (on PIL images) is PIL's resize
            image = image.resize(size, Image.Resampling(_PIL_FILTERS[s["interpolation"]]))
        crop_h, crop_w = s["crop"]
        top, left = int(round((size[1] - crop_h) / 2.0)), int(round((size[0] - crop_w) / 2.0))
        image = image.crop((left, top, left + crop_w, top + crop_h))
        pixels = np.asarray(image, dtype=np.float32).transpose(2, 0, 1) / np.float32(255.0)
        mean = np.asarray(s["mean"], dtype=np.float32)[:, None, None]
        std = np.asarray(s["std"], dtype=np.float32)[:, None, None]
        return {"pixel_values": ((pixels - mean) / std).astype(np.float32)}

    def _tokenizer(self, item: Any) -> dict[str, np.ndarray]:
        text = _text(item)
        encoded = self._tok.encode(text.lower() if self.spec["lowercase"] else text)
        columns = {"input_ids": encoded.ids, "attention_mask": encoded.attention_mask, "token_type_ids": encoded.type_ids}
        out = {k: np.asarray(columns[k], dtype=np.int64) for k in self.spec["inputs"]}
        if out["input_ids"].size == 0:  # as the backbone: keep one real token so shapes stay valid
            out = {k: np.asarray([{"input_ids": self.spec["pad_id"], "attention_mask": 1}.get(k, 0)], dtype=np.int64) for k in out}
        return out

    def _hashed_words(self, item: Any) -> dict[str, np.ndarray]:
        vocab, limit = self.spec["vocab"], self.spec["max_tokens"]
        words = _text(item).lower().split()[:limit] or [""]
        ids = [1 + zlib.crc32(w.encode()) % (vocab - 1) for w in words]
        return {"input_ids": np.asarray(ids, dtype=np.int64), "attention_mask": np.ones(len(ids), dtype=np.int64)}

    def _waveform(self, item: Any) -> dict[str, np.ndarray]:
        length = self.spec["num_samples"]
        wave = _wave(item, self.spec["sample_rate"])
        out = np.zeros(length, dtype=np.float32)
        out[: min(length, len(wave))] = wave[:length]
        return {"input_values": out[None, :]}

    def _log_mel(self, item: Any) -> dict[str, np.ndarray]:
        """Whisper's log-mel spectrogram (as ``graft.backbones.whisper.log_mel``) and the count of
        encoder frames that cover real audio."""
        s = self.spec
        wave = _wave(item, s["sample_rate"])
        if wave.size == 0:
            raise DataError("an audio waveform holds no samples")
        audio = np.zeros(s["num_samples"], dtype=np.float32)
        clip = wave[: s["num_samples"]]
        audio[: clip.size] = clip
        n_fft, hop = s["n_fft"], s["hop"]
        padded = np.pad(audio, n_fft // 2, mode="reflect")  # torch.stft(center=True)
        window = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)).astype(np.float32)
        starts = hop * np.arange(1 + (padded.size - n_fft) // hop)
        power = np.abs(np.fft.rfft(padded[starts[:, None] + np.arange(n_fft)] * window, axis=1)) ** 2
        mel = np.log10(np.maximum(self._filters @ power[:-1].T.astype(np.float32), 1e-10))
        mel = (np.maximum(mel, mel.max() - 8.0) + 4.0) / 4.0
        frames = min(s["max_frames"], max(1, -(-wave.size // (2 * hop))))
        return {"features": mel.astype(np.float32), "frames": np.asarray(frames, dtype=np.int64)}

    def _word_ids(self, item: Any) -> dict[str, np.ndarray]:
        import re

        text = _text(item).replace("\u2019", "'")
        lower = self.spec["lowercase"]
        ids: list[int] = []
        for token in re.findall(self.spec["token_pattern"], text.lower() if lower else text):
            idx = self._find(token, lower)
            if idx is not None:
                ids.append(idx)
            else:
                ids.extend(i for piece in re.findall(self.spec["piece_pattern"], token) if (i := self._find(piece, lower)) is not None)
        return {"ids": np.asarray(ids, dtype=np.int64)}

    def _find(self, token: str, lower: bool) -> int | None:
        idx = self._vocab.get(token)
        return self._vocab.get(token.lower()) if idx is None and not lower else idx

    def _features(self, item: Any) -> dict[str, np.ndarray]:
        row = np.asarray(item, dtype=np.float32).reshape(-1)
        if row.size != self.spec["feature_dim"]:
            raise UsageError(f"a feature row has {row.size} values; the model takes {self.spec['feature_dim']}")
        return {"features": row}

    def _pad(self, samples: Sequence[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
        length = max(s["input_ids"].size for s in samples)
        left = self.spec.get("padding_side", "right") == "left"
        batch = {}
        for key in samples[0]:
            fill = self.spec.get("pad_id", 0) if key == "input_ids" else 0
            rows = np.full((len(samples), length), fill, dtype=np.int64)
            for i, s in enumerate(samples):
                n = s[key].size
                if left:
                    rows[i, length - n:] = s[key]
                else:
                    rows[i, :n] = s[key]
            batch[key] = rows
        return batch


def _wave(item: Any, rate: int) -> np.ndarray:
    if isinstance(item, (str, Path)):
        from graft.backbones.audio_io import load_audio

        return load_audio(Path(item), rate)
    wave = np.asarray(item, dtype=np.float32)
    if wave.ndim != 1:
        raise UsageError(f"audio waveforms must be 1-D (mono) at {rate} Hz, got shape {wave.shape}")
    return wave


def _text(item: Any) -> str:
    if not isinstance(item, str):
        raise UsageError(f"a text model takes str items, got {type(item).__name__}")
    return item


def _load_vocab(path: Path) -> dict[str, int]:
    if not path.is_file():
        raise DataError(f"{path}: the vocabulary file is missing; export the model again")
    return {word: i for i, word in enumerate(path.read_text(encoding="utf-8").split("\n")[:-1])}


def _load_tokenizer(spec: dict[str, Any], folder: Path) -> Any:
    from tokenizers import Tokenizer

    path = folder / spec["tokenizer_file"]
    if not path.is_file():
        raise DataError(f"{path}: the tokenizer file is missing; export the model again")
    tokenizer = Tokenizer.from_file(str(path))
    tokenizer.no_padding()  # padding is per batch, done here (to the longest text)
    tokenizer.enable_truncation(max_length=int(spec["max_tokens"]))
    return tokenizer
