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
