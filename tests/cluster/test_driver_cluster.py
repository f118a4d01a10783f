"""``cluster_dataset``: embeddings vs raw inputs, files written, labels only score."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from graft.cluster import cluster_dataset, raw_features
from graft.data import from_arrays, read
from graft.errors import UsageError


def test_text_is_compared_with_tfidf_and_central_examples_are_texts(tiny_text_csv, tmp_path):
    report = cluster_dataset(tiny_text_csv, "test_text", k=2, out=tmp_path)
    assert report["raw"]["k"] == 2 and report["labelled"]
    assert 0 <= report["raw"]["nmi"] <= 1 and 0 <= report["embedding"]["nmi"] <= 1
    central = list(csv.DictReader((tmp_path / "central.csv").open()))
    assert {row["label"] for row in central} <= {"fruit", "cars"} and " " in central[0]["item"]
    assert sum(1 for _ in (tmp_path / "assignments.csv").open()) == 1 + 12


def test_raw_features_per_modality(tiny_images, tiny_text_csv):
    images = raw_features(read(tiny_images))
    assert images.shape == (42, 32 * 32) and 0 <= images.min() and images.max() <= 1
    assert raw_features(read(tiny_text_csv)).shape[0] == 12
    assert raw_features(from_arrays(np.eye(3))) is None  # arrays are their own raw input


def test_arrays_choose_k_by_silhouette_and_skip_the_raw_baseline():
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(c * 6, 0.5, size=(15, 3)) for c in range(3)])
    report = cluster_dataset(from_arrays(X, np.repeat([0, 1, 2], 15), classes=["x", "y", "z"]), k_range=(2, 6))
    assert report["embedding"]["k"] == 3 and report["embedding"]["nmi"] == pytest.approx(1.0)
    assert report["raw"] is None and "files" not in report


def test_unlabelled_data_has_no_scores_and_bad_k_is_refused():
    X = np.random.default_rng(0).normal(size=(10, 2))
    report = cluster_dataset(from_arrays(X), k=2)
    assert report["embedding"]["nmi"] is None and not report["labelled"]
    with pytest.raises(UsageError, match="k must be between 2 and"):
        cluster_dataset(from_arrays(X), k=10)
