"""``graft.adapt.driver.adapt``: the saved model predicts what the fitted adapter predicts, its
lineage says where it came from, and every kind of bad input fails with one clear error."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from graft.adapt.driver import SHALLOW_METHODS, AdaptConfig, adapt, affine_map, export_head, fit_adapter
from graft.data import from_arrays
from graft.errors import GraftError, UsageError
from graft.models import SavedModel

FAST_PARAMS = {"kmm": {"max_samples": 100, "solver_max_iter": 200}, "kliep": {"solver_max_iter": 100},
               "auto": {"candidates": [["source-only", {}], ["coral", {"eps": 0.1}], ["sa", {"n_components": 3}],
                                       ["self-train", {"rounds": 2}]]}}
CLASSES = ["a", "b", "c"]


def blobs_as_datasets(shifted_blobs):
    Xs, ys, Xt, yt = shifted_blobs
    return (from_arrays(Xs, ys, classes=CLASSES, source="src"), from_arrays(Xt, None, source="tgt"),
            from_arrays(Xt, yt, classes=CLASSES, source="tgt-eval"))


@pytest.mark.parametrize("method", [m for m in SHALLOW_METHODS])
def test_exported_head_equals_the_estimator(method, shifted_blobs):
    Xs, ys, Xt, _ = shifted_blobs
    config = AdaptConfig(method=method, params=FAST_PARAMS.get(method, {}))
    estimator, _ = fit_adapter(config, Xs, ys, Xt)
    head = export_head(estimator, 3)
    np.testing.assert_allclose(head.predict_proba(Xt), estimator.predict_proba(Xt), atol=1e-9)


def test_subspace_alignment_folds_into_a_head_over_raw_features():
    rng = np.random.default_rng(1)
    Xs, ys = rng.normal(size=(120, 12)), np.repeat([0, 1, 2, 3], 30)
    Xs[np.arange(120), ys] += 3
    Xt = Xs @ rng.normal(size=(12, 12)) * 0.3 + 2
    estimator, _ = fit_adapter(AdaptConfig(method="sa", params={"n_components": 5}), Xs, ys, Xt)
    head = export_head(estimator, 4)
    assert head.weight.shape == (4, 12)
    np.testing.assert_allclose(head.predict_proba(Xt), estimator.predict_proba(Xt), atol=1e-9)


def test_binary_and_absent_classes_map_to_the_full_class_list():
    rng = np.random.default_rng(0)
    Xs, ys = rng.normal(size=(60, 3)), np.repeat([0, 2], 30)  # class 1 has no source example
    Xs[ys == 2] += 2
    estimator, _ = fit_adapter(AdaptConfig(method="coral"), Xs, ys, rng.normal(size=(40, 3)) + 1)
    proba = export_head(estimator, 3).predict_proba(Xs)
    assert proba.shape == (60, 3) and np.all(proba[:, 1] < 1e-12)
    np.testing.assert_allclose(proba[:, [0, 2]], estimator.predict_proba(Xs), atol=1e-9)


def test_affine_map_refuses_a_non_linear_transform():
    A, offset = affine_map(lambda x: x, 3)
    assert A is None and not offset.any()
    with pytest.raises(GraftError, match="not affine"):
        affine_map(lambda x: x**2, 3)


def test_adapt_saves_a_model_that_predicts_like_the_estimator(shifted_blobs, tmp_path):
    source, target, target_eval = blobs_as_datasets(shifted_blobs)
    model, report = adapt(source, target, method="coral", out=tmp_path / "m", target_eval=target_eval)
    estimator, _ = fit_adapter(AdaptConfig(method="coral"), shifted_blobs[0], shifted_blobs[1], shifted_blobs[2])
    loaded = SavedModel.load(tmp_path / "m")
    Xt = shifted_blobs[2]
    np.testing.assert_allclose(loaded.predict_proba(list(Xt)), estimator.predict_proba(Xt), atol=1e-4)
    assert report["target_eval"]["accuracy"] > report["source_only"]["accuracy"] + 0.1
    assert loaded.config.method == "adapt:coral"
    assert loaded.reference["embeddings"].shape[1] == 4  # drift reference: target-domain embeddings


def test_lineage_records_source_target_method_and_evidence(shifted_blobs, tmp_path):
    source, target, target_eval = blobs_as_datasets(shifted_blobs)
    _, report = adapt(source, target, method="auto", params=FAST_PARAMS["auto"], out=tmp_path / "m",
                      target_eval=target_eval)
    lineage = json.loads((tmp_path / "m" / "lineage.json").read_text())
    record = lineage["adaptation"]
    assert record["source"]["source"] == "src" and record["target"]["source"] == "tgt"
    assert record["target"]["labels_used"] is False
    assert record["method"] == "auto" and record["chosen"] == report["chosen"]
    assert {row["method"] for row in record["selection"]["table"]} == {"source-only", "coral", "sa", "self-train"}
    assert record["reason"] and "target_eval" in lineage["metrics"]


def test_target_labels_are_never_read(shifted_blobs):
    Xs, ys, Xt, yt = shifted_blobs
    source = from_arrays(Xs, ys, classes=CLASSES)
    m1, _ = adapt(source, from_arrays(Xt, yt, classes=CLASSES), method="self-train")
    m2, _ = adapt(source, from_arrays(Xt, np.roll(yt, 7), classes=CLASSES), method="self-train")
    np.testing.assert_array_equal(m1.head.weight, m2.head.weight)


def write_colour_images(root: Path, offset: int, n: int = 8) -> Path:
    rng = np.random.default_rng(offset)
    for name, colour in {"red": (200, 40, 40), "green": (40, 180, 60), "blue": (40, 60, 200)}.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            pixels = np.clip(np.array(colour) * 0.6 + offset + rng.normal(0, 20, (16, 16, 3)), 0, 255)
            Image.fromarray(pixels.astype(np.uint8), "RGB").save(root / name / f"{i}.png")
    return root


def test_end_to_end_on_images_with_a_tiny_backbone(tmp_path):
    source = write_colour_images(tmp_path / "src", 0)
    target = write_colour_images(tmp_path / "tgt", 60)
    model, report = adapt(source, target, "test_cnn", method="sa", params={"n_components": 4},
                          out=tmp_path / "m", target_eval=target)
    loaded = SavedModel.load(tmp_path / "m")
    files = sorted((target / "red").glob("*.png"))
    assert loaded.predict_proba(files).shape == (len(files), 3)
    np.testing.assert_allclose(loaded.predict_proba(files), model.predict_proba(files), atol=1e-4)
    assert loaded.config.backbone.name == "test_cnn" and report["n_target"] == 24


# --- bad input: one clear error each --------------------------------------------------------------
def test_empty_target_is_refused(shifted_blobs):
    source, _, _ = blobs_as_datasets(shifted_blobs)
    empty = source.select(np.zeros(len(source), dtype=bool))
    with pytest.raises(UsageError, match="target .* is empty"):
        adapt(source, empty, method="coral")


def test_single_source_class_is_refused(shifted_blobs):
    Xs, _, Xt, _ = shifted_blobs
    with pytest.raises(UsageError, match="single class"):
        adapt(from_arrays(Xs, np.zeros(len(Xs), dtype=int), classes=["a", "b"]), from_arrays(Xt), method="coral")


def test_different_feature_sizes_are_refused(shifted_blobs):
    source, _, _ = blobs_as_datasets(shifted_blobs)
    with pytest.raises(UsageError, match="5 features but the source has 4.*same backbone"):
        adapt(source, from_arrays(np.ones((10, 5))), method="coral")


def test_different_modalities_are_refused(shifted_blobs, tmp_path):
    source, _, _ = blobs_as_datasets(shifted_blobs)
    with pytest.raises(UsageError, match="array data but .* is image data"):
        adapt(source, write_colour_images(tmp_path / "tgt", 0, n=2), method="coral")


def write_embeddings(path: Path, X: np.ndarray, backbone: str, labels=None) -> Path:
    np.save(path, X.astype(np.float32))
    labels = [-1] * len(X) if labels is None else list(map(int, labels))
    path.with_suffix(".json").write_text(json.dumps({"backbone": backbone, "classes": CLASSES, "labels": labels,
                                                      "splits": ["train"] * len(X)}))
    return path


def test_embeddings_from_different_backbones_are_refused(shifted_blobs, tmp_path):
    Xs, ys, Xt, _ = shifted_blobs
    src = write_embeddings(tmp_path / "src.npy", Xs, "mobilenet_v2", ys)
    with pytest.raises(UsageError, match="different backbones .*mobilenet_v2.*efficientnet_lite0"):
        adapt(src, write_embeddings(tmp_path / "tgt.npy", Xt, "efficientnet_lite0"), method="coral")
    model, report = adapt(src, write_embeddings(tmp_path / "tgt2.npy", Xt, "mobilenet_v2"), method="coral")
    assert report["backbone"] == "mobilenet_v2" and model.head.n_features == 4


def test_unknown_method_suggests_the_closest(shifted_blobs):
    source, target, _ = blobs_as_datasets(shifted_blobs)
    with pytest.raises(UsageError, match="Did you mean coral"):
        adapt(source, target, method="corla")
