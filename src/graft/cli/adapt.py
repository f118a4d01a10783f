"""Adapt-stage commands: ``graft adapt``, ``graft fewshot``, ``graft cluster``, ``graft drift``.

Each one parses strings, calls the Python API and prints a table or JSON; nothing here imports
torch or numpy at module level, so ``graft --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, List, Optional

import typer

from graft.cli import output as out
from graft.cli.app import DOWNLOAD, IMAGE_SIZE, JSON, LABEL_COLUMN, OVERWRITE, TEXT_COLUMN, WEIGHTS, app, parse_options
from graft.cli.report import report_line

DRIFT_EXIT_CODE = 3
BACKBONE_OPT = typer.Option(None, "--backbone", "-b", help="Zoo name (see `graft models`); default mobilenet_v2, "
                            "or the backbone that made .npy embeddings files.")
BACKBONE_REQ = typer.Option("mobilenet_v2", "--backbone", "-b", help="Zoo name (see `graft models`).")


def _train_config(epochs: Optional[int], batch_size: Optional[int], lr: Optional[float]) -> Any:
    from graft.train.config import TrainConfig

    given = {k: v for k, v in {"epochs": epochs, "batch_size": batch_size, "lr": lr}.items() if v is not None}
    return TrainConfig(**given) if given else None


@app.command("adapt")
def adapt(
    source: Path = typer.Option(..., "--source", help="Labelled source data (folder, table, or .npy from `graft embed --out`)."),
    target: Path = typer.Option(..., "--target", help="Target-domain data; its labels, if any, are ignored."),
    out_dir: Path = typer.Option(..., "--out", help="Model directory to write."),
    backbone: Optional[str] = BACKBONE_OPT,
    method: str = typer.Option("auto", "--method", "-m", help="auto | source-only | coral | sa | iw | kmm | kliep | "
                               "self-train (frozen embeddings) | dann | deep-coral | mmd (fine-tunes the backbone)."),
    target_eval: Optional[Path] = typer.Option(None, "--target-eval", help="Labelled target data, used only to score "
                                               "(its test split when it has one)."),
    criterion: str = typer.Option("cluster", "--criterion", help="Label-free choice of auto: cluster | dev | reverse | entropy."),
    c: float = typer.Option(1.0, "--C", help="Inverse L2 strength of the head."),
    option: Optional[List[str]] = typer.Option(None, "--option", "-o", help="The method's own setting, KEY=VALUE (repeatable), e.g. eps=0.1."),
    epochs: Optional[int] = typer.Option(None, "--epochs", help="Deep methods: training epochs."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Deep methods: examples per step (and target batch size)."),
    lr: Optional[float] = typer.Option(None, "--lr", help="Deep methods: peak learning rate of the head."),
    seed: int = typer.Option(0, "--seed"),
    weights: Optional[Path] = WEIGHTS, image_size: Optional[int] = IMAGE_SIZE, allow_download: bool = DOWNLOAD,
    overwrite: bool = OVERWRITE,
    json_: bool = JSON,
) -> None:
    """Adapt a classifier from labelled source data to an unlabelled target domain and save it.

    With --method auto the method and its settings are chosen without target labels; the report says
    which and why. --target-eval labels only score the result (beside the source-only baseline).
    """
    from graft.adapt.driver import adapt as run_adapt

    model, report = out.run(lambda: run_adapt(
        source, target, backbone, method, out=out_dir, target_eval=target_eval, image_size=image_size,
        params=parse_options(option), criterion=criterion, C=c, seed=seed, weights=weights,
        train_config=_train_config(epochs, batch_size, lr), allow_download=allow_download, progress=not json_,
        overwrite=overwrite))
    if json_:
        return out.emit_json(report)
    _print_adapt(report)


def _print_adapt(report: dict[str, Any]) -> None:
    out.echo(f"method: {report['method']} → {report['chosen']}")
    out.echo(f"why: {report['reason']}")
    selection = report.get("selection")
    if selection:
        rows = sorted(selection["table"], key=lambda r: -r["cluster_score"] if selection["criterion"] == "cluster" else 0)
        out.table(f"label-free evidence (criterion: {selection['criterion']})",
                  ["candidate", "cluster", "DEV risk", "src val err", "entropy"],
                  [[_label(r), r["cluster_score"], r["dev_risk"], r["source_val_error"], r["target_entropy"]] for r in rows])
    if report.get("target_eval"):
        out.table("target-eval (labels used only to score)", ["model", "accuracy", "macro-F1", "n"], [
            ["source-only", report["source_only"]["accuracy"], report["source_only"]["macro_f1"], report["source_only"]["n"]]
            if report.get("source_only") else ["source-only", "-", "-", "-"],
            [report["chosen"], report["target_eval"]["accuracy"], report["target_eval"]["macro_f1"], report["target_eval"]["n"]],
        ])
    out.echo(f"saved to {report.get('model')}  ({report['n_source']} source, {report['n_target']} target examples, "
             f"{report['seconds']} s)" + (f"; report: {report_line(report['model'])}" if report.get("model") else ""))


def _label(row: dict[str, Any]) -> str:
    args = ", ".join(f"{k}={v}" for k, v in row["params"].items())
    return f"{row['method']}({args})" if args else row["method"]


@app.command("fewshot")
def fewshot(
    data: Path = typer.Argument(..., help="Labelled dataset folder or table (every split is used)."),
    backbone: str = BACKBONE_REQ,
    n_way: int = typer.Option(5, "--n-way", help="Classes per episode."),
    k_shot: int = typer.Option(5, "--k-shot", help="Labelled examples per class in an episode."),
    n_query: int = typer.Option(15, "--n-query", help="Query examples per class scored in an episode."),
    episodes: int = typer.Option(100, "--episodes", help="Episodes (the 95% interval narrows with more)."),
    method: str = typer.Option("protonet,probe", "--method", "-m", help="Comma-separated: protonet, probe, meta "
                               "(meta: Reptile head meta-trained on classes held out of the episodes); or setfit "
                               "(text: contrastive tuning of the encoder on --k-shot labels per class, saved to --out)."),
    out_dir: Optional[Path] = typer.Option(None, "--out", help="With --method setfit: the model directory to write."),
    holdout: Optional[int] = typer.Option(None, "--holdout", help="With meta: classes kept for episodes (default max(n-way, half))."),
    meta_steps: int = typer.Option(200, "--meta-steps", help="With meta: outer meta-training steps."),
    seed: int = typer.Option(0, "--seed"),
    weights: Optional[Path] = WEIGHTS, image_size: Optional[int] = IMAGE_SIZE, allow_download: bool = DOWNLOAD,
    overwrite: bool = OVERWRITE,
    label_column: str = LABEL_COLUMN, text_column: str = TEXT_COLUMN,
    json_: bool = JSON,
) -> None:
    """N-way K-shot episodic evaluation of few-shot learners on a backbone's embeddings, with 95% intervals.

    With --method setfit (text): tune the sentence encoder on --k-shot labels per class, fit a head,
    score the test split and save the model to --out.
    """
    from graft.fewshot.driver import fewshot_eval

    methods = [m.strip() for m in method.split(",") if m.strip()]
    if "setfit" in methods:
        return _setfit(data, backbone, k_shot, out_dir, seed, weights, allow_download, json_, overwrite)
    report = out.run(lambda: fewshot_eval(data, backbone, n_way=n_way, k_shot=k_shot, n_query=n_query, episodes=episodes,
                                          methods=methods, holdout=holdout, meta_steps=meta_steps, seed=seed,
                                          image_size=image_size, weights=weights, allow_download=allow_download,
                                          progress=not json_, label_column=label_column, text_column=text_column))
    if json_:
        return out.emit_json(report)
    out.table(f"{n_way}-way {k_shot}-shot, {episodes} episodes, {backbone}", ["method", "accuracy", "95% CI", "seconds"],
              [[name, r["mean"], f"{r['ci95'][0]:.3f} – {r['ci95'][1]:.3f}", r["seconds"]] for name, r in report["methods"].items()])
    if "meta_train_classes" in report:
        out.echo(f"episodes on held-out classes {report['eval_classes']}; meta-trained on {report['meta_train_classes']}")


def _setfit(data: Path, backbone: str, k_shot: int, out_dir: Optional[Path], seed: int, weights: Optional[Path],
            allow_download: bool, json_: bool, overwrite: bool = False) -> None:
    from graft.fewshot.setfit import SetFitConfig, fit_setfit

    if out_dir is None:
        out.warn("error: --method setfit trains a model: give --out MODEL_DIR")
        raise typer.Exit(2)
    _, report = out.run(lambda: fit_setfit(data, backbone, k_shot=k_shot, out=out_dir, config=SetFitConfig(seed=seed),
                                           weights=weights, allow_download=allow_download, overwrite=overwrite))
    if json_:
        return out.emit_json(report)
    out.table(f"SetFit-style tuning of {backbone} on {report['n_train']} labelled texts ({k_shot} per class)",
              ["split", "accuracy", "macro-F1", "n"], out.metrics_rows(report["metrics"]))
    out.echo(f"{report['steps']} steps, loss {report['loss_first']:.3f} → {report['loss_last']:.3f}, "
             f"{report['train_seconds']} s; saved to {report.get('model')}")


@app.command("cluster")
def cluster(
    data: Path = typer.Argument(..., help="Dataset folder or table (labels, if any, only score)."),
    backbone: str = BACKBONE_REQ,
    k: Optional[int] = typer.Option(None, "--k", help="Number of clusters (default: best silhouette in --k-min..--k-max)."),
    method: str = typer.Option("kmeans", "--method", "-m", help="kmeans | agglomerative | hdbscan."),
    k_min: int = typer.Option(2, "--k-min"), k_max: int = typer.Option(15, "--k-max"),
    out_dir: Optional[Path] = typer.Option(None, "--out", help="Folder for assignments.csv, central.csv, summary.json."),
    raw: bool = typer.Option(True, "--raw/--no-raw", help="Also cluster the raw inputs (pixels / TF-IDF / spectrum) to compare."),
    n_central: int = typer.Option(5, "--central", help="Most central examples listed per cluster."),
    seed: int = typer.Option(0, "--seed"),
    weights: Optional[Path] = WEIGHTS, image_size: Optional[int] = IMAGE_SIZE, allow_download: bool = DOWNLOAD,
    overwrite: bool = OVERWRITE,
    json_: bool = JSON,
) -> None:
    """Cluster a dataset by its embeddings; write assignments and central examples; NMI/ARI vs labels and vs raw inputs."""
    from graft.cluster.driver import cluster_dataset

    report = out.run(lambda: cluster_dataset(data, backbone, k=k, method=method, k_range=(k_min, k_max), out=out_dir,
                                             compare_raw=raw, n_central=n_central, seed=seed, image_size=image_size,
                                             weights=weights, allow_download=allow_download, progress=not json_,
                                             overwrite=overwrite))
    if json_:
        return out.emit_json(report)
    rows = [[f"{backbone} embeddings", report["embedding"]["k"], report["embedding"]["silhouette"],
             _num(report["embedding"]["nmi"]), _num(report["embedding"]["ari"])]]
    if report["raw"]:
        rows.append(["raw inputs", report["raw"]["k"], report["raw"]["silhouette"], _num(report["raw"]["nmi"]),
                     _num(report["raw"]["ari"])])
    out.table(f"{method} clustering of {report['n']} items", ["features", "k", "silhouette", "NMI", "ARI"], rows)
    for c, names in list(report["central"].items())[:20]:
        out.echo(f"cluster {c} ({report['embedding']['sizes'].get(c, 0)} items): " + ", ".join(_short(n) for n in names[:3]))
    if report.get("files"):
        out.echo("wrote " + ", ".join(report["files"]))


def _num(value: Any) -> Any:
    return "-" if value is None else value


def _short(name: str, width: int = 60) -> str:
    name = name.replace("\n", " ")
    return name if len(name) <= width else name[: width - 1] + "…"


@app.command("drift", epilog=f"Exit codes: 0 no drift, {DRIFT_EXIT_CODE} drift found (mild or strong), "
                             "1 runtime error, 2 usage error.")
def drift(
    model: Path = typer.Argument(..., help="Saved model directory."),
    new_data: Path = typer.Argument(..., help="Data met in use: folder or table (labels not needed)."),
    adapt_: bool = typer.Option(False, "--adapt", help="When drift is found, re-adapt to the new data and save to --out."),
    out_dir: Optional[Path] = typer.Option(None, "--out", help="With --adapt: the re-adapted model's directory."),
    method: str = typer.Option("self-train", "--method", "-m", help="With --adapt: self-train | iw | kmm | kliep | coral | sa | auto."),
    force: bool = typer.Option(False, "--force", help="With --adapt: re-adapt even when no drift is found."),
    reference: Optional[Path] = typer.Option(None, "--reference", help="Training data, for models saved without a drift reference."),
    alpha: float = typer.Option(0.01, "--alpha", help="False-alarm level (each of the two embedding tests runs at alpha/2)."),
    overwrite: bool = OVERWRITE,
    json_: bool = JSON,
) -> None:
    """Has the data moved away from what MODEL was trained for? An MMD test and a domain-classifier
    test on the embeddings decide; the classifier's AUC and the confidence shift grade the severity
    (none / mild / strong); p-values and the most shifted classes are listed.

    Exits 3 when drift is found, so scripts can act on it (e.g. `graft drift m new/ || retrain`).
    """
    from graft.drift.detect import DriftConfig, check_drift

    if adapt_ and out_dir is None:
        out.warn("error: --adapt needs --out NEW_MODEL_DIR")
        raise typer.Exit(2)
    if adapt_:
        from graft.api import check_out

        out.run(lambda: check_out(out_dir, overwrite))  # before the drift test's embedding work
    report = out.run(lambda: check_drift(model, new_data, config=DriftConfig(alpha=alpha), reference_data=reference,
                                         progress=not json_))
    result: dict[str, Any] = report.to_dict()
    if adapt_ and (report.drifted or force):
        from graft.drift.readapt import readapt

        _, result["readapt"] = out.run(lambda: readapt(model, new_data, out_dir, method=method, drift=report.to_dict(),
                                                        progress=not json_, overwrite=overwrite))
    if json_:
        out.emit_json(result)
    else:
        _print_drift(report, result.get("readapt"), adapt_)
    if report.drifted:
        raise typer.Exit(DRIFT_EXIT_CODE)


def _print_drift(report: Any, readapted: dict[str, Any] | None, asked: bool) -> None:
    out.table(f"drift: {report.severity}", ["test", "value", "p-value"], [
        ["MMD² (embeddings)", report.mmd, report.mmd_p_value],
        ["domain-classifier AUC", report.domain_auc, report.domain_p_value],
        ["mean confidence: reference → new", f"{report.confidence_reference:.3f} → {report.confidence_new:.3f}",
         report.confidence_p_value],
    ])
    for reason in report.reasons:
        out.echo(f"- {reason}")
    out.table("most shifted classes (as predicted)", ["class", "share ref", "share new", "MMD²", "p-value"],
              [[s.name, s.reference_share, s.new_share, _num(s.mmd), _num(s.p_value)] for s in report.most_shifted_classes])
    if readapted:
        out.echo(f"re-adapted with {readapted['chosen']} from the {readapted['source']['kind']}: "
                 f"{readapted['changed_predictions']:.1%} of new predictions changed; saved to {readapted.get('model')}"
                 + (f" (report: {report_line(readapted['model'])})" if readapted.get("model") else ""))
    elif asked:
        out.echo("no drift found: nothing re-adapted (use --force to re-adapt anyway)")
