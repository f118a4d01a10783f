"""MetaHead (Reptile / FOMAML) against a prototypical classifier and a plain probe, on digits."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression

from graft.errors import UsageError
from graft.fewshot import MetaHead, PrototypicalClassifier, episodic_eval

pytest.importorskip("torch")


@pytest.fixture(scope="module")
def digits_split():
    """Meta-train on digits 0-5, meta-test on the unseen digits 6-9 (raw 64-d pixels)."""
    d = load_digits()
    train = d.target < 6
    return (d.data[train], d.target[train]), (d.data[~train], d.target[~train])


def test_zero_steps_without_meta_training_is_a_prototypical_classifier(digits_split):
    (Xtr, ytr), (Xte, yte) = digits_split
    meta = MetaHead(meta_steps=0).fit(Xtr, ytr)
    support = np.concatenate([np.flatnonzero(yte == c)[:3] for c in (6, 7, 8, 9)])
    adapted = meta.adapt(Xte[support], yte[support], steps=0)
    proto = PrototypicalClassifier().fit(Xte[support], yte[support])
    assert np.array_equal(adapted.predict(Xte), proto.predict(Xte))


@pytest.mark.parametrize("algorithm", ["reptile", "fomaml"])
def test_meta_training_runs_and_records_its_curve(algorithm, digits_split):
    (Xtr, ytr), _ = digits_split
    meta = MetaHead(algorithm=algorithm, n_way=3, k_shot=2, n_query=4, meta_steps=20).fit(Xtr, ytr)
    assert len(meta.history_) == 20 and all(0.0 <= a <= 1.0 for a in meta.history_)
    assert meta.adapter_["W"].shape == (64, 64)


def test_compare_with_protonet_and_probe_at_the_same_shots(digits_split):
    (Xtr, ytr), (Xte, yte) = digits_split
    meta = MetaHead(algorithm="reptile", n_way=3, meta_steps=60, seed=0).fit(Xtr, ytr)
    learners = {
        "protonet": PrototypicalClassifier,
        "probe": lambda: LogisticRegression(max_iter=500),
        "metahead": meta.as_factory(steps=10),
    }
    table = {
        (name, k): episodic_eval(Xte, yte, n_way=4, k_shot=k, n_query=10, episodes=40, classifier_factory=f, seed=1)
        for k in (1, 5)
        for name, f in learners.items()
    }
    print("\n4-way episodes on unseen digits 6-9 (meta-trained on 0-5):")
    for (name, k), result in table.items():
        print(f"  {name:<9} {k}-shot  {result}")
    for k in (1, 5):
        assert table[("metahead", k)].mean > 0.6  # chance is 0.25
        # meta-trained on six classes it should about match its zero-step start, a prototype classifier
        assert table[("metahead", k)].mean > table[("protonet", k)].mean - 0.08
    assert table[("metahead", 5)].mean > table[("metahead", 1)].mean  # more shots help


def test_adapt_errors(digits_split):
    (Xtr, ytr), (Xte, yte) = digits_split
    with pytest.raises(UsageError, match="call fit"):
        MetaHead().adapt(Xte[:4], yte[:4])
    meta = MetaHead(meta_steps=0).fit(Xtr, ytr)
    with pytest.raises(UsageError, match="at least two classes"):
        meta.adapt(Xte[:2], np.array([6, 6]))
    with pytest.raises(UsageError, match=r"support must be \(n, 64\)"):
        meta.adapt(Xte[:4, :10], yte[:4])
    with pytest.raises(UsageError, match="algorithm"):
        MetaHead(algorithm="maml").fit(Xtr, ytr)
