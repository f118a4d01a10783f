"""The arms of ``graft fit``'s search. Each arm estimates its cost before it runs, then runs an
Optuna study over its own hyper-parameters and returns a candidate row (validation accuracy on
``n_val`` items, test accuracy where the data has a test split, seconds) and a way to build its
model. Models are built only for the arm that is chosen.

Arm kinds, in the order of expected gain per second on data far from ImageNet:

* ``probe``: logistic regression on the last layer's pooled features (C searched).
* ``multilayer``: the multi-layer probe over every block's pooled features (``graft.heads.multilayer``;
  C and the kept fraction searched). Reads the same one-pass extraction as ``probe``.
* ``resolution``: the best probe at another input size (a separate extraction).
* ``views``: horizontally flipped training rows, and test-time averaging over the flip.
* ``ensemble``: the selected taps of two or more backbones concatenated.
* ``finetune``: lp-ft with the frozen prefix cached (LR and epochs searched).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from graft.autofit.rule import standard_error
from graft.autofit.context import Context
from graft.autofit.study import open_study, run_trials

if TYPE_CHECKING:
    from graft.models.saved import SavedModel

log = logging.getLogger(__name__)

#: Expected relative reduction of the validation error over the best arm so far, per kind: rough
#: priors from this project's measurements (Fashion-MNIST-100, mobilenet_v2: last-layer probe 0.86,
#: multi-layer probe 0.89, lp-ft +1 point over the probe), used only to order the optional arms
#: and to skip those whose expected gain validation could not resolve.
#: Cost tiers for the choice (``graft.autofit.rule``): the two probes read one extraction and cost the
#: same at prediction; the others pay for another extraction, another backbone or training.
COST_TIER = {"probe": 0, "multilayer": 0, "resolution": 1, "views": 1, "ensemble": 2, "finetune": 3}
PRIOR_GAIN = {"probe": 0.0, "multilayer": 0.2, "resolution": 0.05, "views": 0.05, "ensemble": 0.08, "finetune": 0.1}


@dataclass
class Outcome:
    """What an arm returns: its candidate row and a builder of its SavedModel (None: report only)."""

    row: dict[str, Any]
    build: Callable[[], "SavedModel"] | None = None


@dataclass
class Arm:
    """One arm: a name, a kind, the backbone(s) and input size it reads."""

    name: str
    kind: str
    backbones: list[str]
    size: int | None
    view: str | None = None

    @property
    def backbone(self) -> str:
        return self.backbones[0]

    def estimate(self, ctx: Context) -> float:
        raise NotImplementedError

    def run(self, ctx: Context) -> Outcome:
        raise NotImplementedError

    def expected_gain(self, best_val: float) -> float:
        return PRIOR_GAIN[self.kind] * (1.0 - best_val)

    def describe(self) -> dict[str, Any]:
        return {"method": self.name, "kind": self.kind, "tier": COST_TIER[self.kind], "backbones": self.backbones,
                "image_size": self.size, **({"view": self.view} if self.view else {})}

    # --- shared helpers ---
    def extraction_cost(self, ctx: Context, backbone: str, view: str | None = None,
                        splits: tuple[str, ...] = ("train", "val", "test"), pooling: str = "mean") -> float:
        if ctx.ds.modality == "array":  # numeric rows need no network
            return 0.0
        todo = ctx.items_to_extract(backbone, self.size, view, splits, pooling)
        if not todo:
            return 0.0
        per_item = ctx.budget.seconds_per_item(backbone, ctx.size_option(self.size), ctx.ds.items,
                                               weights=ctx.weights_for(backbone),
                                               allow_download=ctx.allow_download)
        return per_item * todo

    def study(self, ctx: Context, suffix: str = "") -> Any:
        return open_study(f"{ctx.study_base}-{self.name}{suffix}", ctx.config.storage, ctx.config.seed)

    def row(self, ctx: Context, val: float, test: float | None, seconds: float, params: dict[str, Any],
            trials: int) -> dict[str, Any]:
        n_val = ctx.n("val")
        out = {**self.describe(), "val_accuracy": round(val, 4), "val_se": round(standard_error(val, n_val), 4),
               "n_val": n_val, "seconds": round(seconds, 1), "params": params, "trials": trials}
        if test is not None:
            out["test_accuracy"] = round(test, 4)
            out["n_test"] = ctx.n("test")
        return out


def accuracy(proba: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(np.asarray(proba).argmax(1) == labels)) if len(labels) else float("nan")


def test_accuracy(ctx: Context, predict: Callable[[], np.ndarray]) -> float | None:
    return accuracy(predict(), ctx.labels("test")) if ctx.n("test") else None


# --- last-layer probe ---------------------------------------------------------------------------


class ProbeArm(Arm):
    """Logistic regression on the last layer's pooled features; C searched on validation."""

    def __init__(self, backbone: str, size: int | None, name: str = "probe") -> None:
        super().__init__(name, "probe", [backbone], size)


    def estimate(self, ctx: Context) -> float:
        dim = ctx.feature_dim(self.backbone)
        return self.extraction_cost(ctx, self.backbone) + ctx.budget.probe_cost(ctx.n("train"), dim, ctx.config.trials)

    def run(self, ctx: Context) -> Outcome:
        from graft.heads.probe import ProbeConfig, fit_probe

        start = time.perf_counter()
        x, _ = ctx.last_features(self.backbone, self.size)
        fit_start = time.perf_counter()
        y_train, y_val = ctx.labels("train"), ctx.labels("val")

        def objective(trial: Any) -> float:
            C = trial.suggest_float("C", 1e-3, 1e2, log=True)
            result = fit_probe(x["train"], y_train, x["val"], y_val, ctx.n_classes, ProbeConfig(C=C, refit_on_val=False))
            return float(result.val_metrics["accuracy"])

        study = self.study(ctx)
        best = run_trials(study, objective, ctx.config.trials, ctx.deadline(), defaults=[{"C": 0.1}, {"C": 1.0}])
        C = best.params["C"] if best else 1.0
        result = fit_probe(x["train"], y_train, x["val"], y_val, ctx.n_classes, ProbeConfig(C=C, refit_on_val=False))
        trials = len(study.trials)
        ctx.budget.learn_probe_rate((time.perf_counter() - fit_start) / max(trials + 1, 1), *x["train"].shape)
        test = test_accuracy(ctx, lambda: result.head.predict_proba(x["test"]))
        row = self.row(ctx, float(result.val_metrics["accuracy"]), test, time.perf_counter() - start, {"C": C}, trials)
        return Outcome(row, lambda: build_probe_model(ctx, self.backbone, self.size, C, x))


def build_probe_model(ctx: Context, backbone: str, size: int | None, C: float,
                      x: dict[str, np.ndarray]) -> "SavedModel":
    """The shippable last-layer probe at ``C`` from the features already extracted (refit on
    train + val; metrics, settings and drift reference as ``graft probe`` records them)."""
    from graft._config import to_dict
    from graft.api import _package, reference_sample
    from graft.heads.probe import ProbeConfig, fit_probe
    from graft.metrics import classification_metrics

    config = ProbeConfig(C=C)
    result = fit_probe(x["train"], ctx.labels("train"), x["val"], ctx.labels("val"), ctx.n_classes, config)
    metrics = {"val": result.val_metrics}
    if ctx.n("test"):
        metrics["test"] = classification_metrics(ctx.labels("test"), result.head.predict_proba(x["test"]), ctx.n_classes)
    settings = {"probe": to_dict(config), "chosen_C": result.C, "search": result.search}
    model = _package(ctx.ds, backbone, ctx.weights_for(backbone), ctx.size_option(size), result.head, "probe",
                     settings, metrics, head_config={"type": "linear", "C": result.C})
    model.reference = reference_sample(x["train"], result.head.predict_proba(x["val"]))
    return model


# --- fine-tuning ----------------------------------------------------------------------------------


class FinetuneArm(Arm):
    """lp-ft (or another schedule) with the groups nearest the input frozen and their outputs cached."""

    def __init__(self, backbone: str, size: int | None, schedule: str = "lp-ft") -> None:
        super().__init__(schedule, "finetune", [backbone], size)
        self.schedule = schedule

    def frozen_groups(self, ctx: Context) -> int:
        if ctx.config.frozen_groups is not None:
            return ctx.config.frozen_groups
        return ctx.n_groups(self.backbone) // 2

    def estimate(self, ctx: Context) -> float:
        from graft.autofit.budget import finetune_cost

        per_item = ctx.budget.seconds_per_item(self.backbone, ctx.size_option(self.size), ctx.ds.items,
                                               weights=ctx.weights_for(self.backbone), allow_download=ctx.allow_download,
                                               training=True)
        groups = max(ctx.n_groups(self.backbone), 1)
        share = 1.0 - self.frozen_groups(ctx) / groups
        return finetune_cost(per_item, ctx.n("train"), ctx.n("val") + ctx.n("test"), ctx.config.epochs, share)

    def run(self, ctx: Context) -> Outcome:
        start = time.perf_counter()
        models: dict[int, Any] = {}
        per_run = self.estimate(ctx)

        def objective(trial: Any) -> float:
            lr = trial.suggest_float("lr", 1e-4, 1e-2, log=True)
            epochs = trial.suggest_int("epochs", max(1, ctx.config.epochs // 2), ctx.config.epochs)
            if trial.number and ctx.budget.left() < per_run:
                raise ValueError("no time left for another fine-tuning trial")  # caught: the trial fails
            model = self.train(ctx, lr, epochs, trial.number)
            models[trial.number] = model
            return float(model.lineage["metrics"]["val"]["accuracy"])

        study = self.study(ctx)
        best = run_trials(study, objective, ctx.config.finetune_trials, ctx.deadline(),
                          defaults=[{"lr": 1e-3, "epochs": ctx.config.epochs}])
        if best is None:
            raise RuntimeError("no fine-tuning trial finished within the budget")
        if best.number not in models:  # the best trial ran in another worker: train it here
            models[best.number] = self.train(ctx, best.params["lr"], best.params["epochs"], best.number)
        model = models[best.number]
        metrics = model.lineage["metrics"]
        test = metrics.get("test", {}).get("accuracy")
        params = dict(best.params, frozen_groups=self.frozen_groups(ctx))
        row = self.row(ctx, float(metrics["val"]["accuracy"]), test, time.perf_counter() - start, params,
                       len(study.trials))
        return Outcome(row, lambda: model)

    def train(self, ctx: Context, lr: float, epochs: int, trial: int) -> "SavedModel":
        from graft.train.config import TrainConfig
        from graft.train.finetune import finetune

        def on_epoch(record: dict[str, Any]) -> None:
            ctx.notify({"event": "epoch", "arm": self.name, "trial": trial, "epochs": epochs, **record})

        # stop after the epoch that crosses what is left, less one epoch's estimate: the budget holds
        left = ctx.budget.left() - self.estimate(ctx) / max(ctx.config.epochs, 1)
        config = TrainConfig(epochs=epochs, lr=lr, augment=ctx.config.augment, time_budget=max(left, 1.0),
                             seed=ctx.config.seed, early_stopping=0)
        return finetune(ctx.ds, self.backbone, self.schedule, config=config,
                        schedule_options={"frozen_groups": self.frozen_groups(ctx)}, weights=ctx.weights_for(self.backbone),
                        image_size=ctx.size_option(self.size), allow_download=ctx.allow_download, on_epoch=on_epoch)
