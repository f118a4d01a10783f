import json

from typer.testing import CliRunner

from graft.cli.main import app

runner = CliRunner()


def test_finetune_and_lr_find_from_the_command_line(colour_images, tmp_path):
    out = tmp_path / "m"
    result = runner.invoke(app, ["finetune", str(colour_images), "--backbone", "test_cnn", "--schedule", "fastai",
                                 "--epochs", "2", "--lr", "0.01", "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout[result.stdout.index("{"):])
    assert data["metrics"]["test"]["accuracy"] >= 0.8 and (out / "history.json").exists()
    result = runner.invoke(app, ["lr-find", str(colour_images), "--backbone", "test_cnn", "--steps", "20",
                                 "--out", str(tmp_path / "lr.png"), "--json"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "lr.json").exists() and (tmp_path / "lr.png").exists()


def test_unknown_schedule_is_a_usage_error(colour_images, tmp_path):
    result = runner.invoke(app, ["finetune", str(colour_images), "--backbone", "test_cnn", "--schedule", "bogus",
                                 "--out", str(tmp_path / "m")])
    assert result.exit_code == 2
    assert "unknown schedule" in result.output


def test_out_of_range_training_settings_are_usage_errors_naming_the_setting(colour_images, tmp_path):
    result = runner.invoke(app, ["finetune", str(colour_images), "--backbone", "test_cnn", "--crop-scale", "1.5",
                                 "--out", str(tmp_path / "m")])
    assert result.exit_code == 2 and "crop_scale=1.5" in result.output


def test_schedule_options_from_the_command_line_freeze_groups_and_are_recorded(colour_images, tmp_path):
    out = tmp_path / "m"
    result = runner.invoke(app, ["finetune", str(colour_images), "--backbone", "test_cnn", "--schedule", "lp-ft",
                                 "--option", "frozen_groups=2", "--epochs", "1", "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    settings = json.loads((out / "lineage.json").read_text())["settings"]
    assert settings["schedule_options"] == {"frozen_groups": 2} and settings["phases"][0]["trainable"] == [2]
    bad = runner.invoke(app, ["finetune", str(colour_images), "--backbone", "test_cnn", "--option", "frozen=2",
                              "--out", str(tmp_path / "bad")])
    assert bad.exit_code == 2 and "frozen" in bad.output
