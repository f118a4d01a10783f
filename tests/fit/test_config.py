"""FitConfig refuses settings outside their ranges, naming the setting (API and CLI)."""

import pytest
from typer.testing import CliRunner

from graft.cli.main import app
from graft.errors import UsageError
from graft.autofit import FitConfig


@pytest.mark.parametrize("settings, name", [
    ({"time_budget": -5}, "time_budget"), ({"time_budget": 0}, "time_budget"), ({"max_backbones": 0}, "max_backbones"),
    ({"epochs": 0}, "epochs"), ({"trials": 0}, "trials"), ({"image_sizes": [8]}, "image_sizes"),
    ({"arms": ["probe", "bogus"]}, "arms"), ({"min_gain_se": -1}, "min_gain_se"),
])
def test_out_of_range_settings_are_usage_errors_naming_the_setting(settings, name):
    with pytest.raises(UsageError, match=name):
        FitConfig(**settings)


def test_every_arm_builds_on_a_probe():
    with pytest.raises(UsageError, match="needs 'probe' or 'multilayer'"):
        FitConfig(arms=["finetune"])


def test_a_negative_time_budget_on_the_command_line_exits_2_before_reading_data(tmp_path):
    result = CliRunner().invoke(app, ["fit", str(tmp_path / "missing"), "--time-budget", "-5", "--out", str(tmp_path / "m")])
    assert result.exit_code == 2 and "time_budget=-5" in result.output


def test_an_unknown_schedule_is_refused_before_any_arm_runs():
    with pytest.raises(UsageError, match=r"schedules=\['lpft'\]"):
        FitConfig(schedules=["lpft"])
