"""Fine-tuning settings: one dataclass shared by the API, the CLI, checkpoints and the saved lineage."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Precision = Literal["auto", "fp32", "bf16", "fp16"]
Metric = Literal["accuracy", "macro_f1", "loss"]


@dataclass
class TrainConfig:
    """How to fine-tune. Schedule-specific settings live in the schedule's own config."""

    schedule: str = field(default="lp-ft", metadata={"help": "lp-ft | gradual | fastai | full | scratch"})
    epochs: int = field(default=6, metadata={"help": "total training epochs (all phases)"})
    batch_size: int = field(default=32, metadata={"help": "examples per step (per process)"})
    lr: float = field(default=1e-3, metadata={"help": "peak learning rate of the head; the backbone's is derived"})
    weight_decay: float = field(default=0.01, metadata={"help": "AdamW decay; never on norms and biases"})
    label_smoothing: float = field(default=0.1, metadata={"help": "cross-entropy label smoothing"})
    l2sp: float = field(default=0.0, metadata={"help": "L2-SP strength: pull backbone weights toward the pretrained ones"})
    dropout: float = field(default=0.0, metadata={"help": "dropout before the new head"})
    freeze_bn_stats: bool = field(default=True, metadata={"help": "keep pretrained BatchNorm statistics (small batches estimate them badly); off for scratch"})
    augment: bool = field(default=True, metadata={"help": "per-modality augmentation of training inputs"})
    hflip: bool = field(default=True, metadata={"help": "random horizontal flips (images); off for text-like images such as digits"})
    crop_scale: float = field(default=0.6, metadata={"help": "random resized crop: smallest area kept (images; 1.0: no crop)"})
    color_jitter: float = field(default=0.2, metadata={"help": "brightness and contrast jitter, ± this fraction (images; 0: off)"})
    early_stopping: int = field(default=3, metadata={"help": "epochs without improvement before stopping (0: never)"})
    metric: Metric = field(default="accuracy", metadata={"help": "validation metric for early stopping and the best epoch"})
    seed: int = field(default=0, metadata={"help": "seed for init, data order and augmentation"})
    precision: Precision = field(default="auto", metadata={"help": "auto: bf16 on a capable GPU, else fp32"})
    cache_prefix: bool = field(default=True, metadata={"help": "reuse frozen-prefix outputs across epochs when inputs repeat"})
    num_workers: int = field(default=0, metadata={"help": "preprocessing processes (0: one background thread)"})
    time_budget: float | None = field(default=None, metadata={"help": "seconds; training stops after the epoch that crosses it"})
    lora: int = field(default=0, metadata={"help": "LoRA rank for transformer backbones (0: off): base weights frozen, "
                                                     "only adapters + head train, and the saved model holds only those"})
    lora_alpha: float = field(default=16.0, metadata={"help": "LoRA scale: the adapters' update is multiplied by alpha / rank"})
    lora_dropout: float = field(default=0.1, metadata={"help": "dropout on the LoRA adapters' input"})
    lora_lr_factor: float = field(default=10.0, metadata={"help": "adapters train at the schedule's backbone LRs × this "
                                                                 "(they start at zero and want larger steps than full fine-tuning)"})
    lora_targets: list[str] | None = field(default=None, metadata={"help": "module names to adapt (None: the attention "
                                                                             "query/value projections, found by name)"})

    def __post_init__(self) -> None:
        from graft._config import check_ranges

        check_ranges(self, RANGES)


# Allowed values, stated in every error. Bounds are where a value stops meaning anything (a
# probability of 1, a zero batch) or is certainly a typo that would only fail later (an LR of 100).
RANGES = {
    "epochs": "[1, 100000]", "batch_size": "[1, 65536]", "lr": "[0, 10]", "weight_decay": "[0, 10]",
    "label_smoothing": "[0, 1)", "l2sp": "[0, inf)", "dropout": "[0, 1)", "crop_scale": "(0, 1]",
    "color_jitter": "[0, 1)", "early_stopping": "[0, 100000]", "seed": "[0, 4294967295]", "num_workers": "[0, 256]",
    "time_budget": "(0, inf)", "lora": "[0, 4096]", "lora_alpha": "(0, inf)", "lora_dropout": "[0, 1)",
    "lora_lr_factor": "(0, inf)",
}
