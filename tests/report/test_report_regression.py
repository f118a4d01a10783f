"""The report of a regression model (a ridge probe on numeric rows of California housing): R², RMSE
and MAE cards, the target per split, predictions against the truth and the residuals drawn from the
recorded data (or --data), fit's ridge arms and verify's R² intervals, and nothing about classes."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import graft
from graft.cli.main import app
from graft.models import SavedModel
from graft.report import REPORT, render
from graft.report.page import qty

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/regression_data.py

TARGET = "MedHouseVal"
READ = {"label_column": TARGET, "modality": "array"}  # how `graft probe FILE --label-column ... -b identity` reads it
runner = CliRunner()


def _section(page: str, anchor: str) -> str:
    start = page.index(f'<section id="{anchor}">')
    return page[start:page.index("</section>", start)]


def _card(page: str, label: str) -> str:
    """The value shown on the overview card named ``label``."""
    start = page.index(f'<div class="label">{label}</div>')
    value = page.index('<div class="value">', start) + len('<div class="value">')
    return page[value:page.index("</div>", value)]


@pytest.fixture(scope="module")
def housing(tmp_path_factory) -> Path:
    from regression_data import housing_frame

    frame = housing_frame(600)
    frame["split"] = ["test" if i % 4 == 0 else "train" for i in range(len(frame))]
    path = tmp_path_factory.mktemp("housing") / "housing.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def probed(housing, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report-regression") / "housing-model"
    graft.probe(housing, "identity", out=out, **READ)
    graft.report(out)
    return out


def test_the_overview_cards_show_test_r2_rmse_and_mae(probed):
    page = (probed / REPORT).read_text()
    test = json.loads((probed / "lineage.json").read_text())["metrics"]["test"]
    assert _card(page, "R²") == f"{test['r2']:.3f}"
    assert float(_card(page, "RMSE")) == pytest.approx(test["rmse"], rel=1e-3)  # 4 significant digits
    assert float(_card(page, "MAE")) == pytest.approx(test["mae"], rel=1e-3)
    assert _card(page, "target") == TARGET
    assert '<div class="label">accuracy</div>' not in page and '<div class="label">classes</div>' not in page


def test_predictions_and_residuals_are_drawn_from_the_recorded_test_split(probed, housing):
    expected = graft.evaluate(probed, housing, **READ)
    section = _section((probed / REPORT).read_text(), "evaluation")
    assert f"test split of {housing}: {expected['n']} items, R² {expected['r2']:.3f}" in section
    assert section.count("<svg") == 2  # predicted vs true, the residual histogram
    assert "predicted = true" in section  # the identity line, named in the caption
    worst = expected["residuals"]["largest"][0]
    assert f"<td>{worst['item']}</td><td>{qty(worst['true'])}</td>" in section
    assert f"<td>{qty(worst['residual'], signed=True)}</td>" in section
    assert "<th>median</th>" in section and "Largest residuals (10 of" in section


def test_nothing_about_classes_is_shown(probed):
    page = (probed / REPORT).read_text()
    text = page.lower()
    assert "confusion" not in text and "accuracy" not in text and "macro-f1" not in text and "per class" not in text
    assert '<a href="#evaluation">Residuals</a>' in page


def test_the_data_section_gives_the_target_per_split(probed, housing):
    from graft.data import read

    ds = read(housing, target_type="regression", **READ)
    section = _section((probed / REPORT).read_text(), "data")
    assert f"<h3>Target: {TARGET}</h3>" in section
    assert f"<td>train</td><td>{len(ds.train)}</td><td>{qty(ds.train.targets.mean())}</td>" in section
    # the reader's note that the label was read as a number is a note, not a skipped file
    assert "read as a regression target" in section and "No file was skipped." in section


def test_the_chain_gives_each_regression_hop_its_r2(probed):
    test = json.loads((probed / "lineage.json").read_text())["metrics"]["test"]
    assert f"test: R² {test['r2']:.3f}" in _section((probed / REPORT).read_text(), "lineage")


def test_without_the_recorded_data_the_report_gives_the_recorded_scores_and_data_restores_the_plots(
        probed, housing, tmp_path):
    model, moved = tmp_path / "model", tmp_path / "moved.csv"
    shutil.copytree(probed, model)
    shutil.copy(housing, moved)
    gone = SavedModel.load(model)
    gone.lineage["dataset"]["source"] = str(tmp_path / "gone.csv")
    section = _section(render(gone), "evaluation")
    r2 = gone.lineage["metrics"]["test"]["r2"]
    assert "--data FILE" in section and f"Recorded on the test split: R² {r2:.3f}" in section and "<svg" not in section
    # the CLI's default --label-column ("label") reads the column named after the target
    result = runner.invoke(app, ["report", str(model), "--data", str(moved), "--out", str(tmp_path / "r.html")])
    assert result.exit_code == 0, result.output
    assert _section((tmp_path / "r.html").read_text(), "evaluation").count("<svg") == 2


def test_fit_and_verify_sections_show_the_ridge_arms_and_the_r2_intervals(housing, tmp_path):
    from graft.autofit import FitConfig

    fitted, report = graft.fit(housing, out=tmp_path / "fitted", config=FitConfig(backbones=["identity"]), **READ)
    fit = _section(render(SavedModel.load(tmp_path / "fitted")), "fit")
    assert f"Chosen: <b>{report['chosen']}</b>" in fit and "<svg" in fit
    assert f"<td>{report['chosen']} ★</td><td>{report['arms'][0]['val_r2']:.3f}</td>" in fit
    verdict = graft.verify_transfer(housing, "identity", seeds=2, out=tmp_path / "verified", **READ)
    page = render(SavedModel.load(tmp_path / "verified"))
    section = _section(page, "verify")
    assert f"<b>{verdict.verdict}</b>" in section and section.count("<svg") == 1
    assert f"<td>probe (ridge on identity)</td><td>{verdict.arms['probe'].interval.mean:.3f}</td>" in section
    assert _card(page, "verdict") == verdict.verdict


@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium is not installed (scripts/setup.sh installs it)")
def test_the_regression_report_renders_in_a_browser_without_errors(probed, tmp_path):
    from cdp import Browser
    from report_data import ARTIFACTS

    browser = Browser(shutil.which("chromium"), tmp_path / "profile")
    try:
        url = (probed / REPORT).resolve().as_uri()
        browser.load(url)
        dom = json.loads(browser.evaluate("""JSON.stringify({
          sections: [...document.querySelectorAll('section')].map(s => s.id),
          plots: document.querySelectorAll('#evaluation svg').length,
          width: Math.max(...[...document.querySelectorAll('#evaluation svg')].map(s => s.getBoundingClientRect().width)),
          text: document.body.innerText})"""))
        errors, requests = browser.console_errors(), browser.requests()
        browser.screenshot(ARTIFACTS / "report-regression.png")
    finally:
        browser.close()
    assert errors == [] and requests == [url]
    assert dom["sections"] == ["data", "rank", "fit", "training", "evaluation", "verify", "drift", "lineage", "reproduce"]
    assert dom["plots"] == 2 and dom["width"] > 250  # side by side, each wide enough to read
    assert "Predictions and residuals" in dom["text"] and "Largest residuals" in dom["text"]


def test_a_model_from_arrays_about_to_be_saved_draws_on_the_data_it_is_given():
    import numpy as np

    rng = np.random.default_rng(0)
    X = rng.normal(size=(160, 4))
    y = X @ np.array([2.0, -1.0, 0.5, 0.0]) + rng.normal(0, 0.3, 160)
    ds = graft.from_arrays(X, y, splits=["test" if i % 4 == 0 else "train" for i in range(160)], val_fraction=0.2,
                           target_type="regression")
    model = graft.probe(ds, "identity")  # not saved: as fit / verify render it before saving
    page = render(model, ds, name="models/arrays")
    expected = graft.evaluate(model, ds)
    assert _card(page, "R²") == f"{model.lineage['metrics']['test']['r2']:.3f}"
    assert f"{expected['n']} items, R² {expected['r2']:.3f}" in _section(page, "evaluation")
    assert _section(page, "evaluation").count("<svg") == 2 and "<h1>arrays</h1>" in page
    # the arrays are not on disk: the saved model's report has the recorded scores and says how to get the plots
    assert "--data FILE" in _section(render(model), "evaluation")
