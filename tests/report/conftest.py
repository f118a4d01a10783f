"""Real tiny models for the report tests: one from ``verify`` (fine-tuned: learning curves, a
verdict), one from ``fit`` (arms), one re-adapted after a drift check (drift, a two-hop chain).
The data has a class whose name is markup and a file that cannot be read, so escaping and the
skipped-files table are exercised on every page."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from graft.train.config import TrainConfig

from report_data import COLOURS


def _images(root: Path, per_split: dict[str, int], noise: float, seed: int, shift: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    for split, n in per_split.items():
        for name, colour in COLOURS.items():
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                pixels = np.clip(np.array(colour) + shift + rng.normal(0, noise, (20, 20, 3)), 0, 255).astype(np.uint8)
                Image.fromarray(pixels, "RGB").save(folder / f"{i:02d}.png")
    return root


@pytest.fixture(scope="session")
def report_data(tmp_path_factory) -> Path:
    root = _images(tmp_path_factory.mktemp("report-data"), {"train": 6, "val": 3, "test": 3}, noise=70, seed=1)
    (root / "train" / "red" / "broken.png").write_bytes(b"not an image")
    return root


@pytest.fixture(scope="session")
def verified_model(report_data, tmp_path_factory) -> Path:
    """A fine-tuned model saved by verify (two seeds, two epochs): report.html written with it."""
    from graft.verify import verify

    out = tmp_path_factory.mktemp("report-verify") / "verified"
    verify(report_data, "test_cnn", seeds=2, budget=None, schedule="lp-ft", image_size=32,
           config=TrainConfig(epochs=2, batch_size=8, early_stopping=0), out=out)
    return out


@pytest.fixture(scope="session")
def fitted_model(report_data, tmp_path_factory) -> Path:
    """A probe chosen by fit (the probe arm only, so it is quick)."""
    import graft
    from graft.autofit import FitConfig

    out = tmp_path_factory.mktemp("report-fit") / "fitted"
    graft.fit(report_data, out=out, config=FitConfig(time_budget=120, backbones=["test_cnn"], image_sizes=[32],
                                                    arms=["probe"], trials=1))
    return out


@pytest.fixture(scope="session")
def readapted_model(fitted_model, report_data, tmp_path_factory) -> Path:
    """The fitted model re-adapted to shifted images after graft's drift check found the shift."""
    from graft.drift.detect import DriftConfig, check_drift
    from graft.drift.readapt import readapt

    new = _images(tmp_path_factory.mktemp("report-new"), {"train": 8}, noise=70, seed=2, shift=60) / "train"
    drift = check_drift(fitted_model, new, config=DriftConfig(n_permutations=50))
    out = tmp_path_factory.mktemp("report-readapt") / "readapted"
    readapt(fitted_model, new, out, drift=drift.to_dict())
    return out
