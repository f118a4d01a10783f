"""fortunes_lang: fortunes by shared topic in English, Russian, Spanish and German."""

from __future__ import annotations

import csv
import json

import pytest

from graft.data import dataset_info, make_dataset, read
from graft.data.builtin import fortunes_lang
from graft.errors import UsageError

needs_all = pytest.mark.skipif(
    not all((lang.root / next(iter(lang.topics.values()))[0]).exists() for lang in fortunes_lang.LANGUAGES.values()),
    reason="fortunes, fortunes-ru, fortunes-es and fortunes-de are not all installed")

TOPICS = {"en": ["computers", "education", "love", "politics", "science", "sports", "work"],
          "ru": ["computers", "education", "love", "politics", "work"],
          "es": ["computers", "politics", "science"],
          "de": ["computers", "science", "sports"]}


def _rows(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return make_dataset("fortunes_lang", tmp_path_factory.mktemp("fl") / "d", per_class=10)


def test_shared_topics_per_language():
    assert {code: fortunes_lang.topics(code) for code in TOPICS} == TOPICS


@needs_all
def test_one_csv_per_language_with_its_topics_and_splits(built):
    for code, topics in TOPICS.items():
        rows = _rows(built / f"{code}.csv")
        assert sorted({r["label"] for r in rows}) == topics
        assert len(rows) == 10 * len(topics)  # every topic has more than 10 quotes
        assert {r["split"] for r in rows} == {"train", "test"}
        assert all(sum(r["label"] == t and r["split"] == "test" for r in rows) == 2 for t in topics)


@needs_all
def test_english_restricted_to_the_target_topics_is_the_same_rows(built):
    english = {(r["text"], r["label"], r["split"]) for r in _rows(built / "en.csv")}
    for code in ("ru", "es", "de"):
        rows = _rows(built / f"en-{code}-topics.csv")
        assert sorted({r["label"] for r in rows}) == TOPICS[code]
        assert {(r["text"], r["label"], r["split"]) for r in rows} <= english


@needs_all
def test_texts_decode_as_their_scripts(built):
    russian = " ".join(r["text"] for r in _rows(built / "ru.csv"))
    german = " ".join(r["text"] for r in _rows(built / "de.csv"))
    assert "\ufffd" not in russian + german
    assert sum("а" <= ch <= "я" for ch in russian.lower()) > 0.5 * sum(ch.isalpha() for ch in russian)
    assert "\x08" not in " ".join(r["text"] for r in _rows(built / "en.csv"))  # overstriking removed


@needs_all
def test_licences_recorded_per_language(built):
    info = json.loads((built / "DATASET.json").read_text())
    langs = info["languages"]
    assert langs["ru"]["license"].startswith("GPL-2") and langs["de"]["license"].startswith("GPL-2")
    assert "public domain" in langs["es"]["license"] and "public domain" in langs["en"]["license"]
    assert langs["ru"]["topics"]["computers"] == ["computer", "programming"]
    assert "ru GPL-2" in dataset_info("fortunes_lang").license


@needs_all
def test_reads_as_text_data_and_all_csv_has_a_language_column(built):
    ds = read(built / "ru.csv")
    assert ds.modality == "text" and ds.classes == TOPICS["ru"] and ds.has_split("test")
    rows = _rows(built / "all.csv")
    assert {r["language"] for r in rows} == set(TOPICS) and len(rows) == 10 * sum(map(len, TOPICS.values()))


@needs_all
def test_language_subset_and_unknown_language(tmp_path):
    root = make_dataset("fortunes_lang", tmp_path / "es", per_class=5, languages=["es", "en"])
    assert sorted(p.name for p in root.glob("*.csv")) == ["all.csv", "en-es-topics.csv", "en.csv", "es.csv"]
    with pytest.raises(UsageError, match="no language 'fr'"):
        make_dataset("fortunes_lang", tmp_path / "fr", languages=["fr"])


@needs_all
def test_no_quote_carries_two_topics():
    quotes = fortunes_lang.load_topics("ru")
    seen = [q for texts in quotes.values() for q in texts]
    assert len(seen) == len(set(seen)) and len(quotes["computers"]) > 535  # computer + programming
