"""Every kind of bad input has a defined outcome: a skip with a reason, or a DataError that says the fix."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from PIL import Image

from graft.data import load_image, read
from graft.errors import DataError


def reasons(ds):
    return {e.path.rsplit("/", 1)[-1]: e.reason for e in ds.skipped.entries}


@pytest.fixture
def good_folder(image_folder):
    return image_folder({"a": 3, "b": 3})


def test_truncated_empty_and_fake_images_are_skipped_with_reasons(good_folder, png):
    data = (good_folder / "a" / "a_000.png").read_bytes()
    (good_folder / "a" / "cut.png").write_bytes(data[: len(data) // 2])
    (good_folder / "a" / "tail.png").write_bytes(data[:-12])  # no IEND: only verify() notices
    png(good_folder / "b" / "photo.jpg", size=(32, 32), mode="RGB")
    jpeg = (good_folder / "b" / "photo.jpg").read_bytes()
    (good_folder / "b" / "photo.jpg").write_bytes(jpeg[: len(jpeg) // 2])
    (good_folder / "b" / "zero.png").write_bytes(b"")
    (good_folder / "b" / "text.jpg").write_text("this is not a JPEG")
    ds = read(good_folder, val_fraction=0)
    assert ds.class_counts() == {"a": 3, "b": 3}
    why = reasons(ds)
    assert why["cut.png"].startswith("corrupt or truncated")
    assert why["tail.png"].startswith("corrupt or truncated")
    assert why["photo.jpg"].startswith("corrupt or truncated")
    assert why["zero.png"].startswith("empty file")
    assert why["text.jpg"].startswith("not an image")
    assert "5 file(s)" in ds.skipped.summary()


def test_unusual_modes_are_read_not_skipped(good_folder):
    Image.new("CMYK", (8, 8), (0, 255, 255, 0)).save(good_folder / "a" / "cmyk.jpg")
    Image.new("RGBA", (8, 8), (0, 0, 0, 0)).save(good_folder / "a" / "rgba.png")
    Image.new("P", (8, 8), 3).save(good_folder / "a" / "pal.gif")
    Image.fromarray(np.full((8, 8), 40000, dtype=np.uint16)).save(good_folder / "b" / "g16.png")
    Image.new("LA", (8, 8), (9, 128)).save(good_folder / "b" / "la.png")
    Image.new("I;16", (8, 8)).save(good_folder / "b" / "g16.tif")
    ds = read(good_folder, val_fraction=0)
    assert not ds.skipped and len(ds) == 12
    assert all(load_image(p).mode == "RGB" for p in ds.items)
    g16 = next(p for p in ds.items if p.name == "g16.png")
    assert load_image(g16).getpixel((0, 0)) == (156, 156, 156)  # 40000 / 257, not clipped to 255


def test_images_over_the_pixel_cap_are_refused_per_file(good_folder, png):
    png(good_folder / "a" / "big.png", size=(40, 40))
    ds = read(good_folder, val_fraction=0, max_image_pixels=1000)
    assert "too large" in reasons(ds)["big.png"] and "max_image_pixels" in reasons(ds)["big.png"]
    assert len(read(good_folder, val_fraction=0, max_image_pixels=None)) == 7
    with pytest.raises(DataError, match="too large"):
        load_image(good_folder / "a" / "big.png", max_pixels=1000)


def test_pillow_decompression_bomb_error_is_a_skip(good_folder, png, monkeypatch):
    png(good_folder / "a" / "bomb.png", size=(40, 40))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # 1600 px > 2 × Pillow's cap → error
    ds = read(good_folder, val_fraction=0, max_image_pixels=None)
    assert "too large" in reasons(ds)["bomb.png"]


def test_pillow_bomb_warning_does_not_escape_when_the_user_cap_allows(good_folder, png, monkeypatch):
    png(good_folder / "a" / "large.png", size=(40, 40))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 1000 < 1600 ≤ 2000: Pillow only warns
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ds = read(good_folder, val_fraction=0, max_image_pixels=10_000)
    assert len(ds) == 7 and not ds.skipped


def test_empty_class_folder_is_reported_and_dropped(image_folder):
    root = image_folder({"a": 3, "b": 3, "c": 0})
    ds = read(root)
    assert ds.classes == ["a", "b"]
    assert "empty class folder" in reasons(ds)["c"]


def test_class_whose_files_are_all_bad_is_dropped(image_folder):
    root = image_folder({"a": 3, "b": 3})
    (root / "c").mkdir()
    (root / "c" / "x.png").write_bytes(b"junk")
    ds = read(root)
    assert ds.classes == ["a", "b"] and "dropped" in reasons(ds)["c"]


def test_a_single_class_is_a_data_error(image_folder):
    with pytest.raises(DataError, match="at least 2 classes"):
        read(image_folder({"only": 4}))


def test_val_test_labels_missing_from_train_are_skipped(image_folder):
    root = image_folder({"a": 4, "b": 4}, split="train")
    image_folder({"a": 2, "b": 2, "zebra": 2}, split="test", root=root)
    ds = read(root)
    assert ds.classes == ["a", "b"] and len(ds.test) == 4
    assert sum("unknown label: 'zebra'" in e.reason for e in ds.skipped.entries) == 2


def test_table_labels_missing_from_train_are_skipped(tmp_path):
    (tmp_path / "train.csv").write_text("text,label\nx,a\ny,b\nz,a\n")
    (tmp_path / "test.csv").write_text("text,label\nq,a\nw,c\n")
    ds = read(tmp_path, val_fraction=0)
    assert ds.test.items == ["q"] and "'c'" in ds.skipped.entries[0].reason
    assert "test.csv:line 3" in ds.skipped.entries[0].path


def test_non_utf8_csv_is_decoded_as_cp1252_with_a_note(tmp_path):
    (tmp_path / "d.csv").write_bytes("text,label\ncafé “quoted”,a\nnaïve,b\n".encode("cp1252"))
    ds = read(tmp_path / "d.csv", val_fraction=0)
    assert ds.items == ["café “quoted”", "naïve"]
    assert "decoded as cp1252" in ds.skipped.entries[0].reason and "UTF-8" in ds.skipped.entries[0].reason


def test_bom_and_utf16_files_read_cleanly(tmp_path):
    (tmp_path / "bom.csv").write_bytes("text,label\nx,a\ny,b\n".encode("utf-8-sig"))
    (tmp_path / "u16.csv").write_bytes("text,label\nx,a\ny,b\n".encode("utf-16"))
    for name in ("bom.csv", "u16.csv"):
        ds = read(tmp_path / name, val_fraction=0)
        assert ds.items == ["x", "y"] and not ds.skipped


def test_missing_column_names_column_file_columns_and_option(tmp_path):
    (tmp_path / "d.csv").write_text("sentence,category\nx,a\ny,b\n")
    with pytest.raises(DataError) as err:
        read(tmp_path / "d.csv")
    message = str(err.value)
    assert "'text'" in message and "d.csv" in message and "['sentence', 'category']" in message
    assert "'label'" in message and "--text-column NAME (text_column=NAME in Python)" in message
    assert "--label-column NAME (label_column=NAME in Python)" in message
    with pytest.raises(DataError, match="label_column="):
        read(tmp_path / "d.csv", text_column="sentence")


def test_empty_and_nan_labels_and_empty_text_are_skipped(tmp_path):
    (tmp_path / "d.csv").write_text("text,label\nx,a\ny,\nz,NaN\nw, \n,b\nv,b\n")
    ds = read(tmp_path / "d.csv", val_fraction=0)
    assert ds.items == ["x", "v"]
    why = [e.reason for e in ds.skipped.entries]
    assert sum("empty or NaN label" in r for r in why) == 3 and sum(r == "empty text" for r in why) == 1


def test_malformed_rows_are_skipped_with_line_numbers(tmp_path):
    (tmp_path / "d.csv").write_text('text,label\nx,a\ntoo,many,fields\ny,b\n')
    (tmp_path / "d.jsonl").write_text('{"text": "x", "label": "a"}\n{not json\n[1, 2]\n{"text": "y", "label": "b"}\n')
    for name, line in (("d.csv", 3), ("d.jsonl", 2)):
        ds = read(tmp_path / name, val_fraction=0)
        assert ds.items == ["x", "y"] and ds.skipped.entries[0].path.endswith(f"{name}:line {line}")


def test_unknown_split_values_are_skipped(tmp_path):
    (tmp_path / "d.csv").write_text("text,label,split\nx,a,train\ny,b,train\nz,a,holdout\n")
    ds = read(tmp_path / "d.csv", val_fraction=0)
    assert len(ds) == 2 and "unknown split: 'holdout'" in ds.skipped.entries[0].reason


def test_unreadable_and_empty_audio_are_skipped(tmp_path, wav):
    for name in ("a", "b"):
        for i in range(2):
            wav(tmp_path / name / f"{i}.wav", freq=100 + i)
    (tmp_path / "a" / "noise.wav").write_bytes(b"RIFF....not really")
    (tmp_path / "b" / "zero.flac").write_bytes(b"")
    ds = read(tmp_path, val_fraction=0)
    assert len(ds) == 4
    assert reasons(ds)["noise.wav"].startswith("unreadable audio")
    assert reasons(ds)["zero.flac"].startswith("empty file")


@pytest.mark.parametrize(
    ("setup", "match"),
    [
        (lambda p: None, "no such file"),
        (lambda p: p.write_text("hello"), "not a dataset graft can read"),
        (lambda p: p.mkdir(), "no image or audio files"),
        (lambda p: (p.mkdir(), (p / "a").mkdir(), (p / "a" / "x.txt").write_text("?")), "no image or audio"),
    ],
)
def test_unusable_paths_are_data_errors(tmp_path, setup, match):
    target = tmp_path / "thing"
    setup(target)
    with pytest.raises(DataError, match=match):
        read(target)


def test_empty_csv_and_duplicate_columns_are_data_errors(tmp_path):
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DataError, match="empty"):
        read(tmp_path / "empty.csv")
    (tmp_path / "dup.csv").write_text("text,label,text\nx,a,y\n")
    with pytest.raises(DataError, match="duplicate column"):
        read(tmp_path / "dup.csv")
