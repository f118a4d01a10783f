"""``verify``: scratch vs probe vs fine-tuning over seeds, a verdict, and the verdict in the saved model."""

from __future__ import annotations

import json

import pytest

from graft.errors import DataError, UsageError
from graft.models import SavedModel
from graft.train.config import TrainConfig
from graft.verify import Run, verify
from graft.verify.stats import t_interval
from graft.verify.verdict import ArmResult, _judge

# Small and fast: two seeds, a few epochs, no early stopping (every run trains the same epochs).
NEGATIVE = TrainConfig(epochs=4, batch_size=8, lr=1e-2, early_stopping=0)
POSITIVE = TrainConfig(epochs=2, batch_size=8, early_stopping=0)


@pytest.fixture(scope="module")
def negative(tiny_images, useless_weights, tmp_path_factory):
    out = tmp_path_factory.mktemp("verify") / "model"
    return verify(tiny_images, "test_cnn", weights=useless_weights, seeds=2, budget=None, config=NEGATIVE, out=out)


def test_a_useless_source_on_an_easy_task_is_negative_transfer(negative):
    # colours: scratch learns them at once; zeroed convolutions see every image alike
    assert negative.verdict == "negative transfer"
    assert negative.arms["scratch"].interval.mean >= 0.9
    assert negative.arms["finetune"].interval.mean <= 0.5 and negative.arms["probe"].interval.mean <= 0.5
    assert negative.gain.high < 0 and "hurt" in negative.summary


def test_every_trained_arm_runs_each_seed_on_the_same_test_split(negative):
    assert negative.seeds == [0, 1]
    for name in ("scratch", "finetune"):
        assert [r.seed for r in negative.arms[name].runs] == [0, 1]
        assert all(r.epochs == 4 for r in negative.arms[name].runs)
    assert len(negative.arms["probe"].runs) == 1  # deterministic: run once
    assert negative.n_test == 12
    from graft.autofit import FitConfig

    assert set(negative.selection["validation"]) == set(FitConfig().schedules)  # what graft fit tries
    assert negative.arms["finetune"].method == f"finetune:{negative.schedule}"


def test_the_verdict_is_saved_in_lineage_and_card(negative):
    model = SavedModel.load(negative.model)
    record = model.lineage["verdict"]
    assert record["verdict"] == "negative transfer" and record["summary"] == negative.summary
    assert record["arms"]["scratch"]["test"]["mean"] == pytest.approx(negative.arms["scratch"].interval.mean)
    assert record["seeds"] == [0, 1] and record["gain_over_scratch"]["high"] < 0
    assert model.config.method.startswith("finetune:")
    card = (model.path / "README.md").read_text()
    assert "## Did transfer help?" in card and "**negative transfer**" in card
    json.dumps(negative.to_dict())


def test_a_source_with_the_right_features_is_positive_transfer(stripes, edge_weights):
    # edge detectors tell stripe orientation apart; 4 images per class do not teach it from scratch.
    # Three seeds: scratch varies with augmentation, and with two the t quantile (12.7) swamps any gap.
    v = verify(stripes, "test_cnn", weights=edge_weights, image_size=16, seeds=3, budget=None, config=POSITIVE,
               schedule="lp-ft")
    assert v.verdict == "positive transfer", v.summary
    assert v.arms["probe"].interval.mean >= 0.9 and v.arms["finetune"].interval.mean >= 0.9
    assert v.gain.low > 0 and "helped" in v.summary
    assert v.model is None and v.best_model is not None and v.best_model.lineage["verdict"]["verdict"] == v.verdict


def _arm(name: str, values: list[float]) -> ArmResult:
    runs = [Run(i, v, v, 1.0) for i, v in enumerate(values)]
    return ArmResult(name, name, runs, t_interval(values))


@pytest.mark.parametrize("finetune, beats", [([0.95, 0.96, 0.97], True), ([0.80, 0.86, 0.83], False)])
def test_the_probe_flag(finetune, beats):
    arms = {"scratch": _arm("scratch", [0.5, 0.55, 0.52]), "probe": _arm("probe", [0.84]),
            "finetune": _arm("finetune", finetune)}
    v = _judge(arms, "lp-ft", {}, "accuracy", [0, 1, 2], None, 4, 0.95, 100)
    assert v.verdict == "positive transfer" and v.finetune_beats_probe is beats
    assert ("did not beat the linear probe" in v.summary) is not beats


def test_requests_that_cannot_be_verified_fail_before_training(tiny_images, tiny_image_copy):
    with pytest.raises(DataError, match="test split"):
        verify(tiny_image_copy, "test_cnn", seeds=2)  # class folders only: no test split
    with pytest.raises(UsageError, match="scratch arm"):
        verify(tiny_images, "test_cnn", schedule="scratch")
    with pytest.raises(UsageError, match="--seeds"):
        verify(tiny_images, "test_cnn", seeds=0)


@pytest.mark.weights
@pytest.mark.slow
def test_imagenet_weights_on_fashion_mnist_are_positive_transfer(mobilenet_weights, fashion_mnist_source, tmp_path):
    from graft.data import make_dataset

    data = make_dataset("fashion_mnist", tmp_path / "fmnist", per_class=20)
    v = verify(data, "mobilenet_v2", image_size=64, seeds=2, budget=None, schedule="lp-ft",
               config=TrainConfig(epochs=2, batch_size=32, early_stopping=0))
    assert v.verdict == "positive transfer", v.summary
