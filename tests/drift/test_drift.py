"""Drift checks: quiet on data like the training data, loud (with the right severity) on shifted
data, and re-adaptation that keeps the old model as its parent."""

from __future__ import annotations

import json

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

import graft
from graft.data import from_arrays
from graft.drift import DriftConfig, check_drift, readapt, severity_of
from graft.errors import UsageError

CENTRES = np.random.default_rng(42).normal(size=(4, 16)) * 2.0
FAST = DriftConfig(n_permutations=200, max_samples=400)


@pytest.fixture(autouse=True, scope="module")
def one_blas_thread():
    with threadpool_limits(limits=1):
        yield


def sample(n: int, seed: int, shift: float = 0.0, classes=(0, 1, 2, 3)) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.choice(classes, size=n)
    return CENTRES[y] + rng.normal(size=(n, 16)) + shift, y


@pytest.fixture(scope="module")
def model():
    X, y = sample(500, seed=1)
    return graft.probe(from_arrays(X, y, classes=list("abcd"), val_fraction=0.2))


def test_no_shift_is_not_an_alarm(model):
    severities = [check_drift(model, from_arrays(sample(150, seed=100 + s)[0]), config=FAST).severity for s in range(3)]
    assert severities == ["none"] * 3


def test_a_large_shift_is_strong_and_names_the_evidence(model):
    report = check_drift(model, from_arrays(sample(150, seed=7, shift=1.0)[0]), config=FAST)
    assert report.severity == "strong" and report.drifted
    assert report.mmd_p_value < 0.005 and report.domain_auc > 0.9 and report.domain_p_value < 1e-6
    assert report.most_shifted_classes and report.most_shifted_classes[0].mmd is not None
    assert set(report.to_dict()) >= {"severity", "mmd_p_value", "domain_auc", "confidence_p_value", "drifted"}


def test_a_change_of_class_mix_shows_in_the_class_shares(model):
    report = check_drift(model, from_arrays(sample(200, seed=8, classes=(0, 0, 0, 1))[0]), config=FAST)
    assert report.drifted
    shares = {s.name: s.share_change for s in report.most_shifted_classes}
    assert shares.get("a", 0) > 0.3 and shares.get("d", 0) < -0.15


@pytest.mark.parametrize("mmd_p, auc, auc_p, drop, ks_p, expected", [
    (0.5, 0.52, 0.3, 0.0, 0.6, "none"),
    (0.001, 0.62, 0.2, 0.01, 0.3, "mild"),
    (0.3, 0.60, 0.001, 0.01, 0.3, "mild"),  # only the classifier test sees it (a partial shift)
    (0.008, 0.55, 0.008, 0.0, 0.5, "none"),  # each test must pass alpha/2 (Bonferroni)
    (0.001, 0.95, 1e-9, 0.0, 0.5, "strong"),
    (0.001, 0.60, 0.1, 0.20, 0.001, "strong"),
    (0.3, 0.55, 0.2, 0.20, 0.001, "none"),  # confidence dropped, embeddings did not move: reported, not counted
    (0.001, 0.60, 0.1, 0.02, 0.001, "mild"),  # significant but tiny confidence change does not upgrade
])
def test_severity_rule_follows_the_documented_thresholds(mmd_p, auc, auc_p, drop, ks_p, expected):
    assert severity_of(mmd_p, auc, auc_p, drop, ks_p, DriftConfig())[0] == expected


def test_a_model_without_reference_needs_reference_data(model):
    bare = graft.SavedModel(model.config, model.head, model.lineage)
    new = from_arrays(sample(60, seed=9)[0])
    with pytest.raises(UsageError, match="no drift reference.*--reference"):
        check_drift(bare, new)
    report = check_drift(bare, new, reference_data=from_arrays(sample(300, seed=1)[0]), config=FAST)
    assert report.n_reference == 300 and report.severity == "none"


def test_embeddings_of_another_size_are_refused(model):
    with pytest.raises(UsageError, match="8 features but the model's reference has 16"):
        check_drift(model, from_arrays(np.ones((10, 8))))


def test_readapt_falls_back_to_the_pseudo_labelled_reference_and_records_the_parent(model, tmp_path):
    old_dir = model.save(tmp_path / "old")
    old = graft.load(old_dir)
    X_new, y_new = sample(300, seed=11, shift=1.5)
    new, report = readapt(old, from_arrays(X_new), out=tmp_path / "new", method="self-train")
    assert report["source"]["kind"] == "reference sample pseudo-labelled by the model"  # "<arrays>" is not a path
    lineage = json.loads((tmp_path / "new" / "lineage.json").read_text())
    assert lineage["parent"]["model"] == str(old_dir.absolute()) and lineage["parent"]["method"] == "probe"
    assert lineage["adaptation"]["target"]["labels_used"] is False
    assert np.mean(new.head.predict(X_new) == y_new) >= np.mean(old.head.predict(X_new) == y_new)
    assert graft.load(tmp_path / "new").reference["embeddings"].shape[1] == 16


def test_readapt_refuses_unknown_methods_and_empty_data(model):
    with pytest.raises(UsageError, match="re-adaptation method"):
        readapt(model, from_arrays(sample(20, seed=3)[0]), method="dann")
    with pytest.raises(UsageError, match="empty"):
        readapt(model, [])


def test_new_text_data_needs_no_label_column(tiny_text_csv, tmp_path):
    text_model = graft.probe(tiny_text_csv, "test_text")
    new = tmp_path / "incoming.csv"
    new.write_text("text\nturbo engine and wheel\nfresh mango with cherry\nbrakes and tyres\napple and plum\n")
    report = check_drift(text_model, new, config=FAST)
    assert report.n_new == 4 and report.severity in ("none", "mild", "strong")
