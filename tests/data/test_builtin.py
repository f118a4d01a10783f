"""Each built-in dataset materialises into a user layout and reads back with read()."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from PIL import Image

from graft.data import dataset_info, list_datasets, make_dataset, read
from graft.data.builtin import fashion_mnist, font_digits, fortunes
from graft.errors import MissingDependencyError, UsageError

DIGITS = [str(d) for d in range(10)]
needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")
needs_fmnist = pytest.mark.skipif(not fashion_mnist.ROOT.exists(), reason="dataset-fashion-mnist not installed")
needs_fortunes = pytest.mark.skipif(not fortunes.ROOT.exists(), reason="fortunes not installed")


def manifest(root):
    return json.loads((root / "DATASET.json").read_text())


def test_registry_lists_every_dataset_with_metadata():
    assert list_datasets() == ["adult", "diamonds", "digits", "fashion_mnist", "font_digits", "fortunes", "fortunes_lang",
                               "spoken_digits"]
    assert list_datasets("*digits") == ["digits", "font_digits", "spoken_digits"]
    info = dataset_info("fashion_mnist")
    assert info.modality == "image" and info.requires == ("apt:dataset-fashion-mnist",) and info.license
    with pytest.raises(UsageError, match="Did you mean digits"):
        dataset_info("digitz")


@needs_fmnist
def test_fashion_mnist_reads_back_with_real_class_names(tmp_path):
    root = make_dataset("fashion_mnist", tmp_path / "fm", per_class=3)
    ds = read(root, val_fraction=0)
    assert ds.classes == sorted(fashion_mnist.CLASSES) and len(ds.train) == 30 and len(ds.test) == 30
    assert Image.open(ds.items[0]).size == (28, 28)
    meta = manifest(root)
    assert meta["counts"]["test"]["ankle_boot"] == 3 and meta["license"].startswith("MIT")
    assert (root / "README.md").read_text().startswith("# fashion_mnist")


def test_digits_are_8x8_pngs_with_a_stratified_test_split(tmp_path):
    ds = read(make_dataset("digits", tmp_path / "d", per_class=4))
    assert ds.classes == DIGITS and len(ds.test) == 40 and len(ds.train) + len(ds.val) == 40
    pixels = np.asarray(Image.open(ds.items[0]))
    assert pixels.shape == (8, 8) and pixels.max() > 200


def test_font_digits_like_load_digits_with_held_out_font_families(tmp_path):
    root = make_dataset("font_digits", tmp_path / "f", per_class=3)
    ds = read(root, val_fraction=0)
    assert ds.classes == DIGITS and len(ds.train) == 30 and len(ds.test) == 30
    pixels = np.asarray(Image.open(ds.items[0]))
    assert pixels.shape == (8, 8) and np.all(np.isin(pixels, np.rint(np.arange(17) * 255 / 16)))
    fonts = manifest(root)["fonts"]
    assert not set(fonts["train"]) & set(fonts["test"])
    big = read(make_dataset("font_digits", tmp_path / "f32", per_class=2, size=32), val_fraction=0)
    assert Image.open(big.items[0]).size == (32, 32)


def test_font_without_digits_or_blank_is_skipped():
    font = font_digits.ImageFont.load_default()
    assert font_digits.render_bitmap(font, " ") is None
    assert font_digits.pool_8x8(np.ones((32, 32), bool)).max() == 16


@needs_fortunes
def test_fortunes_is_a_text_csv_pair(tmp_path):
    root = make_dataset("fortunes", tmp_path / "t", per_class=10)
    assert (root / "train.csv").exists() and (root / "test.csv").exists()
    ds = read(root, val_fraction=0)
    assert ds.modality == "text" and ds.classes == sorted(fortunes.DEFAULT_CATEGORIES)
    assert len(ds) == 60 and len(ds.test) == 12
    assert not any("\x08" in t or t.strip() == "%" for t in ds.items)
    custom = read(make_dataset("fortunes", tmp_path / "c", per_class=5, categories=["love", "pets"]))
    assert custom.classes == ["love", "pets"]
    with pytest.raises(UsageError, match="unknown fortune categories"):
        make_dataset("fortunes", tmp_path / "x", categories=["off", "nope"])


def test_fortune_parsing_strips_overstrike_and_separators():
    text = "first\n%\n_\bb_\bo_\bl_\bd line\n%\n\n%\nlast\n"
    assert fortunes.parse_quotes(text) == ["first", "bold line", "last"]


@needs_espeak
def test_spoken_digits_hold_out_test_speakers(tmp_path):
    root = make_dataset("spoken_digits", tmp_path / "s", per_class=2)
    ds = read(root, val_fraction=0)
    assert ds.modality == "audio" and ds.classes == DIGITS and len(ds.train) == 20 and len(ds.test) == 20
    speaker = lambda p: p.stem.rsplit("_", 1)[0]  # noqa: E731
    assert not {speaker(p) for p in ds.train.items} & {speaker(p) for p in ds.test.items}


def test_rerun_is_a_no_op_and_new_parameters_rebuild(tmp_path):
    root = make_dataset("digits", tmp_path / "d", per_class=2)
    stamp = (root / "DATASET.json").stat().st_mtime_ns
    assert make_dataset("digits", root, per_class=2) == root
    assert (root / "DATASET.json").stat().st_mtime_ns == stamp
    make_dataset("digits", root, per_class=3, overwrite=True)
    assert manifest(root)["per_class"] == 3 and len(read(root, val_fraction=0).train) == 30
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp folders left


def test_same_seed_same_files_other_seed_other_files(tmp_path):
    a = read(make_dataset("digits", tmp_path / "a", per_class=3))
    b = read(make_dataset("digits", tmp_path / "b", per_class=3))
    c = read(make_dataset("digits", tmp_path / "c", per_class=3, seed=1))
    assert a.fingerprint == b.fingerprint != c.fingerprint


def test_refuses_to_overwrite_a_folder_it_did_not_make(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "precious.txt").write_text("keep me")
    with pytest.raises(UsageError, match="not a graft dataset"):
        make_dataset("digits", tmp_path / "mine")
    assert (tmp_path / "mine" / "precious.txt").exists()


def test_bad_options_are_usage_errors(tmp_path):
    with pytest.raises(UsageError, match="accepts"):
        make_dataset("digits", tmp_path / "d", colour="blue")
    with pytest.raises(UsageError, match="per_class"):
        make_dataset("digits", tmp_path / "d", per_class=0)
    with pytest.raises(UsageError, match="size"):
        make_dataset("font_digits", tmp_path / "f", size=16)


def test_missing_debian_package_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setattr(fashion_mnist, "ROOT", tmp_path / "nowhere")
    with pytest.raises(MissingDependencyError, match="apt-get install dataset-fashion-mnist"):
        make_dataset("fashion_mnist", tmp_path / "fm")
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(MissingDependencyError, match="apt-get install espeak-ng"):
        make_dataset("spoken_digits", tmp_path / "s")
    assert not (tmp_path / "fm").exists()
