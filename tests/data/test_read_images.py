"""Image folders → Dataset, and every storage format → the same RGB pixels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from graft.data import from_arrays, load_image, read
from graft.errors import DataError, UsageError


def test_class_folders_give_sorted_classes_paths_and_a_stratified_val(image_folder):
    ds = read(image_folder({"dog": 10, "cat": 10, "bird": 5}))
    assert ds.modality == "image"
    assert ds.classes == ["bird", "cat", "dog"]
    assert all(isinstance(p, Path) and p.is_absolute() for p in ds.items)
    assert ds.class_counts() == {"bird": 5, "cat": 10, "dog": 10}
    assert ds.val.class_counts() == {"bird": 1, "cat": 2, "dog": 2}
    assert not ds.has_split("test")
    assert all(p.parent.name == ds.classes[y] for p, y in zip(ds.items, ds.labels))


def test_split_folders_keep_test_and_carve_val_from_train(image_folder, tmp_path):
    root = image_folder({"a": 10, "b": 10}, split="train")
    image_folder({"a": 3, "b": 3}, split="test", root=root)
    ds = read(root, val_fraction=0.3)
    assert len(ds.test) == 6 and len(ds.val) == 6 and len(ds.train) == 14
    assert all("test" in p.parts for p in ds.test.items)
    assert all("train" in p.parts for p in ds.val.items)


def test_given_val_folder_is_used_and_val_fraction_ignored(image_folder):
    root = image_folder({"a": 4, "b": 4}, split="train")
    image_folder({"a": 2, "b": 2}, split="validation", root=root)
    ds = read(root, val_fraction=0.5)
    assert len(ds.train) == 8 and len(ds.val) == 4


def test_nested_files_count_for_their_class_and_hidden_files_are_ignored(image_folder, png):
    root = image_folder({"a": 2, "b": 2})
    png(root / "a" / "sub" / "deep.png")
    png(root / "a" / ".hidden.png")
    png(root / ".cache" / "x.png")
    (root / "a" / "notes.txt").write_text("not an image, not an image extension")
    ds = read(root, val_fraction=0)
    assert ds.class_counts() == {"a": 3, "b": 2}
    assert not ds.skipped


def test_limit_per_class_is_deterministic_and_capped(image_folder):
    root = image_folder({"a": 20, "b": 20})
    first = read(root, limit_per_class=5, val_fraction=0)
    again = read(root, limit_per_class=5, val_fraction=0)
    other = read(root, limit_per_class=5, val_fraction=0, seed=1)
    assert first.class_counts() == {"a": 5, "b": 5}
    assert first.items == again.items
    assert first.items != other.items
    with pytest.raises(UsageError, match="limit_per_class"):
        read(root, limit_per_class=0)
    with pytest.raises(UsageError, match="val_fraction"):
        read(root, val_fraction=1.0)


def test_folder_without_class_folders_reads_unlabelled(tmp_path, png):
    for i in range(3):
        png(tmp_path / "loose" / f"{i}.png", value=i)
    ds = read(tmp_path / "loose")
    assert len(ds) == 3 and ds.classes == [] and (ds.labels == -1).all() and not ds.is_labelled


def test_integer_class_names_sort_numerically(image_folder):
    ds = read(image_folder({str(i): 2 for i in (0, 1, 2, 10)}), val_fraction=0)
    assert ds.classes == ["0", "1", "2", "10"]


@pytest.mark.parametrize(
    ("mode", "colour", "expected"),
    [
        ("L", 200, (200, 200, 200)),
        ("RGBA", (255, 0, 0, 0), (255, 255, 255)),  # fully transparent → white
        ("RGBA", (0, 0, 255, 255), (0, 0, 255)),
        ("LA", (10, 255), (10, 10, 10)),
        ("CMYK", (0, 255, 255, 0), (255, 0, 0)),
        ("1", 1, (255, 255, 255)),
    ],
)
def test_modes_convert_to_the_right_rgb(mode, colour, expected):
    rgb = load_image(Image.new(mode, (4, 4), colour))
    assert rgb.mode == "RGB" and rgb.getpixel((1, 1)) == expected


def test_palette_with_transparency_composites_on_white(tmp_path):
    img = Image.new("P", (4, 4), 1)
    img.putpalette([0, 0, 0, 0, 255, 0] + [0] * 762)
    img.save(tmp_path / "p.png", transparency=1)
    assert load_image(tmp_path / "p.png").getpixel((0, 0)) == (255, 255, 255)
    img.save(tmp_path / "opaque.png")
    assert load_image(tmp_path / "opaque.png").getpixel((0, 0)) == (0, 255, 0)


def test_16bit_png_is_scaled_not_clipped(tmp_path):
    values = np.array([[0, 257 * 64, 257 * 128, 65535]], dtype=np.uint16)
    Image.fromarray(values).save(tmp_path / "g16.png")
    assert Image.open(tmp_path / "g16.png").mode.startswith("I")
    rgb = np.asarray(load_image(tmp_path / "g16.png"))
    assert rgb[0, :, 0].tolist() == [0, 64, 128, 255]


def test_cmyk_jpeg_file_reads_as_rgb(tmp_path):
    Image.new("CMYK", (16, 16), (0, 255, 255, 0)).save(tmp_path / "c.jpg", quality=95)
    r, g, b = load_image(tmp_path / "c.jpg").getpixel((8, 8))
    assert r > 200 and g < 50 and b < 50


@pytest.mark.parametrize(
    ("array", "expected"),
    [
        (np.full((4, 5), 0.5, dtype=np.float32), 128),  # float in [0, 1] → ×255
        (np.full((4, 5), 100.0), 100),  # float above 1 → taken as 0..255
        (np.full((4, 5), 65535, dtype=np.uint16), 255),
        (np.full((4, 5, 1), 7, dtype=np.uint8), 7),
        (np.full((3, 4, 5), 9, dtype=np.uint8), 9),  # channels-first
        (np.ones((4, 5), dtype=bool), 255),
    ],
)
def test_arrays_convert_to_rgb(array, expected):
    rgb = load_image(array)
    assert rgb.mode == "RGB" and rgb.size == (5, 4) and rgb.getpixel((0, 0)) == (expected,) * 3


def test_exif_orientation_is_applied(tmp_path):
    img = Image.new("RGB", (6, 3), (0, 0, 0))
    exif = img.getexif()
    exif[0x0112] = 6  # rotate 90° on display
    img.save(tmp_path / "rot.jpg", exif=exif)
    assert load_image(tmp_path / "rot.jpg").size == (3, 6)


def test_image_arrays_become_an_image_dataset():
    X = np.random.default_rng(0).integers(0, 255, (6, 8, 8, 3), dtype=np.uint8)
    ds = from_arrays(X, ["a", "b"] * 3)
    assert ds.modality == "image" and ds.classes == ["a", "b"]
    assert load_image(ds.items[0]).size == (8, 8)


def test_unreadable_file_in_load_image_is_a_data_error(tmp_path):
    (tmp_path / "x.png").write_bytes(b"nope")
    with pytest.raises(DataError, match="x.png"):
        load_image(tmp_path / "x.png")
