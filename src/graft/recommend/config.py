"""Settings of a recommender: the collaborative model and the cold-item mapping, one JSON-able dataclass."""

from __future__ import annotations

from dataclasses import dataclass, field

from graft._config import check_ranges
from graft.errors import UsageError

FEATURES = ("text+genre", "text", "genre", "none")


@dataclass
class RecommenderConfig:
    """Biased matrix factorisation on warm items + a ridge map from item text into its factor space.

    Example:
        >>> RecommenderConfig(factors=32, features="text+genre").epochs
        60
    """

    factors: int = field(default=32, metadata={"help": "Latent dimensions per user and item."})
    epochs: int = field(default=60, metadata={"help": "Most passes over the ratings (early stopping usually ends sooner)."})
    lr: float = field(default=0.005, metadata={"help": "Adam learning rate of the factorisation."})
    reg: float = field(default=0.1, metadata={"help": "L2 penalty on the factors and biases of each rating's user and item."})
    batch_size: int = field(default=1024, metadata={"help": "Ratings per optimiser step."})
    val_fraction: float = field(default=0.1, metadata={"help": "Share of ratings held out for early stopping."})
    patience: int = field(default=3, metadata={"help": "Epochs without a better validation RMSE before stopping."})
    seed: int = field(default=0, metadata={"help": "Seed of the split, the initialisation and the batch order."})
    features: str = field(default="text+genre", metadata={"help": "What the cold-item mapping reads: text+genre, "
                                                                   "text, genre, or none (the average item)."})
    alphas: tuple[float, ...] = field(default=(1.0, 10.0, 100.0, 1000.0, 10000.0, 100000.0),
                                      metadata={"help": "Ridge strengths tried; the one with the lowest rating RMSE "
                                                        "on held-out warm items wins."})
    mapping_holdout: float = field(default=0.2, metadata={"help": "Share of warm items held out to choose the ridge strength."})
    min_item_ratings: int = field(default=1, metadata={"help": "Items with fewer ratings are treated as cold "
                                                               "(their factors come from their text)."})

    def __post_init__(self) -> None:
        self.alphas = tuple(float(a) for a in self.alphas) if isinstance(self.alphas, (list, tuple)) else self.alphas
        check_ranges(self, {"factors": "[1, 1024]", "epochs": "[1, 10000]", "lr": "(0, 10]", "reg": "[0, 100]",
                            "batch_size": "[1, 10000000]", "val_fraction": "(0, 0.5]", "patience": "[1, 1000]",
                            "seed": "[0, inf)", "alphas": "(0, inf)", "mapping_holdout": "(0, 0.5]",
                            "min_item_ratings": "[1, 1000000]"})
        if self.features not in FEATURES:
            raise UsageError(f"RecommenderConfig: features={self.features!r}; choose one of {', '.join(FEATURES)}")
        if not self.alphas:
            raise UsageError("RecommenderConfig: alphas is empty; give at least one ridge strength > 0")
