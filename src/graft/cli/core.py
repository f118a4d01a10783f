"""Core commands: the zoo, built-in datasets, embed, probe, evaluate, predict, demo."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from graft.cli import output as out
from graft.cli.app import BACKBONE, DOWNLOAD, IMAGE_SIZE, JSON, LABEL_COLUMN, OVERWRITE, TEXT_COLUMN, WEIGHTS, app, datasets_app

IMAGE_COLUMN = typer.Option(None, "--image-column", help="Table data: the column of image file paths (relative "
                            "to the table's folder), e.g. to predict a number from each image.")
TARGET_TYPE = typer.Option("auto", "--target-type", help="Table data: 'auto' (a numeric label column with many distinct "
                           "values is a regression target; a note says so), 'classification' or 'regression'.")


@app.command("models")
def models(json_: bool = JSON, pattern: Optional[str] = typer.Argument(None, help="Glob filter, e.g. 'efficientnet*'."),
           modality: Optional[str] = typer.Option(None, "--modality", help="Only backbones for image, text or audio "
                                                  "data.")) -> None:
    """List the backbone zoo and whether each entry's weights are available offline."""
    from graft.backbones.inventory import zoo_table

    rows = out.run(lambda: zoo_table(pattern, modality))
    if json_:
        return out.emit_json(rows)
    out.table("graft backbone zoo (graft models --json for groups, sources, descriptions)",
              ["name", "modality", "dim", "licence", "offline"],
              [[r["name"], r["modality"], r["feature_dim"], r["license"], "yes" if r["offline"] else "no: " + r["install"]] for r in rows])


@datasets_app.callback()
def datasets_list(ctx: typer.Context, json_: bool = JSON) -> None:
    """List the built-in datasets."""
    if ctx.invoked_subcommand:
        return
    from graft.data import dataset_info, list_datasets

    rows = [{"name": n, "modality": dataset_info(n).modality, "license": dataset_info(n).license,
             "requires": ", ".join(dataset_info(n).requires), "description": dataset_info(n).description}
            for n in list_datasets()]
    if json_:
        return out.emit_json(rows)
    out.table("built-in datasets (graft datasets make NAME DIR)", ["name", "modality", "licence", "requires", "description"],
              [[r["name"], r["modality"], r["license"], r["requires"], r["description"]] for r in rows])


@datasets_app.command("make")
def datasets_make(
    name: str = typer.Argument(..., help="Built-in dataset name (see `graft datasets`)."),
    directory: Path = typer.Argument(..., help="Folder to write it to."),
    per_class: Optional[int] = typer.Option(None, "--per-class", help="Cap on examples per class and split."),
    seed: int = typer.Option(0, "--seed"),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an earlier build in DIR made with other "
                                   "parameters (only the files that build wrote; files you added are kept)."),
) -> None:
    """Write a built-in dataset out as ordinary image/audio folders or CSV files."""
    from graft.data import make_dataset

    path = out.run(lambda: make_dataset(name, directory, per_class=per_class, seed=seed, overwrite=overwrite))
    out.echo(f"wrote {name} to {path}")


@app.command("embed")
def embed(
    data: Path = typer.Argument(..., help="Dataset folder or table file."),
    backbone: str = BACKBONE, weights: Optional[Path] = WEIGHTS, image_size: Optional[int] = IMAGE_SIZE,
    allow_download: bool = DOWNLOAD,
    out_file: Optional[Path] = typer.Option(None, "--out", help="Write embeddings to this .npy (plus labels/paths beside it)."),
    batch_size: int = typer.Option(64, "--batch-size"),
    overwrite: bool = OVERWRITE,
    label_column: str = LABEL_COLUMN, text_column: str = TEXT_COLUMN,
    json_: bool = JSON,
) -> None:
    """Embed a dataset with a backbone (cached on disk; a re-run reads the cache)."""
    from graft.cli.commands import run_embed

    result = out.run(lambda: run_embed(data, backbone, weights, image_size, allow_download, out_file, batch_size,
                                       overwrite, label_column=label_column, text_column=text_column))
    if json_:
        return out.emit_json(result)
    out.echo(f"{result['n']} items → {result['shape']} features with {backbone}" + (f"; wrote {result['out']}" if result.get("out") else ""))


@app.command("probe")
def probe(
    data: Path = typer.Argument(..., help="Dataset folder or table file."),
    out_dir: Path = typer.Option(..., "--out", help="Model directory to write."),
    backbone: str = BACKBONE, weights: Optional[Path] = WEIGHTS, image_size: Optional[int] = IMAGE_SIZE,
    allow_download: bool = DOWNLOAD,
    c: Optional[float] = typer.Option(None, "--C", help="Fix the inverse L2 strength (default: chosen on val)."),
    alpha: Optional[float] = typer.Option(None, "--alpha", help="Regression: fix the ridge L2 strength (default: "
                                          "chosen on val by R²)."),
    layers: str = typer.Option("last", "--layers", help="'last': the backbone's features; 'all': a multi-layer "
                               "probe over every block (columns selected on validation)."),
    views: Optional[str] = typer.Option(None, "--views", help="With --layers all: comma-separated cheap views "
                                        "(images: hflip) as extra training rows, averaged at test time when "
                                        "validation favours it."),
    overwrite: bool = OVERWRITE,
    label_column: str = LABEL_COLUMN, text_column: str = TEXT_COLUMN, target_type: str = TARGET_TYPE,
    image_column: Optional[str] = IMAGE_COLUMN,
    json_: bool = JSON,
) -> None:
    """Train a linear probe on frozen, cached features and save the model (a ridge probe when the
    label is a number: see --target-type)."""
    import graft

    def run():
        from graft.errors import UsageError
        from graft.heads.multilayer import MultiLayerConfig
        from graft.heads.probe import ProbeConfig

        chosen = tuple(v.strip() for v in views.split(",") if v.strip()) if views else ()
        if chosen and layers != "all":
            raise UsageError("--views needs --layers all")
        config = MultiLayerConfig(C=c, views=chosen) if layers == "all" else ProbeConfig(C=c)
        if alpha is not None:
            from graft.heads.regression import RidgeConfig

            if c is not None or layers == "all":
                raise UsageError("--alpha is the ridge (regression) probe's strength: leave out --C and --layers all")
            config = RidgeConfig(alpha=alpha)
        return graft.probe(data, backbone, out=out_dir, overwrite=overwrite, weights=weights, image_size=image_size,
                           config=config, layers=layers, allow_download=allow_download, progress=not json_,
                           label_column=label_column, text_column=text_column, target_type=target_type,
                           **({"modality": "array"} if backbone == "identity" else {}),
                           **({"image_column": image_column} if image_column else {}))

    model = out.run(run)
    if model.is_regression:
        return _print_regression_probe(model, backbone, out_dir, json_)
    metrics, head = model.lineage.get("metrics", {}), model.config.head
    if json_:
        return out.emit_json({"model": str(out_dir), "metrics": metrics, "C": head.get("C"), "layers": layers,
                              **({"keep": head["keep"], "taps": head["taps"], "tta_views": head["tta_views"]}
                                 if head.get("type") == "multilayer" else {})})
    title = f"probe {backbone} → {out_dir}"
    if head.get("type") == "multilayer":
        title += f" (multi-layer: {model.head.n_features} features from {len(head['taps'])} taps)"
    out.table(title, ["split", "accuracy", "macro-F1", "n"], out.metrics_rows(metrics))


def _print_regression_probe(model, backbone: str, out_dir: Path, json_: bool) -> None:
    metrics, head = model.lineage.get("metrics", {}), model.config.head
    if json_:
        return out.emit_json({"model": str(out_dir), "task": "regression", "target": model.classes[0],
                              "metrics": metrics, "alpha": head.get("alpha")})
    out.table(f"ridge probe {backbone} → {out_dir} (target {model.classes[0]!r}, alpha {head.get('alpha')})",
              ["split", "R²", "RMSE", "MAE", "n"],
              [[s, m.get("r2"), m.get("rmse"), m.get("mae"), m.get("n")] for s, m in metrics.items() if isinstance(m, dict)])


def _print_regression_evaluation(r: dict, title: str) -> None:
    out.table(title, ["metric", "value"], [["R²", r["r2"]], ["RMSE", r["rmse"]], ["MAE", r["mae"]], ["n", r["n"]]])
    res = r["residuals"]
    out.table("residuals (true − predicted)", ["mean", *(f"q{q}" for q in res["quantiles"])],
              [[res["mean"], *res["quantiles"].values()]])
    out.table("largest residuals", ["item", "true", "predicted", "residual"],
              [[e["item"], e["true"], e["predicted"], e["residual"]] for e in res["largest"]])
    if r.get("note"):
        out.warn(f"note: {r['note']}")


@app.command("evaluate")
def evaluate(model: Path = typer.Argument(..., help="Model directory."),
             data: Path = typer.Argument(..., help="Dataset folder or table (its test split, else everything)."),
             task: Optional[str] = typer.Option(None, "--task", help="Multi-task models: the task to score (default: "
                                                "the task whose classes match the data's)."),
             label_column: str = LABEL_COLUMN, text_column: str = TEXT_COLUMN,
             image_column: Optional[str] = IMAGE_COLUMN,
             json_: bool = JSON) -> None:
    """Accuracy, macro-F1, per-class metrics and the confusion matrix of a model on data (R², RMSE,
    MAE and the residuals for a regression model)."""
    import graft

    r = out.run(lambda: graft.evaluate(model, data, task=task, label_column=label_column, text_column=text_column,
                                       **({"image_column": image_column} if image_column else {})))
    if json_:
        return out.emit_json(r)
    if "r2" in r:  # a regression model
        return _print_regression_evaluation(r, f"{model} on {data} (target {r['target']!r})")
    out.table(f"{model} on {data}" + (f" (task {r['task']})" if r.get("task") else ""), ["metric", "value"], [["accuracy", r["accuracy"]], ["macro-F1", r["macro_f1"]], ["n", r["n"]]])
    out.table("per class", ["class", "precision", "recall", "F1", "support"],
              [[c, m["precision"], m["recall"], m["f1"], m["support"]] for c, m in r["per_class"].items()])
    out.echo("confusion matrix (rows: true, columns: predicted, in class order above):")
    for row in r["confusion_matrix"]:
        out.echo("  " + " ".join(f"{v:4d}" for v in row))
    if r.get("note"):
        out.warn(f"note: {r['note']}")


@app.command("predict")
def predict(model: Path = typer.Argument(..., help="Model directory."),
            inputs: List[str] = typer.Argument(..., help="Files, folders of files, or texts."),
            out_file: Optional[Path] = typer.Option(None, "--out", help="Write a CSV: input, label, one column per class."),
            task: Optional[str] = typer.Option(None, "--task", help="Multi-task models: the task to predict "
                                               "(default: the model's first task)."),
            overwrite: bool = OVERWRITE,
            json_: bool = JSON) -> None:
    """Label and class probabilities for each input (a folder's files that are not inputs of the
    model's kind are skipped with a note); a regression model's predicted number."""
    import graft
    from graft.api_regression import loaded_is_regression, write_values
    from graft.cli.commands import check_predictions_file, write_predictions

    if out_file:
        out.run(lambda: check_predictions_file(out_file, overwrite))
    skipped: list[tuple[str, str]] = []
    loaded = out.run(lambda: graft.load(model))
    rows = out.run(lambda: graft.predict(loaded, inputs, skipped=skipped, task=task))
    for path, reason in skipped:
        out.warn(f"skipped {path}: {reason}")
    if task is None and len(getattr(loaded, "tasks", None) or []) > 1:
        out.warn(f"note: {model} predicts tasks {', '.join(loaded.tasks)}; these are task {loaded.tasks[0]!r} "
                 "(choose one with --task)")
    if out_file:
        out.run(lambda: write_predictions(rows, out_file) if not loaded_is_regression(loaded)
                else write_values(rows, out_file))
    if json_:
        return out.emit_json(rows)
    if loaded_is_regression(loaded):
        return out.table(f"predicted {loaded.classes[0]}", ["input", "value"], [[r["input"], r["value"]] for r in rows])
    out.table("predictions", ["input", "label", "p"], [[r["input"], r["label"], max(r["probabilities"].values())] for r in rows])


@app.command("demo")
def demo(
    directory: Path = typer.Option(Path("graft-demo"), "--dir", help="Where the data and the chosen model go."),
    per_class: int = typer.Option(100, "--per-class", help="Fashion-MNIST examples per class (train and test)."),
    image_size: Optional[int] = typer.Option(None, "--image-size", help="Input size (default: graft fit chooses it "
                                             "from the images)."),
    backbones: Optional[str] = typer.Option(None, "--backbones", help="Comma-separated; default: graft fit ranks the "
                                            "offline vision backbones and keeps the top ones."),
    time_budget: float = typer.Option(300.0, "--time-budget", help="Seconds for graft fit's search."),
    overwrite: bool = OVERWRITE,
    json_: bool = JSON,
) -> None:
    """The main job on the built-in default: `graft fit` on a small Fashion-MNIST set — backbones
    ranked, input size chosen, arms run within the budget — then the arm table and the saved model."""
    from graft.autofit.report import COLUMNS, table_rows
    from graft.cli.commands import run_demo
    from graft.cli.train import live_fit

    names = backbones.split(",") if backbones else None
    with live_fit(enabled=not json_) as notify:
        result = out.run(lambda: run_demo(directory, per_class, image_size, names, progress=notify, overwrite=overwrite,
                                          time_budget=time_budget))
    if json_:
        return out.emit_json(result)
    report = result["report"]
    out.table(f"graft fit on Fashion-MNIST, {per_class}/class: {report['seconds']} s (* chosen)", COLUMNS,
              table_rows(report))
    out.echo(f"backbones: {report['backbones']['how']}: {', '.join(report['backbones']['backbones'])}")
    out.echo(f"chose {result['best']}: {report['reason']}")
    out.echo(f"test accuracy of the saved model {result['best_test_accuracy']:.4f}; saved to {result['model']}")
    out.echo(f"next: graft evaluate {result['model']} {result['data']}   |   graft predict {result['model']} FILE...")
