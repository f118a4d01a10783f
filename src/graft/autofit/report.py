"""The report of a ``fit`` run: every arm (validation score ± standard error, test score where the
data has a test split, seconds, skipped arms and why), what was picked and by which rule. It goes
into the model's lineage and, as ``fit.json``, into the model folder; the CLI prints it as a table."""

from __future__ import annotations

from typing import Any

from graft.autofit.rule import RULE
from graft.autofit.context import Context

COLUMNS = ["arm", "kind", "val acc ± se", "test acc", "seconds", "note"]


def fit_report(ctx: Context, candidates: list[dict[str, Any]], chosen: str, reason: str,
               backbones: dict[str, Any], sizes: list[int | None]) -> dict[str, Any]:
    """The JSON report (``fit.json``)."""
    from graft._config import to_dict

    return {
        "chosen": chosen,
        "reason": reason,
        "rule": RULE + ": arms are walked simplest first; a more complex arm replaces the pick only if its "
                       "validation accuracy is more than one standard error above the pick's",
        "candidates": candidates,
        "skipped": [{"method": c["method"], "why": c["skipped"]} for c in candidates if "skipped" in c],
        "backbones": backbones,
        "image_sizes": sizes if ctx.ds.modality == "image" else None,
        "seconds": round(ctx.budget.elapsed(), 1),
        "time_budget": ctx.config.time_budget,
        "config": to_dict(ctx.config),
        "study": ctx.study_base,
        "data": {"source": ctx.ds.source, "fingerprint": ctx.ds.fingerprint,
                 "n": {s: ctx.n(s) for s in ("train", "val", "test")}},
    }


def table_rows(report: dict[str, Any]) -> list[list[Any]]:
    """One row per arm for the terminal table (``COLUMNS``); the chosen arm is marked."""
    rows = []
    for c in report["candidates"]:
        mark = " *" if c["method"] == report["chosen"] else ""
        val = f"{c['val_accuracy']:.4f} ± {c['val_se']:.4f}" if "val_accuracy" in c else ""
        test = f"{c['test_accuracy']:.4f}" if "test_accuracy" in c else ""
        note = c.get("skipped") or c.get("note") or _params(c.get("params", {}))
        seconds = f"{c['seconds']:.1f}" if "seconds" in c else ""
        rows.append([c["method"] + mark, c["kind"], val, test, seconds, note])
    return rows


def _params(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())
