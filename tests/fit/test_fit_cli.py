"""`graft fit` end to end on tiny data with a tiny backbone: every arm reported, fit.json beside the
model, the chosen arm saved, the time budget honoured."""

import json
import time

from typer.testing import CliRunner

import graft
from graft.cli.main import app
from graft.autofit import FitConfig, choose

runner = CliRunner()


def test_fit_reports_every_arm_writes_fit_json_and_saves_the_chosen_model(colour_images, tmp_path):
    out = tmp_path / "fit"
    result = runner.invoke(app, ["fit", str(colour_images), "--backbone", "test_cnn", "--image-size", "32",
                                 "--arms", "probe,multilayer,finetune", "--min-gain-se", "0", "--epochs", "1",
                                 "--trials", "2", "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout[result.stdout.index("{"):])
    rows = {c["method"]: c for c in report["candidates"]}
    assert set(rows) == {"probe", "multilayer", "lp-ft"}
    for row in rows.values():
        assert row["n_val"] > 0 and 0 <= row["val_accuracy"] <= 1 and row["val_se"] > 0
        assert row["n_test"] == 18 and "test_accuracy" in row and row["seconds"] >= 0
    assert (report["chosen"], report["reason"]) == choose(report["candidates"])
    assert "one-standard-error" in report["rule"] and report["backbones"]["how"].startswith("given; the multi-layer")
    # the screen's pooling is the one the multi-layer arm used
    assert rows["multilayer"]["params"]["pooling"] == report["backbones"]["screen"]["pooling"]
    on_disk = json.loads((out / "fit.json").read_text())
    assert on_disk["chosen"] == report["chosen"] and on_disk["candidates"] == report["candidates"]
    saved = graft.load(out)
    assert saved.lineage["fit"]["chosen"] == report["chosen"]
    # the report states the shipped model's own test score (refitted on train + val), not only the arm's
    assert report["model_metrics"]["test"]["accuracy"] == saved.lineage["metrics"]["test"]["accuracy"]
    assert len(saved.predict_proba([next((colour_images / "test" / "red").iterdir())])) == 1


def test_fit_refuses_an_existing_out_unless_overwrite(colour_images, tmp_path):
    out = tmp_path / "fit"
    args = ["fit", str(colour_images), "--backbone", "test_cnn", "--image-size", "32", "--arms", "probe",
            "--trials", "1", "--out", str(out)]
    assert runner.invoke(app, args).exit_code == 0
    again = runner.invoke(app, args)
    assert again.exit_code == 2 and "--overwrite" in again.output
    assert runner.invoke(app, args + ["--overwrite"]).exit_code == 0


def test_the_time_budget_is_honoured_within_ten_percent(colour_images):
    budget = 12.0
    config = FitConfig(time_budget=budget, backbones=["test_cnn"], image_sizes=[32, 64], min_gain_se=0, epochs=200)
    start = time.perf_counter()
    _, report = graft.fit(colour_images, config=config)
    assert time.perf_counter() - start <= 1.1 * budget
    ran = [c for c in report["candidates"] if "val_accuracy" in c]
    assert ran and report["seconds"] <= 1.1 * budget
    # 200 epochs of lp-ft do not fit: it is skipped, or trained until the budget's end and reported
    lpft = next(c for c in report["candidates"] if c["method"] == "lp-ft")
    assert "skipped" in lpft or lpft["params"]["epochs"] >= 1


def test_progress_reports_each_arm_and_each_epoch_through_the_callback(colour_images, capsys):
    events = []
    config = FitConfig(backbones=["test_cnn"], image_sizes=[32], arms=["probe", "finetune"], epochs=2, trials=1,
                       min_gain_se=0)
    graft.fit(colour_images, config=config, progress=events.append)
    arms = [(e["status"], e.get("arm") or e.get("method")) for e in events if e["event"] == "arm"]
    assert arms == [("start", "probe"), ("done", "probe"), ("start", "lp-ft"), ("done", "lp-ft")]
    epochs = [e for e in events if e["event"] == "epoch"]
    assert [e["epoch"] for e in epochs] == [0, 1] and all(e["arm"] == "lp-ft" for e in epochs)
    assert capsys.readouterr().out == ""  # the library reports through the callback, never prints
