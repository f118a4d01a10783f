"""Every kind of saved model exports with parity: fine-tuned (trained backbone weights), LoRA
(adapters merged into the graph), audio (raw waveform), numeric rows; and the real packaged
backbones (``weights``): a mobilenet_v2 probe with static int8, a minilm_l6 text model with dynamic int8."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import onnx
import pytest

import graft
from graft.export.runtime import ExportedModel

TOPICS = {
    "fruit": ["apple banana cherry", "ripe mango and pear", "banana split with cherry", "fresh apple pie",
              "pear and plum jam", "mango smoothie with banana", "cherry and apple tart", "plum pear mango"],
    "cars": ["engine wheel gearbox", "diesel engine and turbo", "new tyres for the wheel", "gearbox oil change",
             "turbo engine racing car", "steering wheel and brakes", "diesel car brakes", "racing tyres and turbo"],
}


def _texts() -> list[str]:
    return [t for texts in TOPICS.values() for t in texts]


@pytest.fixture(scope="module")
def topics(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("topics") / "topics.csv"
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["text", "label"])
        writer.writerows([t, label] for label, texts in TOPICS.items() for t in texts)
    return path


def _same(exported: Path, saved: Path, items: list) -> float:
    return float(np.abs(graft.load(exported).predict_proba(items) - graft.load(saved).predict_proba(items)).max())


def test_finetuned_model_exports_its_trained_backbone(colour_images, tmp_path):
    from graft.train.config import TrainConfig

    model = tmp_path / "ft"
    graft.finetune(colour_images, "test_cnn", "lp-ft", out=model, config=TrainConfig(epochs=1, batch_size=8, early_stopping=0))
    assert json.loads((model / "config.json").read_text())["backbone"]["in_model"] is True
    result = graft.export_model(model, tmp_path / "onnx")
    assert result["parity"]["max_abs_difference"] <= 1e-4
    files = sorted((colour_images / "test").rglob("*.png"))[:6]
    assert _same(tmp_path / "onnx", model, files) <= 1e-4
    # the trained weights, not the pretrained ones: a probe on the same data predicts differently
    graft.probe(colour_images, "test_cnn", out=tmp_path / "probe")
    assert _same(tmp_path / "onnx", tmp_path / "probe", files) > 1e-3


def test_lora_model_exports_with_adapters_merged_and_its_tokenizer(topics, tmp_path):
    transformers = pytest.importorskip("transformers")
    pytest.importorskip("peft")
    import torch

    from graft.train.config import TrainConfig

    bert = tmp_path / "tiny-bert"
    bert.mkdir()
    words = sorted({w for t in _texts() for w in t.split()})
    (bert / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]) + "\n")
    transformers.BertTokenizer(str(bert / "vocab.txt")).save_pretrained(str(bert))
    torch.manual_seed(0)
    transformers.BertModel(transformers.BertConfig(vocab_size=5 + len(words), hidden_size=32, num_hidden_layers=2,
                                                   num_attention_heads=2, intermediate_size=64,
                                                   max_position_embeddings=32)).save_pretrained(str(bert))
    model = tmp_path / "lora"
    graft.finetune(topics, f"hf:{bert}", "full", out=model,
                   config=TrainConfig(epochs=1, batch_size=4, early_stopping=0, lora=4, lr=3e-2))
    out = tmp_path / "onnx"
    result = graft.export_model(model, out, quantize="dynamic")
    assert result["parity"]["max_abs_difference"] <= 1e-4
    graph = onnx.load(str(out / "model.onnx"))
    assert not any("lora" in node.name for node in graph.graph.node)  # merged into the base weights
    assert (out / "tokenizer" / "tokenizer.json").is_file()
    texts = _texts() + ["unknown words only", "apple " * 50]  # an unknown word and a text cut at 32 tokens
    assert _same(out, model, texts) <= 1e-4
    assert result["quantization"]["top1_agreement"] >= 0.99


def test_audio_model_exports_raw_waveform_preprocessing(tmp_path):
    sf = pytest.importorskip("soundfile")
    rng = np.random.default_rng(0)
    for label, freq in (("low", 220.0), ("high", 1760.0)):
        for i in range(6):
            t = np.arange(int(8000 * rng.uniform(0.4, 1.3))) / 8000
            wave = 0.5 * np.sin(2 * np.pi * freq * t) + 0.05 * rng.normal(size=t.size)
            (tmp_path / "clips" / label).mkdir(parents=True, exist_ok=True)
            sf.write(tmp_path / "clips" / label / f"{i}.wav", wave.astype(np.float32), 8000)
    graft.probe(tmp_path / "clips", "test_audio", out=tmp_path / "model")
    result = graft.export_model(tmp_path / "model", tmp_path / "onnx")
    info = json.loads((tmp_path / "onnx" / "config.json").read_text())
    assert info["preprocess"] == {"kind": "waveform", "sample_rate": 8000, "num_samples": 8000}
    assert info["inputs"][0]["name"] == "input_values" and result["parity"]["max_abs_difference"] <= 1e-4
    clips = sorted((tmp_path / "clips").rglob("*.wav"))
    assert _same(tmp_path / "onnx", tmp_path / "model", clips) <= 1e-4


def test_numeric_rows_export_the_head_alone(tmp_path):
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(0, 1, (30, 5)), rng.normal(2, 1, (30, 5))]).astype(np.float32)
    y = np.repeat([0, 1], 30)
    ds = graft.from_arrays(X, y, ["a", "b"], val_fraction=0.2)
    model = graft.probe(ds, "identity")
    model.save(tmp_path / "model")
    result = graft.export_model(tmp_path / "model", tmp_path / "onnx", data=ds)
    assert json.loads((tmp_path / "onnx" / "config.json").read_text())["inputs"][0]["shape"] == ["batch", 5]
    assert result["parity"]["max_abs_difference"] <= 1e-4
    assert _same(tmp_path / "onnx", tmp_path / "model", list(X[:10])) <= 1e-4


@pytest.mark.weights
def test_mobilenet_v2_probe_exports_with_static_int8(mobilenet_weights, tiny_images, tmp_path):
    graft.probe(tiny_images, "mobilenet_v2", image_size=64, out=tmp_path / "model")
    result = graft.export_model(tmp_path / "model", tmp_path / "onnx", quantize="static")
    assert result["parity"]["max_abs_difference"] <= 1e-4
    q = result["quantization"]
    assert q["top1_agreement"] >= 0.99 and q["size_int8"] < q["size_fp32"] / 3
    files = sorted((tiny_images / "test").rglob("*.png"))
    assert _same(tmp_path / "onnx", tmp_path / "model", files) <= 1e-4
    assert ExportedModel.load(tmp_path / "onnx", variant="int8").predict(files) == graft.load(tmp_path / "onnx").predict(files)


@pytest.mark.weights
def test_minilm_text_model_exports_transformer_pooling_head_and_tokenizer(topics, tmp_path):
    if not graft.backbones.weights.find_local(graft.backbones.get_spec("minilm_l6").weights[0]):
        pytest.skip("packaged all-MiniLM-L6-v2 not installed (make setup)")
    graft.probe(topics, "minilm_l6", out=tmp_path / "model")
    result = graft.export_model(tmp_path / "model", tmp_path / "onnx", quantize="dynamic")
    info = json.loads((tmp_path / "onnx" / "config.json").read_text())
    assert [i["name"] for i in info["inputs"]] == ["input_ids", "attention_mask", "token_type_ids"]
    assert info["preprocess"]["max_tokens"] == 256 and (tmp_path / "onnx" / "tokenizer" / "tokenizer.json").is_file()
    texts = _texts() + ["", "Ünïcödé text, punctuation!? and a long tail " * 40]
    assert _same(tmp_path / "onnx", tmp_path / "model", texts) <= 1e-4
    assert result["quantization"]["top1_agreement"] >= 0.99
    assert result["quantization"]["size_int8"] < result["quantization"]["size_fp32"] / 3


def test_multilayer_probe_exports_its_taps_selection_and_test_time_views(tiny_images, tiny_text_csv, tmp_path):
    multilayer = pytest.importorskip("graft.heads.multilayer")
    config = multilayer.MultiLayerConfig(views=("hflip",), tta="on", pooling="grid2", keep=0.5)
    graft.probe(tiny_images, "test_cnn", config=config, out=tmp_path / "images")
    head = json.loads((tmp_path / "images" / "config.json").read_text())["head"]
    assert head["type"] == "multilayer" and head["tta_views"] == ["hflip"]
    result = graft.export_model(tmp_path / "images", tmp_path / "images-onnx")
    assert result["parity"]["max_abs_difference"] <= 1e-4
    files = sorted((tiny_images / "test").rglob("*.png"))
    assert _same(tmp_path / "images-onnx", tmp_path / "images", files) <= 1e-4
    graft.probe(tiny_text_csv, "test_text", layers="all", out=tmp_path / "texts")
    assert graft.export_model(tmp_path / "texts", tmp_path / "texts-onnx")["parity"]["max_abs_difference"] <= 1e-4


@pytest.mark.weights
@pytest.mark.slow
def test_whisper_probe_exports_encoder_and_log_mel_settings(tmp_path):
    sf = pytest.importorskip("soundfile")
    rng = np.random.default_rng(0)
    for label, freq in (("low", 220.0), ("high", 1760.0)):
        for i in range(6):
            t = np.arange(int(16000 * rng.uniform(0.4, 1.3))) / 16000
            (tmp_path / "clips" / label).mkdir(parents=True, exist_ok=True)
            sf.write(tmp_path / "clips" / label / f"{i}.wav", (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32), 16000)
    try:
        graft.probe(tmp_path / "clips", "whisper_tiny_en", out=tmp_path / "model")
    except graft.errors.WeightsError as exc:
        pytest.skip(f"packaged Whisper tiny.en not available ({exc})")
    result = graft.export_model(tmp_path / "model", tmp_path / "onnx")
    info = json.loads((tmp_path / "onnx" / "config.json").read_text())
    assert info["preprocess"]["kind"] == "log_mel" and (tmp_path / "onnx" / "mel_filters.npy").is_file()
    assert [i["name"] for i in info["inputs"]] == ["features", "frames"]
    assert result["parity"]["max_abs_difference"] <= 1e-4


@pytest.mark.weights
def test_word_vector_model_exports_its_vocabulary_and_lookup(topics, tmp_path):
    try:
        graft.probe(topics, "glove_6b_50d", out=tmp_path / "model")
    except graft.errors.WeightsError as exc:
        pytest.skip(f"packaged GloVe vectors not available ({exc})")
    result = graft.export_model(tmp_path / "model", tmp_path / "onnx")
    info = json.loads((tmp_path / "onnx" / "config.json").read_text())
    assert info["preprocess"]["kind"] == "word_ids" and (tmp_path / "onnx" / "vocab.txt").is_file()
    assert [i["name"] for i in info["inputs"]] == ["ids", "mask"] and result["parity"]["max_abs_difference"] <= 1e-4
    texts = _texts() + ["Don\u2019t panic: the U.S. e-mail costs $3.50!", "", "zzqqxx unknownword", "end."]
    assert _same(tmp_path / "onnx", tmp_path / "model", texts) <= 1e-4
    import os

    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "onnx").stat().st_mode & 0o777 == 0o777 & ~umask  # not left private (0700) by mkdtemp
