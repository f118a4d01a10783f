"""The report in a real headless browser (Debian's chromium, driven over the DevTools protocol):
it loads with no console error and no request other than the file itself, shows its sections and
plots, renders a hostile class name as text, and leaves a screenshot in tests/artifacts/."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from cdp import Browser, find_chromium
from report_data import ARTIFACTS, HOSTILE

CHROMIUM = find_chromium()
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium; "
                                                          "scripts/setup.sh installs it)")

DOM = """JSON.stringify({
  sections: [...document.querySelectorAll('section')].map(s => s.id),
  svg: Object.fromEntries([...document.querySelectorAll('section')].map(s => [s.id, s.querySelectorAll('svg').length])),
  images: document.querySelectorAll('img, image, iframe, object, embed').length,
  scripts: document.querySelectorAll('script').length,
  chain: document.querySelectorAll('ol.chain > li').length,
  text: document.body.innerText,
  title: document.title,
})"""


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    b = Browser(CHROMIUM, tmp_path_factory.mktemp("chromium-profile"))
    yield b
    b.close()


def _open(browser: Browser, page: Path, shot: str) -> dict:
    browser.events.clear()
    url = page.resolve().as_uri()
    browser.load(url)
    dom = json.loads(browser.evaluate(DOM))
    dom["errors"], dom["requests"], dom["url"] = browser.console_errors(), browser.requests(), url
    path = browser.screenshot(ARTIFACTS / shot)
    print(f"screenshot: {path}")
    dom["shot"] = path
    return dom


def _png_size(path: Path) -> tuple[int, int]:
    return struct.unpack(">II", path.read_bytes()[16:24])


def test_a_verified_models_report_loads_offline_and_shows_every_section_and_plot(browser, verified_model):
    dom = _open(browser, verified_model / "report.html", "report-verified.png")
    assert dom["errors"] == []
    assert dom["requests"] == [dom["url"]]  # the file itself, nothing else
    assert dom["sections"] == ["data", "rank", "fit", "training", "evaluation", "verify", "drift", "lineage", "reproduce"]
    # class counts; learning curves; confusion matrix + per-class F1; verify intervals
    assert dom["svg"]["data"] == 1 and dom["svg"]["training"] == 1 and dom["svg"]["evaluation"] == 2
    assert dom["svg"]["verify"] == 1
    assert dom["images"] == 0 and dom["scripts"] == 0  # the hostile class name did not become an <img>
    assert HOSTILE in dom["text"] and "Did transfer help?" in dom["text"]
    width, height = _png_size(dom["shot"])
    assert width == 1200 and height > 2000  # the whole page, not just the first screen


def test_a_readapted_models_report_shows_the_drift_check_and_the_chain_to_its_parent(browser, readapted_model):
    dom = _open(browser, readapted_model / "report.html", "report-readapted.png")
    assert dom["errors"] == [] and dom["requests"] == [dom["url"]]
    assert "adaptation" in dom["sections"] and dom["svg"]["drift"] == 1
    assert "Drift: strong" in dom["text"] or "Drift: mild" in dom["text"]
    assert dom["chain"] >= 3  # this model, the fitted model it was re-adapted from, the root weights
    assert "ancestor 1" in dom["text"]
