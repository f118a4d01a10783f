"""Commands that take the models probe / finetune / fit save name the kind of any other graft folder
(an export, a table-transfer model, a recommender) instead of failing inside a loader."""

import json

import pytest

import graft
from graft.errors import UsageError
from graft.models.saved import folder_format


@pytest.fixture
def recommender_folder(tmp_path):
    folder = tmp_path / "rec"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"format": "graft-recommender", "format_version": 1}))
    return folder


def test_folder_format_reads_config(recommender_folder, tmp_path):
    assert folder_format(recommender_folder) == "graft-recommender"
    assert folder_format(tmp_path / "missing") is None


@pytest.mark.parametrize("command", ["report", "export"])
def test_report_and_export_name_the_folder_kind(recommender_folder, command):
    run = {"report": lambda: graft.report(recommender_folder),
           "export": lambda: graft.export_model(recommender_folder)}
    with pytest.raises(UsageError, match=f"'graft-recommender' model: graft {command} takes the models"):
        run[command]()
