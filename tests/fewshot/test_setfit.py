"""SetFit-style training: bounded in-batch pairs, a cached frozen prefix that changes nothing but
speed, a contrastive loss that pulls classes apart, and a saved model that reloads."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from graft.backbones import create_backbone
from graft.errors import UsageError
from graft.fewshot.setfit import (
    PrefixEncoder,
    SetFitConfig,
    class_balanced_batch,
    contrastive_finetune,
    fit_setfit,
    pair_batches,
    sample_pairs,
)
from graft.models import SavedModel

TEXTS = {
    "fruit": ["apple banana cherry", "ripe mango and pear", "banana split with cherry", "fresh apple pie",
              "pear and plum jam", "mango smoothie with banana", "cherry and apple tart", "plum and pear salad"],
    "cars": ["engine wheel gearbox", "diesel engine and turbo", "new tyres for the wheel", "gearbox oil change",
             "turbo engine racing car", "steering wheel and brakes", "car brakes and tyres", "diesel car engine oil"],
}


@pytest.fixture
def texts():
    items = [t for ts in TEXTS.values() for t in ts]
    return items, np.repeat([0, 1], 8)


def test_pairs_are_bounded_and_labelled_right():
    labels = np.repeat([0, 1, 2], 5)
    a, b, target = sample_pairs(labels, 3, np.random.default_rng(0))
    assert len(a) <= 2 * 3 * len(labels) and not np.any(a == b)
    np.testing.assert_array_equal(target == 1.0, labels[a] == labels[b])
    assert int(target.sum()) == 3 * len(labels)  # every example got its 3 positives


def test_balanced_pairs_match_negatives_to_the_positives_found():
    labels = np.array([0, 0, 1, 1, 1, 1, 1])  # class 0 has one partner each, class 1 four
    a, _, target = sample_pairs(labels, 3, np.random.default_rng(0), balanced=True)
    for i in range(len(labels)):
        mine, same = target[a == i], (labels == labels[i]).sum()
        assert (mine == 1).sum() == min(3, same - 1)
        assert (mine == 0).sum() == min((mine == 1).sum(), len(labels) - same)
    a, _, target = sample_pairs(labels, 3, np.random.default_rng(0))
    assert (target[a == 0] == 0).sum() == 3  # unbalanced: up to R negatives regardless


def test_batches_hold_each_class_at_least_twice_and_are_drawn_lazily():
    labels = np.repeat(np.arange(6), 8)
    rows = class_balanced_batch(labels, 24, np.random.default_rng(1))
    assert len(rows) == 24 and np.bincount(labels[rows]).max() == 4 and (np.bincount(labels[rows])[np.bincount(labels[rows]) > 0] >= 2).all()
    stream = pair_batches(labels, SetFitConfig(batch_examples=12, pairs_per_example=2), steps=10**9)
    rows, (a, b, _) = next(stream)  # a billion steps cost nothing until drawn
    assert len(rows) == 12 and a.max() < 12 and len(a) <= 2 * 2 * 12


def test_cached_prefix_gives_the_same_embeddings_as_the_full_forward(texts):
    bb = create_backbone("test_text")
    encoder = PrefixEncoder(bb, texts[0], frozen_groups=2, max_tokens=None)
    assert encoder.start == 2 and encoder.cache is not None
    bb.eval()
    rows = np.array([0, 5, 9, 15])
    with torch.no_grad():
        cached = encoder.encode(rows)
        full = torch.nn.functional.normalize(bb.forward_features(bb.collate([bb.preprocess(texts[0][i]) for i in rows])), dim=1)
    torch.testing.assert_close(cached, full, atol=1e-5, rtol=1e-5)
    assert all(not p.requires_grad for p in bb.layer_groups()[0].module.parameters())


def separation(bb, items, labels) -> float:
    from graft.features.extract import embed_items

    Z = embed_items(items, bb, use_cache=False)
    Z = Z / np.linalg.norm(Z, axis=1, keepdims=True)
    S = Z @ Z.T
    same = labels[:, None] == labels[None, :]
    return float(S[same & ~np.eye(len(labels), dtype=bool)].mean() - S[~same].mean())


def test_contrastive_tuning_pulls_the_classes_apart(texts):
    items, labels = texts
    bb = create_backbone("test_text")
    before = separation(bb, items, labels)
    config = SetFitConfig(epochs=20, batch_examples=8, pairs_per_example=3, lr=1e-2, frozen_groups=0, seed=0)
    losses = contrastive_finetune(bb, items, labels, config)
    assert len(losses) == 40 and np.mean(losses[-5:]) < np.mean(losses[:5])
    assert separation(bb, items, labels) > before + 0.2
    assert all(p.requires_grad for p in bb.parameters())  # the backbone is handed back unfrozen


def write_topics(path, per_class_test: int = 2) -> str:
    import csv

    with open(path / "train.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["text", "label"])
        for label, items in TEXTS.items():
            writer.writerows([t, label] for t in items[:-per_class_test])
    with open(path / "test.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["text", "label"])
        for label, items in TEXTS.items():
            writer.writerows([t, label] for t in items[-per_class_test:])
    return str(path)


def test_fit_setfit_saves_a_model_that_reloads(tmp_path):
    data = write_topics(tmp_path)
    config = dataclasses.replace(SetFitConfig(), epochs=2, batch_examples=6, frozen_groups=1)
    model, report = fit_setfit(data, "test_text", k_shot=3, out=tmp_path / "m", config=config)
    assert report["n_train"] == 6 and report["metrics"]["test"]["n"] == 4
    loaded = SavedModel.load(tmp_path / "m")
    assert loaded.config.method == "fewshot:setfit" and loaded.config.backbone.in_model
    probe = ["mango and cherry", "turbo diesel"]
    np.testing.assert_allclose(loaded.predict_proba(probe), model.predict_proba(probe), atol=1e-5)


def test_k_shot_larger_than_a_class_and_non_text_data_are_refused(tmp_path, tiny_images):
    data = write_topics(tmp_path)
    with pytest.raises(UsageError, match="k_shot=7 is more than a class has: 'cars' has 6"):
        fit_setfit(data, "test_text", k_shot=7)
    with pytest.raises(UsageError, match="image data, not text"):
        fit_setfit(tiny_images, "test_text", k_shot=2)
