"""The README.md card of a table-transfer model: what it predicts, from which tables, how it was chosen."""

from __future__ import annotations

from typing import Any

from graft.models.lineage import licence_restriction, statement


def render_table_card(config: dict[str, Any], lineage: dict[str, Any]) -> str:
    """Markdown with Hugging Face front matter, the method table, the verdict and every table's licence."""
    task = config["task"]
    tables = [(role, lineage.get(f"{role}_table")) for role in ("source", "target", "unlabelled")]
    tables = [(role, t) for role, t in tables if t]
    licences = [{"what": f"{role} table {t.get('source')}", "license": t.get("license", "unknown (user data)"),
                 "restriction": licence_restriction(t.get("license")), "hop": 0} for role, t in tables]
    restricted = [item for item in licences if item["restriction"]]
    metric = "r2" if task == "regression" else "accuracy"
    chosen = next((r for r in lineage.get("candidates", []) if r.get("method") == config["method"]), {})
    front = ["---", "library_name: graft", f"pipeline_tag: tabular-{task}",
             f"license: {_licence_id(restricted, licences)}", "tags:", "- graft", "- transfer-learning", "- tabular",
             f"- {config['method']}", "datasets:"] + [f"- \"{t.get('source')}\"" for _, t in tables]
    if chosen.get("score") is not None:
        front += ["model-index:", f"- name: {config['method']}", "  results:", f"  - task:", f"      type: tabular-{task}",
                  "    metrics:", f"    - type: {metric}", f"      value: {chosen['score']:.4f}",
                  f"      name: target out-of-fold {metric}"]
    front.append("---")
    what = f"the number `{config['label']}`" if task == "regression" else \
        f"`{config['label']}` ({', '.join(f'`{c}`' for c in config.get('classes', [])[:20])})"
    body = [f"# {config['label']}: table-to-table transfer ({config['method']})", "",
            f"Made with [graft](https://github.com/graft-ml/graft) `transfer-table`: predicts {what} from "
            f"{len(config.get('columns', []))} columns, learnt from a source table and a target table "
            f"with the {config['learner']['kind']} learner.", "",
            f"**Why this method**: {lineage.get('reason', '?')}", ""]
    verdict = lineage.get("verdict") or {}
    if verdict:
        body += ["## Did the source help?", f"**{verdict.get('verdict')}** — {verdict.get('summary', '')}", ""]
        if lineage.get("kept_target_only"):
            body += ["The source hurt, so this folder holds the **target-only** model.", ""]
    body += _method_table(lineage.get("candidates", []), metric)
    body += ["## Data", "| role | table | rows | fingerprint (sha256 of the content) | licence |", "|---|---|---|---|---|"]
    body += [f"| {role} | `{t.get('source')}` | {t.get('rows')} | `{str(t.get('fingerprint'))[:16]}…` | "
             f"{t.get('license', 'unknown (user data)')} |" for role, t in tables]
    body += ["", f"Columns: {', '.join(f'`{c}`' for c in config.get('columns', []))}; categorical ones are encoded "
             "inside the model (categories seen in training; an unseen one counts as missing).", "",
             "## Licences", statement(restricted), "", "## Use", "```python", "import graft",
             "model = graft.load('PATH_TO_THIS_FOLDER')", "model.predict('new_rows.csv')  # or a pandas DataFrame", "```",
             "or `graft predict PATH_TO_THIS_FOLDER new_rows.csv --out predictions.csv`.", "",
             f"Created {lineage.get('created', '?')} with graft {lineage.get('versions', {}).get('graft', '?')}; "
             "full record in `lineage.json`."]
    return "\n".join(front + [""] + body) + "\n"


def _method_table(rows: list[dict[str, Any]], metric: str) -> list[str]:
    if not rows:
        return []
    lines = [f"## Methods (target {metric}, out-of-fold over the labelled target rows, with its 95% interval)",
             f"| method | {metric} | 95% interval | seconds per fit |", "|---|---|---|---|"]
    for r in rows:
        if r.get("score") is None:
            lines.append(f"| {r['method']} | failed: {r.get('error') or 'not run'} | | |")
        else:
            lines.append(f"| {r['method']} | {r['score']:.4f} | {r['low']:.4f} – {r['high']:.4f} | {r['seconds']:.2f} |")
    return lines + [""]


def _licence_id(restricted: list[dict[str, Any]], licences: list[dict[str, Any]]) -> str:
    for item in restricted:
        if item["restriction"] in ("non-commercial", "no-derivatives"):
            return "other"
    from graft.models.card import _licence_id as hub_id  # the Hugging Face licence ids graft knows

    ids = {hub_id(str(item["license"])) for item in licences}
    return ids.pop() if len(ids) == 1 else "other"
