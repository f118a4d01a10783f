"""Multi-layer probe: config checks, selection, search without re-running the backbone, saved models."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import graft
from graft._config import from_dict, to_dict
from graft.errors import UsageError
from graft.heads.multilayer import MultiLayerConfig, fit_multilayer


def _taps(n: int, seed: int = 0) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Three taps; only the middle one carries the label (a pattern in two of its 12 columns)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    mid = rng.normal(size=(n, 12))
    mid[:, 4] += 3.0 * (y == 1)
    mid[:, 7] += 3.0 * (y == 2)
    return {"early": rng.normal(size=(n, 6)), "mid": mid, "late": rng.normal(size=(n, 20))}, y


def test_config_round_trips_and_states_allowed_ranges():
    config = MultiLayerConfig(keep_grid=(0.1, 1.0), views=("hflip",), tta="on")
    assert from_dict(MultiLayerConfig, json.loads(json.dumps(to_dict(config)))) == config
    with pytest.raises(UsageError, match=r"keep_grid.*\(0, 1\]"):
        MultiLayerConfig(keep_grid=(0.0, 0.5))
    with pytest.raises(UsageError, match="normalisation"):
        MultiLayerConfig(normalisation="max")


def test_selection_keeps_the_informative_columns_and_a_small_head():
    train, y = _taps(300)
    val, y_val = _taps(150, seed=1)
    result = fit_multilayer(train, y, val, y_val, 3, MultiLayerConfig(C_grid=(0.1, 1.0)))
    assert result.val_metrics["accuracy"] > 0.85
    assert result.keep < 1.0  # a few columns explain the labels: the search keeps few
    assert {4, 7} <= set(result.selection.columns["mid"])
    assert result.head.n_features == result.selection.n_features < 38
    assert {s["keep"] for s in result.search if "last_block" not in s} == {0.05, 0.1, 0.25, 0.5, 1.0}
    assert [s["columns"] for s in result.search if "last_block" in s] == [20, 20]  # "late" alone, at each C


def test_the_last_block_alone_wins_when_validation_prefers_it():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400)
    late = rng.normal(size=(400, 8)) + 0.7 * y[:, None]  # the last block carries the label
    taps = {"early": rng.normal(size=(400, 500)), "late": late}  # 500 columns of noise before it
    tr = {k: v[:100] for k, v in taps.items()}
    va = {k: v[100:] for k, v in taps.items()}
    result = fit_multilayer(tr, y[:100], va, y[100:], 2, MultiLayerConfig(C_grid=(1.0,), keep_grid=(1.0,)))
    assert result.selection.taps == ["late"] and result.keep == 8 / 508
    assert result.val_metrics["accuracy"] > 0.75


def test_fixed_keep_and_C_fit_only_what_they_need():
    train, y = _taps(120)
    val, y_val = _taps(60, seed=1)
    result = fit_multilayer(train, y, val, y_val, 3, MultiLayerConfig(C=1.0, keep=0.25))
    assert (result.C, result.keep) == (1.0, 0.25)
    assert result.head.n_features == round(0.25 * 38)
    assert len(result.search) == 2  # the ranking fit on every column, then the kept columns


def test_training_views_add_rows_and_tta_is_recorded():
    train, y = _taps(120)
    val, y_val = _taps(60, seed=1)
    flipped = {k: v + 0.01 for k, v in train.items()}
    config = MultiLayerConfig(C=1.0, keep=1.0, views=("hflip",), tta="on")
    result = fit_multilayer(train, y, val, y_val, 3, config, train_views={"hflip": flipped},
                            val_views={"hflip": {k: v + 0.01 for k, v in val.items()}})
    assert result.selection.tta_views == ["hflip"] and result.selection.train_views == ["hflip"]
    with pytest.raises(UsageError, match="hflip"):
        fit_multilayer(train, y, val, y_val, 3, config)  # the views' features are missing


@pytest.fixture(scope="module")
def multilayer_model(tiny_images: Path, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("ml") / "model"
    config = MultiLayerConfig(C_grid=(1.0,), keep_grid=(0.5,), include_source_logits=False, try_last_block=False)
    model = graft.probe(tiny_images, "test_cnn", layers="all", config=config, out=out)
    return model, out


def test_probe_all_layers_saves_taps_and_selection(multilayer_model):
    model, out = multilayer_model
    head = json.loads((out / "config.json").read_text())["head"]
    assert head["type"] == "multilayer" and head["keep"] == 0.5
    assert set(head["columns"]) <= {"stem", "stage1", "stage2"}
    assert sum(len(c) for c in head["columns"].values()) == model.head.n_features == 20  # half of 8+16+16
    assert model.lineage["metrics"]["test"]["accuracy"] >= 0.75


def test_evaluate_after_probe_reads_the_test_features_the_probe_prepared(multilayer_model, tiny_images: Path,
                                                                         monkeypatch):
    from graft.backbones.base import Backbone

    model, out = multilayer_model
    monkeypatch.setattr(Backbone, "forward_features", lambda *a: pytest.fail("the backbone ran again"))
    assert graft.evaluate(out, tiny_images)["accuracy"] == model.lineage["metrics"]["test"]["accuracy"]


def test_saved_multilayer_model_predicts_evaluates_embeds_after_load(multilayer_model, tiny_images: Path):
    model, out = multilayer_model
    loaded = graft.load(out)
    test_files = sorted((tiny_images / "test").rglob("*.png"))
    np.testing.assert_allclose(loaded.predict_proba(test_files), model.predict_proba(test_files), atol=1e-6)
    assert loaded.embed(test_files).shape == (len(test_files), 20)
    # without the cache (as the server runs) the features are the same, computed afresh
    np.testing.assert_allclose(loaded.embed(test_files, cache=False), loaded.embed(test_files), atol=1e-6)
    assert loaded.embed([], cache=False).shape == (0, 20)
    assert graft.evaluate(out, tiny_images)["accuracy"] == model.lineage["metrics"]["test"]["accuracy"]
    rows = graft.predict(out, [str(test_files[0])])
    assert rows[0]["label"] in loaded.classes
    assert loaded.reference["embeddings"].shape[1] == 20  # drift compares the same features


def test_drift_compares_the_selected_features(multilayer_model, tiny_images: Path, tmp_path: Path):
    from PIL import Image

    model, out = multilayer_model
    same = graft.check_drift(out, tiny_images / "test")
    assert same.n_reference == 24 and not same.drifted  # the 24 training rows (6 of 30 went to val)
    for i in range(12):  # grey noise: nothing like the red / green / blue training images
        pixels = np.random.default_rng(i).integers(100, 156, (24, 24, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(tmp_path / f"{i}.png")
    assert graft.check_drift(out, tmp_path).drifted


def test_predict_extracts_only_the_selected_taps(tiny_images: Path, tmp_path: Path, monkeypatch):
    from graft.features import taps as taps_module

    config = MultiLayerConfig(C_grid=(1.0,), keep_grid=(0.1,), taps=("stem", "stage1", "stage2"))
    model = graft.probe(tiny_images, "test_cnn", layers="all", config=config)
    asked: list[list[str]] = []
    original = taps_module._run_taps  # every pass, one pooling or several, runs through it

    def spy(backbone, batch, taps, *args, **kw):
        asked.append(list(taps))
        return original(backbone, batch, taps, *args, **kw)

    monkeypatch.setattr(taps_module, "_run_taps", spy)
    monkeypatch.setenv("GRAFT_CACHE", str(tmp_path))  # nothing cached: predict must compute
    model.predict([tiny_images / "test" / "red" / "red_000.png"])
    assert asked == [model.config.head["taps"]]


def test_changing_C_or_keep_never_reruns_the_backbone(tiny_images: Path, monkeypatch):
    from graft.backbones.base import Backbone

    graft.probe(tiny_images, "test_cnn", layers="all", config=MultiLayerConfig(C_grid=(1.0,), keep_grid=(1.0,)))
    calls = []
    original = Backbone.forward_features
    monkeypatch.setattr(Backbone, "forward_features", lambda self, batch: calls.append(1) or original(self, batch))
    for config in (MultiLayerConfig(C=0.1, keep=0.25), MultiLayerConfig(C=10.0, keep_grid=(0.1, 0.5))):
        graft.probe(tiny_images, "test_cnn", layers="all", config=config)
    assert calls == []


def test_layers_last_with_a_multilayer_config_is_refused(tiny_images: Path):
    with pytest.raises(UsageError, match="layers"):
        graft.probe(tiny_images, "test_cnn", layers="last", config=MultiLayerConfig())


@pytest.mark.weights
def test_mobilenet_v2_multilayer_probe_on_a_few_images(tmp_path: Path):
    from graft.features.taps import tap_features

    rng = np.random.default_rng(0)
    images = [(rng.random((40, 40, 3)) * 255).astype(np.uint8) for _ in range(6)]
    feats = tap_features(images, "mobilenet_v2", image_size=64, taps=["stage3.2", "head.1", "source_logits"])
    assert {k: v.shape[1] for k, v in feats.items()} == {"stage3.2": 64, "head.1": 1280, "source_logits": 1000}
    last = graft.embed(images, "mobilenet_v2", image_size=64)
    np.testing.assert_allclose(feats["head.1"], last, rtol=1e-2, atol=1e-2)  # the last block = the features


def test_transfer_classifier_with_all_layers_keeps_the_sklearn_contract(tiny_images: Path):
    from sklearn.base import clone

    from graft.heads.classifier import TransferClassifier

    files = sorted((tiny_images / "train").rglob("*.png"))
    labels = [f.parent.name for f in files]
    clf = TransferClassifier(backbone="test_cnn", layers="all", C_grid=(1.0,), keep_grid=(0.25, 1.0))
    assert clone(clf).get_params()["layers"] == "all"
    clf.fit([str(f) for f in files], labels)
    assert clf.keep_ in (0.25, 1.0) and clf.head_.n_features == sum(len(c) for c in clf.selection_["columns"].values())
    assert clf.score([str(f) for f in files], labels) >= 0.8
    assert clf.predict_proba([str(files[0])]).shape == (1, 3)
    with pytest.raises(ValueError, match="layers"):
        TransferClassifier(backbone="test_cnn", layers="middle").fit([str(f) for f in files], labels)


def test_cli_probe_layers_all_then_predict(tiny_images: Path, tmp_path: Path):
    from typer.testing import CliRunner

    from graft.cli.main import app

    runner = CliRunner()
    out = tmp_path / "model"
    result = runner.invoke(app, ["probe", str(tiny_images), "--backbone", "test_cnn", "--out", str(out),
                                 "--layers", "all", "--views", "hflip", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["layers"] == "all" and report["taps"] and "test" in report["metrics"]
    assert json.loads((out / "config.json").read_text())["head"]["train_views"] == ["hflip"]
    predicted = runner.invoke(app, ["predict", str(out), str(tiny_images / "test" / "red"), "--json"])
    assert predicted.exit_code == 0 and len(json.loads(predicted.stdout)) == 4
    refused = runner.invoke(app, ["probe", str(tiny_images), "--backbone", "test_cnn", "--out", str(tmp_path / "m2"),
                                  "--views", "hflip"])
    assert refused.exit_code == 2 and "--layers all" in refused.output


def test_bad_settings_fail_before_any_extraction(tiny_text_csv: Path, tiny_images: Path, monkeypatch, tmp_path: Path):
    import graft.features.taps as taps_module
    from graft.heads.classifier import TransferClassifier
    from graft.heads.multilayer import MultiLayerConfig
    from graft.errors import UsageError

    def no_extraction(*args, **kwargs):
        raise AssertionError("the backbone ran before the settings were checked")

    monkeypatch.setenv("GRAFT_CACHE", str(tmp_path))  # an empty cache: any extraction would have to run the backbone
    monkeypatch.setattr(taps_module, "iterate_taps", no_extraction)
    with pytest.raises(UsageError, match="hflip"):  # a flip is an image view: refused for text up front
        graft.probe(tiny_text_csv, "test_text", config=MultiLayerConfig(views=("hflip",)))
    with pytest.raises(UsageError, match="keep"):
        TransferClassifier(backbone="test_cnn", layers="all", keep=2.0).fit(
            sorted((tiny_images / "train").rglob("*.png"))[:6], ["a", "b"] * 3)


def test_a_chosen_fit_is_only_refitted_and_gives_the_model_a_fresh_probe_gives(tiny_images: Path):
    """``graft fit`` builds its multi-layer model from the search's fit (``chosen``): the same
    selection, C and head as probing again with that C and kept fraction, without a second search."""
    from graft.features.taps import tap_features
    from graft.heads.multilayer import probe_dataset

    ds = graft.read(tiny_images)
    config = MultiLayerConfig(C=1.0, keep=0.5, include_source_logits=False)
    fresh = probe_dataset(ds, "test_cnn", config)
    taps = {s: tap_features(list(getattr(ds, s).items), "test_cnn") for s in ("train", "val")}
    search = fit_multilayer(taps["train"], ds.train.labels, taps["val"], ds.val.labels, len(ds.classes),
                            MultiLayerConfig(C=1.0, keep=0.5, include_source_logits=False, refit_on_val=False))
    built = probe_dataset(ds, "test_cnn", config, chosen=search)
    assert built.result.selection.columns == fresh.result.selection.columns
    assert built.result.val_metrics["accuracy"] == search.val_metrics["accuracy"] == fresh.result.val_metrics["accuracy"]
    np.testing.assert_allclose(built.result.head.weight, fresh.result.head.weight, atol=1e-6)
    assert built.metrics["test"]["accuracy"] == fresh.metrics["test"]["accuracy"]
    assert not np.allclose(built.result.head.weight[:, :3], search.head.weight[:, :3])  # refitted on train + val


def test_the_search_holds_one_matrix_of_the_taps_and_one_standardised_copy():
    from memory import traced_peak

    rng = np.random.default_rng(0)
    taps = {t: rng.normal(size=(1200, 250)).astype(np.float16) for t in "abcdefgh"}
    y = (taps["a"][:, 0] > 0).astype(int)
    train, val = {t: v[:1000] for t, v in taps.items()}, {t: v[1000:] for t, v in taps.items()}
    config = MultiLayerConfig(C_grid=(1.0,), keep_grid=(0.5, 1.0), max_iter=5, try_last_block=False)
    fit_multilayer(train, y[:1000], val, y[1000:], 2, config)  # imports and caches outside the measurement
    _, peak = traced_peak(lambda: fit_multilayer(train, y[:1000], val, y[1000:], 2, config))
    x_train = 1000 * 8 * 250 * 4  # bytes of the prepared float32 training matrix
    # train + val rows once, one standardised copy for a fit, a little for scikit-learn; before:
    # float32 copies of every tap, stacked parts, a vstack and standardisation temporaries (5.3x)
    assert peak < 3.0 * x_train


def test_a_mapping_that_reads_taps_on_access_fits_like_a_dict():
    class OnAccess(dict):
        """Counts reads; has ``rows`` / ``width`` like graft.features.taps.StoredTaps."""

        reads: list[str] = []

        def __getitem__(self, tap):
            self.reads.append(tap)
            return dict.__getitem__(self, tap)

        @property
        def rows(self):
            return len(next(iter(self.values())))

        def width(self, tap):
            return dict.__getitem__(self, tap).shape[1]

    taps, y = _taps(160)
    train, val = {t: v[:120] for t, v in taps.items()}, {t: v[120:] for t, v in taps.items()}
    config = MultiLayerConfig(C_grid=(1.0,), keep_grid=(0.25, 1.0))
    plain = fit_multilayer(train, y[:120], val, y[120:], 3, config)
    lazy = OnAccess(train)
    mapped = fit_multilayer(lazy, y[:120], val, y[120:], 3, config)
    assert sorted(lazy.reads) == sorted(train)  # each tap read once, into the one matrix
    assert mapped.selection.columns == plain.selection.columns
    np.testing.assert_allclose(mapped.head.weight, plain.head.weight)


def test_the_refit_on_every_training_row_reads_the_taps_from_the_cache_one_at_a_time(tiny_images: Path, monkeypatch):
    from graft.features import taps as taps_module
    from graft.features.taps import StoredTaps
    from graft.heads import multilayer

    given = []
    original = taps_module.combine_taps

    def spy(features, columns, mode, out=None):
        given.append((type(features), len(next(iter(features.values()))) if features else 0))
        return original(features, columns, mode, out=out)

    monkeypatch.setattr(multilayer, "combine_taps", spy)
    model = graft.probe(tiny_images, "test_cnn", config=MultiLayerConfig(C_grid=(1.0,), keep_grid=(0.5,),
                                                                          selection_rows=10))
    n_train = int((graft.data.read(tiny_images).splits == "train").sum())
    assert n_train > 10  # the sample chose the columns; the head was refitted on every training row
    assert (StoredTaps, n_train) in given  # ... read from the cache, not held as a dict of every tap
    assert not any(kind is dict and rows == n_train for kind, rows in given)
    assert model.head.n_features > 0


def test_the_every_column_fit_is_prepared_once_across_calls_and_Cs(monkeypatch):
    """``graft fit``'s trials fit the same taps at other C values: the wide every-column fit's
    preparation is made once (for the C grid and for later calls given the same dict)."""
    from graft.heads import probe

    train, y = _taps(40, seed=1)
    val, y_val = _taps(20, seed=2)
    wide = {t: np.hstack([v] * 4) for t, v in train.items()}  # 152 columns over 40 rows: fits in the row space
    wide_val = {t: np.hstack([v] * 4) for t, v in val.items()}
    calls = []
    original = probe.prepare_row_space
    monkeypatch.setattr(probe, "prepare_row_space", lambda x: calls.append(x.shape) or original(x))
    shared: dict = {}
    config = MultiLayerConfig(C_grid=(0.1, 1.0), keep_grid=(1.0,), try_last_block=False)
    fit_multilayer(wide, y, wide_val, y_val, 3, config, prepared=shared)  # two Cs: one preparation
    second = fit_multilayer(wide, y, wide_val, y_val, 3, MultiLayerConfig(C=10.0, keep=1.0), prepared=shared)
    assert calls == [(40, 152)] and shared["all"] is not None
    unprepared = fit_multilayer(wide, y, wide_val, y_val, 3, MultiLayerConfig(C=10.0, keep=1.0))
    assert second.val_metrics["accuracy"] == unprepared.val_metrics["accuracy"]
