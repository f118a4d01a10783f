"""The screen before the arms: every pooling of the first backbone and each other backbone at the
first one's best pooling cross-validated over train + val, the best one moved first and handed to the multi-layer arms; backbones the user named keep their order; a
backbone whose screening would eat the budget is not screened, and the report says why."""

import numpy as np
import pytest

import graft
from graft.autofit import FitConfig
from graft.autofit.budget import Budget
from graft.autofit.context import SPLITS, Context
from graft.autofit.screen import POOLING_CHOICES, screen
from graft.data import from_arrays

N = {"train": 60, "val": 20, "test": 20}


def _context(budget: float = 600.0) -> Context:
    """Images (only their labels and splits are read: the taps are injected) of 4 classes."""
    splits = sum(([s] * n for s, n in N.items()), [])
    labels = np.arange(len(splits)) % 4
    images = np.zeros((len(splits), 8, 8, 3), dtype=np.uint8)
    ds = from_arrays(images, labels, splits=splits, modality="image")
    return Context(ds, FitConfig(time_budget=budget), Budget(budget))


def _inject(ctx: Context, backbone: str, informative: str | None, seed: int, signal: float = 4.0) -> None:
    """Tap features per pooling: noise, except that ``informative`` carries the label."""
    rng = np.random.default_rng(seed)
    for pooling in POOLING_CHOICES:
        per_split = {}
        for split in SPLITS:
            y = ctx.labels(split)
            x = rng.normal(size=(len(y), 16))
            if pooling == informative:
                x[np.arange(len(y)), y] += signal
            per_split[split] = {"tap0": x, "tap1": rng.normal(size=(len(y), 8))}
        ctx._taps[(backbone, 32, None, pooling)] = per_split


def test_every_pooling_of_the_first_backbone_and_the_others_at_its_best_are_cross_validated():
    ctx = _context()
    _inject(ctx, "a", "grid4", seed=0, signal=1.0)  # weakly informative at 4x4
    _inject(ctx, "b", "grid4", seed=1)  # strongly informative at 4x4
    result = screen(ctx, ["a", "b"], 32)
    assert [(r["backbone"], r["pooling"]) for r in result.rows] == [("a", p) for p in POOLING_CHOICES] + [("b", "grid4")]
    assert (result.backbone, result.pooling) == ("b", "grid4")
    best = next(r for r in result.rows if r["backbone"] == "b")
    a_best = next(r for r in result.rows if (r["backbone"], r["pooling"]) == ("a", "grid4"))
    assert best["cv_accuracy"] > 0.9 and best["cv_accuracy"] > a_best["cv_accuracy"]
    assert all(r["cv_accuracy"] < a_best["cv_accuracy"] for r in result.rows if r["backbone"] == "a" and r is not a_best)
    assert "cross-validation" in result.report()["how"]


def test_a_backbone_the_user_named_first_stays_first():
    ctx = _context()
    _inject(ctx, "a", "mean", seed=0)
    _inject(ctx, "b", "grid4", seed=1)
    result = screen(ctx, ["a", "b"], 32, movable=False)
    assert {r["backbone"] for r in result.rows} == {"a"} and (result.backbone, result.pooling) == ("a", "mean")


def test_a_backbone_too_costly_to_screen_is_reported_not_screened(monkeypatch):
    ctx = _context(budget=600)
    _inject(ctx, "a", "mean", seed=0)
    monkeypatch.setattr(ctx, "items_to_extract", lambda backbone, *a, **k: 0 if backbone == "a" else 10_000)
    monkeypatch.setattr(ctx.budget, "seconds_per_item", lambda *a, **k: 1.0)
    result = screen(ctx, ["a", "b"], 32)
    assert result.backbone == "a" and result.skipped[0]["backbone"] == "b"
    assert "of the time budget" in result.skipped[0]["why"]


def test_fit_hands_the_screened_pooling_to_the_multilayer_arm_and_the_saved_model(colour_images):
    config = FitConfig(backbones=["test_cnn"], image_sizes=[32], arms=["probe", "multilayer"], trials=1)
    model, report = graft.fit(colour_images, config=config)
    chosen = report["backbones"]["screen"]
    assert {r["pooling"] for r in chosen["rows"]} == set(POOLING_CHOICES)
    assert chosen["pooling"] == max(chosen["rows"], key=lambda r: (r["cv_accuracy"], -r["columns"]))["pooling"]
    row = next(c for c in report["candidates"] if c["method"] == "multilayer")
    assert row["params"]["pooling"] == chosen["pooling"]
    if report["chosen"] == "multilayer":
        assert model.config["head"]["pooling"] == chosen["pooling"]


def _text_context() -> Context:
    splits = sum(([s] * n for s, n in N.items()), [])
    ds = from_arrays(np.zeros((len(splits), 4)), np.arange(len(splits)) % 4, splits=splits, modality="text")
    return Context(ds, FitConfig(time_budget=600.0), Budget(600.0))


def test_without_a_spatial_grid_the_last_layer_is_screened_too_and_can_pick_the_backbone(monkeypatch):
    """Text: backbone a's every-column probe is best, but b's last layer beats it (its inner taps
    are noise that drowns it when every column is fitted): b is chosen, for its last-layer probe."""
    ctx = _text_context()
    rng = np.random.default_rng(0)
    last = {}
    for backbone, signal, noise_taps in (("a", 1.0, 0), ("b", 4.0, 40)):
        per_split = {}
        for split in SPLITS:
            y = ctx.labels(split)
            informative = rng.normal(size=(len(y), 8))
            informative[np.arange(len(y)), y] += signal
            per_split[split] = {f"noise{i}": rng.normal(size=(len(y), 8)) for i in range(noise_taps)}
            per_split[split]["last"] = informative
        ctx._taps[(backbone, None, None, "mean")] = per_split
        last[backbone] = {s: per_split[s]["last"] for s in SPLITS}
    monkeypatch.setattr(ctx, "last_features", lambda backbone, size: (last[backbone], True))
    result = screen(ctx, ["a", "b"], None)
    rows = {(r["backbone"], r["probe"]): r for r in result.rows}
    assert set(rows) == {("a", "multi-layer"), ("a", "last-layer"), ("b", "multi-layer"), ("b", "last-layer")}
    assert rows["b", "multi-layer"]["cv_accuracy"] < rows["a", "multi-layer"]["cv_accuracy"]
    assert rows["b", "last-layer"]["cv_accuracy"] > rows["a", "multi-layer"]["cv_accuracy"]
    assert (result.backbone, result.probe, result.pooling) == ("b", "last-layer", "mean")
    assert rows["b", "last-layer"]["C"] in (0.001, 0.01, 0.1, 1.0) and "last-layer probe" in result.report()["how"]


def test_images_screen_only_the_multi_layer_probe():
    ctx = _context()
    _inject(ctx, "a", "mean", seed=0)
    _inject(ctx, "b", "mean", seed=1)
    assert {r["probe"] for r in screen(ctx, ["a", "b"], 32).rows} == {"multi-layer"}


def test_larger_data_is_screened_on_a_stratified_sample_without_extracting_every_row(colour_images, monkeypatch):
    from graft.autofit import screen as screen_module
    from graft.data.split import sample_rows

    monkeypatch.setattr(screen_module, "SCREEN_ROWS", 12)
    ds = graft.read(colour_images)
    messages = []
    ctx = Context(ds, FitConfig(backbones=["test_cnn"], trials=1), Budget(600), notify=messages.append)
    result = screen(ctx, ["test_cnn"], 32, movable=False)
    assert {r["pooling"] for r in result.rows} == set(POOLING_CHOICES)
    assert any("on 12 rows" in m.get("message", "") for m in messages)
    assert not ctx._taps  # only the sample's items went through the network (the arms extract the rest)
    y = np.concatenate([ctx.labels("train"), ctx.labels("val")])
    sample = sample_rows(y, 12, 0)
    assert len(sample) == 12 and set(y[sample]) == set(y) and list(sample) == sorted(sample)
