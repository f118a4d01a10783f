"""``finetune``: one schedule on one backbone, and ``find_lr``. (``graft fit``, the automatic path that
once lived here, is ``graft.autofit``: train/ sits below it and does not import it.)"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

if TYPE_CHECKING:
    from graft.data.dataset import Dataset
    from graft.models.saved import SavedModel
    from graft.train.config import TrainConfig

log = logging.getLogger(__name__)


def _splits(ds: "Dataset") -> dict[str, Any]:
    from graft.train.inputs import Split

    out = {}
    for name in ("train", "val", "test"):
        part = ds.split(name)  # type: ignore[arg-type]
        out[name] = Split(part.items, part.labels, part.item_hashes())
    return out


def _probe_head(config: "TrainConfig") -> Any:
    """lp-ft's first stage: a probe on cached features, returned as weights of an nn.Linear."""
    from graft.heads.probe import ProbeConfig, fit_probe

    def init(x_train: np.ndarray, y_train: np.ndarray, x_val: np.ndarray | None, y_val: np.ndarray | None,
             n_classes: int) -> tuple[np.ndarray, np.ndarray]:
        head = fit_probe(x_train, y_train, x_val, y_val, n_classes, ProbeConfig(refit_on_val=False)).head
        weight = head.weight / head.scale  # fold the standardisation into the linear layer (constant features weigh 0)
        bias = head.bias - weight @ head.mean
        return weight, bias

    return init


def build_trainer(ds: "Dataset", backbone: str, config: "TrainConfig", schedule_options: dict[str, Any] | None = None,
                  weights: str | Path | None = None, image_size: int | None = None, allow_download: bool = False,
                  checkpoint: Path | None = None, progress: bool = False, aux: Any = None) -> tuple[Any, dict[str, Any]]:
    """A Trainer for ``config.schedule`` on ``ds`` (the backbone built, head new, phases planned)."""
    import torch

    from graft.api import _require_labels, backbone_options
    from graft.backbones import create_backbone
    from graft.backbones.engine import require_trainable
    from graft.features.extract import check_items
    from graft.features.store import FeatureStore
    from graft.train.loop import Trainer
    from graft.train.model import TransferModel
    from graft.train.schedules import SCHEDULES, plan

    entry = SCHEDULES.get(config.schedule)
    _require_labels(ds.train, "train")
    check_items(ds.items, backbone)
    from graft.data.regression import require_classes

    require_classes(ds, "fine-tuning (graft finetune, lr-find, verify's trained arms)", "fine-tuning trains with a "
                    "classification loss: for a number use graft probe (a ridge probe on frozen features) or graft fit")
    require_trainable(backbone)
    torch.manual_seed(config.seed)
    bb = create_backbone(backbone, weights="random" if not entry.pretrained else weights,
                         allow_download=allow_download, **backbone_options(image_size))
    freeze_bn = config.freeze_bn_stats and entry.pretrained
    phases = plan(config.schedule, config.epochs, len(bb.layer_groups()), config.lr, schedule_options)
    if config.lora:  # adapters on the frozen backbone; they train at higher LRs than full fine-tuning
        from graft.train.lora import lora_model, scale_lrs

        model = lora_model(bb, len(ds.classes), config, entry.pretrained, freeze_bn)
        scale_lrs(phases, config.lora_lr_factor)
    else:
        model = TransferModel(bb, len(ds.classes), config.dropout, freeze_bn_stats=freeze_bn)
    splits = _splits(ds)
    n_classes = len(ds.classes)
    probe_init = _probe_head(config)
    trainer = Trainer(model, config, phases, splits["train"], splits["val"], n_classes, FeatureStore(), checkpoint,
                      lambda a, b, c, d: probe_init(a, b, c, d, n_classes), progress, aux=aux)
    return trainer, splits


def check_settings(backbone: str, schedule: str, schedule_options: dict[str, Any] | None,
                   image_size: int | None) -> None:
    """Every setting's type and range, checked before any data is read (against the zoo spec's
    layer groups when the backbone is registered; otherwise ``plan`` checks them once it is built)."""
    from graft.api import backbone_options
    from graft.backbones import get_spec, is_registered
    from graft.backbones.engine import require_trainable
    from graft.train.schedules import schedule_config

    require_trainable(backbone)  # a frozen engine (usem3, multilingual_e5_small) has nothing to train
    backbone_options(image_size)
    groups = len(get_spec(backbone).groups) if is_registered(backbone) else 0
    schedule_config(schedule, schedule_options, groups or None)


def checkpoint_dir(out: str | Path | None) -> Path | None:
    if out is None:
        return None
    out = Path(out)
    return out.parent / f".{out.name}.train"


def finetune(
    data: "str | Path | Dataset",
    backbone: str = "mobilenet_v2",
    schedule: str = "lp-ft",
    *,
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
    """Fine-tune ``backbone`` on ``data`` with ``schedule`` and return (and save) the model.

    An existing model at ``out`` is replaced only with ``overwrite=True``, or with ``resume=True``
    when an interrupted run's checkpoint is there to resume (that run was allowed to replace it).

    Example:
        >>> model = graft.finetune("data/pets", "mobilenet_v2", "fastai", out="models/pets",
        ...                        config=graft.TrainConfig(epochs=4))          # doctest: +SKIP
    """
    import dataclasses

    from graft._config import to_dict
    from graft.api import _package, as_dataset, check_out, save_model
    from graft.backbones.weights import state_sha256
    from graft.heads.linear import LinearHead
    from graft.train.config import TrainConfig
    from graft.train.schedules import SCHEDULES

    if isinstance(data, (list, tuple)):
        from graft.errors import UsageError

        raise UsageError(f"finetune trains on one dataset, got {len(data)}; for one model with a head per dataset "
                         "use graft.finetune_multitask (graft finetune ... --multi-task)")
    config = dataclasses.replace(config or TrainConfig(), schedule=schedule)
    entry = SCHEDULES.get(schedule)
    check_settings(backbone, schedule, schedule_options, image_size)
    overwrite = overwrite or _resumable(out, resume)
    check_out(out, overwrite)
    ds = as_dataset(data, **read_options)
    trainer, splits = build_trainer(ds, backbone, config, schedule_options, weights, image_size, allow_download,
                                    checkpoint_dir(out), progress)
    trainer.on_epoch = on_epoch  # each epoch's record, for a live display (graft fit)
    trainer.classes = list(ds.classes)  # recorded in checkpoints: --resume refuses another dataset's run
    model, bb, n_classes = trainer.model, trainer.model.backbone, len(ds.classes)
    result = trainer.run(resume=resume)
    metrics = {"val": result.best_metrics} if result.best_metrics else {}
    if len(splits["test"].items):
        metrics["test"] = trainer.evaluate(0, splits["test"])
    for m in metrics.values():
        m.setdefault("log_loss", m.pop("loss", None))
    backbone_state = None
    adapters = model.adapters() if config.lora else None  # LoRA: the adapters replace a full backbone state
    if adapters is None and (any(p["trainable"] for p in result.phases) or not entry.pretrained):
        backbone_state = {k: v.detach().cpu().numpy() for k, v in model.backbone.state_dict().items()}
    dim = bb.feature_dim
    head = LinearHead(model.head.weight.detach().cpu().numpy().astype(np.float64),
                      model.head.bias.detach().cpu().numpy().astype(np.float64), np.zeros(dim), np.ones(dim))
    settings = {"train": to_dict(config), "schedule_options": schedule_options or {}, "phases": result.phases,
                "best_epoch": result.best_epoch, "stopped_early": result.stopped_early, "seconds": round(result.seconds, 2)}
    if adapters is not None:
        from graft.train.lora import lora_summary

        settings["lora"] = lora_summary(model)
    saved = _package(ds, backbone, weights, image_size, head, f"finetune:{schedule}", settings, metrics,
                     head_config={"type": "linear", "dropout": config.dropout}, backbone_state=backbone_state)
    if backbone_state is not None:
        saved.config.backbone.weights_sha256 = state_sha256(backbone_state)
        saved.config.backbone.weights_file = None
    if adapters is not None:
        saved.lora_state, saved.config.backbone.lora = adapters
    saved.extra_files["history.json"] = _history_json(result.history)
    saved.reference = _reference(trainer, splits)
    if out is not None and trainer.dist.is_main_process:
        save_model(saved, out, ds, overwrite=overwrite)
    return saved


def _resumable(out: str | Path | None, resume: bool) -> bool:
    from graft.train.loop import CHECKPOINT

    folder = checkpoint_dir(out)
    return bool(resume and folder is not None and (folder / CHECKPOINT).is_file())


def _reference(trainer: Any, splits: dict[str, Any], size: int = 1000) -> dict[str, np.ndarray]:
    """The drift reference of a fine-tuned model: embeddings of a training sample through the
    trained backbone, and prediction confidences on held-out data."""
    from graft.api import reference_sample
    from graft.train.inputs import Split

    train = splits["train"]
    keep = np.sort(np.random.default_rng(0).choice(len(train.items), size=min(size, len(train.items)), replace=False))
    sample = Split([train.items[i] for i in keep], train.labels[keep], [train.hashes[i] for i in keep])
    held_out = splits["val"] if len(splits["val"].items) else sample
    return reference_sample(trainer.embed(sample), trainer.predict_proba(held_out), size=size)


def _history_json(history: list[dict[str, Any]]) -> bytes:
    from graft._config import dumps

    return (dumps(history) + "\n").encode()


def find_lr(data: "str | Path | Dataset", backbone: str = "mobilenet_v2", *, config: "TrainConfig | None" = None,
            image_size: int | None = None, weights: str | Path | None = None, trainable: str = "head",
            steps: int = 100, plot_path: str | Path | None = None, **read_options: Any) -> dict[str, Any]:
    """LR range test; returns the curve and a suggested LR (and writes a PNG plot when asked)."""
    from graft.api import as_dataset, backbone_options
    from graft.train.config import TrainConfig
    from graft.train.lr_find import LRFindConfig, lr_find, plot

    settings = LRFindConfig(steps=steps, trainable=trainable)  # checked before any data is read
    backbone_options(image_size)
    ds = as_dataset(data, **read_options)
    trainer, _ = build_trainer(ds, backbone, config or TrainConfig(), weights=weights, image_size=image_size)
    result = lr_find(trainer, settings)
    out = result.to_dict()
    if plot_path is not None:
        out["plot"] = str(plot(result, plot_path))
    return out
