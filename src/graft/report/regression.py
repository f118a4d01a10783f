"""The parts of a report that differ for a regression model (``config.task == "regression"``).

Instead of class counts, accuracy and a confusion matrix: the target's distribution, R² / RMSE /
MAE cards, predictions against the truth with the identity line, the residuals' histogram and
quantiles, and the items with the largest residuals. ``fit.json`` and ``verify`` of a numeric
target record ridge arms scored by R², shown here in the same shape as the classifier's.

As for a classifier, the plots are drawn on the test split only (training and validation items
would flatter the model) of the model's recorded data while that file or folder is unchanged, or
of ``--data``; the lineage's recorded scores stand in when neither is at hand.
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING, Any

import numpy as np

from graft.report import facts as F
from graft.report import plots
from graft.report.page import Raw, esc, figure, num, para, qty, r2_text, section, table

if TYPE_CHECKING:
    from graft.data.dataset import Dataset
    from graft.models.saved import SavedModel

log = logging.getLogger(__name__)

QUANTILES = {"0": "min", "0.05": "5%", "0.25": "25%", "0.5": "median", "0.75": "75%", "0.95": "95%", "1": "max"}
NAV = {"evaluation": "Residuals"}  # the nav label of the section that holds the confusion matrix for a classifier


def is_regression(model: Any) -> bool:
    return bool(getattr(model, "is_regression", False))


def target_name(model: "SavedModel") -> str:
    return str(model.classes[0]) if model.classes else "target"


# --- reading the data -----------------------------------------------------------------------------


def read_options(model: "SavedModel", options: dict[str, Any]) -> dict[str, Any]:
    """Reader options that read a table as this model's data: the label as a number, a numeric
    rows model's columns as features, and the label column named after the target (the name a
    table's label column gives the target) unless another one is given."""
    out = dict(options)
    out.setdefault("target_type", "regression")
    if model.config.backbone.modality == "array":
        out.setdefault("modality", "array")
    if out.get("label_column", "label") == "label":  # the reader's (and the CLI's) default: not a choice
        out["label_column"] = target_name(model)
    return out


def recorded_data(model: "SavedModel") -> "Dataset | None":
    """The model's training data, read as regression data, while its recorded path holds the same
    data (same fingerprint); None otherwise (the report then says what is missing)."""
    from graft.report.facts import recorded_data as recorded

    return recorded(model, **read_options(model, {}))


# --- facts ----------------------------------------------------------------------------------------


def overview(model: "SavedModel", info: dict[str, Any]) -> dict[str, Any]:
    """The overview of a regression model: its method names the target; R², RMSE, MAE cards."""
    target = model.lineage.get("target") if isinstance(model.lineage.get("target"), dict) else {}
    info = info | {"method": f"{info['method']} · ridge regression of {target_name(model)}"}
    return info | {"cards": cards(info, target_name(model), target)}


def cards(info: dict[str, Any], name: str, target: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(label, value, sub, tone) of each overview card: headline R², RMSE, MAE (test, else val)."""
    metric = info["headline"] or {}
    where = f"{info['headline_split']} split" if info["headline_split"] else "no held-out scores recorded"
    r2 = metric.get("r2")
    tone = "" if not isinstance(r2, (int, float)) or math.isnan(r2) else "bad" if r2 < 0 else ""
    spread = (f"mean {qty(target['mean'])}, {qty(target['min'])} – {qty(target['max'])}"
              if all(isinstance(target.get(k), (int, float)) for k in ("mean", "min", "max")) else info["modality"] or "")
    verdict_tone = {"positive transfer": "good", "negative transfer": "bad", "inconclusive": "warn"}
    drift_tone = {"none": "good", "mild": "warn", "strong": "bad"}
    return [("R²", r2_text(r2), where, tone), ("RMSE", qty(metric.get("rmse")), where, ""),
            ("MAE", qty(metric.get("mae")), where, ""),
            ("target", name if len(name) <= 24 else name[:23] + "…", spread, ""),
            ("verdict", info["verdict"] or "not verified", "graft verify", verdict_tone.get(info["verdict"], "")),
            ("drift", info["drift"] or "not checked", "graft drift", drift_tone.get(info["drift"], ""))]


def data_facts(model: "SavedModel", ds: "Dataset | None") -> dict[str, Any]:
    """As :func:`graft.report.facts.data_facts`, without per-class counts: the target per split instead."""
    facts = F.data_facts(model, None)
    if ds is not None:
        facts["splits"] = {s: int(np.sum(ds.splits == s)) for s in F.SPLITS if np.any(ds.splits == s)}
        facts["skipped"], facts["n_skipped"] = F.skipped_files(model, ds, (model.lineage.get("dataset") or {}).get("skipped"))
    facts["target"] = target_rows(model, ds)
    # "label column read as a regression target" is a note on data that was used, not a skipped file
    from graft.data.dataset import NOTE_PREFIXES

    facts["notes"] = [(path, why) for path, why in facts["skipped"] if why.startswith(NOTE_PREFIXES)]
    facts["skipped"] = [row for row in facts["skipped"] if row not in facts["notes"]]
    facts["n_skipped"] = max(len(facts["skipped"]), facts["n_skipped"] - len(facts["notes"]))
    return facts


def target_rows(model: "SavedModel", ds: "Dataset | None") -> list[list[Any]]:
    """Per split: n, mean, std, min, median, max of the target; the lineage's training summary without data."""
    if ds is None or not ds.is_regression:
        t = model.lineage.get("target") if isinstance(model.lineage.get("target"), dict) else {}
        if not t:
            return []
        return [["train (recorded)", (model.lineage.get("dataset") or {}).get("splits", {}).get("train", "—"),
                 *(qty(t.get(k)) for k in ("mean", "std", "min")), "—", qty(t.get("max"))]]
    rows = []
    for split in F.SPLITS:
        y = ds.targets[(ds.splits == split) & np.isfinite(ds.targets)]
        if len(y):
            rows.append([split, len(y), *(qty(float(f(y))) for f in (np.mean, np.std, np.min, np.median, np.max))])
    return rows


def evaluation(model: "SavedModel", ds: "Dataset | None", held_out: bool = False) -> dict[str, Any]:
    """Predictions on ``ds``'s test split (all of it when ``held_out``) with R², RMSE, MAE and the
    residual summary; ``{"missing": why, "recorded": test scores from the lineage}`` when there is nothing to draw on."""
    metrics = model.lineage.get("metrics") or {}
    split = next((s for s in ("test", "target_eval") if isinstance(metrics.get(s), dict)), None)
    recorded = {"recorded": metrics[split], "recorded_split": split} if split else {}
    if ds is None:
        return {"missing": "no test data at hand (the model's recorded data is gone or changed, or was not a file): "
                           "`graft report MODEL --data FILE` draws predictions and residuals from FILE's test split"} | recorded
    if not ds.is_regression:
        return {"missing": f"{ds.source} has class labels, not a numeric target; give data whose label column "
                           f"holds the numbers {target_name(model)!r} stands for"} | recorded
    if not ds.has_split("test") and not held_out:
        return {"missing": f"{ds.source} has no test split: predictions and residuals are drawn on test items only "
                           "(training and validation items would flatter the model)"} | recorded
    return _scored(model, ds)


def _scored(model: "SavedModel", ds: "Dataset") -> dict[str, Any]:
    from graft.api import _check_modality, _training_overlap
    from graft.api_regression import _item_name
    from graft.errors import UsageError
    from graft.metrics import regression_metrics

    _check_modality(model, ds)
    where = "the test split of" if ds.has_split("test") else "all items of"
    part = ds.test if ds.has_split("test") else ds
    part = part.select(np.flatnonzero(np.isfinite(part.targets)))
    if not len(part):
        raise UsageError(f"{ds.source}: no test item has a target to score against; check the label column")
    true = np.asarray(part.targets, dtype=np.float64)
    predicted = np.asarray(model.predict_values(part.items), dtype=np.float64)
    result = regression_metrics(true, predicted, [_item_name(part, i) for i in range(len(part))], detailed=True)
    return result | _training_overlap(model, part, ds.fingerprint) | {
        "true": true, "predicted": predicted, "from": f"evaluated on {where} {ds.source}"}


def fit_facts(model: "SavedModel") -> dict[str, Any] | None:
    """fit.json of a numeric target: its ridge arms (val and test R²), the pick and why."""
    report = model.lineage.get("fit") or F.json_file(model, "fit.json")
    return report if isinstance(report, dict) and "arms" in report else None


# --- sections -------------------------------------------------------------------------------------


def target_block(rows: list[list[Any]], name: str, notes: list[tuple[str, str]] = ()) -> Raw:
    """The target's distribution per split (where the per-class counts of a classifier go) and the
    reader's notes on it."""
    remarks = "".join(para(f"{why} ({path})", "muted") for path, why in notes)
    if not rows:
        return Raw(para(f"The target {name!r} is not summarised in this model's lineage, and its data is not at hand.",
                        "muted") + remarks)
    return Raw(f"<h3>Target: {esc(name)}</h3>"
               + table(["split", "items", "mean", "std", "min", "median", "max"], rows) + remarks)


def fit_section(fit: dict[str, Any] | None) -> Raw:
    title = "Fit: arms and the pick"
    if fit is None:
        return section("fit", title, [para(
            "This model was not made by `graft fit` (no fit.json): there are no arms to compare.", "muted")])
    chosen, rows = fit.get("chosen"), fit.get("arms") or []
    parts = [Raw(f'<p class="callout">Chosen: <b>{esc(chosen)}</b>. {esc(fit.get("reason", ""))}</p>')]
    picked = fit.get("backbones") or {}
    if picked:
        parts.append(para(f"Backbones: {picked.get('how', '')}: {', '.join(map(str, picked.get('backbones') or []))}.", "muted"))
    scored = [r for r in rows if isinstance(r.get("val_r2"), (int, float))]
    if scored:
        parts.append(figure(plots.bars([r["method"] for r in scored], [r["val_r2"] for r in scored],
                                       "Validation R² per arm", "R² (higher is better)", [chosen], salt="fit")))
    parts.append(table(["arm", "val R²", "test R²", "alpha", "seconds"],
                       [[r["method"] + (" ★" if r["method"] == chosen else ""), r2_text(r.get("val_r2")),
                         r2_text(r.get("test_r2")), num(r.get("alpha"), 3), num(r.get("seconds"), 3)] for r in rows],
                       ["hi" if r["method"] == chosen else "" for r in rows]))
    test = ((fit.get("model_metrics") or {}).get("test") or {}).get("r2")
    notes = [f"The saved model, refitted on train + val: test R² {r2_text(test)}." if test is not None else "",
             "Not run: " + "; ".join(f"{k} ({v})" for k, v in fit["not_run"].items()) + "." if fit.get("not_run") else "",
             f"{fit['seconds']} s in all." if fit.get("seconds") is not None else ""]
    parts.append(para(" ".join(n for n in notes if n), "muted"))
    return section("fit", title, parts)


def evaluation_section(ev: dict[str, Any], name: str) -> Raw:
    title = "Predictions and residuals"
    if "missing" in ev:
        parts = [para(ev["missing"], "muted")]
        if ev.get("recorded"):
            m = ev["recorded"]
            parts.insert(0, para(f"Recorded on the {ev['recorded_split']} split: R² {r2_text(m.get('r2'))}, "
                                 f"RMSE {qty(m.get('rmse'))}, MAE {qty(m.get('mae'))} ({m.get('n', '?')} items)."))
        return section("evaluation", title, parts)
    n, shown = ev["n"], len(plots.thin(ev["n"]))
    parts = [para(f"{ev['from']}: {n} items, R² {r2_text(ev['r2'])}, RMSE {qty(ev['rmse'])}, MAE {qty(ev['mae'])} "
                  f"(target {name}).")]
    if ev.get("note"):
        parts.append(para(ev["note"], "warn"))
    residuals = ev["true"] - ev["predicted"]
    scatter_cap = "One dot per item; dashed: predicted = true (above it: over-estimates)" + (
        f"; {shown} of {n} items shown, evenly spaced." if shown < n else ".")
    hist_cap = f"Residual = true − predicted; mean {qty(ev['residuals']['mean'])}."
    parts.append(Raw('<div class="grid2">' + figure(plots.predicted_vs_true(ev["true"], ev["predicted"], name), scatter_cap)
                     + figure(plots.residual_histogram(residuals), hist_cap) + "</div>"))
    quantiles = ev["residuals"]["quantiles"]
    parts.append(Raw("<h3>Residual quantiles</h3>"))
    parts.append(table(["quantile", *(QUANTILES.get(q, q) for q in quantiles)],
                       [["residual", *(qty(v) for v in quantiles.values())]]))
    parts.append(Raw(f"<h3>Largest residuals ({len(ev['residuals']['largest'])} of {n})</h3>"))
    parts.append(table(["item", "true", "predicted", "residual"],
                       [[r["item"], qty(r["true"]), qty(r["predicted"]), qty(r["residual"], signed=True)]
                        for r in ev["residuals"]["largest"]]))
    parts.append(para("A positive residual: the model predicted too low; negative: too high.", "muted"))
    return section("evaluation", title, parts)


def rank_section(modality: str | None) -> Raw:
    """Where a classifier's backbone ranking goes: why there is none (graft rank needs classes)."""
    why = ("numeric rows go to the head as they are: there is no backbone to rank" if modality == "array" else
           "`graft rank`'s scores (LogME, LEEP, NCE, H-score) need classes; on a numeric target `graft fit` "
           "tries a ridge arm per backbone and keeps the best validation R² (see Fit)")
    return section("rank", "Backbone ranking", [para(f"No ranking: {why}.", "muted")])


def drift_section(d: dict[str, Any] | None) -> Raw:
    if d is not None:  # recorded by a graft that checked it: shown as for a classifier
        from graft.report.page import drift_section as classifier_drift

        return classifier_drift(d, True)
    return section("drift", "Drift checks", [para(
        "No drift check is recorded for this model (`graft drift` grades severity by the predicted classes' "
        "confidence, which a regression model does not have).", "muted")])


def verify_section(v: dict[str, Any] | None) -> Raw:
    """verify of a numeric target: ridge probes (pretrained, random init, the mean) by test R² over seeds."""
    title = "Did transfer help? (verify)"
    if v is None or v.get("task") != "regression":
        return section("verify", title, [para(
            "Not verified: `graft verify DATA --out DIR` compares this ridge probe with the same probe on randomly "
            "initialised features and with the training mean, over seeds, and records the intervals here.", "muted")])
    tone = {"positive transfer": "good", "negative transfer": "bad"}.get(v["verdict"], "warn")
    order = list(v["arms"].items())[::-1]  # baselines first, the probe last (as scratch ... fine-tune)
    arms = [(f"{name} ({a['method']})", a["test"]) for name, a in order]
    gains = [(f"probe − {v['baseline']}", v["gain_over_baseline"])]
    parts = [Raw(f'<p class="callout {tone}"><b>{esc(v["verdict"])}</b>. {esc(v["summary"])}</p>'),
             figure(plots.intervals(arms, gains, "R²", v["confidence"], percent=False))]
    seeds = v.get("seeds") or []
    parts.append(table(["arm", "mean R²", "interval", "runs (seed: test R²)"],
                       [[label, r2_text(i["mean"]), f"{r2_text(i['low'])} – {r2_text(i['high'])}",
                         ", ".join(f"{s}: {r2_text(x)}" for s, x in zip(seeds, a.get("test_r2") or []))]
                        for (label, i), (_, a) in zip(arms, order)]))
    not_run = "; ".join(f"{k} ({why})" for k, why in (v.get("not_run") or {}).items())
    parts.append(para(f"Seeds {seeds}: each scores every arm on its own bootstrap resample of the {v.get('n_test')} "
                      f"test items; {v['confidence']:.0%} intervals." + (f" Not run: {not_run}." if not_run else ""),
                      "muted"))
    return section("verify", title, parts)
