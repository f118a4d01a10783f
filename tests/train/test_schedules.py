import pytest

from graft.errors import UsageError
from graft.train.schedules import lr_factor, phase_at, plan


def test_fastai_freezes_then_unfreezes_everything_with_spread_lrs():
    phases = plan("fastai", 4, 5, 1e-3)
    assert [p.name for p in phases] == ["frozen", "unfrozen"]
    assert phases[0].trainable == [] and phases[0].epochs == 1
    assert phases[1].trainable == [0, 1, 2, 3, 4] and phases[1].epochs == 3
    lrs = phases[1].group_lrs
    assert lrs == sorted(lrs) and lrs[-1] / lrs[0] == pytest.approx(100.0)  # input-side groups learn slowest


def test_gradual_unfreezes_one_group_per_epoch_from_the_top():
    phases = plan("gradual", 5, 3, 1e-3)
    assert [p.trainable for p in phases] == [[], [2], [1, 2], [0, 1, 2]]
    assert sum(p.epochs for p in phases) == 5


def test_lpft_starts_from_a_probe_and_finetunes_everything_at_a_low_lr():
    (phase,) = plan("lp-ft", 3, 4, 1e-3)
    assert phase.probe_init and phase.trainable == [0, 1, 2, 3]
    assert phase.head_lr == pytest.approx(1e-4) and phase.group_lrs[0] < phase.group_lrs[-1]


def test_lpft_can_keep_the_groups_nearest_the_input_frozen():
    (phase,) = plan("lp-ft", 3, 4, 1e-3, {"frozen_groups": 2})
    assert phase.trainable == [2, 3] and phase.probe_init
    assert plan("lp-ft", 3, 4, 1e-3, {"frozen_groups": 4})[0].trainable == []  # all frozen: only the head trains
    with pytest.raises(UsageError, match=r"frozen_groups=9 is outside its allowed range \[0, 4\]"):
        plan("lp-ft", 3, 4, 1e-3, {"frozen_groups": 9})


def test_unknown_schedule_and_option_are_usage_errors():
    with pytest.raises(UsageError, match="unknown schedule"):
        plan("nope", 3, 2, 1e-3)
    with pytest.raises(UsageError, match="unknown setting"):
        plan("fastai", 3, 2, 1e-3, {"freeze_epoch": 1})


def test_phase_at_and_lr_curve():
    phases = plan("fastai", 4, 2, 1e-3)
    assert phase_at(phases, 0)[1].name == "frozen"
    assert phase_at(phases, 3)[:3:2] == (1, 2)
    curve = [lr_factor("cosine", 0.1, s, 100) for s in range(100)]
    assert max(curve) == pytest.approx(1.0) and curve[-1] < 0.01 and curve[0] < 0.2
