"""Issue 9 §3: every setting is checked before any data is read, and the error states the range.

The data path given to the commands below does not exist: a settings error that mentions the
range (not "not found") proves the check ran before reading anything.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

import graft
from graft.cli.main import app
from graft.errors import UsageError

MISSING = "/nonexistent/graft-hostile-data"


def cli(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.mark.parametrize("size", ["0", "-5", "100000"])
@pytest.mark.parametrize("command", [["probe", MISSING, "--out", "/nonexistent/m"], ["embed", MISSING],
                                     ["finetune", MISSING, "--out", "/nonexistent/m"]])
def test_image_size_out_of_range_is_refused_before_reading(command, size):
    result = cli(*command, "--backbone", "test_cnn", "--image-size", size)
    assert result.exit_code == 2, result.output
    assert f"image_size={size}" in result.output and "[16, 2048]" in result.output


def test_image_size_is_checked_by_the_api_and_the_input_spec():
    with pytest.raises(UsageError, match=r"\[16, 2048\]"):
        graft.embed(MISSING, "test_cnn", image_size=100000)
    from graft.backbones.spec import InputSpec

    with pytest.raises(UsageError, match=r"image_size=0 .*\[16, 2048\]"):
        InputSpec(image_size=0)


@pytest.mark.parametrize("option, wanted", [
    ("frozen_groups=-7", r"frozen_groups=-7 is outside its allowed range \[0, 3\] for this backbone"),
    ("frozen_groups=999", r"frozen_groups=999 is outside its allowed range \[0, 3\] for this backbone"),
])
def test_frozen_groups_out_of_range_names_the_range(option, wanted):
    import re

    result = cli("finetune", MISSING, "--out", "/nonexistent/m", "--backbone", "test_cnn", "--option", option)
    assert result.exit_code == 2 and re.search(wanted, result.output), result.output


@pytest.mark.parametrize("option, wanted", [
    ("frozen_groups=abc", ["frozen_groups='abc' must be an integer", "layer_decay (a number)"]),
    ("layer_decay=abc", ["layer_decay='abc' must be a number", "frozen_groups (an integer)"]),
    ("3=4", ["unknown setting(s) ['3']", "frozen_groups (an integer)"]),
    ("=", ["--option takes KEY=VALUE"]),
])
def test_schedule_options_of_the_wrong_type_are_usage_errors_not_tracebacks(option, wanted):
    result = cli("finetune", MISSING, "--out", "/nonexistent/m", "--backbone", "test_cnn", "--option", option)
    assert result.exit_code == 2, result.output
    assert all(w in result.output for w in wanted), result.output
    assert "Traceback" not in result.output


def test_epochs_zero_states_the_allowed_range():
    result = cli("finetune", MISSING, "--out", "/nonexistent/m", "--backbone", "test_cnn", "--epochs", "0")
    assert result.exit_code == 2 and "epochs=0 is outside its allowed range [1, 100000]" in result.output


def test_rank_sample_below_two_per_class_is_refused_not_silently_enlarged(tiny_images):
    result = cli("rank", tiny_images, "--backbones", "test_cnn", "--sample", "5")
    assert result.exit_code == 2, result.output
    assert "--sample 5 is outside its allowed range [6, 24]" in result.output  # 3 classes x 2
    early = cli("rank", MISSING, "--backbones", "test_cnn", "--sample", "2")
    assert early.exit_code == 2 and "[4, inf)" in early.output


def _configs():
    from graft.adapt.driver import AdaptConfig
    from graft.drift.detect import DriftConfig
    from graft.fewshot.setfit import SetFitConfig
    from graft.heads.probe import ProbeConfig
    from graft.train.config import TrainConfig
    from graft.train.schedules import FastaiConfig, FullConfig, GradualConfig, LPFTConfig

    return [
        (TrainConfig, {"batch_size": 0}, "[1, 65536]"), (TrainConfig, {"lr": -1.0}, "[0, 10]"),
        (TrainConfig, {"dropout": 1.0}, "[0, 1)"), (TrainConfig, {"time_budget": -5.0}, "(0, inf)"),
        (TrainConfig, {"seed": -1}, "[0, 4294967295]"), (TrainConfig, {"lora": -2}, "[0, 4096]"),
        (LPFTConfig, {"layer_decay": 0.0}, "(0, 1]"), (GradualConfig, {"groups_per_epoch": 0}, "[1, 1000]"),
        (FastaiConfig, {"freeze_epochs": -1}, "[0, 100000]"), (FullConfig, {"backbone_lr_factor": 0.0}, "(0, 10]"),
        (ProbeConfig, {"C": 0.0}, "(0, inf)"), (ProbeConfig, {"C_grid": (1.0, -1.0)}, "(0, inf)"),
        (ProbeConfig, {"val_fraction": 1.0}, "(0, 1)"), (DriftConfig, {"alpha": 0.0}, "(0, 1)"),
        (DriftConfig, {"max_samples": 0}, "[10, 1000000]"), (SetFitConfig, {"epochs": 0.0}, "(0, 10000]"),
        (SetFitConfig, {"batch_examples": 1}, "[2, 65536]"), (AdaptConfig, {"C": -1.0}, "(0, inf)"),
    ]


@pytest.mark.parametrize("index", range(18))
def test_every_config_dataclass_states_the_range_of_a_bad_setting(index):
    cls, bad, interval = _configs()[index]
    (name, value), = bad.items()
    with pytest.raises(UsageError, match="is outside its allowed range") as caught:
        cls(**bad)
    assert f"{name}={value!r}" in str(caught.value) and interval in str(caught.value)
    assert cls.__name__ in str(caught.value)


def test_a_bool_or_nan_is_not_a_number_in_range():
    from graft.train.config import TrainConfig

    with pytest.raises(UsageError, match="epochs=True must be an integer"):
        TrainConfig(epochs=True)
    with pytest.raises(UsageError, match=r"lr=nan is outside"):
        TrainConfig(lr=float("nan"))


def test_fewshot_settings_are_checked_before_reading(tmp_path: Path):
    from graft.fewshot import fewshot_eval

    with pytest.raises(UsageError, match=r"k_shot=0 is outside its allowed range \[1, 10000\]"):
        fewshot_eval(MISSING, "test_cnn", k_shot=0)


def test_shift_cluster_and_lr_find_settings_state_their_range():
    import numpy as np

    from graft.cluster import cluster_embeddings
    from graft.shift import dataset_shift, measure_shift
    from graft.train.finetune import find_lr

    X = np.random.default_rng(0).normal(size=(20, 3))
    with pytest.raises(UsageError, match=r"alpha=1.5 is outside its allowed range \(0, 1\)"):
        measure_shift(X, X, alpha=1.5)
    with pytest.raises(UsageError, match=r"n_permutations=-1 is outside its allowed range \[0, 1000000\]"):
        dataset_shift(MISSING, MISSING, "test_cnn", n_permutations=-1)  # before reading either dataset
    with pytest.raises(UsageError, match=r"min_cluster_size=0 is outside its allowed range \[2, 1000000\]"):
        cluster_embeddings(X, method="hdbscan", min_cluster_size=0)
    with pytest.raises(UsageError, match=r"steps=0 is outside its allowed range \[5, 100000\]"):
        find_lr(MISSING, "test_cnn", steps=0)


@pytest.mark.parametrize("kwargs, wanted", [
    ({"budget": -5}, r"budget=-5 is outside its allowed range \(0, inf\)"),
    ({"confidence": 1.5}, r"confidence=1.5 is outside its allowed range \(0, 1\)"),
    ({"image_size": 0}, r"image_size=0 .*\[16, 2048\]"),
    ({"seeds": 0}, r"--seeds must be at least 1"),
    ({"epochs": 0}, r"epochs=0 .*\[1, "),
    ({"metric": "auc"}, r"metric must be"),
])
def test_verify_settings_are_checked_before_reading(kwargs, wanted):
    with pytest.raises(UsageError, match=wanted):
        graft.verify_transfer(MISSING, "test_cnn", **kwargs)


def test_verify_cli_states_the_budget_range_before_reading():
    result = cli("verify", MISSING, "--backbone", "test_cnn", "--budget", "-5")
    assert result.exit_code == 2, result.output
    assert "(0, inf)" in result.output


@pytest.mark.parametrize("kwargs, wanted", [
    ({"k_range": (1, 4)}, r"k_range=1 is outside its allowed range \[2, 100000\]"),
    ({"n_central": -1}, r"n_central=-1 is outside"),
    ({"method": "dbscan"}, r"unknown clustering method 'dbscan'"),
    ({"k": 1}, r"k=1 is outside its allowed range"),
    ({"image_size": 5}, r"image_size=5 .*\[16, 2048\]"),
])
def test_cluster_settings_are_checked_before_reading(kwargs, wanted):
    with pytest.raises(UsageError, match=wanted):
        graft.cluster_dataset(MISSING, "test_cnn", **kwargs)
