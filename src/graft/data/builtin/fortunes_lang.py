"""Fortunes by topic in English, Russian, Spanish and German, on shared topic labels.

Made from the Debian packages ``fortunes`` (English), ``fortunes-ru``, ``fortunes-es`` and
``fortunes-de`` (``/usr/share/games/fortunes/{,ru,es,de}/``, all UTF-8), parsed like the
``fortunes`` dataset (``graft.data.builtin.fortunes.parse_quotes``). Topic files per language:

* English: computers, politics, science, love, education, work, sports.
* Russian: computer + programming → computers, polit → politics, love, education, work.
* Spanish: informatica → computers, ciencia → science, poder → politics.
* German: computer → computers, fussball → sports, mathematiker → science.

Written files (columns ``text,label,split``; ``split`` is a stratified 80/20 train/test):

* ``en.csv``, ``ru.csv``, ``es.csv``, ``de.csv`` — one per language;
* ``en-ru-topics.csv``, ``en-es-topics.csv``, ``en-de-topics.csv`` — the English rows of the topics
  the other language has (the same rows and splits as in ``en.csv``), for train-on-English,
  test-on-X with the same label set;
* ``all.csv`` — every row with a ``language`` column.

So cross-lingual transfer is ordinary commands: ``graft probe DIR/en-ru-topics.csv -b usem3 --out M``,
``graft evaluate M DIR/ru.csv``, ``graft adapt DIR/en-ru-topics.csv DIR/ru.csv``, ``graft shift
DIR/en.csv DIR/ru.csv``. Quotes filed under two topics of one language are dropped (ambiguous label).

Licences differ per language and are recorded per language in ``DATASET.json`` (``languages``).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from graft._config import atomic_write_text
from graft.data.builtin._output import Counts, check_per_class, materialise, require_file
from graft.data.builtin.fortunes import ROOT, parse_quotes
from graft.data.builtin.registry import DATASETS, BuiltinDataset
from graft.data.split import order_by_key, stratified_split
from graft.errors import UsageError

TEST_FRACTION = 0.2


@dataclass(frozen=True)
class Language:
    """One language's fortune files: where they are, their licence, and topic → files."""

    code: str
    folder: str
    package: str
    license: str
    topics: dict[str, tuple[str, ...]]

    @property
    def root(self) -> Path:
        return ROOT / self.folder if self.folder else ROOT


LANGUAGES: dict[str, Language] = {
    lang.code: lang
    for lang in (
        Language("en", "", "fortunes", "public domain / BSD (Debian fortunes; quotes belong to their authors)",
                 {t: (t,) for t in ("computers", "politics", "science", "love", "education", "work", "sports")}),
        Language("ru", "ru", "fortunes-ru", "GPL-2 (Debian fortunes-ru, fortune-mod-ru by Pavel Maryanov)",
                 {"computers": ("computer", "programming"), "politics": ("polit",), "love": ("love",),
                  "education": ("education",), "work": ("work",)}),
        Language("es", "es", "fortunes-es", "presumed public domain (Debian fortunes-es: quotes presumed public "
                 "domain; its code GPL-2+)",
                 {"computers": ("informatica.fortunes",), "science": ("ciencia.fortunes",),
                  "politics": ("poder.fortunes",)}),
        Language("de", "de", "fortunes-de", "GPL-2+ (Debian fortunes-de)",
                 {"computers": ("computer",), "sports": ("fussball",), "science": ("mathematiker",)}),
    )
}


def topics(language: str) -> list[str]:
    """The shared topic labels ``language`` has, sorted.

    Example:
        >>> topics("es")
        ['computers', 'politics', 'science']
    """
    return sorted(_language(language).topics)


def load_topics(language: str) -> dict[str, list[str]]:
    """Unique quotes per shared topic of ``language``; a quote under two topics is dropped from both."""
    lang = _language(language)
    quotes: dict[str, list[str]] = {}
    for topic, files in lang.topics.items():
        texts = [q for name in files for q in parse_quotes(_read(lang.root / name))]
        quotes[topic] = list(dict.fromkeys(texts))  # a quote in two files of one topic counts once
    owners: dict[str, int] = {}
    for texts in quotes.values():
        for q in texts:
            owners[q] = owners.get(q, 0) + 1
    return {t: [q for q in texts if owners[q] == 1] for t, texts in quotes.items()}


def _read(path: Path) -> str:
    # every file of the four packages is UTF-8 (checked: Debian ships them converted, .u8 links to them)
    return path.read_bytes().decode("utf-8", errors="replace")


def _language(code: str) -> Language:
    if code not in LANGUAGES:
        raise UsageError(f"fortunes_lang has no language {code!r}; choose from {', '.join(LANGUAGES)}")
    return LANGUAGES[code]


def make(out_dir: Path, per_class: int | None = None, seed: int = 0, *,
         languages: Sequence[str] | None = None) -> Path:
    """Write ``per_class`` quotes per topic and language (default 300) as one CSV per language.

    Args:
        out_dir: target folder.
        per_class: cap on quotes per topic in each language (train + test).
        seed: chooses the sample and the 20 % test split.
        languages: a subset of ``en``, ``ru``, ``es``, ``de`` (default all four).
    """
    per_class = SPEC.default_per_class if per_class is None else per_class
    check_per_class(per_class)
    chosen = _check_languages(languages or tuple(LANGUAGES))
    for code in chosen:
        require_file(LANGUAGES[code].root / next(iter(LANGUAGES[code].topics.values()))[0],
                     LANGUAGES[code].package, "fortunes_lang")
    params = {"per_class": per_class, "seed": seed, "options": {"languages": chosen}}
    layout = ("one CSV per language (en.csv, ru.csv, ...; columns text,label,split), en-XX-topics.csv (English "
              "restricted to language XX's topics) and all.csv (with a language column)")
    return materialise(SPEC, out_dir, params, lambda tmp: _build(tmp, chosen, per_class, seed), layout)


def _check_languages(codes: Sequence[str]) -> list[str]:
    if isinstance(codes, str):
        codes = [c.strip() for c in codes.split(",") if c.strip()]
    for code in codes:
        _language(code)
    return [c for c in LANGUAGES if c in set(codes)]  # a fixed order: en first


Row = tuple[str, str, str]  # text, label, split


def _sample(language: str, per_class: int | None, seed: int) -> tuple[list[Row], dict[str, int]]:
    """(text, topic, split) rows of one language, and how many quotes each topic had."""
    quotes = load_topics(language)
    texts, labels, names = [], [], sorted(quotes)
    for label, topic in enumerate(names):
        pool = quotes[topic]
        picked = [pool[i] for i in order_by_key(pool, seed)[:per_class]]
        texts += picked
        labels += [label] * len(picked)
    is_test = stratified_split(texts, np.asarray(labels), TEST_FRACTION, seed)
    rows = [(t, names[y], "test" if held else "train") for t, y, held in zip(texts, labels, is_test)]
    return rows, {t: len(q) for t, q in quotes.items()}


def _build(tmp: Path, chosen: list[str], per_class: int | None, seed: int) -> tuple[Counts, dict[str, Any]]:
    rows = {code: _sample(code, per_class, seed) for code in chosen}
    counts: Counts = {}
    info: dict[str, Any] = {}
    for code, (lang_rows, available) in rows.items():
        _write_csv(tmp / f"{code}.csv", ["text", "label", "split"], lang_rows)
        for split in ("train", "test"):
            counts[f"{code}:{split}"] = _count(r for r in lang_rows if r[2] == split)
        lang = LANGUAGES[code]
        info[code] = {"file": f"{code}.csv", "license": lang.license, "package": lang.package,
                      "source": str(lang.root), "topics": {t: list(f) for t, f in lang.topics.items()},
                      "available_per_topic": available}
    if "en" in rows:
        for code in chosen[1:]:
            keep = set(LANGUAGES[code].topics)
            name = f"en-{code}-topics.csv"
            _write_csv(tmp / name, ["text", "label", "split"], [r for r in rows["en"][0] if r[1] in keep])
            info[code]["english_file"] = name
    _write_csv(tmp / "all.csv", ["text", "label", "split", "language"],
               [(*r, code) for code, (lang_rows, _) in rows.items() for r in lang_rows])
    return counts, {"languages": info}


def _count(rows: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for _, label, _ in rows:
        out[label] = out.get(label, 0) + 1
    return dict(sorted(out.items()))


def _write_csv(path: Path, header: list[str], rows: Sequence[tuple[str, ...]]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    atomic_write_text(path, buffer.getvalue())


SPEC = BuiltinDataset(
    name="fortunes_lang",
    modality="text",
    description="Fortunes by shared topic in English, Russian, Spanish and German (one CSV per language), "
    "for cross-lingual transfer",
    license="per language (DATASET.json 'languages'): en public domain / BSD; ru GPL-2; de GPL-2+; es presumed "
    "public domain",
    requires=tuple(f"apt:{lang.package}" for lang in LANGUAGES.values()),
    make=make,
    default_per_class=300,
    source=f"{ROOT}/{{,ru,es,de}} (Debian fortunes, fortunes-ru, fortunes-es, fortunes-de)",
)
DATASETS.add(SPEC.name, SPEC)
