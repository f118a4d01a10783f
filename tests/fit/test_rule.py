"""graft fit's choice between arms: the one-standard-error rule, simplest first."""

import pytest

from graft.autofit import choose
from graft.autofit.rule import standard_error


def rows(n=100, **val):
    return [{"method": m.replace("_", "-"), "val_accuracy": v, "n_val": n, "seconds": 1.0} for m, v in val.items()]


def test_a_more_complex_arm_must_beat_the_pick_by_more_than_one_standard_error():
    # se at 0.80 with n=100: 0.04
    assert choose(rows(probe=0.80, multilayer=0.83))[0] == "probe"  # within noise: the simpler arm stays
    assert choose(rows(probe=0.80, multilayer=0.85))[0] == "multilayer"  # clearly better
    assert choose(rows(probe=0.80, multilayer=0.80))[0] == "probe"  # a tie keeps the simpler arm


def test_the_walk_compares_each_arm_with_the_current_pick_not_with_its_neighbour():
    # multilayer is not clearly better than probe, lp-ft is clearly better than probe (the pick)
    chosen, reason = choose(rows(probe=0.80, multilayer=0.83, lp_ft=0.86))
    assert chosen == "lp-ft" and "beat probe" in reason
    # once multilayer is picked, lp-ft must clear multilayer's standard error, not probe's
    assert choose(rows(probe=0.70, multilayer=0.85, lp_ft=0.88))[0] == "multilayer"


def test_preference_orders_the_walk_and_skipped_arms_take_no_part():
    candidates = rows(probe=0.80, lp_ft=0.90) + [{"method": "multilayer", "skipped": "budget"}]
    assert choose(candidates, preference=["lp-ft", "probe"])[0] == "lp-ft"  # lp-ft first, probe does not beat it
    chosen, reason = choose(rows(probe=0.9) + [{"method": "lp-ft", "skipped": "budget"}])
    assert chosen == "probe" and "only method" in reason


def test_standard_error_is_binomial_and_never_zero():
    assert standard_error(0.8, 100) == pytest.approx(0.04)
    assert standard_error(1.0, 100) > 0


def test_arms_of_the_same_cost_tier_are_compared_on_validation_directly():
    same = [{"method": "probe", "val_accuracy": 0.80, "n_val": 100, "tier": 0},
            {"method": "multilayer", "val_accuracy": 0.81, "n_val": 100, "tier": 0},
            {"method": "lp-ft", "val_accuracy": 0.84, "n_val": 100, "tier": 3}]
    chosen, reason = choose(same)
    assert chosen == "multilayer" and "same cost" in reason  # one extraction, one forward: like choosing C
    assert choose(same[:1] + [dict(same[1], val_accuracy=0.80)])[0] == "probe"  # a tie keeps the simpler
