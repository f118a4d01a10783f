"""The report's HTML on tiny real models: what each section says, escaping, no external reference,
and where the file may be written (the model's own report is rewritten freely; anything else needs
--overwrite; replacing the model replaces its report)."""

from __future__ import annotations

import hashlib
import json
import re
import shutil

import pytest
from typer.testing import CliRunner

import graft
from graft.cli.main import app
from graft.errors import UsageError
from graft.models import SavedModel
from graft.report import REPORT, render
from graft.report.facts import _portable
from report_data import HOSTILE

runner = CliRunner()


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _section(page: str, anchor: str) -> str:
    start = page.index(f'<section id="{anchor}">')
    return page[start:page.index("</section>", start)]


@pytest.mark.parametrize("which", ["verified_model", "fitted_model", "readapted_model"])
def test_fit_verify_and_drift_adapt_save_the_report_as_one_of_the_models_files(which, request):
    folder = request.getfixturevalue(which)
    files = json.loads((folder / "config.json").read_text())["files"]
    assert files[REPORT] == _sha(folder / REPORT)  # listed, so replacing the model replaces it
    graft.load(folder)  # still a valid model folder


def test_user_text_is_escaped_and_nothing_points_outside_the_page(verified_model):
    page = (verified_model / REPORT).read_text()
    assert HOSTILE not in page and "&lt;img src=x onerror=alert(1)&gt; &amp; &quot;q&quot;" in page
    assert "<script" not in page.lower() and "<img" not in page.lower() and "<link" not in page.lower()
    # the only URLs are SVG namespace names; references point inside the page (#id)
    urls = set(re.findall(r"https?://[^\s\"')]+", page))
    assert urls <= {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}
    assert not re.findall(r'(?:src|href)\s*=\s*"(?!#)', page)
    assert "default-src 'none'" in page  # the browser refuses any request the page might make


def test_verify_section_states_the_recorded_verdict_and_plots_its_intervals(verified_model):
    verdict = json.loads((verified_model / "lineage.json").read_text())["verdict"]
    section = _section((verified_model / REPORT).read_text(), "verify")
    assert f"<b>{verdict['verdict']}</b>" in section and "<svg" in section
    for arm in ("scratch", "probe", "finetune"):
        assert f"<td>{arm} (" in section


def test_learning_curves_come_from_history_json(verified_model):
    history = json.loads((verified_model / "history.json").read_text())
    section = _section((verified_model / REPORT).read_text(), "training")
    assert section.count("<svg") == 1
    assert f"Per epoch ({len(history)} rows)" in section


def test_confusion_matrix_and_per_class_f1_match_evaluate_on_the_test_split(verified_model, report_data):
    expected = graft.evaluate(verified_model, report_data)
    section = _section((verified_model / REPORT).read_text(), "evaluation")
    assert f"{expected['n']} items, accuracy {expected['accuracy'] * 100:.1f}%" in section
    assert section.count("<svg") == 2  # the matrix and the F1 bars
    for name, m in expected["per_class"].items():
        escaped = name.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
        assert f"<td>{escaped}</td><td>{m['precision']:.3f}</td><td>{m['recall']:.3f}</td><td>{m['f1']:.3f}</td>" in section


def test_without_labelled_test_data_the_report_says_how_to_get_the_confusion_matrix(fitted_model):
    page = render(SavedModel.load(fitted_model), data=None)
    assert "--data DIR" in _section(page, "evaluation") and "<svg" not in _section(page, "evaluation")


def test_fit_section_shows_every_arm_the_pick_and_why(fitted_model):
    fit = json.loads((fitted_model / "fit.json").read_text())
    section = _section((fitted_model / REPORT).read_text(), "fit")
    assert f"Chosen: <b>{fit['chosen']}</b>" in section and "<svg" in section
    assert all(f"<td>{c['method']}" in section for c in fit["candidates"])


def test_the_rank_section_shows_fits_backbone_ranking_or_says_there_is_none(fitted_model, report_data):
    model = SavedModel.load(fitted_model)
    assert "No ranking is recorded" in _section(render(model), "rank")
    ranked = graft.rank_backbones(report_data, ["test_cnn"], scores=("logme",), by="logme")
    logme = {r.backbone: r.scores["logme"] for r in ranked.rows}
    model.lineage["fit"] = {**json.loads((fitted_model / "fit.json").read_text()),
                            "backbones": {"how": "ranked by LogME", "backbones": ["test_cnn"], "logme": logme}}
    section = _section(render(model), "rank")
    assert "<svg" in section and "<td>test_cnn</td>" in section and f"{logme['test_cnn']:.4g}" in section


def test_the_data_section_lists_counts_per_class_and_skipped_files_with_the_reason(verified_model):
    section = _section((verified_model / REPORT).read_text(), "data")
    assert "Skipped files: 1" in section and "broken.png" in section and "not an image" in section
    assert "<td>train</td><td>18</td>" in section and "<svg" in section


def test_the_chain_names_the_parent_and_every_licence_and_reproduce_lists_each_hop(readapted_model, fitted_model):
    page = (readapted_model / REPORT).read_text()
    chain = _section(page, "lineage")
    assert "ancestor 1: probe" in chain and str(fitted_model) in chain
    assert "Apache-2.0" in chain  # test_cnn's weights
    assert "unknown" in chain  # the tiny data carries no licence: said plainly
    reproduce = _section(page, "reproduce")
    assert reproduce.index("ancestor 1: probe") < reproduce.index("this model: adapt:self-train")  # root first
    assert "made through the Python API (graft.readapt)" in reproduce


def test_a_recorded_command_is_shown_with_the_executable_cut_to_graft():
    assert _portable("/home/me/.venv/bin/graft fit data --out m") == "graft fit data --out m"
    assert _portable("graft verify data") == "graft verify data" and _portable(None) is None


def test_the_models_own_report_is_rewritten_but_an_edited_one_needs_overwrite(fitted_model, tmp_path):
    model = tmp_path / "model"
    shutil.copytree(fitted_model, model)
    assert graft.report(model) == model / REPORT  # as graft wrote it: rewritten without --overwrite
    (model / REPORT).write_text("my notes")
    with pytest.raises(UsageError, match="--overwrite"):
        graft.report(model)
    assert (model / REPORT).read_text() == "my notes"
    graft.report(model, overwrite=True)
    files = json.loads((model / "config.json").read_text())["files"]
    assert files[REPORT] == _sha(model / REPORT)
    elsewhere = tmp_path / "elsewhere.html"
    elsewhere.write_text("x")
    with pytest.raises(UsageError, match="--overwrite"):
        graft.report(model, elsewhere)
    assert graft.report(model, elsewhere, overwrite=True) == elsewhere and "<svg" in elsewhere.read_text()


def test_replacing_a_model_replaces_its_listed_report(fitted_model, tmp_path):
    model = tmp_path / "model"
    shutil.copytree(fitted_model, model)
    again = SavedModel.load(model)
    again.extra_files[REPORT] = b"<!DOCTYPE html><p>new</p>"
    again.save(model, overwrite=True)  # no "is not graft's" refusal: config.json listed the old report
    assert (model / REPORT).read_bytes() == b"<!DOCTYPE html><p>new</p>"


def test_cli_report_prints_the_path_and_refuses_a_folder_or_an_existing_out(fitted_model, tmp_path):
    model = tmp_path / "model"
    shutil.copytree(fitted_model, model)
    result = runner.invoke(app, ["report", str(model), "--out", str(tmp_path / "r.html")])
    assert result.exit_code == 0, result.output
    assert f"report: {tmp_path / 'r.html'}" in result.output and (tmp_path / "r.html").is_file()
    again = runner.invoke(app, ["report", str(model), "--out", str(tmp_path / "r.html")])
    assert again.exit_code == 2 and "--overwrite" in again.output
    folder = runner.invoke(app, ["report", str(model), "--out", str(tmp_path)])
    assert folder.exit_code == 2 and "is a folder" in folder.output


def test_graft_report_is_callable_after_the_subpackage_is_imported(fitted_model, tmp_path):
    import graft.report  # noqa: F401  (makes graft.report the module)

    assert graft.report(fitted_model, tmp_path / "r.html") == tmp_path / "r.html"


def test_cli_adapt_saves_the_report_prints_its_path_and_scores_the_labelled_target(report_data, tmp_path):
    out = tmp_path / "adapted"
    target = report_data / "test"  # a class folder: every item held out from training
    result = runner.invoke(app, ["adapt", "--source", str(report_data), "--target", str(target), "--backbone",
                                 "test_cnn", "--image-size", "32", "--method", "coral", "--target-eval", str(target),
                                 "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert f"report: {out / REPORT}" in result.output
    page = (out / REPORT).read_text()
    assert f"evaluated on all items of {target}" in _section(page, "evaluation")
    assert "coral" in _section(page, "adaptation")


def test_a_multi_task_model_lists_each_task_with_its_data_and_scores(verified_model):
    model = SavedModel.load(verified_model)
    lineage = model.lineage
    model.config.tasks = {"colour": {"classes": model.classes}, "shade": {"classes": ["dark", "light"]}}
    lineage["tasks"] = {"colour": {"dataset": lineage["dataset"], "metrics": {"test": lineage["metrics"]["test"]}},
                        "shade": {"dataset": {"source": "shades/"}, "metrics": {}}}
    data = _section(render(model), "data")
    accuracy = lineage["metrics"]["test"]["accuracy"] * 100
    assert "<h3>Tasks</h3>" in data and "<td>shade</td><td>2</td><td>shades/</td>" in data
    assert f"<td>colour</td><td>3</td><td>{lineage['dataset']['source']}</td>" in data and f"{accuracy:.1f}%" in data
    assert "in 2 tasks" in render(model)  # the header counts classes over the tasks


def test_the_rank_section_shows_fits_cross_validated_screen_with_the_pick(fitted_model):
    model = SavedModel.load(fitted_model)
    screen = {"how": "3-fold cross-validation", "backbone": "b", "pooling": "mean", "probe": "last-layer",
              "rows": [{"backbone": "a", "probe": "multi-layer", "pooling": "mean", "cv_accuracy": 0.71, "cv_se": 0.02,
                        "columns": 2688, "seconds": 0.1},
                       {"backbone": "b", "probe": "last-layer", "pooling": "mean", "C": 0.01, "cv_accuracy": 0.79,
                        "cv_se": 0.02, "columns": 384, "seconds": 0.3}],
              "skipped": [{"backbone": "c", "why": "estimated 90 s"}]}
    model.lineage["fit"] = {**json.loads((fitted_model / "fit.json").read_text()),
                            "backbones": {"how": "given", "backbones": ["b", "a"], "screen": screen}}
    section = _section(render(model), "rank")
    assert "No ranking is recorded" not in section and "Then cross-validated: 3-fold" in section
    assert '<tr class="hi"><td>b ★</td><td>last-layer (C=0.01)</td>' in section and "<td>a</td>" in section
    assert "Not screened: c (estimated 90 s)" in section
