"""LoRA fine-tuning: only adapters + head train, the saved model holds only those, and loading puts
them back on the base weights. Fast tests on a tiny random BERT (``hf:DIR``); one on minilm_l6."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file
from typer.testing import CliRunner

import graft
from graft.backbones import create_backbone
from graft.cli.main import app
from graft.errors import GraftError, UsageError
from graft.train.config import TrainConfig
from graft.train.finetune import build_trainer, finetune
from graft.train.lora import LoraSettings, default_targets, inject_lora

transformers = pytest.importorskip("transformers")
pytest.importorskip("peft")

TOPICS = {
    "fruit": ["apple banana cherry", "ripe mango and pear", "banana split with cherry", "fresh apple pie",
              "pear and plum jam", "mango smoothie with banana", "cherry and apple tart", "plum pear mango"],
    "cars": ["engine wheel gearbox", "diesel engine and turbo", "new tyres for the wheel", "gearbox oil change",
             "turbo engine racing car", "steering wheel and brakes", "diesel car brakes", "racing tyres and turbo"],
}
HIDDEN, LAYERS, RANK = 32, 2, 4


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A random 2-layer BERT + word-level tokenizer saved with save_pretrained: ``hf:DIR``."""
    directory = tmp_path_factory.mktemp("tiny-bert")
    words = sorted({w for texts in TOPICS.values() for t in texts for w in t.split()})
    (directory / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]) + "\n")
    transformers.BertTokenizer(str(directory / "vocab.txt")).save_pretrained(str(directory))
    torch.manual_seed(0)
    config = transformers.BertConfig(vocab_size=5 + len(words), hidden_size=HIDDEN, num_hidden_layers=LAYERS,
                                     num_attention_heads=2, intermediate_size=64, max_position_embeddings=32)
    transformers.BertModel(config).save_pretrained(str(directory))
    return f"hf:{directory}"


@pytest.fixture(scope="module")
def topics(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """train.csv (8 per class) + test.csv (the same texts reversed word by word)."""
    root = tmp_path_factory.mktemp("topics")
    for split, flip in (("train", False), ("test", True)):
        with (root / f"{split}.csv").open("w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["text", "label"])
            for label, texts in TOPICS.items():
                writer.writerows([" ".join(t.split()[::-1]) if flip else t, label] for t in texts)
    return root


def _config(**kw) -> TrainConfig:
    return TrainConfig(**{"epochs": 2, "lr": 3e-2, "batch_size": 4, "early_stopping": 0, "lora": RANK, **kw})


def _adapter_params(layers: int, dim: int, rank: int, targets: int = 2) -> int:
    return layers * targets * 2 * dim * rank  # A: rank×dim, B: dim×rank per adapted projection


def test_lora_trains_only_adapters_and_head_and_leaves_base_weights_untouched(tiny_bert, topics):
    ds = graft.read(topics)
    trainer, _ = build_trainer(ds, tiny_bert, _config(schedule="full"))
    trainer.run()
    model = trainer.model
    adapters = _adapter_params(LAYERS, HIDDEN, RANK)
    head = HIDDEN * 2 + 2
    assert [h["trainable_params"] for h in trainer.state.history] == [adapters + head] * 2
    assert trainer.state.history[0]["total_params"] == model.parameter_counts()["total"] > 10 * (adapters + head)
    trained = model.backbone.state_dict()
    pristine = create_backbone(tiny_bert).state_dict()
    base = {k.replace(".base_layer", ""): v for k, v in trained.items() if "lora_" not in k}
    assert base.keys() == pristine.keys()
    assert all(torch.equal(base[k], pristine[k]) for k in pristine)
    assert all(trained[k].abs().sum() > 0 for k in trained if "lora_B" in k)  # B starts at 0: it trained


def test_saved_model_holds_only_adapters_and_head_and_reloads_to_the_same_predictions(tiny_bert, topics, tmp_path):
    out = tmp_path / "m"
    model = finetune(topics, tiny_bert, "full", out=out, config=_config())
    tensors = load_file(str(out / "model.safetensors"))
    assert {k.split(".")[0] for k in tensors} == {"head", "lora"}
    assert sum(v.size for k, v in tensors.items() if k.startswith("lora.")) == _adapter_params(LAYERS, HIDDEN, RANK)
    base_file = Path(tiny_bert[3:]) / "model.safetensors"
    assert (out / "model.safetensors").stat().st_size < base_file.stat().st_size / 5
    config = json.loads((out / "config.json").read_text())["backbone"]
    assert config["in_model"] is False
    assert config["lora"]["r"] == RANK and config["lora"]["targets"] == ["query", "value"]

    texts = [t for texts in TOPICS.values() for t in texts]
    reloaded = graft.load(out)
    assert np.array_equal(reloaded.predict_proba(texts), model.predict_proba(texts))
    test_log_loss = model.lineage["metrics"]["test"]["log_loss"]  # measured on the trainer's in-memory model
    assert graft.evaluate(out, topics)["log_loss"] == pytest.approx(test_log_loss, abs=1e-5)
    # the adapters are applied: features differ from the base model's
    assert not np.allclose(reloaded.embed(texts[:4]), graft.embed(texts[:4], tiny_bert), atol=1e-4)


def test_loading_refuses_other_base_weights(tiny_bert, topics, tmp_path):
    out = tmp_path / "m"
    finetune(topics, tiny_bert, "full", out=out, config=_config(epochs=1))
    config = json.loads((out / "config.json").read_text())
    config["backbone"]["lora"]["base_sha256"] = "0" * 64
    (out / "config.json").write_text(json.dumps(config))
    with pytest.raises(GraftError, match="base weights"):
        graft.load(out).predict(["apple pie"])


def test_lora_needs_attention_projections_and_pretrained_weights(topics):
    ds = graft.read(topics)
    with pytest.raises(UsageError, match="transformer backbones"):
        build_trainer(ds, "test_text", _config())
    with pytest.raises(UsageError, match="scratch"):
        build_trainer(ds, "test_text", _config(schedule="scratch"))


def test_whisper_encoder_gets_adapters_on_q_and_v_projections():
    pytest.importorskip("librosa")
    bb = create_backbone("whisper_tiny_en", weights="random")
    assert default_targets(bb) == ["q_proj", "v_proj"]
    settings = inject_lora(bb, LoraSettings(r=8))
    trainable = sum(p.numel() for p in bb.parameters() if p.requires_grad)
    assert settings.targets == ["q_proj", "v_proj"] and trainable == _adapter_params(4, 384, 8)


def test_finetune_cli_takes_a_lora_rank(tiny_bert, topics, tmp_path):
    out = tmp_path / "cli"
    result = CliRunner().invoke(app, ["finetune", str(topics), "--backbone", tiny_bert, "--schedule", "full",
                                      "--epochs", "1", "--lora", "2", "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads((out / "config.json").read_text())["backbone"]["lora"]["r"] == 2
    card = (out / "README.md").read_text()
    assert "- lora" in card and "LoRA adapters (rank 2" in card  # the card says the base weights are needed
    assert CliRunner().invoke(app, ["finetune", str(topics), "--lora", "-1", "--out", str(out)]).exit_code == 2


@pytest.mark.weights
def test_minilm_lora_finetune_saves_a_small_model(tmp_path):
    fortunes = pytest.importorskip("graft.data.builtin.fortunes")
    if not fortunes.ROOT.exists():
        pytest.skip("fortunes not installed")
    data = graft.make_dataset("fortunes", tmp_path / "data", per_class=10, categories=["computers", "food", "sports"])
    out = tmp_path / "m"
    config = TrainConfig(epochs=1, batch_size=8, lora=8, early_stopping=0)
    model = finetune(data, "minilm_l6", "lp-ft", out=out, config=config)
    counts = model.lineage["settings"]["lora"]
    assert counts["adapter_params"] == _adapter_params(6, 384, 8) == 73_728
    assert counts["trainable"] == 73_728 + 3 * 384 + 3 and counts["total"] > 22_000_000
    assert (out / "model.safetensors").stat().st_size < 400_000  # the base weights are ~90 MB
    test = model.lineage["metrics"]["test"]  # measured on the trainer's in-memory model
    assert test["accuracy"] >= 0.5  # 3 topics, 6 test quotes: chance is 0.33
    reloaded = graft.evaluate(out, data)  # base weights from the package + the saved adapters
    assert reloaded["accuracy"] == test["accuracy"] and reloaded["log_loss"] == pytest.approx(test["log_loss"], abs=1e-5)


def test_lp_ft_head_ignores_a_feature_that_is_constant_up_to_float_noise():
    # minilm_l6 has such a dimension (std 1e-8): folding its standardisation into the head gave
    # weights of ~1e7, and the first fine-tuning step blew the loss up (lp-ft fell to chance).
    # Kept here beside the LoRA lp-ft tests; it belongs with the trainer's tests.
    from graft.train.finetune import _probe_head

    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 20)
    x = rng.normal(size=(40, 8)) + 2 * y[:, None]
    x[:, 3] = 0.5 + 5e-8 * rng.normal(size=40)  # above the probe's 1e-8 floor, like minilm's
    weight, bias = _probe_head(TrainConfig())(x[:30], y[:30], x[30:], y[30:], 2)
    assert weight[:, 3].tolist() == [0.0, 0.0] and np.abs(weight).max() < 100
    assert ((x @ weight.T + bias).argmax(1) == y).mean() > 0.9
