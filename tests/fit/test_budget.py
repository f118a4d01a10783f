"""The time budget's cost model for probe fits: calibrated by the fits that ran, and wide features
costed by their rows' span (where ``graft.heads.probe`` fits them), not by every column."""

import numpy as np
import pytest

from graft.autofit.budget import Budget, fit_cells
from graft.heads.probe import ROW_SPACE_RATIO


def test_a_fit_wider_than_its_rows_costs_by_its_rows():
    narrow, wide, wider = fit_cells(800, 1280), fit_cells(800, 14_000), fit_cells(800, 28_000)
    assert narrow == 800 * 1280
    assert wide == wider == 800 * ROW_SPACE_RATIO * 800  # more columns past the span cost nothing more
    assert fit_cells(1600, 14_000) == pytest.approx(4 * wide)  # twice the rows: four times the fit


def test_the_rate_learned_from_a_fit_predicts_that_fit_and_scales_with_the_count():
    budget = Budget(60)
    budget.learn_probe_rate(0.3, 800, 14_000)
    assert budget.probe_cost(800, 14_000, 1) == pytest.approx(0.3)
    assert budget.probe_cost(800, 14_000, 8) == pytest.approx(2.4)
    assert budget.probe_cost(800, 640, 1) < 0.3  # a narrow fit is cheaper


def test_fine_tuning_is_timed_on_the_network_a_trainer_gets(monkeypatch):
    """Extraction runs a folded copy (faster); a fine-tuning estimate must time the unfolded one."""
    from graft.backbones import registry

    built = []
    monkeypatch.setattr(registry, "shared_backbone", lambda *a, **k: built.append("shared") or registry.create_backbone(*a, **k))
    items = [np.zeros((16, 16, 3), np.uint8)] * 4
    budget = Budget(60)
    budget.seconds_per_item("mobilenet_v2", 32, items, weights="random")
    budget.seconds_per_item("mobilenet_v2", 32, items, weights="random", training=True)
    budget.seconds_per_item("mobilenet_v2", 32, items, weights="random", training=True)  # timed once per kind
    assert built == ["shared"] and len(budget._speed) == 2
