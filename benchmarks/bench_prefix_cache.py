"""Head phase (frozen backbone, new head) per epoch: graft's cached-feature path vs running the
frozen backbone every epoch (the same Trainer with the cache switched off).

    python benchmarks/bench_prefix_cache.py      # prints: head-phase speed-up from the cache: X (goal >= 10)
"""

from __future__ import annotations

import graft
from _common import timed, workspace
from graft.train.config import TrainConfig
from graft.train.finetune import build_trainer
from graft.train.inputs import Inputs
from graft.train.schedules import plan


class NoCacheTrainer:
    """Wraps a Trainer so that every epoch feeds raw images through the frozen backbone."""

    @staticmethod
    def disable(trainer) -> None:
        trainer._inputs = lambda split, start, training: Inputs(0, None)


def main() -> None:
    data = graft.make_dataset("fashion_mnist", workspace("fm-prefix"), per_class=30)
    ds = graft.read(data)
    config = TrainConfig(schedule="fastai", epochs=3, augment=False)
    phase = plan("fastai", 3, 7, config.lr, {"freeze_epochs": 3})[0]  # head only
    cached, _ = build_trainer(ds, "mobilenet_v2", config, image_size=96)
    plain, _ = build_trainer(ds, "mobilenet_v2", config, image_size=96)
    NoCacheTrainer.disable(plain)
    for t in (cached, plain):
        t._enter_phase(phase, 0)
    first = timed(lambda: cached._train_epoch(phase, 0))  # includes the one-time feature extraction
    cached_epochs = [timed(lambda: cached._train_epoch(phase, e)) for e in (1, 2)]
    plain_epochs = [timed(lambda: plain._train_epoch(phase, e)) for e in (0, 1)]
    per_cached, per_plain = min(cached_epochs), min(plain_epochs)
    print(f"{len(ds.train)} train images, mobilenet_v2 @96px: first cached epoch {first:.2f}s (extracts once), "
          f"then {per_cached:.3f}s/epoch; frozen backbone run every epoch: {per_plain:.2f}s/epoch")
    print(f"head-phase speed-up from the cache: {per_plain / per_cached:.0f}x per epoch (goal >= 10)")


if __name__ == "__main__":
    main()
