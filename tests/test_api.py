"""The Python API, end to end on the tiny test backbones (and once on real weights and data)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import graft
from graft.errors import DataError, UsageError


@pytest.fixture(scope="module")
def model_dir(tiny_images, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("api") / "model"
    graft.probe(tiny_images, "test_cnn", out=out)
    return out


def test_public_names_resolve_lazily():
    for name in ("create_backbone", "list_backbones", "embed", "probe", "evaluate", "predict", "load",
                 "TransferClassifier", "SavedModel", "FeatureStore", "ProbeConfig", "make_dataset", "read"):
        assert callable(getattr(graft, name)), name
    with pytest.raises(AttributeError):
        graft.no_such_thing  # noqa: B018


def test_embed_a_dataset_or_a_list_of_items(tiny_images):
    ds = graft.read(tiny_images)
    x = graft.embed(tiny_images, backbone="test_cnn")
    assert x.shape == (len(ds), 16) and x.dtype == np.float32
    np.testing.assert_array_equal(graft.embed(ds, backbone="test_cnn"), x)
    np.testing.assert_array_equal(graft.embed(ds.items[:3], backbone="test_cnn"), x[:3])
    assert graft.embed(ds.items[:3], backbone="test_cnn", image_size=40).shape == (3, 16)


def test_embed_texts(tiny_text_csv):
    x = graft.embed(tiny_text_csv, backbone="test_text")
    assert x.shape == (12, 16)


def test_probe_reports_val_and_test_metrics(tiny_images):
    model = graft.probe(tiny_images, "test_cnn")
    metrics = model.lineage["metrics"]
    assert set(metrics) == {"val", "test"}
    assert metrics["test"]["n"] == 12 and metrics["val"]["n"] == 6
    assert metrics["test"]["accuracy"] >= 0.75  # colours are easy even for a random tiny CNN
    assert model.path is None  # not saved without out=


def test_probe_on_text(tiny_text_csv, tmp_path):
    model = graft.probe(tiny_text_csv, "test_text", out=tmp_path / "m")
    assert model.classes == ["fruit", "cars"] or sorted(model.classes) == ["cars", "fruit"]
    rows = graft.predict(tmp_path / "m", ["banana and apple", "engine turbo wheel"])
    assert [r["input"] for r in rows] == ["banana and apple", "engine turbo wheel"]


def test_evaluate_gives_the_full_report(model_dir, tiny_images):
    report = graft.evaluate(model_dir, tiny_images)
    assert report["n"] == 12  # the test split only
    assert {"accuracy", "macro_f1", "per_class", "confusion_matrix", "classes"} <= set(report)
    assert report["classes"] == ["blue", "green", "red"]
    matrix = np.array(report["confusion_matrix"])
    assert matrix.shape == (3, 3) and matrix.sum() == 12
    assert report["accuracy"] == pytest.approx(np.trace(matrix) / 12)
    assert {m["support"] for m in report["per_class"].values()} == {4}


def test_evaluate_matches_classes_by_name(model_dir, tmp_path, make_images):
    other = make_images(tmp_path / "other", {"test": 2})
    (other / "test" / "purple").mkdir()
    import shutil

    shutil.copy(next((other / "test" / "red").iterdir()), other / "test" / "purple" / "p.png")
    report = graft.evaluate(model_dir, other)
    assert report["n"] == 6 and report["unknown_class_items"] == 1


def test_predict_files_and_folders(model_dir, tiny_images):
    files = sorted((tiny_images / "test" / "blue").iterdir())
    rows = graft.predict(model_dir, [str(files[0]), tiny_images / "test" / "green"])
    assert len(rows) == 1 + 4
    for row in rows:
        assert row["label"] in {"blue", "green", "red"}
        assert sum(row["probabilities"].values()) == pytest.approx(1.0)
        assert row["label"] == max(row["probabilities"], key=row["probabilities"].get)


def test_predict_a_missing_file_is_a_usage_error(model_dir, tmp_path):
    with pytest.raises(UsageError, match="not found"):
        graft.predict(model_dir, [str(tmp_path / "nope.png")])


def test_load_returns_a_predictor(model_dir, tiny_images):
    model = graft.load(model_dir)
    items = sorted((tiny_images / "test").rglob("*.png"))
    assert model.predict_proba(items).shape == (12, 3)
    assert model.embed(items).shape == (12, 16)


def test_errors_a_user_can_act_on(tiny_images, tmp_path):
    with pytest.raises(DataError, match="no such file"):
        graft.probe(tmp_path / "missing", "test_cnn")
    with pytest.raises(UsageError, match="Did you mean"):
        graft.probe(tiny_images, "mobilenet_v22")


def test_classifier_contract_with_a_real_backbone(tiny_images):
    ds = graft.read(tiny_images)
    names = np.array(ds.classes)[ds.labels]
    clf = graft.TransferClassifier(backbone="test_cnn", C=1.0).fit(ds.items, names)
    assert set(clf.classes_) == {"blue", "green", "red"}
    assert clf.score(ds.items, names) >= 0.8
    assert clf.get_params()["backbone"] == "test_cnn"


@pytest.mark.weights
def test_probe_on_fashion_mnist_with_mobilenet(tmp_path, mobilenet_weights, fashion_mnist_source):
    """The real thing, small: packaged ImageNet weights transfer to Fashion-MNIST at 64 px."""
    data = graft.make_dataset("fashion_mnist", tmp_path / "fm", per_class=20)
    model = graft.probe(data, "mobilenet_v2", image_size=64, out=tmp_path / "model")
    accuracy = model.lineage["metrics"]["test"]["accuracy"]
    assert accuracy > 0.5, f"test accuracy {accuracy:.3f} is not clearly above chance (0.1)"
    report = graft.evaluate(tmp_path / "model", data)
    assert report["accuracy"] == pytest.approx(accuracy, abs=1e-9)
    assert report["n"] == 200
