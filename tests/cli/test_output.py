"""Tables printed into a file or a pipe (a log, ``graft demo | tee``) keep one line per row."""

from __future__ import annotations

from graft.cli import output

NOTE = "validation saturated: expected gain 0.005 < 1 SE (0.021)"


def _print(capsys) -> list[str]:
    output.table("graft fit", ["arm", "val acc", "note"], [["multilayer+hflip", 0.9, NOTE], ["probe", 0.8, "C=0.1"]])
    return capsys.readouterr().out.splitlines()


def test_a_piped_table_gets_its_natural_width_not_80_columns(capsys, monkeypatch):
    monkeypatch.delenv("COLUMNS", raising=False)
    lines = _print(capsys)
    assert any("multilayer+hflip" in line and NOTE in line and "0.9000" in line for line in lines)
    assert 80 <= max(len(line) for line in lines) <= output.PIPED_MAX_WIDTH


def test_columns_still_decides_when_set(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "40")
    lines = _print(capsys)
    assert max(len(line) for line in lines) <= 40 and not any(NOTE in line for line in lines)


def test_fit_progress_into_a_log_is_one_line_per_event(capsys):
    from graft.cli.train import live_fit

    with live_fit(True) as notify:
        notify({"event": "stage", "message": "screening efficientnet_lite1"})
        notify({"event": "arm", "arm": "multilayer", "status": "start", "estimate": 3.2})
        notify({"event": "epoch", "arm": "lp-ft", "epoch": 0, "epochs": 4, "train_loss": 0.51234, "val_accuracy": 0.8})
        notify({"event": "arm", "method": "multilayer", "status": "done", "val_accuracy": 0.9, "val_se": 0.0212,
                "seconds": 2.61})
        notify({"event": "arm", "method": "lp-ft", "status": "skipped", "skipped": "validation saturated"})
    lines = capsys.readouterr().err.splitlines()
    assert [line.split("] ", 1)[1] for line in lines] == [
        "screening efficientnet_lite1", "multilayer: running (estimated 3 s)",
        "lp-ft: epoch 1/4, train loss 0.5123, val acc 0.8000", "multilayer: val acc 0.9000 ± 0.0212 in 2.6 s",
        "lp-ft: skipped (validation saturated)"]
    assert all(line.startswith("[") and " s] " in line for line in lines)
