"""Transfer commands: finetune, fit, lr-find."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from graft.cli import output as out
from graft.cli.app import BACKBONE, DOWNLOAD, IMAGE_SIZE, JSON, LABEL_COLUMN, OVERWRITE, TEXT_COLUMN, WEIGHTS, app, parse_options

SCHEDULE_HELP = "lp-ft (probe, then fine-tune all at a low LR) | gradual (ULMFiT) | fastai | full | scratch (random init baseline)"


@app.command("finetune")
def finetune(
    data: Path = typer.Argument(..., help="Dataset folder or table file."),
    out_dir: Path = typer.Option(..., "--out", help="Model directory to write."),
    backbone: str = BACKBONE, weights: Optional[Path] = WEIGHTS, image_size: Optional[int] = IMAGE_SIZE,
    allow_download: bool = DOWNLOAD,
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
    """Fine-tune a pretrained backbone with a new head (resumable; validation every epoch)."""
    from graft.train.config import TrainConfig
    from graft.train.finetune import finetune as run_finetune

    config = out.run(lambda: TrainConfig(
        schedule=schedule, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed, augment=not no_augment, hflip=not no_flip,
        crop_scale=crop_scale, color_jitter=color_jitter, label_smoothing=label_smoothing, l2sp=l2sp,
        early_stopping=patience, lora=lora))
    model = out.run(lambda: run_finetune(data, backbone, schedule, out=out_dir, config=config, weights=weights,
                                         schedule_options=parse_options(option),
                                         image_size=image_size, allow_download=allow_download, resume=resume,
                                         progress=not json_, overwrite=overwrite,
                                         label_column=label_column, text_column=text_column))
    settings = model.lineage.get("settings", {})
    metrics = model.lineage.get("metrics", {})
    if json_:
        return out.emit_json({"model": str(out_dir), "metrics": metrics, "best_epoch": settings.get("best_epoch"),
                              "seconds": settings.get("seconds")})
    out.table(f"{schedule} fine-tuning of {backbone} → {out_dir} (best epoch {settings.get('best_epoch')})",
              ["split", "accuracy", "macro-F1", "n"], out.metrics_rows(metrics))


@app.command("fit")
def fit(
    data: Path = typer.Argument(..., help="Dataset folder or table file."),
    out_dir: Path = typer.Option(..., "--out", help="Model directory to write."),
    backbone: str = BACKBONE, weights: Optional[Path] = WEIGHTS, image_size: Optional[int] = IMAGE_SIZE,
    allow_download: bool = DOWNLOAD,
    time_budget: float = typer.Option(900.0, "--time-budget", help="Seconds for the whole search."),
    epochs: int = typer.Option(10, "--epochs", help="Epochs per fine-tuning schedule tried."),
    augment: bool = typer.Option(False, "--augment", help="Augment training inputs (off: short runs on small data "
                                                         "fit better without)."),
    json_: bool = JSON,
) -> None:
    """The automatic path: a probe first, then fine-tuning within the time budget; keeps whichever
    validation favours and says why."""
    from graft.train.finetune import fit as run_fit

    _, report = out.run(lambda: run_fit(data, out=out_dir, backbone=backbone, weights=weights,
                                        allow_download=allow_download, time_budget=time_budget,
                                        image_size=image_size, epochs=epochs, augment=augment,
                                        progress=not json_))
    if json_:
        return out.emit_json(report | {"model": str(out_dir)})
    out.table(f"graft fit {backbone} ({report['seconds']} s of {time_budget:.0f} s)", ["method", "val acc", "test acc", "seconds", "note"],
              [[c["method"], c.get("val_accuracy", ""), c.get("test_accuracy", ""), c.get("seconds", ""), c.get("skipped", "")]
               for c in report["candidates"]])
    out.echo(f"chose {report['chosen']}: {report['reason']}; saved to {out_dir}")


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
