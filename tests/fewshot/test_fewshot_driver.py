"""``fewshot_eval``: learners compared on the same episodes; meta-learning never sees episode classes."""

from __future__ import annotations

import numpy as np
import pytest

from graft.data import from_arrays
from graft.errors import UsageError
from graft.fewshot.driver import fewshot_eval


@pytest.fixture
def many_classes():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(8, 12)) * 3
    y = np.repeat(np.arange(8), 20)
    return from_arrays(centres[y] + rng.normal(size=(160, 12)), y, classes=[f"c{i}" for i in range(8)])


def test_learners_get_intervals_on_held_out_classes(many_classes):
    report = fewshot_eval(many_classes, n_way=3, k_shot=2, n_query=5, episodes=10,
                          methods=("protonet", "probe", "meta"), meta_steps=5)
    assert set(report["methods"]) == {"protonet", "probe", "meta"}
    assert not set(report["eval_classes"]) & set(report["meta_train_classes"])
    for result in report["methods"].values():
        assert result["ci95"][0] <= result["mean"] <= result["ci95"][1] and result["episodes"] == 10
    assert report["methods"]["protonet"]["mean"] > 0.8


def test_k_larger_than_a_class_fails_before_embedding(many_classes):
    with pytest.raises(UsageError, match="has 20 example\\(s\\).*k_shot \\+ n_query = 25"):
        fewshot_eval(many_classes, n_way=3, k_shot=10, n_query=15)


def test_meta_needs_classes_beyond_the_episodes_and_methods_are_checked(many_classes):
    with pytest.raises(UsageError, match="meta-learning needs classes of its own"):
        fewshot_eval(many_classes, n_way=7, methods=("meta",))
    with pytest.raises(UsageError, match="unknown few-shot method"):
        fewshot_eval(many_classes, methods=("maml",))
