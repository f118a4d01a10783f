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


def test_fit_tries_probe_then_schedules_and_keeps_the_best_on_validation(colour_images, tmp_path):
    from safetensors.torch import save_file

    import graft
    from graft.train.finetune import choose

    weights = tmp_path / "w.safetensors"  # "pretrained" weights given as a file, as a user would
    save_file(graft.create_backbone("test_cnn", seed=7).state_dict(), str(weights))
    out = tmp_path / "fit"
    result = runner.invoke(app, ["fit", str(colour_images), "--backbone", "test_cnn", "--weights", str(weights),
                                 "--epochs", "2", "--time-budget", "600", "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout[result.stdout.index("{"):])
    tried = {c["method"]: c for c in report["candidates"]}
    assert set(tried) == {"probe", "lp-ft", "fastai"} and all(c["n_val"] > 0 for c in tried.values())
    assert (report["chosen"], report["reason"]) == choose(report["candidates"], ["lp-ft", "fastai"])
    saved = graft.load(out)
    assert saved.lineage["fit"]["chosen"] == report["chosen"]
    assert saved.config.backbone.weights_sha256 != graft.create_backbone("test_cnn").weights_sha256  # not the default init
    assert saved.lineage["metrics"]["val"]["accuracy"] == tried[report["chosen"]]["val_accuracy"]


def test_fit_keeps_lpft_unless_another_schedule_is_clearly_better_and_never_one_the_probe_beats():
    from graft.train.finetune import choose

    def rows(**val):
        return [{"method": m, "val_accuracy": v, "n_val": 100, "seconds": 1.0} for m, v in val.items()]

    order = ["lp-ft", "fastai"]  # se at 0.80 with n=100: 0.04
    assert choose(rows(probe=0.78, **{"lp-ft": 0.80}, fastai=0.83), order)[0] == "lp-ft"  # fastai's lead is noise
    assert choose(rows(probe=0.78, **{"lp-ft": 0.80}, fastai=0.90), order)[0] == "fastai"  # clearly better
    assert choose(rows(probe=0.82, **{"lp-ft": 0.80}, fastai=0.83), order)[0] == "probe"  # lp-ft kept, probe beats it
    assert choose(rows(probe=0.80, **{"lp-ft": 0.80}), order)[0] == "probe"  # a tie goes to the cheaper probe
    chosen, reason = choose(rows(probe=0.9), order)  # nothing else was run (budget)
    assert chosen == "probe" and "only method" in reason


def test_fit_with_no_budget_left_keeps_the_probe_and_says_what_it_skipped(colour_images, tmp_path):
    from graft.train.finetune import fit

    model, report = fit(colour_images, backbone="test_cnn", time_budget=0.0)
    assert report["chosen"] == "probe" and model.config.method == "probe"
    assert [c.get("skipped") for c in report["candidates"][1:]] == ["time budget used up"] * 2


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
