"""CSV / TSV / JSONL files, split tables and DataFrames → Dataset."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from graft.data import from_arrays, from_frame, read
from graft.errors import DataError, UsageError

TEXTS = [f"sentence number {i}" for i in range(10)]


def write_csv(path, rows, header=("text", "label"), delimiter=","):
    import csv

    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, delimiter=delimiter)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def test_csv_reads_text_with_sorted_classes_and_val_split(tmp_path):
    rows = [(t, "pos" if i % 2 else "neg") for i, t in enumerate(TEXTS)]
    ds = read(write_csv(tmp_path / "d.csv", rows))
    assert ds.modality == "text" and ds.classes == ["neg", "pos"]
    assert ds.items[0] == TEXTS[0] and isinstance(ds.items[0], str)
    assert len(ds.val) == 2 and set(ds.val.labels.tolist()) == {0, 1}


def test_tsv_and_custom_column_names(tmp_path):
    rows = [(t, str(i % 2)) for i, t in enumerate(TEXTS)]
    path = write_csv(tmp_path / "d.tsv", rows, header=("sentence", "y"), delimiter="\t")
    ds = read(path, text_column="sentence", label_column="y", val_fraction=0)
    assert ds.classes == ["0", "1"] and len(ds) == 10


def test_multiline_quoted_text_survives(tmp_path):
    rows = [("line one\nline two, with comma", "a"), ("x", "b")]
    ds = read(write_csv(tmp_path / "d.csv", rows), val_fraction=0)
    assert ds.items[0] == "line one\nline two, with comma"


def test_jsonl_with_integer_labels_and_split_field(tmp_path):
    lines = [{"text": t, "label": i % 3, "split": "test" if i >= 8 else "train"} for i, t in enumerate(TEXTS)]
    (tmp_path / "d.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    ds = read(tmp_path / "d.jsonl", val_fraction=0)
    assert ds.classes == ["0", "1", "2"]
    assert ds.test.items == TEXTS[8:]


def test_split_column_spellings(tmp_path):
    rows = [(t, "ab"[i % 2], s) for i, (t, s) in enumerate(zip(TEXTS, ["train"] * 6 + ["Validation", "dev", "TEST", "test"]))]
    ds = read(write_csv(tmp_path / "d.csv", rows, header=("text", "label", "split")))
    assert (len(ds.train), len(ds.val), len(ds.test)) == (6, 2, 2)


def test_folder_of_split_tables(tmp_path):
    write_csv(tmp_path / "train.csv", [(t, "ab"[i % 2]) for i, t in enumerate(TEXTS)])
    (tmp_path / "test.jsonl").write_text('{"text": "t1", "label": "a"}\n{"text": "t2", "label": "b"}\n')
    ds = read(tmp_path, val_fraction=0.2)
    assert (len(ds.train), len(ds.val), len(ds.test)) == (8, 2, 2)


def test_numeric_table_as_arrays(tmp_path):
    rows = [(i, i * 2.5, "ab"[i % 2]) for i in range(6)]
    path = write_csv(tmp_path / "num.csv", rows, header=("x1", "x2", "label"))
    ds = read(path, modality="array", val_fraction=0)
    assert ds.modality == "array" and np.allclose(ds.items[1], [1.0, 2.5])
    only_x2 = read(path, feature_columns=["x2"], val_fraction=0)
    assert only_x2.items[1].tolist() == [2.5]


def test_unlabelled_table(tmp_path):
    path = write_csv(tmp_path / "u.csv", [(t,) for t in TEXTS], header=("text",))
    ds = read(path, label_column=None)
    assert len(ds) == 10 and not ds.is_labelled and ds.classes == []


def test_from_frame_text_and_features():
    df = pd.DataFrame({"text": TEXTS, "label": ["x", "y"] * 5, "split": ["train"] * 8 + ["test"] * 2})
    ds = from_frame(df)
    assert ds.modality == "text" and len(ds.test) == 2
    num = pd.DataFrame({"a": np.arange(6.0), "b": np.ones(6), "label": [0, 1] * 3})
    arr = from_frame(num, val_fraction=0.34)
    assert arr.modality == "array" and arr.items[0].shape == (2,) and len(arr.val) == 2


def test_from_frame_skips_nan_features_and_labels():
    df = pd.DataFrame({"a": [1.0, np.nan, 3.0, 4.0], "label": ["x", "y", None, "y"]})
    ds = from_frame(df)
    assert len(ds) == 2 and len(ds.skipped) == 2


def test_from_frame_rejects_non_numeric_feature_column():
    df = pd.DataFrame({"colour": ["red", "blue"], "label": ["x", "y"]})
    with pytest.raises(DataError, match="colour.*not numeric"):
        from_frame(df, feature_columns=["colour"])


def test_from_arrays_numeric_rows_and_class_names():
    X = np.arange(12.0).reshape(6, 2)
    ds = from_arrays(X, [1, 0, 1, 0, 1, 0], classes=["no", "yes"])
    assert ds.modality == "array" and ds.classes == ["no", "yes"] and ds.labels.tolist() == [1, 0] * 3
    named = from_arrays(X, ["b", "a"] * 3)
    assert named.classes == ["a", "b"] and named.labels.tolist() == [1, 0] * 3
    assert from_arrays(X).classes == [] and len(from_arrays(X)) == 6


def test_from_arrays_given_splits_and_bad_inputs():
    X = np.arange(8.0).reshape(4, 2)
    ds = from_arrays(X, [0, 1, 0, 1], splits=["train", "train", "test", "test"])
    assert len(ds.test) == 2
    with pytest.raises(UsageError, match="split name"):
        from_arrays(X, [0, 1, 0, 1], splits=["train", "nope", "test", "test"])
    with pytest.raises(UsageError, match="4 items but y has 3"):
        from_arrays(X, [0, 1, 0])
    with pytest.raises(UsageError, match="out of range"):
        from_arrays(X, [0, 1, 2, 1], classes=["a", "b"])


def test_from_arrays_skips_non_finite_rows():
    X = np.array([[1.0, 2.0], [np.nan, 1.0], [3.0, np.inf], [0.0, 0.0], [5.0, 5.0]])
    ds = from_arrays(X, [0, 1, 0, 1, 0])
    assert len(ds) == 3 and len(ds.skipped) == 2 and "non-finite" in ds.skipped.entries[0].reason
