"""Training-step throughput of graft's Trainer vs a hand-written PyTorch loop: same model
(mobilenet_v2 at 64 px, all groups trainable), batch, optimiser (AdamW) and data.

    python benchmarks/bench_train_step.py        # prints: train throughput ratio graft/hand: X (goal >= 0.95)
"""

from __future__ import annotations

import torch

import graft
from _common import alternate, workspace
from graft.train.config import TrainConfig
from graft.train.finetune import build_trainer
from graft.train.schedules import plan

BATCH, SIZE = 32, 64


def main() -> None:
    data = graft.make_dataset("fashion_mnist", workspace("fm-train-step"), per_class=20)
    ds = graft.read(data)
    config = TrainConfig(schedule="full", epochs=1, batch_size=BATCH, augment=False, freeze_bn_stats=False,
                         label_smoothing=0.0, weight_decay=0.0)
    trainer, splits = build_trainer(ds, "mobilenet_v2", config, image_size=SIZE)
    model, train = trainer.model, splits["train"]
    phase = plan("full", 1, len(model.backbone.layer_groups()), config.lr)[0]
    trainer._enter_phase(phase, 0)
    hand_opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4, weight_decay=0.0)
    labels = torch.as_tensor(train.labels)
    order = torch.randperm(len(train.items), generator=torch.Generator().manual_seed(0)).numpy()

    def hand_epoch() -> None:
        model.train()
        for start in range(0, len(order), BATCH):
            idx = order[start: start + BATCH]
            x = torch.stack([model.backbone.preprocess(train.items[i]) for i in idx])
            loss = torch.nn.functional.cross_entropy(model(x), labels[idx])
            hand_opt.zero_grad(set_to_none=True)
            loss.backward()
            hand_opt.step()

    def graft_epoch() -> None:
        trainer._train_epoch(phase, 0)

    hand, ours = alternate(hand_epoch, graft_epoch, repeats=3)
    n = len(train.items)
    print(f"hand loop: {n / hand:.1f} img/s, graft: {n / ours:.1f} img/s ({n} images, batch {BATCH}, {SIZE} px, mobilenet_v2)")
    print(f"train throughput ratio graft/hand: {hand / ours:.2f} (goal >= 0.95)")


if __name__ == "__main__":
    main()
