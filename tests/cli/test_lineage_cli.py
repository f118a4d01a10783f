"""The command line of a model's story: ``--backbone model:DIR`` on the commands that take a backbone,
``graft rank`` with zoo and saved models side by side, ``graft lineage MODEL [--json]``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from graft.backbones import BackboneSpec, InputSpec, register_backbone
from graft.cli.main import app


@pytest.fixture(scope="module")
def runner() -> CliRunner:
    return CliRunner()


def run(runner: CliRunner, *args: object, code: int = 0):
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == code, f"exit {result.exit_code}, wanted {code}\n{result.output}\n{result.exception!r}"
    return result


@pytest.fixture(scope="module")
def two_hops(runner, tiny_images, tmp_path_factory) -> dict[str, Path]:
    """test_cnn under a research-only licence → probe → probe from that model, through the CLI."""
    register_backbone(BackboneSpec(
        name="test_cnn_research", modality="image", architecture="graft:test_cnn", feature_dim=16,
        input=InputSpec(image_size=32, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5)), license="CC-BY-NC-SA-4.0",
        groups=("stem", "stage1", "stage2"), source_classes="test-5", description="non-commercial test weights",
    ), builder="graft.backbones.testing:build_test_cnn")
    root = tmp_path_factory.mktemp("cli-chain")
    run(runner, "probe", tiny_images, "--backbone", "test_cnn_research", "--out", root / "first", "--json")
    run(runner, "probe", tiny_images, "--backbone", f"model:{root / 'first'}", "--out", root / "second", "--json")
    return {"first": root / "first", "second": root / "second"}


def test_lineage_prints_every_hop_to_the_root_and_the_inherited_restriction(runner, two_hops, tiny_images):
    result = run(runner, "lineage", two_hops["second"])
    text = result.output
    assert f"hop 0  {two_hops['second'].absolute()}" in text and f"hop 1  {two_hops['first'].absolute()}" in text
    assert "root   zoo test_cnn_research" in text and "CC-BY-NC-SA-4.0" in text
    assert "non-commercial licence (CC-BY-NC-SA-4.0); this model inherits that restriction" in " ".join(text.split())
    assert str(tiny_images) in text and "licence: unknown (user data)" in text


def test_lineage_json_is_the_whole_chain(runner, two_hops):
    story = json.loads(run(runner, "lineage", two_hops["second"], "--json").stdout)
    assert [h["method"] for h in story["hops"]] == ["probe", "probe"]
    assert story["root"]["license"] == "CC-BY-NC-SA-4.0"
    assert {i["restriction"] for i in story["restrictions"]} == {"non-commercial", "unknown"}


def test_lineage_of_a_folder_without_lineage_is_a_usage_error(runner, tmp_path):
    result = run(runner, "lineage", tmp_path, code=2)
    assert "no lineage.json" in result.output


def test_rank_compares_zoo_backbones_and_saved_models_side_by_side(runner, two_hops, tiny_images):
    model = f"model:{two_hops['first']}"
    result = json.loads(run(runner, "rank", tiny_images, "--backbones", f"test_cnn,{model}", "--json").stdout)
    rows = {r["backbone"]: r for r in result["rows"]}
    assert set(rows) == {"test_cnn", model}
    assert rows[model]["scores"]["leep"] is not None and rows[model]["scores"]["leep"] > rows["test_cnn"]["scores"]["leep"]


def test_embed_takes_a_model_as_backbone(runner, two_hops, tiny_images):
    result = json.loads(run(runner, "embed", tiny_images, "--backbone", f"model:{two_hops['first']}", "--json").stdout)
    assert result["shape"] == [42, 16]
    result = run(runner, "embed", tiny_images, "--backbone", f"model:{two_hops['first'] / 'nope'}", code=2)
    assert "no graft model there" in result.output
