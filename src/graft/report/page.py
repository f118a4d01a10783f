"""The report as one self-contained HTML page: inline CSS, inline SVG plots, no script, no font, no
link that leaves the page (a Content-Security-Policy meta tag forbids any request, so a slip would
show as a console error rather than a silent fetch).

Every value that came from a user (class names, paths, commands, settings) goes through
:func:`esc`; markup built here is wrapped in :class:`Raw` so the table helpers know not to escape it.
"""

from __future__ import annotations

import html
import json
import math
from typing import Any, Callable, Iterable, Sequence

from graft.report import plots

GENERATOR = "graft report"
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


class Raw(str):
    """Markup that is already safe (built here from escaped parts)."""


def esc(value: Any) -> str:
    return value if isinstance(value, Raw) else html.escape("" if value is None else str(value), quote=True)


def num(value: Any, digits: int = 4) -> str:
    if isinstance(value, bool) or value is None:
        return "—" if value is None else str(value)
    if isinstance(value, (int, float)):
        if isinstance(value, float):
            return "—" if math.isnan(value) else f"{value:.{digits}g}"
        return str(value)
    return str(value)


def pct(value: Any) -> str:
    return f"{value * 100:.1f}%" if isinstance(value, (int, float)) and not isinstance(value, bool) else "—"


def r2_text(value: Any) -> str:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    return f"{value:.3f}" if ok else "—"


def qty(value: Any, signed: bool = False) -> str:
    """A number in the target's units: 4 significant digits, no exponent for everyday sizes."""
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        return "—"
    size = abs(value)
    if size and (size >= 1e9 or size < 1e-4):
        return f"{value:{'+' if signed else ''}.3e}"
    digits = max(0, 3 - math.floor(math.log10(size))) if size else 0
    return f"{value:{'+' if signed else ''},.{digits}f}"


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], classes: Sequence[str] = (), narrow: bool = False) -> Raw:
    """A table whose cells are escaped (unless ``Raw``); ``narrow``: as wide as its content."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join(f"<tr{_cls(classes, i)}>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>"
                   for i, row in enumerate(rows))
    kind = ' class="narrow"' if narrow else ""
    return Raw(f'<div class="scroll"><table{kind}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>')


def _cls(classes: Sequence[str], i: int) -> str:
    return f' class="{esc(classes[i])}"' if i < len(classes) and classes[i] else ""


def para(text: Any, kind: str = "") -> Raw:
    return Raw(f'<p class="{kind}">{esc(text)}</p>' if kind else f"<p>{esc(text)}</p>")


def figure(svg: str, caption: str = "") -> Raw:
    cap = f"<figcaption>{esc(caption)}</figcaption>" if caption else ""
    return Raw(f"<figure>{svg}{cap}</figure>")


def details(summary: str, body: str) -> Raw:
    return Raw(f"<details><summary>{esc(summary)}</summary>{body}</details>")


def code(text: Any) -> Raw:
    return Raw(f"<pre><code>{esc(text)}</code></pre>")


def pretty(data: Any) -> str:
    return json.dumps(data, indent=2, default=str, ensure_ascii=False)


def section(anchor: str, title: str, parts: Sequence[str]) -> Raw:
    return Raw(f'<section id="{esc(anchor)}"><h2>{esc(title)}</h2>{"".join(parts)}</section>')


# --- sections ---------------------------------------------------------------------------------------


def header(info: dict[str, Any]) -> Raw:
    metric = info["headline"] or {}
    where = f"{info['headline_split']} split" if info["headline_split"] else "no labelled test data"
    tasks = info.get("tasks") or {}
    if tasks:  # a multi-task model: the headline is the mean over its tasks
        where += f", mean of {len(tasks)} tasks"
    classes = (str(len(info["classes"])), info["modality"] or "") if not tasks else \
        (str(sum(tasks.values())), f"in {len(tasks)} tasks ({info['modality'] or ''})")
    cards = [("accuracy", pct(metric.get("accuracy")), where), ("macro-F1", pct(metric.get("macro_f1")), where),
             ("classes", *classes),
             ("verdict", info["verdict"] or "not verified", "graft verify"),
             ("drift", info["drift"] or "not checked", "graft drift")]
    tone = {"positive transfer": "good", "negative transfer": "bad", "inconclusive": "warn",
            "none": "good", "mild": "warn", "strong": "bad"}
    cards = info.get("cards") or [(*c, tone.get(c[1], "")) for c in cards]  # a regression model brings its own
    html_cards = "".join(
        f'<div class="card {shade}"><div class="label">{esc(label)}</div>'
        f'<div class="value">{esc(value)}</div><div class="sub">{esc(sub)}</div></div>'
        for label, value, sub, shade in cards)
    meta = " · ".join(esc(x) for x in (info["method"], f"backbone {info['backbone']}",
                                       f"created {info['created'] or '?'}", f"graft {info['graft'] or '?'}"))
    return Raw(f'<header><div class="kicker">graft model report</div><h1>{esc(info["name"])}</h1>'
               f'<div class="meta">{meta}</div><div class="path">{esc(info["path"])}</div>'
               f'<div class="cards">{html_cards}</div></header>')


def data_section(d: dict[str, Any], tasks: list[list[Any]] = (), instead_of_classes: str | None = None) -> Raw:
    """``instead_of_classes``: markup shown where the counts per class go (a regression model's target)."""
    parts = []
    if tasks:  # a multi-task model: one head per task on a shared backbone
        parts.append(Raw("<h3>Tasks</h3>"))
        parts.append(table(["task", "classes", "data", "val acc", "val F1", "test acc", "test F1"],
                           [[r[0], r[1], r[2] or "—", *(pct(v) for v in r[3:])] for r in tasks]))
    parts += [table(["source", "modality", "fingerprint", "licence"],
                   [[d["source"] or "—", d["modality"] or "—", d["fingerprint"] or "—", d["license"] or "not recorded"]])]
    splits = d["splits"] or {}
    parts.append(table(["split", "items"], [[s, n] for s, n in splits.items()] + [["total", sum(splits.values())]],
                       narrow=True))
    if instead_of_classes is not None:
        parts.append(instead_of_classes)
    elif d["per_class"]:
        counts = d["per_class"]
        names = [s for s in ("train", "val", "test") if any(s in c for c in counts.values())]
        parts.append(figure(plots.class_counts(counts)))
        parts.append(details(f"Counts per class ({len(counts)} classes)",
                             table(["class"] + names + ["total"],
                                   [[c] + [v.get(s, 0) for s in names] + [sum(v.values())] for c, v in counts.items()])))
    else:
        parts.append(para("Counts per class need the labelled data itself (its recorded folder is gone, changed or "
                          "unlabelled): `graft report MODEL --data DIR` shows them.", "muted"))
    if d["n_skipped"]:
        more = d["n_skipped"] - len(d["skipped"])
        parts.append(Raw(f"<h3>Skipped files: {d['n_skipped']}</h3>"))
        parts.append(table(["file", "why"], d["skipped"]))
        if more > 0:
            parts.append(para(f"… and {more} more (skipped.tsv lists them all).", "muted"))
    else:
        parts.append(para("No file was skipped.", "muted"))
    return section("data", "Data", parts)


def rank_section(rank: dict[str, Any] | None) -> Raw:
    if rank is None:
        return section("rank", "Backbone ranking", [para(
            "No ranking is recorded in this model folder (the backbone was given, not ranked); "
            "`graft rank DATA` compares backbones on this data.", "muted")])
    rows = [(name, score) for name, score in rank["rows"]]
    scored = [(n, s) for n, s in rows if isinstance(s, (int, float))]
    parts = [para(rank["how"])]
    if scored:
        parts.append(figure(plots.bars([n for n, _ in scored], [s for _, s in scored], f"{rank['score']} per backbone",
                                       f"{rank['score']} (higher: expected to transfer better)", rank["kept"], salt="rank")))
    if rows:
        parts.append(table(["#", "backbone", rank["score"], "kept"],
                           [[i + 1, n, num(s), "yes" if n in rank["kept"] else ""] for i, (n, s) in enumerate(rows)],
                           ["hi" if n in rank["kept"] else "" for n, _ in rows]))
    if rank.get("screen"):
        parts.append(_screen(rank["screen"]))
    return section("rank", "Backbone ranking", parts)


def _screen(screen: dict[str, Any]) -> Raw:
    """fit's cross-validated screen: every (backbone, probe, pooling) tried, the pick highlighted."""
    rows = screen.get("rows") or []
    probe = lambda r: r.get("probe", "multi-layer")  # noqa: E731 - fit.json before the last-layer screen
    picked = [r["backbone"] == screen.get("backbone") and probe(r) == screen.get("probe", "multi-layer")
              and (probe(r) != "multi-layer" or r["pooling"] == screen.get("pooling")) for r in rows]
    skipped = "".join(f" Not screened: {s['backbone']} ({s['why']})." for s in screen.get("skipped") or [])
    return Raw(para(f"Then cross-validated: {screen.get('how', '')}.{skipped}", "muted")
               + table(["backbone", "probe", "pooling", "cv accuracy ± se", "columns", "seconds"],
                       [[r["backbone"] + (" ★" if hit else ""), probe(r) + (f" (C={r['C']})" if "C" in r else ""),
                         r["pooling"], f"{num(r['cv_accuracy'])} ± {num(r['cv_se'])}", r["columns"],
                         num(r.get("seconds"), 3)]
                        for r, hit in zip(rows, picked)], ["hi" if hit else "" for hit in picked]))


def fit_section(fit: dict[str, Any] | None) -> Raw:
    if fit is None:
        return section("fit", "Fit: arms and the pick", [para(
            "This model was not made by `graft fit` (no fit.json): there are no arms to compare.", "muted")])
    chosen, rows = fit["chosen"], fit["candidates"]
    parts = [Raw(f'<p class="callout">Chosen: <b>{esc(chosen)}</b>. {esc(fit["reason"])}</p>'), para(fit.get("rule", ""), "muted")]
    if any(r.get("val_accuracy") is not None for r in rows):
        parts.append(figure(plots.arms(rows, chosen)))
    parts.append(table(["arm", "kind", "val acc ± se", "test acc", "seconds", "settings / why skipped"],
                       [_arm_row(r, chosen) for r in rows],
                       ["hi" if r["method"] == chosen else "skipped" if "skipped" in r else "" for r in rows]))
    parts.append(para(f"{fit.get('seconds', '?')} s of a {fit.get('time_budget', '?')} s budget.", "muted"))
    return section("fit", "Fit: arms and the pick", parts)


def _arm_row(r: dict[str, Any], chosen: str) -> list[Any]:
    val = f"{r['val_accuracy']:.4f} ± {r.get('val_se', 0):.4f}" if r.get("val_accuracy") is not None else "—"
    params = ", ".join(f"{k}={num(v, 3)}" for k, v in (r.get("params") or {}).items())
    note = r.get("skipped") or "; ".join(x for x in (params, r.get("note")) if x)
    test = f"{r['test_accuracy']:.4f}" if isinstance(r.get("test_accuracy"), (int, float)) else "—"
    return [r["method"] + (" ★" if r["method"] == chosen else ""), r.get("kind", ""), val, test,
            num(r.get("seconds"), 3), note]


def training_section(history: list[dict[str, Any]] | None, settings: dict[str, Any]) -> Raw:
    if history is None:
        return section("training", "Learning curves", [para(
            "No history.json: the model's head was fitted in one go (a probe or an adapter), not trained by epochs.",
            "muted")])
    parts = [figure(plots.learning_curves(history))]
    best, stopped = settings.get("best_epoch"), settings.get("stopped_early")
    if best is not None:
        parts.append(para(f"Best epoch: {best} (counted from 0 within its phase, as in history.json)"
                          + ("; training stopped early." if stopped else ".")))
    keys = ["epoch", "phase", "train_loss", "val_loss", "val_accuracy", "val_macro_f1", "seconds"]
    parts.append(details(f"Per epoch ({len(history)} rows)", table(keys, [[num(r.get(k)) for k in keys] for r in history])))
    return section("training", "Learning curves", parts)


def evaluation_section(ev: dict[str, Any]) -> Raw:
    title = "Confusion matrix and per-class F1"
    if "missing" in ev:
        return section("evaluation", title, [para(ev["missing"], "muted")])
    classes, per_class = ev["classes"], ev["per_class"]
    parts = [para(f"{ev['from']}: {ev['n']} items, accuracy {pct(ev['accuracy'])}, macro-F1 {pct(ev['macro_f1'])}.")]
    if ev.get("note"):
        parts.append(para(ev["note"], "warn"))
    caption = "Rows: true class; columns: predicted; shade: share of the row" + ("; numbers: counts." if len(classes) <= 15 else ".")
    plots_html = figure(plots.confusion(ev["confusion_matrix"], classes), caption) + figure(plots.per_class_f1(per_class))
    # side by side while the matrix is small; a larger one gets the page's width
    parts.append(Raw(f'<div class="grid2">{plots_html}</div>' if len(classes) <= 6 else plots_html))
    rows = sorted(per_class.items(), key=lambda kv: kv[1]["f1"])
    parts.append(table(["class (worst F1 first)", "precision", "recall", "F1", "support"],
                       [[c, f"{m['precision']:.3f}", f"{m['recall']:.3f}", f"{m['f1']:.3f}", m["support"]] for c, m in rows]))
    return section("evaluation", title, parts)


def verify_section(v: dict[str, Any] | None) -> Raw:
    if v is None:
        return section("verify", "Did transfer help? (verify)", [para(
            "Not verified: `graft verify DATA --out DIR` trains scratch, probe and fine-tuning over seeds and "
            "records the intervals here.", "muted")])
    tone = {"positive transfer": "good", "negative transfer": "bad"}.get(v["verdict"], "warn")
    arms = [(f"{name} ({a['method']})", a["test"]) for name, a in v["arms"].items()]
    if v.get("backbone_kind") == "frozen engine":
        return _engine_verify(v, arms, tone)
    gains = [("fine-tune − scratch", v["gain_over_scratch"]), ("probe − scratch", v["probe_gain_over_scratch"]),
             ("fine-tune − probe", v["finetune_minus_probe"])]
    parts = [Raw(f'<p class="callout {tone}"><b>{esc(v["verdict"])}</b>. {esc(v["summary"])}</p>'),
             figure(plots.intervals(arms, gains, v["metric"], v["confidence"]))]
    parts.append(table(["arm", "mean", "interval", "runs (seed: test)"],
                       [[name, pct(i["mean"]), f"{pct(i['low'])} – {pct(i['high'])}",
                         _runs(v["arms"][name.split(" ")[0]]["runs"])]
                        for name, i in arms]))
    parts.append(para(f"Schedule {v['schedule']}: {v['selection'].get('how', '')}. Seeds {v['seeds']}, "
                      f"{v['epochs']} epochs at most, "
                      + (f"{v['budget_seconds']:g} s per run, " if v.get("budget_seconds") else "no time limit per run, ")
                      + f"{v['n_test']} test items.",
                      "muted"))
    return section("verify", "Did transfer help? (verify)", parts)


def _engine_verify(v: dict[str, Any], arms: list[tuple[str, dict[str, float]]], tone: str) -> Raw:
    """A frozen engine cannot be trained from scratch or fine-tuned: its probe against the no-pretraining baseline."""
    gains = [(f"probe − {v['baseline']}", v["gain_over_baseline"])] if v.get("gain_over_baseline") else []
    parts = [Raw(f'<p class="callout {tone}"><b>{esc(v["verdict"])}</b>. {esc(v["summary"])}</p>'),
             figure(plots.intervals(arms, gains, v["metric"], v["confidence"])),
             table(["arm", "mean", "interval", "on the whole test split"],
                   [[name, pct(i["mean"]), f"{pct(i['low'])} – {pct(i['high'])}",
                     pct(v["arms"][name.split(" ")[0]].get("test_full"))] for name, i in arms])]
    if v.get("not_run"):
        parts.append(table(["not run", "why"], [[k, why] for k, why in v["not_run"].items()]))
    parts.append(para(f"Seeds {v['seeds']} each score both arms on one bootstrap resample of the {v['n_test']} test "
                      "items (the arms are fitted once).", "muted"))
    return section("verify", "Did transfer help? (verify)", parts)


def _runs(runs: list[dict[str, Any]]) -> str:
    return ", ".join(f"{'—' if r['seed'] is None else r['seed']}: {pct(r['test'])}" for r in runs)


def adaptation_section(a: dict[str, Any] | None) -> Raw:
    if a is None:
        return Raw("")
    parts = [Raw(f'<p class="callout">{esc(a.get("kind") or "Domain adaptation")}: method {esc(a.get("method"))} → '
                 f'<b>{esc(a.get("chosen"))}</b>. {esc(a.get("reason"))}</p>')]
    rows = []
    for role in ("source", "target", "target_eval"):
        rec = a.get(role)
        if isinstance(rec, dict):
            rows.append([role, rec.get("source") or rec.get("path") or rec.get("kind"), rec.get("n") or
                         sum((rec.get("splits") or {}).values()) or "—", rec.get("fingerprint") or "—"])
    if rows:
        parts.append(table(["domain", "data", "items", "fingerprint"], rows))
    if a.get("target_eval_metrics"):
        m = a["target_eval_metrics"]
        parts.append(para(f"On labelled target data: accuracy {pct(m.get('accuracy'))}, macro-F1 {pct(m.get('macro_f1'))} "
                          f"({m.get('n')} items; its labels were used only to score)."))
    if a.get("selection"):
        parts.append(details("Selection evidence", code(pretty(a["selection"]))))
    return section("adaptation", "Adaptation", parts)


def drift_section(d: dict[str, Any] | None, has_reference: bool) -> Raw:
    if d is None:
        hint = ("its drift reference (reference.safetensors) is saved: `graft drift MODEL NEW_DATA` checks new data "
                "against it" if has_reference else "it has no drift reference; `graft drift --reference DATA` can still check")
        return section("drift", "Drift checks", [para(f"No drift check is recorded for this model; {hint}.", "muted")])
    tone = {"none": "good", "mild": "warn", "strong": "bad"}.get(d["severity"], "")
    parts = [Raw(f'<p class="callout {tone}">Drift: <b>{esc(d["severity"])}</b> '
                 f'({esc(d.get("n_reference"))} reference vs {esc(d.get("n_new"))} new items). '
                 f'{esc("; ".join(d.get("reasons") or []))}</p>'),
             table(["test", "value", "p-value"], [
                 ["MMD² (embeddings)", num(d.get("mmd")), num(d.get("mmd_p_value"))],
                 ["domain-classifier AUC", num(d.get("domain_auc")), num(d.get("domain_p_value"))],
                 ["mean confidence: reference → new", f"{num(d.get('confidence_reference'), 3)} → {num(d.get('confidence_new'), 3)}",
                  num(d.get("confidence_p_value"))]])]
    shifts = d.get("most_shifted_classes") or []
    if shifts:
        parts.append(figure(plots.class_shift(shifts)))
    return section("drift", "Drift checks", parts)


def chain_section(view: dict[str, Any]) -> Raw:
    restricted = view.get("restrictions") or []
    tone = "bad" if any(r.get("restriction") != "unknown" for r in restricted) else "warn" if restricted else "good"
    title = "Licence restrictions the model inherits" if restricted else "Licences"
    parts = [Raw(f'<div class="callout {tone}"><b>{esc(title)}.</b> {esc(view.get("statement") or "")}</div>')]
    parts.append(table(["licence of", "licence", "restriction", "found in"],
                       [[i.get("what"), i.get("license"), i.get("restriction") or "none", i.get("from") or ""]
                        for i in view.get("licences") or []],
                       ["bad" if i.get("restriction") else "" for i in view.get("licences") or []]))
    items = [_hop_html(i, hop) for i, hop in enumerate(view.get("hops") or [])]
    root = view.get("root") or {}
    name = root.get("backbone") or root.get("hub_id") or root.get("weights_file") or root.get("model") or "?"
    items.append(f'<li class="root"><div class="hop-title">root: {esc(name)} '
                 f'<span class="muted">({esc(root.get("kind") or "weights")})</span></div>'
                 f'<div class="muted">weights {esc(root.get("weights_sha256") or "—")}'
                 f'{" · " + esc(root["weights_source"]) if root.get("weights_source") else ""}</div>'
                 f'<div>licence: {esc(root.get("license") or "unknown")}</div></li>')
    parts.append(Raw(f'<ol class="chain">{"".join(items)}</ol>'))
    return section("lineage", "Lineage and licences", parts)


def _hop_html(i: int, hop: dict[str, Any]) -> str:
    who = "this model" if i == 0 else f"ancestor {i}"
    data = hop.get("data") or {}
    scores = "; ".join(_hop_scores(k, v) for k, v in (hop.get("metrics") or {}).items() if isinstance(v, dict))
    settings = ", ".join(f"{k}={num(v, 3)}" for k, v in (hop.get("settings") or {}).items())
    status = hop.get("status")
    where = f'{esc(hop.get("model") or "")}' + (f' <span class="muted">({esc(status)})</span>' if status else "")
    return (f'<li><div class="hop-title">{esc(who)}: {esc(hop.get("method") or "?")} '
            f'<span class="muted">({esc(hop.get("relation") or "finetune")} of its parent)</span></div>'
            + (f'<div class="muted">{where}</div>' if hop.get("model") else "")
            + f'<div>data {esc(data.get("source") or "—")} <span class="muted">(fingerprint {esc(data.get("fingerprint") or "—")}; '
              f'licence {esc(data.get("license") or "not recorded")})</span></div>'
            + f'<div>{esc(scores or "no metrics recorded")}</div>'
            + (f'<div class="muted">{esc(settings)}</div>' if settings else "")
            + f'<div class="muted">weights licence {esc(hop.get("weights_license") or "unknown")} · '
              f'created {esc(hop.get("created") or "?")}</div></li>')


def _hop_scores(split: str, m: dict[str, Any]) -> str:
    if "r2" in m and "accuracy" not in m:  # a regression hop
        return f"{split}: R² {r2_text(m['r2'])}, RMSE {qty(m.get('rmse'))}, MAE {qty(m.get('mae'))}"
    return f"{split}: acc {pct(m.get('accuracy'))}, F1 {pct(m.get('macro_f1'))}"


def reproduce_section(steps: list[dict[str, Any]]) -> Raw:
    parts = [para("Root first: run these in order, from the folder they were run in, on the same data (same "
                  "fingerprint) with the same package versions; seeds are among the settings.")]
    for step in steps:
        who = "this model" if step["hop"] == 0 else f"ancestor {step['hop']}"
        command = step["command"] or f"# made through the Python API (graft.{step['maker']}); its settings are below"
        parts.append(Raw(f"<h3>{esc(who)}: {esc(step['method'] or '?')}</h3>"))
        parts.append(Raw(f'<pre class="cmd"><code>{esc(command)}</code></pre>'))
        parts.append(para(f"data {step['source'] or '—'} · fingerprint {step['fingerprint'] or '—'}", "muted"))
        parts.append(details("Settings", code(pretty(step["settings"]))))
        if step["versions"]:
            parts.append(details("Package versions", table(["package", "version"], list(step["versions"].items()), narrow=True)))
    return section("reproduce", "Reproduce", parts)


SECTIONS: list[tuple[str, str]] = [("data", "Data"), ("rank", "Ranking"), ("fit", "Fit"), ("training", "Curves"),
                                   ("evaluation", "Confusion"), ("verify", "Verify"), ("adaptation", "Adaptation"),
                                   ("drift", "Drift"), ("lineage", "Lineage"), ("reproduce", "Reproduce")]


def document(title: str, body: Sequence[str], present: Callable[[str], bool], nav_labels: dict[str, str] | None = None) -> str:
    """``nav_labels``: section anchor → its link's text where it differs from ``SECTIONS``'s."""
    labels = nav_labels or {}
    nav = "".join(f'<a href="#{a}">{esc(labels.get(a, t))}</a>' for a, t in SECTIONS if present(a))
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<meta name="generator" content="{GENERATOR}">'
            f"<title>{esc(title)}</title><style>{CSS}</style></head>"
            f'<body><nav>{nav}</nav><main>{"".join(body)}</main>'
            '<footer>Written by graft report: one file, no scripts, nothing loaded from elsewhere.</footer></body></html>\n')


CSS = """
:root{--ink:#1f2937;--muted:#6b7280;--line:#e5e7eb;--bg:#f8fafc;--blue:#2563eb;--good:#15803d;--warn:#b45309;--bad:#b91c1c}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);font:15px/1.55 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif}
nav{position:sticky;top:0;z-index:2;background:#fff;border-bottom:1px solid var(--line);padding:.5rem 1rem;display:flex;flex-wrap:wrap;gap:.25rem 1rem}
nav a{color:var(--muted);text-decoration:none;font-size:.85rem;font-weight:600}
nav a:hover{color:var(--blue)}
main{max-width:1040px;margin:0 auto;padding:1.5rem 1rem 3rem}
header{background:#fff;border:1px solid var(--line);border-radius:12px;padding:1.5rem 1.5rem 1.25rem;margin-bottom:1.25rem}
.kicker{text-transform:uppercase;letter-spacing:.08em;font-size:.72rem;color:var(--blue);font-weight:700}
h1{margin:.2rem 0 .3rem;font-size:1.9rem;word-break:break-word}
.meta{color:var(--ink);font-size:.92rem}
.path{color:var(--muted);font-size:.8rem;font-family:ui-monospace,"DejaVu Sans Mono",monospace;word-break:break-all;margin-top:.2rem}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(150px,1fr));gap:.75rem;margin-top:1.1rem}
.card{border:1px solid var(--line);border-radius:10px;padding:.7rem .85rem;background:#fcfcfd}
.card .label{font-size:.75rem;color:var(--muted);text-transform:uppercase;letter-spacing:.05em}
.card .value{font-size:1.35rem;font-weight:700;margin-top:.1rem}
.card .sub{font-size:.75rem;color:var(--muted)}
.card.good .value{color:var(--good)}.card.warn .value{color:var(--warn)}.card.bad .value{color:var(--bad)}
section{background:#fff;border:1px solid var(--line);border-radius:12px;padding:1.1rem 1.5rem 1.2rem;margin-bottom:1.25rem}
h2{font-size:1.2rem;margin:0 0 .7rem;padding-bottom:.45rem;border-bottom:1px solid var(--line)}
h3{font-size:1rem;margin:1.1rem 0 .4rem}
p{margin:.5rem 0}
.muted{color:var(--muted)}.good-text{color:var(--good)}.bad-text{color:var(--bad);font-weight:600}.warn{color:var(--warn)}
.callout{border-left:4px solid var(--blue);background:#eff6ff;padding:.6rem .9rem;border-radius:0 8px 8px 0}
.callout.good{border-color:var(--good);background:#f0fdf4}.callout.warn{border-color:var(--warn);background:#fffbeb}
.callout.bad{border-color:var(--bad);background:#fef2f2}
.callout ul{margin:.3rem 0 0 1.1rem;padding:0}
.scroll{overflow-x:auto;margin:.6rem 0}
table{border-collapse:collapse;width:100%;font-size:.86rem}
table.narrow{width:auto;min-width:260px}
th{text-align:left;color:var(--muted);font-weight:600;border-bottom:2px solid var(--line);padding:.35rem .6rem;white-space:nowrap}
td{border-bottom:1px solid var(--line);padding:.35rem .6rem;vertical-align:top;word-break:break-word}
tr.hi td{background:#eff6ff;font-weight:600}
tr.skipped td{color:var(--muted)}
tr.bad td:nth-child(3){color:var(--bad);font-weight:600}
figure{margin:.6rem 0}
figcaption{color:var(--muted);font-size:.8rem}
svg.plot{max-width:100%;height:auto;display:block}
.grid2{display:grid;grid-template-columns:repeat(auto-fit,minmax(320px,1fr));gap:1rem;align-items:start}
details{margin:.5rem 0}
summary{cursor:pointer;color:var(--blue);font-weight:600;font-size:.9rem}
pre.cmd{white-space:pre-wrap;word-break:break-all}
pre{background:#0f172a;color:#e2e8f0;padding:.75rem 1rem;border-radius:8px;overflow-x:auto;font-size:.8rem;line-height:1.45}
code{font-family:ui-monospace,"DejaVu Sans Mono",monospace}
ol.chain{list-style:none;padding:0;margin:.8rem 0;position:relative}
ol.chain li{position:relative;margin:0 0 .8rem 1.4rem;padding:.6rem .9rem;border:1px solid var(--line);border-radius:10px;background:#fcfcfd;font-size:.88rem}
ol.chain li::before{content:"";position:absolute;left:-1.05rem;top:1rem;width:.6rem;height:.6rem;border-radius:50%;background:var(--blue)}
ol.chain li:not(:last-child)::after{content:"";position:absolute;left:-.8rem;top:1.6rem;bottom:-1.4rem;border-left:2px solid var(--line)}
ol.chain li.root::before{background:var(--ink)}
.hop-title{font-weight:700}
footer{text-align:center;color:var(--muted);font-size:.78rem;padding:1rem}
"""
