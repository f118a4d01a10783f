"""Transfer commands: finetune, fit, lr-find."""

from __future__ import annotations

import time
from contextlib import contextmanager
from pathlib import Path
from typing import List, Optional

import typer

from graft.cli import output as out
from graft.cli.app import BACKBONE, DOWNLOAD, IMAGE_SIZE, JSON, LABEL_COLUMN, OVERWRITE, TEXT_COLUMN, WEIGHTS, app, parse_options
from graft.cli.report import report_line
from graft.autofit.config import FitConfig

FIT_DEFAULTS = FitConfig()

SCHEDULE_HELP = "lp-ft (probe, then fine-tune all at a low LR) | gradual (ULMFiT) | fastai | full | scratch (random init baseline)"


@app.command("finetune")
def finetune(
    data: List[Path] = typer.Argument(..., help="Dataset folder or table file (several, one per task, with --multi-task)."),
    out_dir: Path = typer.Option(..., "--out", help="Model directory to write."),
    backbone: str = BACKBONE, weights: Optional[Path] = WEIGHTS, image_size: Optional[int] = IMAGE_SIZE,
    allow_download: bool = DOWNLOAD,
    multi_task: bool = typer.Option(False, "--multi-task", help="One backbone shared by several tasks, one head per "
                                    "DATA: batches mix the tasks, each task stops on its own validation metric, one "
                                    "model predicts every task (predict/evaluate --task NAME)."),
    task_names: Optional[str] = typer.Option(None, "--task-names", help="With --multi-task: comma-separated task "
                                             "names, one per DATA in order (default: the folder or file names)."),
    schedule: str = typer.Option("lp-ft", "--schedule", help=SCHEDULE_HELP),
    option: Optional[List[str]] = typer.Option(None, "--option", "-o", help="The schedule's own setting, KEY=VALUE "
                                               "(repeatable), e.g. frozen_groups=3 (lp-ft), freeze_epochs=2 (fastai)."),
    epochs: int = typer.Option(6, "--epochs"),
    lr: float = typer.Option(1e-3, "--lr", help="Peak LR of the head; backbone groups get lower, per the schedule."),
    batch_size: int = typer.Option(32, "--batch-size"),
    seed: int = typer.Option(0, "--seed"),
    no_augment: bool = typer.Option(False, "--no-augment", help="Train on the inputs as they are."),
    no_flip: bool = typer.Option(False, "--no-flip", help="No horizontal flips (text-like images, digits)."),
    crop_scale: float = typer.Option(0.6, "--crop-scale", help="Random resized crop: smallest area kept (1.0: no crop)."),
    color_jitter: float = typer.Option(0.2, "--color-jitter", help="Brightness/contrast jitter ± this fraction (0: off)."),
    label_smoothing: float = typer.Option(0.1, "--label-smoothing"),
    l2sp: float = typer.Option(0.0, "--l2sp", help="L2-SP strength toward the pretrained weights."),
    patience: int = typer.Option(3, "--patience", help="Early stopping patience in epochs (0: off)."),
    lora: int = typer.Option(0, "--lora", metavar="R", min=0,
                             help="LoRA rank for transformer backbones (text, audio): train only low-rank adapters on "
                                  "the attention query/value projections + the head; the model saves only those. 0: off."),
    resume: bool = typer.Option(False, "--resume", help="Continue an interrupted run from its last checkpoint "
                                "(same data and settings; it may then replace --out)."),
    overwrite: bool = OVERWRITE,
    label_column: str = LABEL_COLUMN, text_column: str = TEXT_COLUMN,
    json_: bool = JSON,
) -> None:
    """Fine-tune a pretrained backbone with a new head (resumable; validation every epoch); with
    --multi-task, one backbone and a head per dataset."""
    from graft.errors import UsageError
    from graft.train.config import TrainConfig
    from graft.train.finetune import finetune as run_finetune
    from graft.train.multitask import finetune_multitask

    config = out.run(lambda: TrainConfig(
        schedule=schedule, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed, augment=not no_augment, hflip=not no_flip,
        crop_scale=crop_scale, color_jitter=color_jitter, label_smoothing=label_smoothing, l2sp=l2sp,
        early_stopping=patience, lora=lora))
    def train():
        if task_names and not multi_task:
            raise UsageError("--task-names names the tasks of --multi-task training; add --multi-task")
        common = dict(out=out_dir, config=config, weights=weights, schedule_options=parse_options(option),
                      image_size=image_size, allow_download=allow_download, resume=resume, progress=not json_,
                      overwrite=overwrite, label_column=label_column, text_column=text_column)
        if multi_task:
            names = [n.strip() for n in task_names.split(",")] if task_names else None
            return finetune_multitask(data, backbone, schedule, task_names=names, **common)
        if len(data) > 1:
            raise UsageError(f"{len(data)} datasets given: add --multi-task to train one model with a head per "
                             "dataset, or give one dataset")
        return run_finetune(data[0], backbone, schedule, **common)

    model = out.run(train)
    settings = model.lineage.get("settings", {})
    metrics = model.lineage.get("metrics", {})
    tasks = {t: r["metrics"] for t, r in model.lineage.get("tasks", {}).items()}
    if json_:
        return out.emit_json({"model": str(out_dir), "metrics": metrics, "best_epoch": settings.get("best_epoch"),
                              "seconds": settings.get("seconds"), **({"tasks": tasks} if tasks else {})})
    if tasks:
        return out.table(f"multi-task {schedule} fine-tuning of {backbone} → {out_dir} (best epoch on the tasks' "
                         f"mean: {settings.get('best_epoch')})", ["task", "split", "accuracy", "macro-F1", "n"],
                         [[t, *row] for t, m in tasks.items() for row in out.metrics_rows(m)])
    out.table(f"{schedule} fine-tuning of {backbone} → {out_dir} (best epoch {settings.get('best_epoch')})",
              ["split", "accuracy", "macro-F1", "n"], out.metrics_rows(metrics))


@app.command("fit")
def fit(
    data: Path = typer.Argument(..., help="Dataset folder or table file (needs a validation split or enough train "
                                          "data to carve one)."),
    out_dir: Path = typer.Option(..., "--out", help="Model directory to write (fit.json, the report, goes in it)."),
    backbone: Optional[List[str]] = typer.Option(None, "--backbone", "-b", help="Backbone(s) to use, repeatable or "
                                                 "comma-separated; the first is the main one, the others join the "
                                                 "several-backbones arm. Default: rank the offline zoo on a sample."),
    weights: Optional[Path] = WEIGHTS,
    image_size: Optional[List[int]] = typer.Option(None, "--image-size", help="Input size(s) to try, repeatable; "
                                                   "the first is the start. Default: from the images' native size."),
    allow_download: bool = DOWNLOAD,
    time_budget: float = typer.Option(FIT_DEFAULTS.time_budget, "--time-budget",
                                      help="Seconds for the whole search (> 0); arms estimated to overrun are skipped."),
    arms: Optional[str] = typer.Option(None, "--arms", help="Comma-separated arm kinds the search may run "
                                       f"(default: all: {', '.join(FIT_DEFAULTS.arms)})."),
    epochs: int = typer.Option(FIT_DEFAULTS.epochs, "--epochs", help="Epochs per fine-tuning run."),
    augment: bool = typer.Option(False, "--augment", help="Augment fine-tuning inputs (off: short runs on small data "
                                                         "fit better without)."),
    trials: int = typer.Option(FIT_DEFAULTS.trials, "--trials", help="Optuna trials per probe arm (C, kept fraction)."),
    min_gain_se: float = typer.Option(FIT_DEFAULTS.min_gain_se, "--min-gain-se", help="Run an optional arm only if its "
                                      "expected gain is at least this many validation standard errors (0: every arm "
                                      "the budget allows)."),
    storage: Optional[str] = typer.Option(None, "--storage", help="Optuna storage URL shared by several workers, "
                                          "e.g. sqlite:///fit.db (one machine) or a database server (several)."),
    study_name: Optional[str] = typer.Option(None, "--study-name", help="Optuna study name (default: from the data "
                                             "fingerprint and the settings, so workers with the same ones meet)."),
    seed: int = typer.Option(0, "--seed"),
    overwrite: bool = OVERWRITE,
    label_column: str = LABEL_COLUMN, text_column: str = TEXT_COLUMN,
    target_type: str = typer.Option("auto", "--target-type", help="Table data: 'auto' (a numeric label with many "
                                    "distinct values is a regression target: ridge arms), 'classification' or "
                                    "'regression'."),
    image_column: Optional[str] = typer.Option(None, "--image-column", help="Table data: the column of image file "
                                               "paths (relative to the table's folder)."),
    json_: bool = JSON,
) -> None:
    """The automatic path: picks backbones and input size for the data, runs arms (last-layer probe,
    multi-layer probe, another size, views, several backbones, fine-tuning) in order of expected gain
    per second within the time budget, keeps what validation favours by the one-standard-error rule."""
    from graft.autofit import FitConfig
    from graft.autofit import fit as run_fit
    from graft.autofit.report import COLUMNS, table_rows

    names = [n.strip() for b in backbone or [] for n in b.split(",") if n.strip()] or None
    config = out.run(lambda: FitConfig(
        time_budget=time_budget, backbones=names, image_sizes=list(image_size) if image_size else None,
        arms=[a.strip() for a in arms.split(",")] if arms else list(FIT_DEFAULTS.arms), epochs=epochs,
        augment=augment, trials=trials, min_gain_se=min_gain_se, storage=storage, study_name=study_name, seed=seed))
    with live_fit(enabled=not json_) as notify:
        _, report = out.run(lambda: run_fit(data, out=out_dir, config=config, weights=weights,
                                            allow_download=allow_download, overwrite=overwrite, progress=notify,
                                            **_read_options(label_column, text_column, target_type, names),
                                            **({"image_column": image_column} if image_column else {})))
    if json_:
        return out.emit_json(report | {"model": str(out_dir)})
    if report.get("task") == "regression":
        return _print_regression_fit(report, time_budget, out_dir)
    out.table(f"graft fit: {report['seconds']} s of {time_budget:g} s (* chosen)", COLUMNS, table_rows(report))
    out.echo(f"backbones: {report['backbones']['how']}: {', '.join(report['backbones']['backbones'])}")
    out.echo(f"chose {report['chosen']}: {report['reason']}")
    if "test" in report.get("model_metrics", {}):
        out.echo(f"the saved model (refitted on train + val): test accuracy {report['model_metrics']['test']['accuracy']:.4f}")
    out.echo(f"saved to {out_dir} (arms: {out_dir / 'fit.json'}; report: {report_line(out_dir)})")


def _fit_line(event: dict) -> str | None:
    """One line for a progress event of ``graft.fit`` (a stage, an epoch, an arm's start / end)."""
    kind = event.get("event")
    if kind == "stage":
        return event["message"]
    if kind == "epoch":
        val = event.get("val_accuracy")
        return (f"{event['arm']}: epoch {event['epoch'] + 1}/{event['epochs']}, train loss {event['train_loss']:.4f}"
                + (f", val acc {val:.4f}" if val is not None else ""))
    if kind != "arm":
        return None
    name, status = event["method"] if "method" in event else event["arm"], event["status"]
    if status == "start":
        return f"{name}: running (estimated {event['estimate']:.0f} s)"
    if status == "done":
        return f"{name}: val acc {event['val_accuracy']:.4f} ± {event['val_se']:.4f} in {event['seconds']:.1f} s"
    return f"{name}: skipped ({event['skipped']})"


class _FitLines:
    """Progress as plain lines on stderr, for a log or a pipe (where a live table cannot redraw)."""

    def __init__(self) -> None:
        self.start = time.perf_counter()

    def __call__(self, event: dict) -> None:
        line = _fit_line(event)
        if line:
            out.note(f"[{time.perf_counter() - self.start:6.1f} s] {line}")


class _FitDisplay:
    """A live table on stderr: one row per arm (running, done or skipped), and the current epoch."""

    def __init__(self) -> None:
        self.rows: dict[str, list[str]] = {}
        self.stage = ""

    def __call__(self, event: dict) -> None:
        kind = event.get("event")
        if kind in ("stage", "epoch"):
            self.stage = _fit_line(event) or ""
        elif kind == "arm":
            self._arm(event)
        self.live.update(self.render())

    def _arm(self, event: dict) -> None:
        name, status = event["method"] if "method" in event else event["arm"], event["status"]
        if status == "start":
            self.rows[name] = [name, "running", f"~{event['estimate']:.0f} s", "", ""]
            self.stage = _fit_line(event) or ""
        elif status == "done":
            self.rows[name] = [name, "done", "", f"{event['val_accuracy']:.4f} ± {event['val_se']:.4f}",
                               f"{event['seconds']:.1f}"]
        else:
            self.rows[name] = [name, "skipped", event["skipped"], "", ""]

    def render(self):
        from rich.console import Group
        from rich.table import Table

        table = Table(title="graft fit")
        for col in ("arm", "status", "estimate / why", "val acc ± se", "seconds"):
            table.add_column(col)
        for row in self.rows.values():
            table.add_row(*row)
        return Group(table, self.stage)


@contextmanager
def live_fit(enabled: bool):
    """A progress callback for ``graft.fit``: a live table on a terminal's stderr, one line per
    event into a log or a pipe, or nothing."""
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.live import Live

    console = Console(stderr=True)
    if not console.is_terminal:
        yield _FitLines()
        return
    display = _FitDisplay()
    with Live(display.render(), console=console, transient=True, refresh_per_second=4) as live:
        display.live = live
        yield display


def _read_options(label_column: str, text_column: str, target_type: str, names: Optional[List[str]]) -> dict:
    """Reader options of fit; defaults left out (a folder of images takes no table options)."""
    options = {"label_column": label_column, "text_column": text_column, "target_type": target_type}
    options = {k: v for k, v in options.items() if v != {"label_column": "label", "text_column": "text",
                                                         "target_type": "auto"}[k]}
    return options | ({"modality": "array"} if names == ["identity"] else {})


def _print_regression_fit(report: dict, time_budget: float, out_dir: Path) -> None:
    out.table(f"graft fit (regression): {report['seconds']} s of {time_budget:g} s (* chosen)",
              ["arm", "alpha", "val R²", "test R²", "s"],
              [[("* " if r["method"] == report["chosen"] else "") + r["method"], r["alpha"], r["val_r2"], r["test_r2"],
                r["seconds"]] for r in report["arms"]])
    out.echo(f"backbones: {report['backbones']['how']}: {', '.join(report['backbones']['backbones'])}")
    out.echo(f"chose {report['chosen']}: {report['reason']}; not run: "
             + "; ".join(f"{k} ({v})" for k, v in report["not_run"].items()))
    if "test" in report.get("model_metrics", {}):
        out.echo(f"the saved model (refitted on train + val): test R² {report['model_metrics']['test']['r2']:.4f}")
    out.echo(f"saved to {out_dir} (arms: {out_dir / 'fit.json'})")


@app.command("lr-find")
def lr_find(
    data: Path = typer.Argument(..., help="Dataset folder or table file."),
    backbone: str = BACKBONE, weights: Optional[Path] = WEIGHTS, image_size: Optional[int] = IMAGE_SIZE,
    trainable: str = typer.Option("head", "--trainable", help="head (frozen backbone) | all"),
    steps: int = typer.Option(100, "--steps"),
    out_file: Path = typer.Option(Path("lr_find.png"), "--out", help="PNG plot; the data goes beside it as .json."),
    overwrite: bool = OVERWRITE,
    json_: bool = JSON,
) -> None:
    """Learning-rate range test: loss vs LR, saved as data and a PNG, with a suggested LR."""
    from graft._config import write_json
    from graft._files import check_new_output
    from graft.train.finetune import find_lr

    for path in (out_file, out_file.with_suffix(".json")):
        out.run(lambda: check_new_output(path, overwrite))

    result = out.run(lambda: find_lr(data, backbone, image_size=image_size, weights=weights, trainable=trainable,
                                     steps=steps, plot_path=out_file))
    write_json(out_file.with_suffix(".json"), result)
    if json_:
        return out.emit_json(result)
    out.echo(f"suggested lr: {result['suggestion']:.2e} ({result['reason']})")
    out.echo(f"plot: {result['plot']}; data: {out_file.with_suffix('.json')}")
