"""``graft transfer-table``: a big source table helps a small target table — or is caught hurting it.

Parses strings, calls :func:`graft.transfer_table`, prints the method table and the verdict (or
JSON); a live line on stderr says which method and split is being fitted.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, List, Optional

import typer

from graft.cli import output as out
from graft.cli.app import JSON, OVERWRITE, app, parse_options


@app.command("transfer-table")
def transfer_table(
    source: Path = typer.Option(..., "--source", help="Source table (CSV, TSV or parquet) with many labelled rows."),
    target: Path = typer.Option(..., "--target", help="Target table: the few labelled rows, same columns."),
    label: str = typer.Option(..., "--label", help="The label column (a number: regression; else classification)."),
    out_dir: Path = typer.Option(..., "--out", help="Model directory to write."),
    method: str = typer.Option("auto", "--method", "-m", help="auto (cross-validated choice) | target_only | "
                               "source_only | pooled | weight_classifier | weight_kmm | tradaboost | tradaboost_r2 | "
                               "augment | continue_boosting."),
    unlabelled: Optional[Path] = typer.Option(None, "--unlabelled", help="Unlabelled target rows (same feature "
                                              "columns): used for categories and density-ratio weights, never labels."),
    task: Optional[str] = typer.Option(None, "--task", help="regression | classification (default: from the label)."),
    learner: str = typer.Option("lightgbm", "--learner", help="Base learner: lightgbm | linear."),
    n_estimators: int = typer.Option(200, "--n-estimators", help="Trees of a LightGBM learner."),
    option: Optional[List[str]] = typer.Option(None, "--option", "-o", help="The method's own setting, KEY=VALUE "
                                               "(repeatable), e.g. n_rounds=20."),
    candidates: Optional[str] = typer.Option(None, "--candidates", help="auto: comma-separated methods to try "
                                             "(default: every one that fits the task)."),
    folds: int = typer.Option(5, "--folds", help="Cross-validation folds over the labelled target rows."),
    repeats: int = typer.Option(2, "--repeats", help="Repeats of the folds (more: narrower intervals, slower)."),
    max_source_rows: int = typer.Option(20000, "--max-source-rows", help="Random subsample of a bigger source "
                                        "(0: every row)."),
    seed: int = typer.Option(0, "--seed"),
    overwrite: bool = OVERWRITE,
    json_: bool = JSON,
) -> None:
    """Transfer from a source table to a target table with few labelled rows, and say whether it helped.

    Every method is scored on repeated cross-validation splits of the target rows (mean and 95%
    interval); the verdict compares the kept method with target-only, and after negative transfer
    the saved model is the target-only one.
    """
    from graft.tabular.driver import TableTransferConfig, transfer_table as run
    from graft.tabular.learners import LearnerConfig

    def call() -> Any:
        config = TableTransferConfig(method=method, params=parse_options(option), task=task, folds=folds,
                                     repeats=repeats, max_source_rows=max_source_rows or None, seed=seed,
                                     candidates=[c.strip() for c in candidates.split(",") if c.strip()] if candidates else None)
        settings = LearnerConfig(kind=learner, n_estimators=n_estimators, seed=seed)  # type: ignore[arg-type]
        with live_line(enabled=not json_) as notify:
            return run(source, target, label, method, unlabelled=unlabelled, out=out_dir, overwrite=overwrite,
                       config=config, learner=settings, progress=notify)

    result = out.run(call)
    report = result.to_dict()
    if json_:
        return out.emit_json(report)
    print_report(report)


def print_report(report: dict[str, Any]) -> None:
    """The method table, the choice, the verdict line and where the model went."""
    metric = report["metric"]
    out.echo(report["task_reason"])
    for note in report["notes"][1:]:
        out.echo(f"note: {note}")
    rows = []
    for r in sorted(report["table"], key=lambda r: -(r["score"] if r["score"] is not None else float("-inf"))):
        mark = " *" if r["method"] == report["kept"] else ""
        score = f"{r['score']:.4f} ± {r['half_width']:.4f}" if r["score"] is not None else f"failed: {r['error']}"
        gain = (f"{r['gain']:+.3f} [{r['gain_low']:+.3f}, {r['gain_high']:+.3f}] {r['vs_target_only'].split()[0]}"
                if r.get("gain") is not None else r.get("vs_target_only") or "-")
        rows.append([r["method"] + mark, score, gain, r["splits"], f"{r['seconds']:.2f}" if r["seconds"] is not None else "-"])
    out.table(f"target {metric}, out-of-fold over the labelled target rows (95% interval; * saved)",
              ["method", metric, "gain vs target_only", "splits", "s/fit"], rows)
    out.echo(f"why: {report['reason']}")
    out.echo(f"verdict: {report['verdict']['verdict']} — {report['verdict']['summary']}")
    if report["kept"] != report["chosen"]:
        out.echo(f"negative transfer: kept the target-only model instead of {report['chosen']}")
    out.echo(f"saved {report['kept']} to {report['model']} ({report['seconds']} s); "
             f"next: graft predict {report['model']} NEW_ROWS.csv --out predictions.csv")


@contextmanager
def live_line(enabled: bool) -> Iterator[Any]:
    """A progress callback that keeps one status line on stderr: method, split, last score."""
    if not enabled:
        yield None
        return
    from rich.console import Console

    console = Console(stderr=True)
    with console.status("reading the tables") as status:
        def notify(event: dict[str, Any]) -> None:
            if event["event"] == "fit":
                status.update(f"split {event['split']}/{event['splits']}: fitting {event['method']}")
            elif event["event"] == "final":
                status.update(f"fitting {event['method']} on every row")

        yield notify
