"""Issue 9 §5: messages that tell the truth and name what the user can change."""

from __future__ import annotations

import logging
import zipfile
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import graft
from graft.cli.main import app
from graft.data import read
from graft.errors import DataError, UsageError


def cli(*args: object):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture
def renamed_table(tmp_path: Path) -> Path:
    path = tmp_path / "topics.csv"
    path.write_text("sentence,category\n" + "".join(f"apple pie {i},fruit\nengine oil {i},cars\n" for i in range(6)))
    return path


def test_missing_label_column_advice_names_the_cli_flag_that_exists(renamed_table, tmp_path: Path):
    result = cli("probe", renamed_table, "--out", tmp_path / "m", "-b", "test_text")
    assert result.exit_code == 1
    assert "--label-column NAME" in result.output and "--text-column NAME" in result.output
    assert "['sentence', 'category']" in result.output
    ok = cli("probe", renamed_table, "--out", tmp_path / "m", "-b", "test_text",
             "--label-column", "category", "--text-column", "sentence", "--json")
    assert ok.exit_code == 0, ok.output
    assert sorted(graft.load(tmp_path / "m").classes) == ["cars", "fruit"]


@pytest.mark.parametrize("command", ["embed", "evaluate", "finetune", "rank", "fewshot"])
def test_commands_that_read_tables_take_the_column_options(command):
    help_text = cli(command, "--help").output
    assert "--label-column" in help_text and "--text-column" in help_text


def test_excel_workbook_renamed_csv_is_named_not_printed_as_garbage(tmp_path: Path):
    path = tmp_path / "data.csv"
    with zipfile.ZipFile(path, "w") as z:  # what an .xlsx is
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("xl/workbook.xml", "<workbook/>")
    with pytest.raises(DataError, match=r"data.csv is a zip archive \(an Excel .xlsx") as caught:
        read(path)
    assert "CSV" in str(caught.value) and "columns are" not in str(caught.value)
    old_xls = tmp_path / "old.csv"
    old_xls.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600)
    with pytest.raises(DataError, match="old Excel .xls"):
        read(old_xls)


def test_fewshot_names_classes_not_numpy_reprs(tiny_text_csv):
    from graft.fewshot import fewshot_eval

    with pytest.raises(UsageError) as caught:
        fewshot_eval(tiny_text_csv, "test_text", n_way=2, k_shot=100)
    assert "class 'cars' has 6" in str(caught.value) and "np.int64" not in str(caught.value)


def test_skipped_table_rows_are_counted_as_rows_and_label_spellings_are_noted(tmp_path: Path):
    path = tmp_path / "labels.csv"
    path.write_text("text,label\na,1\nb,1.0\nc, 2\nd,2\nbroken,row,extra\ne,Cat\nf, CAT\ng,CAT\nh,Cat\n")
    ds = read(path, val_fraction=0)
    assert ds.classes == ["1", "2", "CAT", "Cat"]  # "1.0" is "1", " CAT" is "CAT"; case is kept
    summary = ds.skipped.summary()
    assert "skipped 1 row(s)" in summary and "file(s)" not in summary
    assert "'1', '1.0' in column 'label' were read as one class '1'" in summary
    assert "classes 'CAT', 'Cat' differ only by case" in summary
    assert len(ds.skipped.notes) == 2  # notes travel with the data (skipped.tsv of a saved model)


def test_drift_says_confidence_rose_when_it_rose():
    from graft.drift import DriftConfig, severity_of

    _, reasons = severity_of(0.5, 0.5, 0.5, 0.635 - 0.666, 0.9, DriftConfig(), (0.635, 0.666))
    assert "mean confidence rose by 0.031 (0.635 → 0.666)" in reasons[-1]
    _, reasons = severity_of(0.5, 0.5, 0.5, 0.2, 0.9, DriftConfig(), (0.8, 0.6))
    assert "mean confidence fell by 0.200 (0.800 → 0.600)" in reasons[-1]


@pytest.mark.parametrize("n, d", [(100, 16), (200, 1280)])
def test_shift_on_two_identical_sets_is_auc_one_half_not_far_below(n, d):
    from graft.shift import proxy_a_distance

    a = np.random.default_rng(0).normal(size=(n, d))
    result = proxy_a_distance(a, a.copy())
    assert result.auc == pytest.approx(0.5) and result.distance == 0.0  # was 0.02-0.23 before the fix
    assert proxy_a_distance(a, a + 1.0).auc > 0.95  # a real shift is still found


def test_epoch_progress_is_progress_output_not_warnings(colour_images, tmp_path: Path, caplog, capsys):
    from graft.train.config import TrainConfig
    from graft.train.finetune import finetune

    with caplog.at_level(logging.INFO, logger="graft.train.loop"):
        finetune(colour_images, "test_cnn", "full", config=TrainConfig(epochs=2, batch_size=16), progress=True)
    epoch_records = [r for r in caplog.records if r.getMessage().startswith("epoch ")]
    assert len(epoch_records) == 2 and all(r.levelno == logging.INFO for r in epoch_records)
    err = capsys.readouterr().err
    assert "fine-tuning" in err and "2/2" in err  # the live epoch line, on stderr
