"""``graft report``: a saved model's whole story as one self-contained HTML page."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from graft.cli import output as out
from graft.cli.app import JSON, LABEL_COLUMN, TEXT_COLUMN, app


@app.command("report")
def report(
    model: Path = typer.Argument(..., help="Saved model directory."),
    out_file: Optional[Path] = typer.Option(None, "--out", help="HTML file to write (default: MODEL/report.html, "
                                                                "listed among the model's files)."),
    data: Optional[Path] = typer.Option(None, "--data", help="Dataset whose test split gives the confusion matrix and "
                                                             "class counts, or a regression model's residual plots "
                                                             "(default: the model's recorded data, if unchanged)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing file at --out. Not needed to rewrite "
                                                              "the model's own report.html while it is as graft wrote it."),
    label_column: str = LABEL_COLUMN, text_column: str = TEXT_COLUMN,
    json_: bool = JSON,
) -> None:
    """Write MODEL's report: data, ranking, fit arms, learning curves, confusion matrix and per-class F1
    (for a regression model: R² / RMSE / MAE, predicted vs true and the residuals), verify intervals, drift checks, lineage with licences and the commands that reproduce it. One HTML
    file with inline plots: it opens offline and loads nothing from elsewhere."""
    from graft.report import report as write_report

    path = out.run(lambda: write_report(model, out_file, data=data, overwrite=overwrite,
                                        label_column=label_column, text_column=text_column))
    if json_:
        return out.emit_json({"report": str(path)})
    out.echo(f"report: {path}")


def report_line(model_dir: str | Path) -> str:
    """What `fit`, `verify` and `adapt` print about the report they saved with the model."""
    from graft.report import report_path

    path = report_path(model_dir)
    return str(path) if path is not None else "not written (see the warning above; `graft report` retries)"
