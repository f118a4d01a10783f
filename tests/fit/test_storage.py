"""Several `graft fit` workers share one Optuna study through one storage (here a SQLite file)."""

import json
import subprocess
import sys

import optuna
import pytest

import graft


def test_two_workers_on_one_sqlite_storage_share_the_trials(colour_images, tmp_path):
    db = tmp_path / "fit.db"
    storage = f"sqlite:///{db}"
    trials = 4
    cmd = [sys.executable, "-m", "graft.cli.main", "fit", str(colour_images), "--backbone", "test_cnn",
           "--image-size", "32", "--arms", "probe", "--trials", str(trials), "--storage", storage, "--json"]
    workers = [subprocess.Popen(cmd + ["--out", str(tmp_path / f"m{i}")], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for i in range(2)]
    outputs = [w.communicate(timeout=300) for w in workers]
    assert all(w.returncode == 0 for w in workers), [o[1][-2000:] for o in outputs]
    reports = [json.loads(o[0][o[0].index("{"):]) for o in outputs]
    assert reports[0]["study"] == reports[1]["study"]  # same data + settings: the same study
    study = optuna.load_study(study_name=f"{reports[0]['study']}-probe", storage=storage)
    finished = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    # the workers together ran the study's trials (not each its own), and both refit the study's best
    assert trials <= len(study.trials) <= trials + 1 and len(finished) >= trials - 1
    assert {t.user_attrs["worker"] for t in finished}  # every trial names the worker that ran it
    best_c = max(finished, key=lambda t: (t.value, -t.number)).params["C"]
    assert all(r["candidates"][0]["params"]["C"] == best_c for r in reports)


@pytest.mark.parametrize("url", ["bogus://x", "not a url", "sqlite:////nonexistent-folder/fit.db"])
def test_a_storage_that_cannot_be_opened_fails_before_any_work_saying_what_to_give(url, tmp_path):
    from graft.autofit import FitConfig
    from graft.errors import UsageError

    with pytest.raises(UsageError, match="cannot open it as an Optuna storage.*sqlite:///fit.db") as caught:
        graft.fit(tmp_path / "no-data-yet", config=FitConfig(storage=url))  # the data would fail next
    assert url in str(caught.value)
