"""Deep domain adaptation: fine-tune the backbone on labelled source batches while an auxiliary loss
pulls the unlabelled target's features towards the source's.

Three `AuxObjective`s for the fine-tuning engine's trainer (each step it draws a target batch,
runs source and target through the backbone and adds the objective's loss):

- `DANN` (Ganin et al. 2016): a domain classifier on the features behind a gradient-reversal
  layer; the classifier learns to tell the domains apart and the backbone learns to make that
  impossible. The reversal strength ramps up as ``2 / (1 + exp(-10 p)) - 1`` over training
  progress ``p``, as in the paper.
- `DeepCORAL` (Sun & Saenko 2016): the squared Frobenius distance between the two batches'
  feature covariances, divided by ``4 d^2``.
- `MultiKernelMMD` (Long et al. 2015, DAN): squared MMD between the batches with a sum of Gaussian
  kernels whose widths span ``2^-2 .. 2^2`` times the batch's median distance.

`adapt_deep` builds the trainer (source train/val splits, target as the auxiliary split), keeps
the epoch with the best *source* validation accuracy (no target label is read), and saves the
fine-tuned backbone with the head, like ``graft finetune`` does.
"""

from __future__ import annotations

import logging
import math
import time
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from graft.train.loop import AuxObjective

if TYPE_CHECKING:
    from graft.adapt.driver import AdaptConfig, Domains
    from graft.models.saved import SavedModel
    from graft.train.config import TrainConfig
    from graft.train.inputs import Split

log = logging.getLogger(__name__)


class _ReverseGradient(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, strength: float) -> torch.Tensor:  # noqa: D102
        ctx.strength = strength
        return x.view_as(x)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:  # noqa: D102
        return -ctx.strength * grad, None


def reverse_gradient(x: torch.Tensor, strength: float) -> torch.Tensor:
    """Identity forward; the gradient is multiplied by ``-strength`` on the way back."""
    return _ReverseGradient.apply(x, strength)


def dann_schedule(progress: float, gamma: float = 10.0) -> float:
    """Ganin et al.'s ramp ``2 / (1 + exp(-gamma p)) - 1``: 0 at the start, about 1 at the end.

    Example:
        >>> dann_schedule(0.0), round(dann_schedule(1.0), 3)
        (0.0, 1.0)
    """
    return 2.0 / (1.0 + math.exp(-gamma * progress)) - 1.0


class DANN(AuxObjective):
    """Domain-adversarial objective: a small domain classifier behind a gradient-reversal layer.

    Args:
        target: the unlabelled target split.
        feature_dim: backbone feature size.
        hidden: hidden units of the domain classifier.
        weight: multiplier of the domain loss.
    """

    def __init__(self, target: "Split", feature_dim: int, hidden: int = 256, weight: float = 1.0) -> None:
        super().__init__()
        self.target = target
        self.weight = weight
        self.classifier = nn.Sequential(nn.Linear(feature_dim, hidden), nn.ReLU(), nn.Dropout(0.1), nn.Linear(hidden, 1))

    def loss(self, source: torch.Tensor, target: torch.Tensor, progress: float) -> torch.Tensor:
        features = reverse_gradient(torch.cat([source, target]), dann_schedule(progress))
        domain = torch.cat([torch.zeros(len(source)), torch.ones(len(target))]).to(source.device)
        logits = self.classifier(features).squeeze(1)
        return self.weight * nn.functional.binary_cross_entropy_with_logits(logits, domain)


def coral_loss(source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``||C_s - C_t||_F^2 / (4 d^2)`` between the two batches' feature covariances.

    Example:
        >>> x = torch.randn(64, 4)
        >>> float(coral_loss(x, x))
        0.0
    """
    d = source.shape[1]

    def cov(x: torch.Tensor) -> torch.Tensor:
        x = x - x.mean(dim=0, keepdim=True)
        return x.T @ x / max(len(x) - 1, 1)

    return ((cov(source) - cov(target)) ** 2).sum() / (4 * d * d)


class DeepCORAL(AuxObjective):
    """Deep CORAL: match second-order statistics of source and target features.

    Args:
        target: the unlabelled target split.
        weight: multiplier of the CORAL loss (the paper balances it against the classification loss).
    """

    def __init__(self, target: "Split", weight: float = 1.0) -> None:
        super().__init__()
        self.target = target
        self.weight = weight

    def loss(self, source: torch.Tensor, target: torch.Tensor, progress: float) -> torch.Tensor:
        return self.weight * coral_loss(source, target)


def mk_mmd(source: torch.Tensor, target: torch.Tensor, scales: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0, 4.0)) -> torch.Tensor:
    """Biased squared MMD with a sum of Gaussian kernels, widths ``scales`` x the median distance.

    Example:
        >>> x = torch.randn(32, 3)
        >>> float(mk_mmd(x, x)) == 0.0, float(mk_mmd(x, x + 3.0)) > 0.5
        (True, True)
    """
    pooled = torch.cat([source, target])
    dist2 = torch.cdist(pooled, pooled).pow(2)
    base = dist2.detach()[dist2.detach() > 0].median() if bool((dist2 > 0).any()) else torch.tensor(1.0)
    kernel = sum(torch.exp(-dist2 / (2 * base * s * s)) for s in scales)
    n = len(source)
    return kernel[:n, :n].mean() + kernel[n:, n:].mean() - 2 * kernel[:n, n:].mean()


class MultiKernelMMD(AuxObjective):
    """DAN's multi-kernel MMD between source and target feature batches.

    Args:
        target: the unlabelled target split.
        weight: multiplier of the MMD loss.
    """

    def __init__(self, target: "Split", weight: float = 1.0) -> None:
        super().__init__()
        self.target = target
        self.weight = weight

    def loss(self, source: torch.Tensor, target: torch.Tensor, progress: float) -> torch.Tensor:
        return self.weight * mk_mmd(source, target)


def make_objective(method: str, target: "Split", feature_dim: int, params: dict[str, Any]) -> AuxObjective:
    """The objective of ``method`` (``dann``, ``deep-coral``, ``mmd``) with its settings."""
    from graft.errors import UsageError

    builders = {"dann": lambda: DANN(target, feature_dim, **params), "deep-coral": lambda: DeepCORAL(target, **params),
                "mmd": lambda: MultiKernelMMD(target, **params)}
    if method not in builders:
        raise UsageError(f"unknown deep adaptation method {method!r}; use dann, deep-coral or mmd")
    try:
        return builders[method]()
    except TypeError as exc:
        raise UsageError(f"{method}: bad option(s) {sorted(params)} ({exc})") from None


def _target_split(ds: Any) -> "Split":
    from graft.train.inputs import Split

    return Split(ds.items, np.zeros(len(ds), dtype=np.int64), ds.item_hashes())


def adapt_deep(domains: "Domains", config: "AdaptConfig", train_config: "TrainConfig | None", *, weights: Any = None,
               image_size: int | None = None, allow_download: bool = False,
               progress: bool = False) -> tuple["SavedModel", dict[str, Any]]:
    """Fine-tune ``domains.backbone`` with ``config.method``'s objective; the model and a report."""
    from graft._config import to_dict
    from graft.api import backbone_options
    from graft.backbones import create_backbone
    from graft.errors import UsageError
    from graft.features.store import FeatureStore
    from graft.train.config import TrainConfig
    from graft.train.finetune import _probe_head, _splits
    from graft.train.loop import Trainer
    from graft.train.model import TransferModel
    from graft.train.schedules import plan

    if domains.embedded_with is not None or domains.source.modality == "array":
        raise UsageError(f"{config.method} fine-tunes the backbone, so it needs the raw data, not embeddings")
    train_config = train_config or TrainConfig(seed=config.seed)
    source = domains.source.select(domains.source.labels >= 0)
    torch.manual_seed(train_config.seed)
    bb = create_backbone(domains.backbone, weights=weights, allow_download=allow_download, **backbone_options(image_size))
    model = TransferModel(bb, len(source.classes), train_config.dropout, freeze_bn_stats=train_config.freeze_bn_stats)
    phases = plan(train_config.schedule, train_config.epochs, len(bb.layer_groups()), train_config.lr)
    splits = _splits(source)
    aux = make_objective(config.method, _target_split(domains.target), bb.feature_dim, dict(config.params))
    probe_init = _probe_head(train_config)
    n_classes = len(source.classes)
    trainer = Trainer(model, train_config, phases, splits["train"], splits["val"], n_classes, FeatureStore(), None,
                      lambda a, b, c, d: probe_init(a, b, c, d, n_classes), progress, aux=aux)
    started = time.perf_counter()
    result = trainer.run()
    return _package_deep(domains, config, train_config, trainer, result, weights, image_size,
                         time.perf_counter() - started, to_dict)


def _package_deep(domains: "Domains", config: "AdaptConfig", train_config: "TrainConfig", trainer: Any, result: Any,
                  weights: Any, image_size: int | None, seconds: float, to_dict: Any) -> tuple["SavedModel", dict[str, Any]]:
    from graft.adapt.driver import _adaptation_record, _report_base, eval_split, score_eval
    from graft.api import _package, reference_sample
    from graft.features.extract import embed_items
    from graft.heads.linear import LinearHead
    from graft.backbones.weights import state_sha256

    model = trainer.model.eval()
    bb = model.backbone
    dim = bb.feature_dim
    head = LinearHead(model.head.weight.detach().cpu().double().numpy(), model.head.bias.detach().cpu().double().numpy(),
                      np.zeros(dim), np.ones(dim))
    state = {k: v.detach().cpu().numpy() for k, v in bb.state_dict().items()}
    embed = lambda items: embed_items(list(items), bb, use_cache=False)  # noqa: E731  (tuned weights: no cache)
    metrics: dict[str, Any] = {"source_val": result.best_metrics} if result.best_metrics else {}
    if domains.target_eval is not None:
        ds_e = eval_split(domains.target_eval)
        metrics["target_eval"] = score_eval(ds_e, embed(ds_e.items), domains.source.classes, head.predict_proba)
    rng = np.random.default_rng(config.seed)
    sample = rng.choice(len(domains.target), size=min(1000, len(domains.target)), replace=False)
    Xt = embed([domains.target.items[i] for i in np.sort(sample)])
    info = {"chosen": config.method, "reason": f"{config.method} was asked for (--method {config.method})",
            "selection": None, "effective_sample_size": None}
    settings = {"adapt": to_dict(config), "train": to_dict(train_config), "phases": result.phases,
                "best_epoch": result.best_epoch, "seconds": round(seconds, 2)}
    saved = _package(domains.source, domains.backbone, weights, image_size, head, f"adapt:{config.method}", settings,
                     metrics, head_config={"type": "linear", "dropout": train_config.dropout}, backbone_state=state,
                     adaptation=_adaptation_record(domains, config, info))
    saved.config.backbone.weights_sha256 = state_sha256(state)
    saved.config.backbone.weights_file = None
    saved.reference = reference_sample(Xt, head.predict_proba(Xt), seed=config.seed)
    report = {**_report_base(domains, config, info, int(np.sum(domains.source.labels >= 0)), len(domains.target)),
              "target_eval": metrics.get("target_eval"), "source_only": None, "history": result.history,
              "best_epoch": result.best_epoch}
    return saved, report
