"""The search loop: core arms first, optional arms only when worth it and when they fit the budget;
every skipped arm is reported with its reason."""

import time

import numpy as np
import pytest

from graft.data import from_arrays
from graft.autofit import FitConfig
from graft.autofit.arms import Arm, Outcome
from graft.autofit.budget import Budget
from graft.autofit.context import Context
from graft.autofit.search import search


class FakeArm(Arm):
    """An arm with a given cost estimate and validation accuracy; records whether it ran."""

    def __init__(self, name, kind, estimate, val, n_val=200):
        super().__init__(name, kind, ["none"], None)
        self._cost, self._val, self._n_val, self.ran = estimate, val, n_val, False

    def estimate(self, ctx):
        return self._cost

    def run(self, ctx):
        self.ran = True
        row = {**self.describe(), "val_accuracy": self._val, "val_se": 0.0, "n_val": self._n_val, "seconds": 0.0}
        return Outcome(row, lambda: None)


@pytest.fixture
def ctx():
    rng = np.random.default_rng(0)
    ds = from_arrays(rng.normal(size=(40, 3)), rng.integers(0, 2, 40), splits=["train"] * 30 + ["val"] * 10)
    return Context(ds, FitConfig(time_budget=60), Budget(60))


def test_an_arm_estimated_to_overrun_the_budget_is_skipped_and_reported(ctx):
    arms = [FakeArm("probe", "probe", 1, 0.60), FakeArm("lp-ft", "finetune", 1e6, 0.99)]
    rows, outcomes = search(ctx, arms)
    assert not arms[1].ran and "lp-ft" not in outcomes
    skipped = {r["method"]: r["skipped"] for r in rows if "skipped" in r}
    assert "more than the" in skipped["lp-ft"] and "left of the time budget" in skipped["lp-ft"]


def test_optional_arms_run_by_expected_gain_per_second_and_stop_when_validation_cannot_resolve_them(ctx):
    arms = [FakeArm("probe", "probe", 1, 0.60), FakeArm("views", "views", 10, 0.61),
            FakeArm("lp-ft", "finetune", 2, 0.70)]
    started = []
    ctx.config = FitConfig(time_budget=60, min_gain_se=0)  # every arm the budget allows
    ctx.notify = lambda e: started.append(e["arm"]) if e.get("status") == "start" else None
    search(ctx, arms)
    assert started == ["probe", "lp-ft", "views"]  # lp-ft: larger prior gain, 5x cheaper here
    ctx2 = Context(ctx.ds, FitConfig(time_budget=60, min_gain_se=1.0), Budget(60))
    arms = [FakeArm("probe", "probe", 1, 0.95, n_val=50), FakeArm("lp-ft", "finetune", 1, 0.99, n_val=50)]
    rows, _ = search(ctx2, arms)  # expected gain 0.1 * 0.05 = 0.005 < se 0.031: saturated
    assert not arms[1].ran and "saturated" in next(r["skipped"] for r in rows if r["method"] == "lp-ft")


def test_a_budget_below_the_first_arm_still_returns_a_model_and_says_it_overran(ctx):
    arms = [FakeArm("probe", "probe", 1e6, 0.6), FakeArm("multilayer", "multilayer", 1e6, 0.7)]
    rows, outcomes = search(ctx, arms)
    assert list(outcomes) == ["probe"] and "over the time budget" in rows[0]["note"]
    assert "left of the time budget" in rows[1]["skipped"]


def test_budget_clock_and_estimates():
    budget = Budget(10, started=time.perf_counter() - 4)
    assert 5.9 < budget.left() <= 6.0 and budget.allows(5) and not budget.allows(7)


def test_numeric_rows_are_fitted_with_the_probe_alone():
    import graft

    rng = np.random.default_rng(1)
    x = rng.normal(size=(90, 4))
    y = (x[:, 0] + 0.3 * rng.normal(size=90) > 0).astype(int)
    ds = from_arrays(x, y, splits=["train"] * 60 + ["val"] * 15 + ["test"] * 15)
    model, report = graft.fit(ds, config=FitConfig(trials=2))
    assert [c["method"] for c in report["candidates"]] == ["probe"] and report["backbones"]["backbones"] == ["identity"]
    assert report["candidates"][0]["test_accuracy"] >= 0.7 and model.predict_proba(x[:3]).shape == (3, 2)


def test_the_multilayer_trials_fit_a_sample_and_the_chosen_settings_every_training_row(colour_images, monkeypatch):
    import graft
    from graft.autofit import multi
    from graft.heads import multilayer

    monkeypatch.setattr(multi, "TRIAL_ROWS", 20)
    fitted_rows = []
    real = multilayer.fit_multilayer

    def spy(train, y_train, *args, **kwargs):
        fitted_rows.append(len(y_train))
        return real(train, y_train, *args, **kwargs)

    monkeypatch.setattr(multilayer, "fit_multilayer", spy)
    ds = graft.read(colour_images)
    ctx = Context(ds, FitConfig(backbones=["test_cnn"], trials=2), Budget(600))
    ctx.main_backbone, ctx.study_base = "test_cnn", "trial-rows-test"
    outcome = multi.MultiLayerArm("test_cnn", 32).run(ctx)
    n_train = ctx.n("train")
    assert n_train > 20 and fitted_rows[:-1] and set(fitted_rows[:-1]) == {20} and fitted_rows[-1] == n_train
    assert outcome.row["val_accuracy"] is not None and outcome.build is not None
