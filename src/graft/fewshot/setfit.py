"""SetFit-style few-shot text classification: contrastive fine-tuning of a sentence encoder, then a head.

SetFit (Tunstall et al. 2022) fine-tunes a sentence-transformer on pairs of the few labelled texts
(same class → cosine target 1, different class → 0, ``CosineSimilarityLoss``: the squared error
of the cosine), then fits a logistic-regression head on the tuned embeddings. Three changes here
make it cheaper without giving up what it learns:

- **Pairs are drawn inside a batch of examples.** Each step draws ``batch_examples`` labelled texts
  (every class it contains at least twice), encodes each of them once, and scores
  ``pairs_per_example`` positive and as many negative partners per text among them. SetFit encodes
  both texts of every pair; here a step of B texts scores 2·R·B pairs for B encodings. Pairs are
  generated per step and dropped after it: memory is O(B·R), never the O(n²) pair list.
- **The token embeddings stay frozen and are run once.** The first ``frozen_groups`` layer groups
  (the embedding table by default: half of MiniLM's parameters, and the slowest to update) are
  computed once per text and re-used every step; every transformer layer trains.
- **Training texts are truncated** to ``max_tokens`` (128) while tuning; the saved model embeds
  with the encoder's own limit.

Then the head: a logistic regression on the tuned (normalised) embeddings, saved as a `LinearHead`,
with the tuned encoder's weights in the model (``backbone_state``), like a fine-tuned model.

The defaults (learning rate, frozen groups, head C) were chosen on a development task — six other
fortune categories (education, linux, love, medicine, pets, startrek), 8 labels per class — not on
the benchmark's categories.

Example:
    >>> model, report = fit_setfit("data/topics.csv", "minilm_l6", k_shot=8, out="models/topics")  # doctest: +SKIP
    >>> report["metrics"]["test"]["accuracy"]                                                 # doctest: +SKIP
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Sequence

import numpy as np

from graft.errors import UsageError

if TYPE_CHECKING:
    import torch

    from graft.backbones.base import Backbone
    from graft.data.dataset import Dataset
    from graft.heads.linear import LinearHead
    from graft.models.saved import SavedModel

log = logging.getLogger(__name__)


@dataclass
class SetFitConfig:
    """Settings of SetFit-style training (shared by the API, the CLI and the saved lineage)."""

    epochs: float = field(default=5.0, metadata={"help": "passes over the labelled texts (each step sees batch_examples of them)"})
    batch_examples: int = field(default=24, metadata={"help": "texts encoded per step; pairs are drawn among them"})
    pairs_per_example: int = field(default=8, metadata={"help": "R: up to R positive partners per text and step"})
    balanced_pairs: bool = field(default=False, metadata={"help": "as many negatives as positives (else up to R negatives)"})
    lr: float = field(default=1e-4, metadata={"help": "AdamW learning rate of the encoder (linear warmup 10%, then decay)"})
    frozen_groups: int = field(default=1, metadata={"help": "layer groups from the input kept frozen and run once per "
                                                           "text (1: the token embeddings; 0: train everything)"})
    max_tokens: int | None = field(default=128, metadata={"help": "tokens per text while training (None: the backbone's limit)"})
    head_C: float = field(default=1.0, metadata={"help": "inverse L2 strength of the logistic-regression head"})
    seed: int = field(default=0, metadata={"help": "seeds batches, pairs and the head"})

    def __post_init__(self) -> None:
        from graft._config import check_ranges

        check_ranges(self, {"epochs": "(0, 10000]", "batch_examples": "[2, 65536]", "pairs_per_example": "[1, 10000]",
                            "lr": "(0, 1]", "frozen_groups": "[0, 1000]", "max_tokens": "[1, 100000]",
                            "head_C": "(0, inf)", "seed": "[0, 4294967295]"})


# --- pairs ------------------------------------------------------------------------------------
def class_balanced_batch(labels: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """Row indices of ``size`` examples, spread over as many classes as allow two examples each.

    Example:
        >>> rows = class_balanced_batch(np.repeat([0, 1, 2], 4), 6, np.random.default_rng(0))
        >>> sorted(np.bincount(np.repeat([0, 1, 2], 4)[rows]).tolist())
        [2, 2, 2]
    """
    classes = [c for c in np.unique(labels) if np.sum(labels == c) >= 2]
    per_class = max(2, size // max(1, len(classes)))
    n_classes = min(len(classes), max(2, size // per_class))
    chosen = rng.choice(classes, size=n_classes, replace=False)
    rows = [rng.choice(np.flatnonzero(labels == c), size=min(per_class, int(np.sum(labels == c))), replace=False)
            for c in chosen]
    return np.concatenate(rows)


def sample_pairs(labels: np.ndarray, per_example: int, rng: np.random.Generator,
                 balanced: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each position, up to ``per_example`` same-label partners and as many other-label ones.

    ``balanced``: exactly as many negatives as the positives found (SetFit balances its pairs the
    same way); otherwise up to ``per_example`` negatives even when positives are fewer.
    Returns ``(a, b, target)`` index arrays into ``labels`` and 1.0 / 0.0 targets; at most
    ``2 * per_example * len(labels)`` pairs.

    Example:
        >>> a, b, t = sample_pairs(np.array([0, 0, 1, 1]), 1, np.random.default_rng(0))
        >>> len(a), int(t.sum())
        (8, 4)
    """
    a, b, target = [], [], []
    for i, y in enumerate(labels):
        same = np.flatnonzero((labels == y) & (np.arange(len(labels)) != i))
        other = np.flatnonzero(labels != y)
        n_pos = min(per_example, len(same))
        n_neg = min(n_pos if balanced and n_pos else per_example, len(other))
        for partners, n, value in ((same, n_pos, 1.0), (other, n_neg, 0.0)):
            picked = rng.choice(partners, size=n, replace=False) if n else np.empty(0, dtype=np.int64)
            a += [i] * len(picked)
            b += picked.tolist()
            target += [value] * len(picked)
    return np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64), np.asarray(target, dtype=np.float32)


def pair_batches(labels: np.ndarray, config: SetFitConfig, steps: int) -> Iterator[tuple[np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray]]]:
    """Lazily, per step: the rows to encode and the pairs among them (indices into those rows)."""
    rng = np.random.default_rng(config.seed)
    for _ in range(steps):
        rows = class_balanced_batch(labels, config.batch_examples, rng)
        yield rows, sample_pairs(labels[rows], config.pairs_per_example, rng, config.balanced_pairs)


# --- the encoder: frozen prefix run once, trainable top ---------------------------------------
class PrefixEncoder:
    """Encodes texts with the first ``frozen_groups`` groups frozen; their states are cached per text
    (unpadded), so each step runs only the trainable layers."""

    def __init__(self, backbone: "Backbone", texts: Sequence[str], frozen_groups: int, max_tokens: int | None) -> None:
        self.backbone = backbone
        n = len(backbone.layer_groups())
        if n > 1 and not 0 <= frozen_groups <= n - 1:  # the top group must train, or SetFit learns nothing
            raise UsageError(f"SetFit: frozen_groups={frozen_groups} is outside its allowed range [0, {n - 1}] "
                             f"for {backbone.spec.name}, which has {n} layer groups (the last one always trains)")
        self.start = min(frozen_groups, n - 1)  # a one-group encoder (word vectors) trains its only group
        self.samples = [self._truncate(backbone.preprocess(t), max_tokens) for t in texts]
        self.cache: list[dict[str, "torch.Tensor"]] | None = None
        if self.start > 0:
            self.cache = self._prefix_states()
        for i, group in enumerate(backbone.layer_groups()):
            for p in group.module.parameters():
                p.requires_grad_(i >= self.start)

    @staticmethod
    def _truncate(sample: Any, max_tokens: int | None) -> Any:
        if max_tokens is None or not isinstance(sample, dict):
            return sample
        return {k: v[:max_tokens] for k, v in sample.items()}

    def _prefix_states(self, batch_size: int = 32) -> list[dict[str, "torch.Tensor"]] | None:
        import torch

        states: list[dict[str, torch.Tensor]] = []
        self.backbone.eval()
        with torch.no_grad():
            for lo in range(0, len(self.samples), batch_size):
                chunk = self.samples[lo: lo + batch_size]
                state = self.backbone.run_groups(self.backbone.collate(chunk), 0, self.start)
                if not (isinstance(state, dict) and {"hidden", "mask"} <= set(state)):
                    self.start = 0  # an encoder whose states we cannot re-pad: train from the inputs
                    return None
                for j, sample in enumerate(chunk):
                    length = int(sample["attention_mask"].sum()) if "attention_mask" in sample else state["hidden"].shape[1]
                    states.append({"hidden": state["hidden"][j, :length].clone(), "mask": state["mask"][j, :length].clone()})
        return states

    def parameters(self) -> list["torch.nn.Parameter"]:
        return [p for g in self.backbone.layer_groups()[self.start:] for p in g.module.parameters() if p.requires_grad]

    def encode(self, rows: np.ndarray) -> "torch.Tensor":
        """Pooled, L2-normalised embeddings of the texts at ``rows`` (with gradients)."""
        import torch

        if self.cache is None:
            batch = self.backbone.collate([self.samples[i] for i in rows])
            pooled = self.backbone.forward_features(batch)
        else:
            states = [self.cache[i] for i in rows]
            length = max(s["hidden"].shape[0] for s in states)
            hidden = torch.stack([torch.nn.functional.pad(s["hidden"], (0, 0, 0, length - s["hidden"].shape[0])) for s in states])
            mask = torch.stack([torch.nn.functional.pad(s["mask"], (0, length - s["mask"].shape[0])) for s in states])
            pooled = self.backbone.pool(self.backbone.run_groups({"hidden": hidden, "mask": mask}, self.start))
        return torch.nn.functional.normalize(pooled, dim=1)

    def train_mode(self) -> None:
        self.backbone.eval()
        for group in self.backbone.layer_groups()[self.start:]:
            group.module.train()  # dropout on in the trained layers, as SetFit trains


def contrastive_finetune(backbone: "Backbone", texts: Sequence[str], labels: np.ndarray,
                         config: SetFitConfig) -> list[float]:
    """Tune ``backbone`` in place with the cosine-similarity loss on in-batch pairs; returns the loss per step."""
    import torch

    torch.manual_seed(config.seed)
    encoder = PrefixEncoder(backbone, texts, config.frozen_groups, config.max_tokens)
    steps = max(1, math.ceil(config.epochs * len(texts) / config.batch_examples))
    optimizer = torch.optim.AdamW(encoder.parameters(), lr=config.lr, weight_decay=0.01)
    warmup = max(1, int(0.1 * steps))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warmup, max(0.0, (steps - s) / max(1, steps - warmup))))
    encoder.train_mode()
    losses = []
    for rows, (a, b, target) in pair_batches(labels, config, steps):
        emb = encoder.encode(rows)
        cosine = (emb[torch.as_tensor(a)] * emb[torch.as_tensor(b)]).sum(dim=1)
        loss = torch.nn.functional.mse_loss(cosine, torch.as_tensor(target))
        loss.backward()
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(float(loss.detach()))
    backbone.eval()
    for p in backbone.parameters():
        p.requires_grad_(True)
    return losses


def fit_head(features: np.ndarray, labels: np.ndarray, n_classes: int, C: float) -> "LinearHead":
    """The logistic-regression head on tuned embeddings, as a `LinearHead`."""
    from graft.heads.probe import ProbeConfig, fit_probe

    return fit_probe(features, labels, None, None, n_classes, ProbeConfig(C=C)).head


def _encode_all(backbone: "Backbone", items: Sequence[Any]) -> np.ndarray:
    from graft.features.extract import embed_items

    return embed_items(list(items), backbone, use_cache=False)


# --- the API ----------------------------------------------------------------------------------
def sample_shots(ds: "Dataset", k_shot: int, seed: int) -> np.ndarray:
    """Row indices of ``k_shot`` labelled training examples per class (train and val splits).

    Raises `UsageError` naming the classes with fewer than ``k_shot`` examples.
    """
    pool = (ds.splits != "test") & (ds.labels >= 0)
    counts = np.bincount(ds.labels[pool], minlength=len(ds.classes))
    short = [f"{ds.classes[c]!r} has {n}" for c, n in enumerate(counts) if n < k_shot]
    if short:
        raise UsageError(f"k_shot={k_shot} is more than a class has: {', '.join(short[:5])} labelled training "
                         "example(s); lower --k-shot")
    rng = np.random.default_rng(seed)
    return np.sort(np.concatenate([rng.choice(np.flatnonzero(pool & (ds.labels == c)), k_shot, replace=False)
                                   for c in range(len(ds.classes))]))


def fit_setfit(
    data: Any,
    backbone: str = "minilm_l6",
    *,
    k_shot: int | None = None,
    out: str | Path | None = None,
    config: SetFitConfig | None = None,
    weights: str | Path | None = None,
    allow_download: bool = False,
    overwrite: bool = False,
) -> tuple["SavedModel", dict[str, Any]]:
    """SetFit-style few-shot training on ``data``'s labelled texts; returns (and saves) the model.

    Args:
        data: a text dataset (table or `Dataset`); training uses its train/val labels (``k_shot``
            per class, seeded, when given), and its test split, if any, is scored.
        backbone: a text backbone, default ``minilm_l6``.
        k_shot: labelled texts per class to train on; ``None``: all of them.
        out: model folder to write.
        config: `SetFitConfig`.
        overwrite: replace an existing model at ``out`` (checked before any training).

    Returns:
        The model (tuned encoder + logistic-regression head) and a report: shots, steps, seconds,
        the loss curve's ends and test metrics.
    """
    from graft._config import to_dict
    from graft.api import _package, as_dataset, check_out, hash64, reference_sample, save_model
    from graft.backbones import create_backbone
    from graft.metrics import classification_metrics
    from graft.backbones.weights import state_sha256

    config = config or SetFitConfig()
    check_out(out, overwrite)
    ds = as_dataset(data)
    from graft.data.regression import require_classes

    require_classes(ds, "SetFit", "for a number use graft probe (a ridge probe)")
    if ds.modality != "text":
        raise UsageError(f"SetFit fine-tunes sentence encoders: {ds.source} is {ds.modality} data, not text")
    rows = sample_shots(ds, k_shot, config.seed) if k_shot is not None else np.flatnonzero((ds.splits != "test") & (ds.labels >= 0))
    if len(np.unique(ds.labels[rows])) < 2:
        raise UsageError("SetFit needs labelled texts of at least two classes")
    texts, labels = [str(ds.items[i]) for i in rows], ds.labels[rows]
    started = time.perf_counter()
    bb = create_backbone(backbone, weights=weights, allow_download=allow_download)
    if bb.modality != "text":
        raise UsageError(f"{backbone} is a {bb.modality} backbone; SetFit needs a text encoder such as minilm_l6")
    losses = contrastive_finetune(bb, texts, labels, config)
    features = _encode_all(bb, texts)
    head = fit_head(features, labels, len(ds.classes), config.head_C)
    train_seconds = time.perf_counter() - started
    metrics = {}
    test = ds.test
    if len(test):
        metrics["test"] = classification_metrics(test.labels, head.predict_proba(_encode_all(bb, test.items)), len(ds.classes))
    state = {k: v.detach().cpu().numpy() for k, v in bb.state_dict().items()}
    settings = {"setfit": to_dict(config), "k_shot": k_shot, "n_train": len(rows), "steps": len(losses),
                "loss_first_last": [losses[0], losses[-1]], "train_seconds": round(train_seconds, 2)}
    model = _package(ds, backbone, weights, None, head, "fewshot:setfit", settings, metrics,
                     head_config={"type": "linear", "C": config.head_C}, backbone_state=state)
    model.config.backbone.weights_sha256 = state_sha256(state)
    model.config.backbone.weights_file = None
    model.reference = reference_sample(features, head.predict_proba(features))
    model.training_items = hash64([ds.item_hashes()[i] for i in rows])  # only the shots trained on
    report = {"n_train": len(rows), "k_shot": k_shot, "steps": len(losses), "loss_first": losses[0],
              "loss_last": losses[-1], "train_seconds": round(train_seconds, 2), "metrics": metrics}
    if out is not None:
        report["model"] = str(save_model(model, out, ds, overwrite=overwrite))
    return model, report
