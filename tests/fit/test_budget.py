"""The time budget's cost model for probe fits: calibrated by the fits that ran, and wide features
costed by their rows' span (where ``graft.heads.probe`` fits them), not by every column."""

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
