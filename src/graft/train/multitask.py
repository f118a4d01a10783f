"""Multi-task fine-tuning: one backbone shared by several tasks, one linear head per task, trained by
the same ``Trainer`` (phases, schedules, optimiser groups, prefix cache, checkpoints, progress).

How the tasks share the training:

- **Interleaving, proportional to task size.** Each epoch is one shuffled pass over the union of the
  tasks' training items, so every batch holds the tasks in proportion to their sizes and an epoch
  costs what the separate runs' epochs cost together (less when tasks share items: the same images
  labelled two ways run through the backbone once and train both heads). The loss is the mean, over
  the batch's (item, task) labels, of each task head's cross-entropy. (Round-robin over tasks would
  repeat a small task's items several times an epoch and overfit it before the large one is learnt.)
- **Early stopping per task.** Every task is validated each epoch on its own metric
  (``TrainConfig.metric``, ties broken by its loss). A task with no improvement in
  ``early_stopping`` epochs stops: its items no longer train (unless another task labels them) and
  its head no longer moves; it is still validated every epoch.
- **One snapshot is kept.** The saved model is the backbone *and all heads* of the epoch with the best
  mean of the tasks' validation metrics (each task counts the same, whatever its size). A head is
  only right on the backbone it was trained with, so heads are not taken from each task's own best
  epoch: every saved snapshot is one that was validated as a whole. Each task's own best epoch is
  recorded beside it. The run ends when every task has stopped, when the mean has not improved in
  ``early_stopping`` epochs, or when the time budget is spent.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np
import torch
from torch import nn

from graft.errors import UsageError
from graft.metrics import classification_metrics
from graft.train.inputs import Split
from graft.train.loop import Trainer
from graft.train.schedules import Phase

if TYPE_CHECKING:
    from graft.data.dataset import Dataset
    from graft.models.saved import SavedModel
    from graft.train.config import TrainConfig

log = logging.getLogger(__name__)

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
_KEPT_METRICS = ("accuracy", "macro_f1", "loss", "n")


class TaskHeads(nn.ModuleList):
    """One linear head per task, in task order; called on features it returns every task's logits
    side by side (training and evaluation apply each head on its own)."""

    def __init__(self, dim: int, sizes: Sequence[int]) -> None:
        super().__init__(nn.Linear(dim, n) for n in sizes)

    def forward(self, features: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return torch.cat([head(features) for head in self], dim=1)


# --- data -------------------------------------------------------------------------------------
def resolve_task_names(data: Sequence[Any], names: Sequence[str] | None = None) -> list[str]:
    """The tasks' names: ``names`` when given (checked), else each dataset's folder or file name
    (made safe, made unique). Checked before any data is read."""
    if isinstance(data, (str, Path)) or len(data) < 2:
        raise UsageError("multi-task training needs two or more datasets (one per task); for one dataset use "
                         "graft finetune without --multi-task")
    if names is not None:
        names = list(names)
        if len(names) != len(data):
            raise UsageError(f"{len(names)} task name(s) {names} for {len(data)} datasets: give one name per dataset, "
                             "in the same order")
        for name in names:
            if not isinstance(name, str) or not _NAME.match(name):
                raise UsageError(f"task name {name!r}: use 1-64 letters, digits, '_' or '-', starting with a letter "
                                 "or digit")
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise UsageError(f"task names {duplicates} are given more than once; every task needs its own name")
        return names
    out: list[str] = []
    for i, d in enumerate(data):
        source = str(d) if isinstance(d, (str, Path)) else str(getattr(d, "source", ""))
        stem = Path(source).stem if source and not source.startswith("<") else ""
        base = re.sub(r"[^A-Za-z0-9_-]", "_", stem).strip("_-")[:60] or f"task{i + 1}"
        name, k = base, 2
        while name in out:
            name, k = f"{base}_{k}", k + 1
        out.append(name)
    return out


def check_modality(datasets: dict[str, "Dataset"]) -> None:
    """All tasks must give the one backbone the same kind of input."""
    kinds = {d.modality for d in datasets.values()}
    if len(kinds) > 1:
        listed = ", ".join(f"{n}: {d.source} ({d.modality})" for n, d in datasets.items())
        raise UsageError(f"multi-task training shares one backbone, so every task needs the same kind of input; "
                         f"these differ: {listed}. Train separate models, or give datasets of one modality")


def combine(parts: Sequence[Split]) -> Split:
    """The tasks' items as one split: labels ``(N, T)`` with -1 where a task does not label an item.
    An item in several tasks (same content) is one row with several labels; a repeat within one task
    keeps its own row, as single-task training would."""
    n_tasks = len(parts)
    items: list[Any] = []
    hashes: list[str] = []
    rows: list[list[int]] = []
    where: dict[str, int] = {}
    for t, part in enumerate(parts):
        for item, h, y in zip(part.items, part.hashes, np.asarray(part.labels).tolist()):
            i = where.get(h)
            if i is None or rows[i][t] != -1:
                i = where[h] = len(items)
                items.append(item)
                hashes.append(h)
                rows.append([-1] * n_tasks)
            rows[i][t] = int(y)
    return Split(items, np.asarray(rows, dtype=np.int64).reshape(-1, n_tasks), hashes)


def _warn_overlap(names: list[str], parts: dict[str, dict[str, Split]]) -> None:
    """An item that trains one task and is held out for another: the shared backbone has seen it.
    (Tasks labelling the same items with the same splits, e.g. fine and coarse classes, warn of nothing.)"""
    for name in names:
        trained = {h for other in names if other != name for h in parts[other]["train"].hashes}
        for split in ("val", "test"):
            n = sum(h in trained for h in parts[name][split].hashes)
            if n:
                log.warning("%d item(s) of task %s's %s split train another task: the shared backbone "
                            "has seen them (with that task's labels), so %s's %s scores may be optimistic",
                            n, name, split, name, split)


# --- the trainer ------------------------------------------------------------------------------
class MultiTaskTrainer(Trainer):
    """``Trainer`` over combined splits (labels ``(N, T)``) and a ``TaskHeads`` head: per-task losses,
    metrics, probe initialisation and early stopping; everything else is the single-task loop."""

    def __init__(self, model: nn.Module, config: "TrainConfig", phases: list[Phase], train: Split, val: Split,
                 tasks: dict[str, list[str]], store: Any, checkpoint_dir: Path | None = None,
                 head_init: Callable[..., tuple[np.ndarray, np.ndarray]] | None = None, progress: bool = False) -> None:
        self.names = list(tasks)
        self.task_classes = {n: list(c) for n, c in tasks.items()}
        super().__init__(model, config, phases, train, val, sum(len(c) for c in tasks.values()), store,  # type: ignore[arg-type]
                         checkpoint_dir, head_init, progress)
        # recorded in checkpoints: --resume refuses a run on other tasks or classes
        self.classes = [f"{n}:{c}" for n, cs in tasks.items() for c in cs]
        self.state.tasks = {n: {"best_score": [-float("inf")] * 2, "best_epoch": -1, "bad_epochs": 0,
                                "stopped_epoch": None} for n in self.names}
        self._task_losses = np.zeros((len(self.names), 2))

    def _active(self, t: int) -> bool:
        return self.state.tasks[self.names[t]]["stopped_epoch"] is None

    # training
    def _epoch_order(self) -> np.ndarray:
        order = super()._epoch_order()
        active = [t for t in range(len(self.names)) if self._active(t)]
        keep = (self.train_split.labels[:, active] >= 0).any(axis=1)
        return order[keep[order]]

    def _train_epoch(self, phase: Phase, within: int) -> float:
        self._task_losses = np.zeros((len(self.names), 2))
        return super()._train_epoch(phase, within)

    def _loss(self, batch: Any, given: int, start: int, y: torch.Tensor) -> torch.Tensor:
        features = self.model.dropout(self._run_features(batch, given, start))
        total: torch.Tensor | None = None
        count = 0
        for t, head in enumerate(self.model.head):
            rows = y[:, t] >= 0
            n = int(rows.sum())
            if not n or not self._active(t):
                continue
            loss = self.loss_fn(head(features[rows]).float(), y[rows, t])
            self._task_losses[t] += (float(loss.detach()) * n, n)
            total = loss * n if total is None else total + loss * n
            count += n
        if total is None:  # not reached: an epoch's order holds only items of tasks still training
            return features.float().sum() * 0.0
        return total / count

    def _probe_init(self) -> None:
        """lp-ft: each head starts as a probe fitted on its own task's cached features."""
        x_train = self._features(self.train_split)
        x_val = self._features(self.val_split) if len(self.val_split.items) else None
        for t, name in enumerate(self.names):
            rows = self.train_split.labels[:, t] >= 0
            held = self.val_split.labels[:, t] >= 0 if x_val is not None else None
            x_v, y_v = (x_val[held], self.val_split.labels[held, t]) if held is not None and held.any() else (None, None)
            weight, bias = self.head_init(x_train[rows], self.train_split.labels[rows, t], x_v, y_v,  # type: ignore[misc]
                                          len(self.task_classes[name]))
            with torch.no_grad():
                self.model.head[t].weight.copy_(torch.as_tensor(weight, dtype=torch.float32))
                self.model.head[t].bias.copy_(torch.as_tensor(bias, dtype=torch.float32))

    # evaluation
    @torch.no_grad()
    def task_proba(self, split: Split, start: int = 0) -> list[np.ndarray]:
        """Every task's class probabilities for every item of ``split`` (one backbone pass)."""
        inputs = self._inputs(split, start, training=False)
        self.model.eval()
        out: list[list[np.ndarray]] = [[] for _ in self.names]
        for batch, _ in self._batches(split, inputs, np.arange(len(split.items)), False, 0):
            batch = self.model.backbone.move_batch(batch, self.dist.device)
            with self._autocast():
                features = self.model.features(batch, inputs.start)
                for t, head in enumerate(self.model.head):
                    out[t].append(torch.softmax(head(features).float(), dim=1).cpu().numpy())
        return [np.concatenate(p) for p in out]

    def predict_proba(self, split: Split, start: int = 0) -> np.ndarray:
        """The first task's probabilities (what a caller without task names gets)."""
        return self.task_proba(split, start)[0]

    def evaluate(self, start: int, split: Split | None = None) -> dict[str, Any]:
        """The mean over tasks of accuracy, macro-F1 and loss, with each task's own under ``tasks``."""
        split = split if split is not None else self.val_split
        if not len(split.items):
            return {}
        proba = self.task_proba(split, start)
        tasks: dict[str, Any] = {}
        for t, name in enumerate(self.names):
            rows = split.labels[:, t] >= 0
            if rows.any():
                m = classification_metrics(split.labels[rows, t], proba[t][rows], len(self.task_classes[name]))
                m["loss"] = m.pop("log_loss")
                tasks[name] = m
        if not tasks:
            return {}
        mean = {k: float(np.mean([m[k] for m in tasks.values()])) for k in ("accuracy", "macro_f1", "loss")}
        return mean | {"n": int(sum(m["n"] for m in tasks.values())), "tasks": tasks}

    # bookkeeping
    def _end_epoch(self, phase: Phase, train_loss: float, metrics: dict[str, Any], seconds: float) -> bool:
        self._track_tasks(metrics)
        stop = super()._end_epoch(phase, train_loss, metrics, seconds)
        if all(not self._active(t) for t in range(len(self.names))):
            log.info("every task has stopped improving: training ends after epoch %d", self.state.epoch - 1)
            return True
        return stop

    def _track_tasks(self, metrics: dict[str, Any]) -> None:
        """Each task's best score and patience; a task out of patience stops training."""
        patience, epoch = self.config.early_stopping, self.state.epoch
        per_task = metrics.get("tasks", {})
        for t, name in enumerate(self.names):
            state, m = self.state.tasks[name], per_task.get(name)
            loss_sum, n = self._task_losses[t]
            train_loss = float(loss_sum / n) if n else None
            if m is not None:
                m["train_loss"] = train_loss
            if state["stopped_epoch"] is None:
                if m is not None:
                    main = -m["loss"] if self.config.metric == "loss" else m[self.config.metric]
                    score = [float(main), -float(m["loss"])]
                else:  # no validation items for this task: its training loss decides
                    score = [-train_loss, -train_loss] if train_loss is not None else state["best_score"]
                if score > state["best_score"]:
                    state.update(best_score=score, best_epoch=epoch, bad_epochs=0)
                else:
                    state["bad_epochs"] += 1
                    if patience and state["bad_epochs"] >= patience:
                        state["stopped_epoch"] = epoch
                        log.info("task %s stops after epoch %d: no improvement in %d epochs (best: epoch %d)",
                                 name, epoch, patience, state["best_epoch"])
            if m is not None:
                m["stopped"] = state["stopped_epoch"] is not None


def build_multitask_trainer(datasets: dict[str, "Dataset"], backbone: str, config: "TrainConfig",
                            schedule_options: dict[str, Any] | None = None, weights: str | Path | None = None,
                            image_size: int | None = None, allow_download: bool = False,
                            checkpoint: Path | None = None, progress: bool = False
                            ) -> tuple[MultiTaskTrainer, dict[str, Split], dict[str, dict[str, Split]]]:
    """A ``MultiTaskTrainer`` for ``config.schedule`` on the tasks in ``datasets`` (name → data):
    the backbone built once, a new head per task, phases planned; the combined splits and each task's."""
    from graft.api import _require_labels, backbone_options
    from graft.backbones import create_backbone
    from graft.features.extract import check_items
    from graft.features.store import FeatureStore
    from graft.train.finetune import _probe_head, _splits
    from graft.train.model import TransferModel
    from graft.train.schedules import SCHEDULES, plan

    entry = SCHEDULES.get(config.schedule)
    for ds in datasets.values():
        _require_labels(ds.train, "train")
    check_modality(datasets)
    check_items(next(iter(datasets.values())).items, backbone)  # the tasks share one modality
    names = list(datasets)
    torch.manual_seed(config.seed)
    bb = create_backbone(backbone, weights="random" if not entry.pretrained else weights,
                         allow_download=allow_download, **backbone_options(image_size))
    freeze_bn = config.freeze_bn_stats and entry.pretrained
    phases = plan(config.schedule, config.epochs, len(bb.layer_groups()), config.lr, schedule_options)
    first = len(datasets[names[0]].classes)
    if config.lora:
        from graft.train.lora import lora_model, scale_lrs

        model: Any = lora_model(bb, first, config, entry.pretrained, freeze_bn)
        scale_lrs(phases, config.lora_lr_factor)
    else:
        model = TransferModel(bb, first, config.dropout, freeze_bn_stats=freeze_bn)
    model.head = TaskHeads(bb.feature_dim, [len(datasets[n].classes) for n in names])
    parts = {n: _splits(datasets[n]) for n in names}
    _warn_overlap(names, parts)
    splits = {s: combine([parts[n][s] for n in names]) for s in ("train", "val", "test")}
    trainer = MultiTaskTrainer(model, config, phases, splits["train"], splits["val"],
                               {n: list(datasets[n].classes) for n in names}, FeatureStore(), checkpoint,
                               _probe_head(config), progress)
    return trainer, splits, parts


# --- the API ----------------------------------------------------------------------------------
def finetune_multitask(
    data: Sequence["str | Path | Dataset"],
    backbone: str = "mobilenet_v2",
    schedule: str = "lp-ft",
    *,
    task_names: Sequence[str] | None = None,
    out: str | Path | None = None,
    config: "TrainConfig | None" = None,
    schedule_options: dict[str, Any] | None = None,
    weights: str | Path | None = None,
    image_size: int | None = None,
    allow_download: bool = False,
    resume: bool = False,
    progress: bool = False,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
    overwrite: bool = False,
    **read_options: Any,
) -> "SavedModel":
    """Fine-tune one ``backbone`` on several tasks at once (one head per dataset in ``data``) and
    return (and save) one model that predicts every task.

    Tasks are named by ``task_names`` (default: each dataset's folder or file name); the first is the
    model's default task (``predict`` / ``evaluate`` without ``task``). Every task must have the same
    modality. Batches mix the tasks in proportion to their sizes; each task is early-stopped on its
    own validation metric; the saved weights are those of the epoch best on the mean of the tasks'
    metrics (see the module docstring for why). Per-task metrics go into the lineage and the card.

    Example:
        >>> model = graft.finetune_multitask(["data/fine", "data/coarse"], "mobilenet_v2", "lp-ft",
        ...                                  out="models/both", config=graft.TrainConfig(epochs=4))  # doctest: +SKIP
        >>> model.predict(["shoe.png"], task="coarse")                                       # doctest: +SKIP
        ['shoes']
    """
    from graft.api import as_dataset, check_out
    from graft.train.config import TrainConfig
    from graft.train.finetune import _resumable, check_settings, checkpoint_dir

    names = resolve_task_names(data, task_names)
    config = dataclasses.replace(config or TrainConfig(), schedule=schedule)
    check_settings(backbone, schedule, schedule_options, image_size)
    overwrite = overwrite or _resumable(out, resume)
    check_out(out, overwrite)
    datasets = {n: as_dataset(d, **read_options) for n, d in zip(names, data)}
    from graft.data.regression import require_classes

    for ds in datasets.values():
        require_classes(ds, "multi-task fine-tuning", "train a ridge probe on that task's data with graft probe")
    check_modality(datasets)
    trainer, splits, parts = build_multitask_trainer(datasets, backbone, config, schedule_options, weights,
                                                     image_size, allow_download, checkpoint_dir(out), progress)
    trainer.on_epoch = on_epoch
    result = trainer.run(resume=resume)
    test = trainer.evaluate(0, splits["test"]) if len(splits["test"].items) else {}
    saved = _package_multitask(datasets, names, backbone, weights, image_size, trainer, config,
                               schedule_options, result, test, parts)
    if out is not None and trainer.dist.is_main_process:
        skipped = [(n, e) for n, ds in datasets.items() for e in ds.skipped.entries]
        if skipped:
            saved.extra_files["skipped.tsv"] = "\n".join(
                ["path\treason"] + [f"{e.path}\t{n}: {e.reason}" for n, e in skipped]).encode() + b"\n"
        saved.save(out, overwrite=overwrite)
    return saved


def _clean(metrics: dict[str, Any]) -> dict[str, Any]:
    """A task's metrics as the lineage keeps them (``loss`` named ``log_loss`` as elsewhere)."""
    out = {k: metrics[k] for k in _KEPT_METRICS if k in metrics}
    if "loss" in out:
        out["log_loss"] = out.pop("loss")
    return out


def _package_multitask(datasets: dict[str, "Dataset"], names: list[str], backbone: str,
                       weights: str | Path | None, image_size: int | None, trainer: MultiTaskTrainer,
                       config: "TrainConfig", schedule_options: dict[str, Any] | None, result: Any,
                       test: dict[str, Any], parts: dict[str, dict[str, Split]]) -> "SavedModel":
    """The SavedModel: backbone state (or LoRA adapters) + one head per task; config.json's ``tasks``
    names each task's classes and tensors; lineage.json's ``tasks`` each task's data, metrics and epochs."""
    from graft.api import _package, hash64
    from graft.backbones.weights import state_sha256
    from graft.models.lineage import dataset_record
    from graft.train.finetune import _history_json

    heads = _heads(trainer, names)
    val = result.best_metrics or {}
    per_task = {n: {s: _clean(m["tasks"][n]) for s, m in (("val", val), ("test", test)) if n in m.get("tasks", {})}
                for n in names}
    metrics = {s: _clean(m) | {"mean_of_tasks": sorted(m["tasks"])} for s, m in (("val", val), ("test", test)) if m}
    backbone_state, adapters = _trained_weights(trainer.model, config, result)
    states = trainer.state.tasks
    tasks_record = {n: {"classes": list(datasets[n].classes), "dataset": dataset_record(datasets[n]),
                        "metrics": per_task[n], "best_epoch": states[n]["best_epoch"],
                        "stopped_epoch": states[n]["stopped_epoch"]} for n in names}
    saved = _package(datasets[names[0]], backbone, weights, image_size, heads[names[0]], f"finetune:{config.schedule}",
                     _settings(trainer, config, schedule_options, result), metrics,
                     head_config={"type": "linear", "dropout": config.dropout}, backbone_state=backbone_state,
                     tasks=tasks_record)
    saved.config.tasks = {n: {"classes": list(datasets[n].classes), "prefix": f"head.{n}."} for n in names}
    saved.heads = heads
    saved.lineage["dataset"] = _combined_record(datasets)
    if backbone_state is not None:
        saved.config.backbone.weights_sha256 = state_sha256(backbone_state)
        saved.config.backbone.weights_file = None
    if adapters is not None:
        saved.lora_state, saved.config.backbone.lora = adapters
    saved.training_items = hash64([h for n in names for s in ("train", "val") for h in parts[n][s].hashes])
    saved.extra_files["history.json"] = _history_json(result.history)
    saved.reference = _reference(trainer, parts[names[0]])
    return saved


def _heads(trainer: MultiTaskTrainer, names: list[str]) -> dict[str, Any]:
    """Each task's trained head as the numpy ``LinearHead`` a saved model predicts with."""
    from graft.heads.linear import LinearHead

    dim = trainer.model.backbone.feature_dim
    return {n: LinearHead(h.weight.detach().cpu().numpy().astype(np.float64),
                          h.bias.detach().cpu().numpy().astype(np.float64), np.zeros(dim), np.ones(dim))
            for n, h in zip(names, trainer.model.head)}


def _trained_weights(model: Any, config: "TrainConfig", result: Any) -> tuple[dict[str, np.ndarray] | None, Any]:
    """(backbone state when training changed it, LoRA adapters when they replace it), as ``finetune`` saves them."""
    from graft.train.schedules import SCHEDULES

    adapters = model.adapters() if config.lora else None
    if adapters is None and (any(p["trainable"] for p in result.phases) or not SCHEDULES.get(config.schedule).pretrained):
        return {k: v.detach().cpu().numpy() for k, v in model.backbone.state_dict().items()}, None
    return None, adapters


def _settings(trainer: MultiTaskTrainer, config: "TrainConfig", schedule_options: dict[str, Any] | None,
              result: Any) -> dict[str, Any]:
    """lineage.json's ``settings``: those of ``finetune``, plus how the tasks shared the training."""
    from graft._config import to_dict

    states = trainer.state.tasks
    settings = {"train": to_dict(config), "schedule_options": schedule_options or {}, "phases": result.phases,
                "best_epoch": result.best_epoch, "stopped_early": result.stopped_early,
                "seconds": round(result.seconds, 2), "multi_task": {
                    "tasks": trainer.names, "interleave": "proportional to task size (one pass over the union of items)",
                    "selection": "epoch best on the mean of the tasks' validation metric; per-task early stopping",
                    "task_epochs": {n: {"best_epoch": states[n]["best_epoch"], "stopped_epoch": states[n]["stopped_epoch"]}
                                    for n in trainer.names}}}
    if config.lora:
        from graft.train.lora import lora_summary

        settings["lora"] = lora_summary(trainer.model)
    return settings


def _combined_record(datasets: dict[str, "Dataset"]) -> dict[str, Any]:
    """lineage.json's ``dataset`` for several tasks: the sources joined, a fingerprint of the tasks'
    fingerprints (in task order, with names), summed counts; each task's own record is under ``tasks``."""
    from graft.models.lineage import dataset_record

    records = {n: dataset_record(d) for n, d in datasets.items()}
    digest = hashlib.sha256("|".join(f"{n}={r['fingerprint']}" for n, r in records.items()).encode()).hexdigest()[:32]
    modality = next(iter(records.values()))["modality"]
    return {"source": " + ".join(str(r["source"]) for r in records.values()), "modality": modality,
            "fingerprint": digest,
            "splits": {s: sum(r["splits"].get(s, 0) for r in records.values()) for s in ("train", "val", "test")},
            "skipped": sum(r["skipped"] for r in records.values()),
            "n_classes": sum(r["n_classes"] for r in records.values()), "tasks": list(records)} | _licences(records)


def _licences(records: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The tasks' data licences as one record's (each task's own stays in its record)."""
    if not any("license" in r for r in records.values()):
        return {}
    found = {str(r.get("license")) for r in records.values()}
    if len(found) == 1:
        return {"license": found.pop(), "license_from": "; ".join(f"{n}: {r.get('license_from')}" for n, r in records.items())}
    return {"license": "; ".join(f"{n}: {r.get('license')}" for n, r in records.items()),
            "license_from": "each task's own record (lineage tasks)"}


def _reference(trainer: MultiTaskTrainer, first: dict[str, Split], size: int = 1000) -> dict[str, np.ndarray]:
    """Drift reference: training embeddings through the trained backbone (a sample over all tasks) and
    the default task's confidences on its held-out items."""
    from graft.api import reference_sample

    train = trainer.train_split
    keep = np.sort(np.random.default_rng(0).choice(len(train.items), size=min(size, len(train.items)), replace=False))
    sample = Split([train.items[i] for i in keep], train.labels[keep], [train.hashes[i] for i in keep])
    held = first["val"] if len(first["val"].items) else first["train"]
    return reference_sample(trainer.embed(sample), trainer.predict_proba(held), size=size)
