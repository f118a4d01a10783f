"""Arms over the multi-layer probe (``graft.heads.multilayer``): every block's pooled features at the
main size or another one, with cheap views, or concatenated across backbones."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import numpy as np

from graft.autofit.arms import Arm, Outcome, test_accuracy
from graft.autofit.context import SPLITS, Context
from graft.autofit.study import run_trials
from graft.data.split import sample_rows

if TYPE_CHECKING:
    from graft.models.saved import SavedModel

#: Kept fractions the study may pick (Head2Toe keeps a small share; 1.0 is the plain concatenation).
KEEP_CHOICES = (0.05, 0.1, 0.25, 0.5, 1.0)
#: The first trials: every column at C=0.1 (best validation and test accuracy on Fashion-MNIST-100,
#: mobilenet_v2, 96 px: 0.905 / 0.855), then a Head2Toe-like quarter of the columns at C=1.
DEFAULT_TRIALS = [{"C": 0.1, "keep": 1.0}, {"C": 1.0, "keep": 0.25}]
#: Training rows the trials fit on at most (a stratified sample, its every-column fit prepared once
#: for all of them); the best trial's C and kept fraction are then fitted once on every row, and
#: that fit is the arm's. Fashion-MNIST 1000/class (8,000 rows): every trial on every row took the
#: arm 271 s, each fit an 8,000 x 8,000 eigendecomposition.
TRIAL_ROWS = 2000


def _tap_width(ctx: Context, backbone: str) -> int:
    """Total width of a backbone's taps at the chosen pooling (a rough 3x the last layer's before
    the first extraction)."""
    for (name, _, _, pooling), splits in ctx._taps.items():
        if name == backbone and pooling == ctx.pooling and "train" in splits:
            return sum(v.shape[1] for v in splits["train"].values())
    return 3 * ctx.feature_dim(backbone)


def _fits_cost(ctx: Context, rows: int, views: int, width: int) -> float:
    """The trials' fits (on at most ``TRIAL_ROWS`` rows), above that one more on every row, and the
    build should the arm win: its head refitted on train + val (at 1000 Fashion-MNIST images per
    class the ensemble's took 152 s after the arms, in no estimate)."""
    trials = ctx.budget.probe_cost(min(rows, TRIAL_ROWS) * (1 + views), width, 2 * ctx.config.trials)
    every_row = ctx.budget.probe_cost(rows * (1 + views), width, 2) if rows > TRIAL_ROWS else 0.0
    return trials + every_row + ctx.budget.probe_cost((rows + ctx.n("val")) * (1 + views), width, 1)


class MultiLayerArm(Arm):
    """The multi-layer probe of one backbone at one size, optionally with views (C, keep searched)."""

    views: tuple[str, ...] = ()

    def __init__(self, backbone: str, size: int | None, name: str = "multilayer", kind: str = "multilayer") -> None:
        super().__init__(name, kind, [backbone], size)

    # --- features ---
    def taps(self, ctx: Context) -> dict[str, dict[str, np.ndarray]]:
        return ctx.tap_features(self.backbone, self.size, pooling=ctx.pooling)

    def view_taps(self, ctx: Context) -> dict[str, dict[str, dict[str, np.ndarray]]]:
        """``{split: {view: taps}}`` for this arm's views (empty without views)."""
        per_view = {v: ctx.tap_features(self.backbone, self.size, view=v, pooling=ctx.pooling) for v in self.views}
        return {s: {v: per_view[v][s] for v in self.views} for s in SPLITS}

    def estimate(self, ctx: Context) -> float:
        extraction = self.extraction_cost(ctx, self.backbone, pooling=ctx.pooling)
        extraction += sum(self.extraction_cost(ctx, self.backbone, view=v, pooling=ctx.pooling) for v in self.views)
        return extraction + _fits_cost(ctx, ctx.n("train"), len(self.views), _tap_width(ctx, self.backbone))

    def config(self, ctx: Context, C: float, keep: float, refit: bool = False) -> Any:
        from graft.heads.multilayer import MultiLayerConfig

        return MultiLayerConfig(C=C, keep=keep, views=self.views, refit_on_val=refit, pooling=ctx.pooling)

    def run(self, ctx: Context) -> Outcome:
        from graft.heads.multilayer import fit_multilayer

        start = time.perf_counter()
        feats, views = self.taps(ctx), self.view_taps(ctx)
        y_train, y_val = ctx.labels("train"), ctx.labels("val")
        fit_start = time.perf_counter()
        rows = sample_rows(y_train, TRIAL_ROWS, ctx.config.seed) if len(y_train) > TRIAL_ROWS else None
        trial_train = feats["train"] if rows is None else {t: v[rows] for t, v in feats["train"].items()}
        trial_views = views["train"] if rows is None else {
            view: {t: v[rows] for t, v in per_tap.items()} for view, per_tap in views["train"].items()}
        y_trial = y_train if rows is None else y_train[rows]

        fits: dict[tuple[float, float], Any] = {}
        prepared: dict[str, Any] = {}  # every trial fits these same features: prepare the wide fit once

        def fit(C: float, keep: float) -> Any:
            if (C, keep) not in fits:  # the best trial's fit is the arm's result: not fitted twice
                fits[C, keep] = fit_multilayer(trial_train, y_trial, feats["val"], y_val, ctx.n_classes,
                                               self.config(ctx, C, keep), train_views=trial_views or None,
                                               val_views=views["val"] or None, prepared=prepared)
            return fits[C, keep]

        def objective(trial: Any) -> float:
            C = trial.suggest_float("C", 1e-2, 1e2, log=True)
            keep = trial.suggest_categorical("keep", KEEP_CHOICES)
            return float(fit(C, keep).val_metrics["accuracy"])

        study = self.study(ctx)
        best = run_trials(study, objective, ctx.config.trials, ctx.deadline(), defaults=DEFAULT_TRIALS)
        params = dict(best.params) if best else dict(DEFAULT_TRIALS[0])
        trials = len(study.trials)
        width = sum(v.shape[1] for v in feats["train"].values())
        ctx.budget.learn_probe_rate((time.perf_counter() - fit_start) / max(2 * trials, 1),
                                    len(y_trial) * (1 + len(self.views)), width)
        if rows is None:
            result = fit(params["C"], params["keep"])
        else:  # the chosen settings, fitted once on every training row
            ctx.notify({"event": "stage", "message": f"{self.name}: C={params['C']:.3g}, keep={params['keep']} "
                                                     f"(trials on {len(rows)} rows) on all {len(y_train)} rows"})
            result = fit_multilayer(feats["train"], y_train, feats["val"], y_val, ctx.n_classes,
                                    self.config(ctx, params["C"], params["keep"]),
                                    train_views=views["train"] or None, val_views=views["val"] or None)
        test = test_accuracy(ctx, lambda: result.predict_proba(feats["test"], views["test"] or None))
        params |= {"pooling": ctx.pooling, "columns": result.selection.n_features,
                   "taps": len(result.selection.columns), "tta_views": list(result.selection.tta_views)}
        row = self.row(ctx, float(result.val_metrics["accuracy"]), test, time.perf_counter() - start, params, trials)
        return Outcome(row, lambda: self.build(ctx, result))

    def source(self, ctx: Context) -> tuple[str, Any]:
        """The backbone the shipped model names, and its weights."""
        return self.backbone, ctx.weights_for(self.backbone)

    def build(self, ctx: Context, result: Any) -> "SavedModel":
        """The shippable multi-layer model, as ``graft probe --layers all`` builds it, from the arm's
        fit: its selection, C and kept fraction, the head refitted on train + val."""
        from graft.api import _probe_multilayer

        backbone, weights = self.source(ctx)
        return _probe_multilayer(ctx.ds, backbone, weights, ctx.size_option(self.size),
                                 self.config(ctx, result.C, result.keep, refit=True), ctx.allow_download,
                                 chosen=result)


class ViewsArm(MultiLayerArm):
    """The multi-layer probe with horizontally flipped training rows; test-time averaging over the
    flip where validation favours it (the flip of every split is one more cached extraction)."""

    views = ("hflip",)

    def __init__(self, backbone: str, size: int | None) -> None:
        super().__init__(backbone, size, name="multilayer+hflip", kind="views")
        self.view = "hflip"


class EnsembleArm(MultiLayerArm):
    """The selected taps of several backbones concatenated (an ensemble of representations),
    shipped as one ``"ensemble:a+b"`` backbone (``graft.backbones.ensemble``). The members' source
    logits are left out: they are not taps of the ensemble."""

    def __init__(self, backbones: list[str], size: int | None) -> None:
        super().__init__(backbones[0], size, name="+".join(backbones), kind="ensemble")
        self.backbones = list(backbones)

    def taps(self, ctx: Context) -> dict[str, dict[str, np.ndarray]]:
        from graft.backbones.base import SOURCE_LOGITS

        out: dict[str, dict[str, np.ndarray]] = {s: {} for s in SPLITS}
        for backbone in self.backbones:
            feats = ctx.tap_features(backbone, self.size, pooling=ctx.pooling)
            for s in SPLITS:
                out[s] |= {f"{backbone}/{t}": v for t, v in feats[s].items() if t != SOURCE_LOGITS}
        return out

    def estimate(self, ctx: Context) -> float:
        extraction = sum(self.extraction_cost(ctx, b, pooling=ctx.pooling) for b in self.backbones)
        width = sum(_tap_width(ctx, b) for b in self.backbones)
        return extraction + _fits_cost(ctx, ctx.n("train"), 0, width)

    def run(self, ctx: Context) -> Outcome:
        from graft.backbones.ensemble_spec import ensemble_name, ensemble_spec
        from graft.errors import UsageError

        outcome = super().run(ctx)
        why = "--weights belongs to one backbone; an ensemble uses its members' own" if ctx.weights else None
        try:
            ensemble_spec(ensemble_name(self.backbones))  # zoo backbones of one modality (image or text)
        except UsageError as exc:
            why = str(exc)
        if why:
            outcome.row["note"] = f"scored only: {why}"
            return Outcome(outcome.row, None)
        return outcome

    def source(self, ctx: Context) -> tuple[str, Any]:
        """One ``ensemble:`` backbone over the members, with their own weights."""
        from graft.backbones.ensemble_spec import ensemble_name

        return ensemble_name(self.backbones), None
