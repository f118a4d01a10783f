"""The one training loop, for every modality and schedule: phases of frozen/unfrozen groups,
per-group learning rates, validation every epoch, early stopping, best weights restored, and an
atomic checkpoint after every epoch so a killed run resumes to the same result."""

from __future__ import annotations

import copy
import hashlib
import logging
import os
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch
from torch import nn

from graft._config import to_dict
from graft.features.store import FeatureStore
from graft.metrics import classification_metrics
from graft.train.config import TrainConfig
from graft.train.inputs import Inputs, Split, array_batches, cached_outputs, raw_batches
from graft.train.model import L2SP, TransferModel, param_groups, set_lrs
from graft.train.schedules import Phase, lr_factor, phase_at

log = logging.getLogger(__name__)

CHECKPOINT = "checkpoint.pt"


@dataclass
class TrainResult:
    history: list[dict[str, Any]]
    best_epoch: int
    best_metrics: dict[str, Any]
    phases: list[dict[str, Any]]
    stopped_early: bool
    seconds: float


@dataclass
class _State:
    epoch: int = 0
    best_score: list[float] = field(default_factory=lambda: [-float("inf"), -float("inf")])
    best_epoch: int = -1
    best_metrics: dict[str, Any] = field(default_factory=dict)
    bad_epochs: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    trained_from: int = 1 << 30  # lowest backbone group index trained so far (prefix caches below it stay valid)
    elapsed: float = 0.0
    tasks: dict[str, Any] = field(default_factory=dict)  # multi-task runs: each task's early-stopping state


class AuxObjective(nn.Module):
    """An extra loss computed from source and target features (deep domain adaptation: DANN,
    Deep CORAL, MMD). Its own parameters (e.g. a domain classifier) train with the model.

    ``target`` is the unlabelled target split; each training step draws a target batch of the
    same size (cycling, in an order seeded by the epoch) and adds
    ``weight(progress) * loss(source_features, target_features)`` to the classification loss.
    """

    target: Split

    def loss(self, source: torch.Tensor, target: torch.Tensor, progress: float) -> torch.Tensor:
        raise NotImplementedError


class Trainer:
    """Runs ``phases`` on ``model``. ``head_init`` (for lp-ft) fits a head on cached features;
    ``aux`` adds a domain-adaptation objective on unlabelled target batches."""

    def __init__(self, model: TransferModel, config: TrainConfig, phases: list[Phase], train: Split, val: Split,
                 n_classes: int, store: FeatureStore, checkpoint_dir: Path | None = None,
                 head_init: Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]] | None = None,
                 progress: bool = False, aux: AuxObjective | None = None) -> None:
        from accelerate import PartialState

        # cpu=True lets accelerate see a torchrun / accelerate-launch CPU job (gloo) as distributed
        self.dist = PartialState(cpu=not torch.cuda.is_available())
        self.model = model.to(self.dist.device)
        self.config = config
        self.phases = phases
        self.train_split, self.val_split = train, val
        self.n_classes = n_classes
        self.store = store
        self.checkpoint_dir = checkpoint_dir
        self.head_init = head_init
        self.progress = progress and self.dist.is_main_process
        # called with each epoch's history record (graft fit's live display); None: nothing
        self.on_epoch: Callable[[dict[str, Any]], None] | None = None
        self.n_groups = len(model.backbone.layer_groups())
        self.pretrained_key = model.backbone.cache_key()
        self.l2sp = L2SP(model, config.l2sp)
        self.aux = aux.to(self.dist.device) if aux is not None else None
        groups = param_groups(model, phases[0].group_lrs, phases[0].head_lr, config.weight_decay)
        if self.aux is not None:  # trains at the head's LR (set_lrs maps every group past the head to it)
            groups.append({"params": list(self.aux.parameters()), "weight_decay": 0.0, "lr": phases[0].head_lr, "tag": "aux"})
        self.optimizer = torch.optim.AdamW(groups)
        self.loss_fn = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
        self.total_epochs = sum(p.epochs for p in phases)
        self.steps_per_epoch = -(-len(self._shard(np.arange(len(train.items)))) // config.batch_size)
        self.state = _State()

    # --- the loop ---------------------------------------------------------------------------
    def run(self, resume: bool = False) -> TrainResult:
        if not (resume and self._load_checkpoint()):
            torch.manual_seed(self.config.seed)
        stopped = False
        current_phase = -1
        while self.state.epoch < self.total_epochs:
            start_time = time.perf_counter()
            index, phase, within = phase_at(self.phases, self.state.epoch)
            if index != current_phase:
                self._enter_phase(phase, within)
                current_phase = index
            train_loss = self._train_epoch(phase, within)
            metrics = self.evaluate(self._start(phase))
            self.state.elapsed += time.perf_counter() - start_time
            stopped = self._end_epoch(phase, train_loss, metrics, time.perf_counter() - start_time)
            if stopped:
                break
        self._restore_best()
        self._clear_checkpoint()
        return TrainResult(self.state.history, self.state.best_epoch, self.state.best_metrics,
                           [to_dict(p) for p in self.phases], stopped, self.state.elapsed)

    def _start(self, phase: Phase) -> int:
        """Where the trainable part begins: the first trainable group (all frozen: after the backbone)."""
        return min(phase.trainable) if phase.trainable else self.n_groups

    def _enter_phase(self, phase: Phase, within: int) -> None:
        self.model.set_trainable(phase.trainable)
        if phase.trainable:
            self.state.trained_from = min(self.state.trained_from, min(phase.trainable))
            # trained weights must never be served from the pretrained weights' feature cache
            self.model.backbone.key = f"finetuned-{uuid.uuid4().hex}"
        counts = self.model.parameter_counts()
        log.info("phase %s: groups %s trainable; %d / %d parameters trainable", phase.name,
                 [self.model.backbone.layer_groups()[i].name for i in phase.trainable] or "none (head only)",
                 counts["trainable"], counts["total"])
        self._phase_counts = counts
        if phase.probe_init and within == 0 and self.head_init is not None:
            self._probe_init()

    def _sync_gradients(self) -> None:
        """Average gradients across processes (data parallelism), in one flat all-reduce.

        Done by hand rather than with a DistributedDataParallel wrapper because the set of
        trainable parameters changes between phases, which DDP cannot follow after wrapping.
        """
        if self.dist.num_processes <= 1:
            return
        import torch.distributed as torch_dist
        from torch._utils import _flatten_dense_tensors, _unflatten_dense_tensors

        grads = [p.grad for p in self.model.parameters() if p.requires_grad and p.grad is not None]
        if self.aux is not None:
            grads += [p.grad for p in self.aux.parameters() if p.grad is not None]
        if not grads:
            return
        flat = _flatten_dense_tensors(grads)
        torch_dist.all_reduce(flat)
        flat /= self.dist.num_processes
        for grad, synced in zip(grads, _unflatten_dense_tensors(flat, grads)):
            grad.copy_(synced)

    def _probe_init(self) -> None:
        x_train = self._features(self.train_split)
        x_val = self._features(self.val_split) if len(self.val_split.items) else None
        weight, bias = self.head_init(x_train, self.train_split.labels, x_val, self.val_split.labels)  # type: ignore[misc]
        self.model.init_head(torch.as_tensor(weight, dtype=torch.float32), torch.as_tensor(bias, dtype=torch.float32))

    def _features(self, split: Split) -> np.ndarray:
        return self._cached(split, self.n_groups)

    def _cached(self, split: Split, stop: int) -> np.ndarray:
        return cached_outputs(self.model.backbone, self.pretrained_key, split, stop, self.store,
                              self.config.batch_size * 2, self.dist.process_index, self.dist.num_processes,
                              self.dist.wait_for_everyone)

    def _inputs(self, split: Split, start: int, training: bool) -> Inputs:
        """Cached outputs where the frozen prefix is still pretrained and inputs repeat, else raw."""
        prefix_ok = 0 < start <= self.state.trained_from and start <= self.n_groups
        if prefix_ok and start == self.n_groups:
            return Inputs(start, self._cached(split, start))  # head only: pooled features
        repeat = not (training and self.config.augment)
        supports = getattr(self.model.backbone, "supports_prefix", True)
        if prefix_ok and repeat and supports and self.config.cache_prefix and self.model.backbone.modality != "text":
            return Inputs(start, self._cached(split, start))
        return Inputs(0, None)

    def _shard(self, order: np.ndarray) -> np.ndarray:
        return order[self.dist.process_index::self.dist.num_processes]

    def _batches(self, split: Split, inputs: Inputs, order: np.ndarray, training: bool, epoch: int) -> Iterator[tuple[Any, np.ndarray]]:
        if inputs.arrays is not None:
            return array_batches(inputs.arrays, order, self.config.batch_size)
        return raw_batches(self.model.backbone, split, order, self.config, epoch, training and self.config.augment)

    def _train_epoch(self, phase: Phase, within: int) -> float:
        start = self._start(phase)
        inputs = self._inputs(self.train_split, start, training=True)
        order = self._shard(self._epoch_order())
        targets = self._target_batches(start) if self.aux is not None else None
        self.model.train_mode(phase.trainable)
        total_steps = phase.epochs * self.steps_per_epoch
        losses, device = [], self.dist.device
        labels = torch.as_tensor(self.train_split.labels, dtype=torch.long)
        for step, (batch, idx) in enumerate(self._batches(self.train_split, inputs, order, True, self.state.epoch)):
            global_step = within * self.steps_per_epoch + step
            set_lrs(self.optimizer, phase.group_lrs, phase.head_lr, lr_factor(phase.curve, phase.warmup, global_step, total_steps))
            batch = self.model.backbone.move_batch(batch, device)
            with self._autocast():
                y = labels[torch.from_numpy(idx)].to(device)
                if targets is None:
                    loss = self._loss(batch, inputs.start, start, y)
                else:
                    loss = self._aux_step(batch, inputs.start, start, y, next(targets), self.state.epoch / self.total_epochs)
                loss = loss + self.l2sp(self.model)
            loss.backward()
            self._sync_gradients()
            self.optimizer.step()
            self.optimizer.zero_grad(set_to_none=True)
            losses.append(float(loss.detach()))
        return float(np.mean(losses)) if losses else float("nan")

    def _epoch_order(self) -> np.ndarray:
        """This epoch's training items (positions in the train split), in an order seeded by the epoch."""
        return np.random.default_rng((self.config.seed, self.state.epoch)).permutation(len(self.train_split.items))

    def _loss(self, batch: Any, given: int, start: int, y: torch.Tensor) -> torch.Tensor:
        """The training loss of one batch (a multi-task trainer sums its tasks' heads here)."""
        return self.loss_fn(self._forward(batch, given, start).float(), y)

    def _target_batches(self, start: int) -> Iterator[Any]:
        """Endless target batches (cycling through epochs of the target split). The inputs are
        resolved now, before the model goes to train mode (extraction leaves it in eval mode)."""
        assert self.aux is not None
        target = self.aux.target
        return self._cycle(target, self._inputs(target, start, training=True))

    def _cycle(self, target: Split, inputs: Inputs) -> Iterator[Any]:
        cycle = 0
        while True:
            order = np.random.default_rng((self.config.seed, self.state.epoch, cycle, 1)).permutation(len(target.items))
            for batch, _ in self._batches(target, inputs, order, True, self.state.epoch * 1000 + cycle):
                yield inputs.start, self.model.backbone.move_batch(batch, self.dist.device)
            cycle += 1

    def _aux_step(self, batch: Any, given: int, start: int, y: torch.Tensor, target: tuple[int, Any],
                  progress: float) -> torch.Tensor:
        assert self.aux is not None
        source_features = self._run_features(batch, given, start)
        target_features = self._run_features(target[1], target[0], start)
        logits = self.model.head(self.model.dropout(source_features))
        return self.loss_fn(logits.float(), y) + self.aux.loss(source_features.float(), target_features.float(), progress)

    def _run_features(self, batch: Any, given: int, start: int) -> torch.Tensor:
        """Features from the inputs' level (``given``); a frozen prefix not served from the cache
        runs without autograd (no graph, no activation memory)."""
        if given == 0 and 0 < start < self.n_groups and getattr(self.model.backbone, "supports_prefix", True):
            with torch.no_grad():
                batch = self.model.backbone.run_groups(batch, 0, start)
            given = start
        return self.model.features(batch, given)

    def _forward(self, batch: Any, given: int, start: int) -> torch.Tensor:
        return self.model.head(self.model.dropout(self._run_features(batch, given, start)))

    def _autocast(self) -> Any:
        dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self._precision())
        if dtype is None:
            return torch.autocast(self.dist.device.type, enabled=False)
        return torch.autocast(self.dist.device.type, dtype=dtype)

    def _precision(self) -> str:
        if self.config.precision != "auto":
            return self.config.precision
        if self.dist.device.type == "cuda" and torch.cuda.is_bf16_supported():
            return "bf16"
        return "fp32"

    def evaluate(self, start: int, split: Split | None = None) -> dict[str, Any]:
        """Metrics (accuracy, macro-F1, loss) on ``split`` (default: validation), current weights."""
        split = split if split is not None else self.val_split
        if not len(split.items):
            return {}
        metrics = classification_metrics(split.labels, self.predict_proba(split, start), self.n_classes)
        metrics["loss"] = metrics.pop("log_loss")
        return metrics

    @torch.no_grad()
    def embed(self, split: Split) -> np.ndarray:
        """Pooled features of ``split`` with the current weights."""
        self.model.eval()
        inputs = self._inputs(split, 0, training=False)
        out = []
        for batch, _ in self._batches(split, inputs, np.arange(len(split.items)), False, 0):
            out.append(self.model.features(self.model.backbone.move_batch(batch, self.dist.device), inputs.start).float().cpu().numpy())
        return np.concatenate(out)

    @torch.no_grad()
    def predict_proba(self, split: Split, start: int = 0) -> np.ndarray:
        inputs = self._inputs(split, start, training=False)
        self.model.eval()
        probs = []
        for batch, _ in self._batches(split, inputs, np.arange(len(split.items)), False, 0):
            batch = self.model.backbone.move_batch(batch, self.dist.device)
            with self._autocast():
                logits = self.model(batch, start=inputs.start)
            probs.append(torch.softmax(logits.float(), dim=1).cpu().numpy())
        return np.concatenate(probs)

    # --- bookkeeping ------------------------------------------------------------------------
    def _end_epoch(self, phase: Phase, train_loss: float, metrics: dict[str, Any], seconds: float) -> bool:
        # the chosen metric, ties broken by validation loss (accuracy saturates on small sets)
        if metrics:
            main = -metrics["loss"] if self.config.metric == "loss" else metrics[self.config.metric]
            score = [float(main), -float(metrics["loss"])]
        else:
            score = [-train_loss, -train_loss]
        record = {"epoch": self.state.epoch, "phase": phase.name,
                  "trainable_groups": [self.model.backbone.layer_groups()[i].name for i in phase.trainable],
                  "trainable_params": self._phase_counts["trainable"], "total_params": self._phase_counts["total"],
                  "head_lr": phase.head_lr, "train_loss": train_loss, "seconds": round(seconds, 3),
                  **{f"val_{k}": v for k, v in metrics.items() if k != "n"}}
        self.state.history.append(record)
        if self.on_epoch is not None and self.dist.is_main_process:
            self.on_epoch(record)
        self._report_epoch(phase, train_loss, metrics)
        if score > self.state.best_score:
            self.state.best_score, self.state.best_epoch, self.state.best_metrics = score, self.state.epoch, metrics
            self.state.bad_epochs = 0
            self._best_weights = copy.deepcopy({k: v.detach().cpu() for k, v in self.model.state_dict().items()})
        else:
            self.state.bad_epochs += 1
        self.state.epoch += 1
        self._save_checkpoint()
        patience = self.config.early_stopping
        if patience and self.state.bad_epochs >= patience:
            log.info("early stopping after epoch %d: no improvement in %d epochs", self.state.epoch - 1, patience)
            return True
        budget = self.config.time_budget
        return bool(budget is not None and self.state.elapsed >= budget)

    def _report_epoch(self, phase: Phase, train_loss: float, metrics: dict[str, Any]) -> None:
        """Progress, not a warning: with ``progress`` a live line that advances one step per epoch
        (tqdm on stderr, like the embedding bars), and always an INFO record (shown with --verbose)."""
        val = {k: round(v, 4) for k, v in metrics.items() if isinstance(v, float)}
        log.info("epoch %d (%s): train loss %.4f, val %s", self.state.epoch, phase.name, train_loss, val)
        if not self.progress:
            return
        total = sum(p.epochs for p in self.phases)
        bar = getattr(self, "_epoch_bar", None)
        if bar is None:
            from tqdm.auto import tqdm

            bar = self._epoch_bar = tqdm(total=total, initial=self.state.epoch, desc="fine-tuning", unit="epoch")
        shown = " ".join(f"val {k} {v:.4f}" for k, v in val.items() if k in ("accuracy", "macro_f1", "loss"))
        bar.set_postfix_str(f"{phase.name}: train loss {train_loss:.4f} {shown}".rstrip(), refresh=False)
        bar.update(1)
        if self.state.epoch + 1 >= total:
            bar.close()

    def _restore_best(self) -> None:
        best = getattr(self, "_best_weights", None)
        if best is not None:
            self.model.load_state_dict(best)

    def _save_checkpoint(self) -> None:
        if self.checkpoint_dir is None or not self.dist.is_main_process:
            return
        payload = {
            "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
            "best_weights": getattr(self, "_best_weights", None), "state": to_dict(self.state),
            "torch_rng": torch.get_rng_state(), "config": to_dict(self.config),
            "phases": [to_dict(p) for p in self.phases], "data": self._data_record(),
        }
        self.checkpoint_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.checkpoint_dir, prefix=".ckpt-", suffix=".tmp")
        os.close(fd)
        try:
            torch.save(payload, tmp)
            os.replace(tmp, self.checkpoint_dir / CHECKPOINT)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def _load_checkpoint(self) -> bool:
        from graft.errors import UsageError

        path = (self.checkpoint_dir or Path("/nonexistent")) / CHECKPOINT
        if not path.is_file():
            log.warning("no checkpoint at %s: starting from the beginning", path)
            return False
        payload = torch.load(path, map_location="cpu", weights_only=True)
        self._check_same_data(payload, path)
        if payload["config"] != to_dict(self.config):
            raise UsageError(f"{path} was written with different settings; remove it or rerun without --resume")
        try:
            self.model.load_state_dict(payload["model"])
        except RuntimeError as exc:  # shapes of another model (other backbone, other classes)
            raise UsageError(f"{path} holds the weights of another model ({str(exc).splitlines()[0]}); "
                             f"remove {path.parent} or rerun without --resume") from exc
        self.optimizer.load_state_dict(payload["optimizer"])
        if payload["best_weights"] is not None:
            self._best_weights = payload["best_weights"]
        self.state = _State(**payload["state"])
        torch.set_rng_state(payload["torch_rng"])
        if self.state.trained_from < self.n_groups:
            self.model.backbone.key = f"finetuned-{uuid.uuid4().hex}"
        log.info("resumed from %s at epoch %d", path, self.state.epoch)
        return True

    def _data_record(self) -> dict[str, Any]:
        """What this run trains on: items (content hashes) and labels of train and val, and the classes."""
        digest = hashlib.sha256()
        for split in (self.train_split, self.val_split):
            digest.update("\n".join(split.hashes).encode() + b"|")
            digest.update(np.asarray(split.labels, dtype=np.int64).tobytes() + b"|")
        return {"fingerprint": digest.hexdigest(), "n_classes": self.n_classes,
                "classes": list(getattr(self, "classes", None) or [])}

    def _check_same_data(self, payload: dict[str, Any], path: Path) -> None:
        """Resuming another dataset's run would save that run's weights under this data's classes."""
        from graft.errors import UsageError

        fix = f"remove {path.parent} to start afresh, or rerun without --resume"
        saved, here = payload.get("data"), self._data_record()
        if saved is None:  # a checkpoint from before data records: the head's size still tells the classes
            head = payload["model"].get("head.weight")
            saved = {"n_classes": int(head.shape[0])} if head is not None else {}
            log.warning("%s records no data fingerprint (an older graft): cannot check it was made on this data", path)
        if saved.get("n_classes", here["n_classes"]) != here["n_classes"]:
            raise UsageError(f"{path} is the checkpoint of a run with {saved['n_classes']} classes, but this data has "
                             f"{here['n_classes']}: it belongs to another run; {fix}")
        if saved.get("classes") and here["classes"] and saved["classes"] != here["classes"]:
            raise UsageError(f"{path} is the checkpoint of a run on classes {saved['classes']}, but this data's classes "
                             f"are {here['classes']}; {fix}")
        if saved.get("fingerprint", here["fingerprint"]) != here["fingerprint"]:
            raise UsageError(f"{path} is the checkpoint of a run on other data (its training or validation items or "
                             f"labels differ from this data's): resuming would continue that run and save its weights "
                             f"under this data's classes; {fix}")

    def _clear_checkpoint(self) -> None:
        if self.checkpoint_dir is not None and self.dist.is_main_process:
            (self.checkpoint_dir / CHECKPOINT).unlink(missing_ok=True)
            try:
                self.checkpoint_dir.rmdir()
            except OSError:
                pass
