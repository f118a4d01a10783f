"""The model card (README.md) with Hugging Face metadata, generated from config and lineage.

The front matter names the immediate parent with Hugging Face's fields (``base_model``,
``base_model_relation``: finetune | adapter | quantized | merge); the body lists the whole chain to
the root and the licence of every ancestor's weights and every dataset in it, and says plainly when
one of them is non-commercial, no-derivatives or unknown (the model inherits the restriction).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from graft.models.config import ModelConfig


def _yaml_list(key: str, values: list[str]) -> list[str]:
    return [f"{key}:"] + [f"- {v}" for v in values] if values else []


def render_card(config: ModelConfig, lineage: dict[str, Any]) -> str:
    """Markdown card: what the model is, where it came from, how it scored, how to use it."""
    from graft.models.lineage import lineage_chain

    data = lineage.get("dataset", {})
    metrics = lineage.get("metrics", {})
    chain = lineage_chain(lineage) if lineage else None
    lora = config.backbone.lora
    parent = lineage.get("parent") or {}
    front = ["---", "library_name: graft", f"base_model: {_base_model(config, parent)}",
             f"base_model_relation: {'adapter' if lora else parent.get('relation') or 'finetune'}",
             f"license: {_card_licence(config, chain)}", "pipeline_tag: " + _pipeline(config.backbone.modality, config.task)]
    front += _yaml_list("tags", ["graft", "transfer-learning", config.method.split(":")[0]] + (["lora", "peft"] if lora else []))
    tasks = lineage.get("tasks") if isinstance(lineage.get("tasks"), dict) else {}
    sources = [str((t.get("dataset") or {}).get("source")) for t in tasks.values() if isinstance(t, dict) and t.get("dataset")]
    front += _yaml_list("datasets", [_yaml_str(s) for s in sources or [str(data.get("source", "unknown"))]])
    if metrics:
        front += ["model-index:", f"- name: {_base_model(config, parent)}-{config.method.replace(':', '-')}", "  results:",
                  "  - task:", "      type: " + _pipeline(config.backbone.modality, config.task), "    metrics:"]
        for split, values in metrics.items():
            for name in ("accuracy", "macro_f1", "r2", "rmse", "mae"):
                if isinstance(values, dict) and name in values:
                    front += [f"    - type: {name}", f"      value: {values[name]:.4f}", f"      name: {split} {name}"]
    front.append("---")
    body = [
        f"# {_base_model(config, parent)} → {_kind(config)} ({config.method})",
        "",
        f"Made with [graft](https://github.com/graft-ml/graft) by **{config.method}** on top of " + _start(config, parent),
        "",
    ]
    if lora:
        body += [
            f"This folder holds only LoRA adapters (rank {lora.get('r')}, alpha {lora.get('alpha')}, on "
            f"{', '.join(f'`{t}`' for t in lora.get('targets') or []) or 'the attention projections'}) and the head: "
            f"loading rebuilds `{config.backbone.name}` from its own weights (sha256 checked) and adds them.",
            "",
        ]
    body += [
        "## Classes" if config.task != "regression" else "## Target",
        *_class_lines(config),
        "",
        "## Training data",
        f"- source: `{data.get('source', 'unknown')}`",
        f"- fingerprint: `{data.get('fingerprint', '?')}`",
        f"- examples: {data.get('splits', {})}",
        f"- skipped files: {data.get('skipped', 0)}",
        "",
        "## Metrics",
    ]
    if metrics and config.task == "regression":
        body += _regression_metric_lines(metrics)
    elif metrics:
        body += ["| split | accuracy | macro-F1 | n |", "|---|---|---|---|"]
        for split, values in metrics.items():
            if isinstance(values, dict) and "accuracy" in values:
                body.append(f"| {split} | {values['accuracy']:.4f} | {values.get('macro_f1', float('nan')):.4f} | {values.get('n', '')} |")
    else:
        body.append("No held-out metrics recorded.")
    body += _task_metrics(tasks)
    verdict = lineage.get("verdict")
    if verdict:
        body += ["", "## Did transfer help?", f"**{verdict.get('verdict', '?')}** — {verdict.get('summary', '')}"]
    body += ["", *_licence_lines(config, data, chain), "", "## Use",
        "```python",
        "import graft",
        "model = graft.load('PATH_TO_THIS_FOLDER')",
        "model.predict(['input1', 'input2'])",
        "```",
        "or `graft predict PATH_TO_THIS_FOLDER INPUT...`.",
        "",
        "## Lineage",
        f"Created {lineage.get('created', '?')} with graft {lineage.get('versions', {}).get('graft', '?')}; "
        "full record in `lineage.json`, the chain with `graft lineage PATH_TO_THIS_FOLDER`.",
    ]
    body += _chain_lines(chain)
    return "\n".join(front + [""] + body) + "\n"


def _yaml_str(text: str) -> str:
    return text if text.replace("/", "").replace("_", "").replace("-", "").replace(".", "").isalnum() else f'"{text}"'


def _base_model(config: ModelConfig, parent: dict[str, Any]) -> str:
    """The immediate parent as Hugging Face's ``base_model``: a graft model by its folder name (its path
    and content hash are in the body), a hub id, else the backbone's name."""
    if parent.get("kind") == "model" and parent.get("model"):
        return Path(parent["model"]).name
    if parent.get("kind") == "hub" and parent.get("hub_id"):
        return str(parent["hub_id"]).partition(":")[2] or str(parent["hub_id"])
    return config.backbone.name


def _start(config: ModelConfig, parent: dict[str, Any]) -> str:
    """What the model started from, in words."""
    if parent.get("kind") == "model":
        return (f"the graft model `{parent.get('model')}` ({parent.get('method')} on `{parent.get('backbone')}`; "
                f"model.safetensors sha256 `{str(parent.get('model_sha256'))[:16]}…`), whose classes were "
                f"{', '.join(f'`{c}`' for c in (parent.get('classes') or [])[:20])}.")
    return (f"the pretrained backbone `{config.backbone.name}` (weights sha256 "
            f"`{config.backbone.weights_sha256[:16]}…`).")


def _card_licence(config: ModelConfig, chain: dict[str, Any] | None) -> str:
    """The weights' licence id; a non-commercial or no-derivatives licence anywhere in the chain wins
    (the derivative inherits it). An unknown data licence keeps the weights' id: the body says it."""
    for item in (chain or {}).get("restrictions", []):
        if item["restriction"] in ("non-commercial", "no-derivatives"):
            return _licence_id(item["license"])
    return _licence_id(config.backbone.license)


def _licence_lines(config: ModelConfig, data: dict[str, Any], chain: dict[str, Any] | None) -> list[str]:
    """Every licence in the chain, then the restrictions it carries, stated plainly."""
    lines = ["## Licences"]
    if chain is None:
        return lines + [f"- backbone weights: {config.backbone.license}",
                        f"- training data: {data.get('license', 'unknown (user data)')}"]
    for item in chain["licences"]:
        lines.append(f"- {item['what']} ({'root' if item['hop'] == 'root' else 'hop ' + str(item['hop'])}): {item['license']}" + (f" (from {item['from']})" if item.get("from") else ""))
    if chain["restrictions"]:
        kinds = sorted({i["restriction"] for i in chain["restrictions"]})
        lines += ["", f"**Licence restrictions ({', '.join(kinds)})**: {chain['statement']}"]
    else:
        lines += ["", chain["statement"]]
    return lines


def _chain_lines(chain: dict[str, Any] | None) -> list[str]:
    """The chain to the root as a table: this model first."""
    if not chain or not chain["hops"]:
        return []
    lines = ["", "| hop | model | method | relation to parent | data | data licence | test/val accuracy |",
             "|---|---|---|---|---|---|---|"]
    for i, hop in enumerate(chain["hops"]):
        model = "this model" if i == 0 else f"`{hop.get('model')}` ({hop.get('status')})"
        datas = list((hop.get("datasets") or {}).values())
        source = ", ".join(f"`{d.get('source')}`" for d in datas) or "—"
        licence = "; ".join(str(d.get("license")) for d in datas) or "—"
        scores = hop.get("metrics") or {}
        score = next((f"{scores[s]['accuracy']:.4f} ({s})" if "accuracy" in scores[s] else f"R² {scores[s]['r2']:.4f} ({s})"
                      for s in ("test", "val") if isinstance(scores.get(s), dict) and ({"accuracy", "r2"} & set(scores[s]))), "—")
        lines.append(f"| {i} | {model} | {hop.get('method')} | {hop.get('relation') or '—'} | {source} | {licence} | {score} |")
    root = chain["root"]
    lines.append(f"| root | {root.get('kind', '?')}: `{root.get('backbone') or root.get('hub_id')}` | pretrained | — | — | "
                 f"weights: {root.get('license', 'unknown')} | — |")
    return lines


def _kind(config: ModelConfig) -> str:
    if config.task == "regression":
        return f"regression of `{config.classes[0]}`"
    if not config.tasks:
        return f"{len(config.classes)}-class classifier"
    return "multi-task classifier (" + ", ".join(f"{t}: {len(v['classes'])} classes" for t, v in config.tasks.items()) + ")"


def _class_lines(config: ModelConfig) -> list[str]:
    """The classes; for a multi-task model each task's, and how to choose the task (the first is the default)."""
    if config.task == "regression":
        head = config.head
        return [f"A number: `{config.classes[0]}`, predicted by a ridge head (alpha {head.get('alpha')}) on "
                f"standardised targets (mean {head.get('target_mean', 0):.6g}, scale {head.get('target_scale', 1):.6g})."]
    if not config.tasks:
        return [", ".join(f"`{c}`" for c in config.classes)]
    return [f"- task `{t}`{' (default)' if i == 0 else ''}: " + ", ".join(f"`{c}`" for c in v["classes"])
            for i, (t, v) in enumerate(config.tasks.items())] + [
        "", "Choose the task with `model.predict(items, task=NAME)` or `graft predict MODEL INPUT... --task NAME`."]


def _task_metrics(tasks: dict[str, Any]) -> list[str]:
    """Per-task metrics of a multi-task model (lineage ``tasks``)."""
    rows = [(name, split, v) for name, t in tasks.items() if isinstance(t, dict)
            for split, v in (t.get("metrics") or {}).items() if isinstance(v, dict) and "accuracy" in v]
    if not rows:
        return []
    return ["", "### Per task", "| task | split | accuracy | macro-F1 | n |", "|---|---|---|---|---|"] + [
        f"| {name} | {split} | {v['accuracy']:.4f} | {v.get('macro_f1', float('nan')):.4f} | {v.get('n', '')} |"
        for name, split, v in rows]


def _licence_id(text: str) -> str:
    known = {"bsd-3-clause": "bsd-3-clause", "apache-2.0": "apache-2.0", "mit": "mit", "cc-by-nc-sa-4.0": "cc-by-nc-sa-4.0",
             "cc-by-nc-nd-4.0": "cc-by-nc-nd-4.0", "cc-by-nc-4.0": "cc-by-nc-4.0", "cc-by-nc-2.0": "cc-by-nc-2.0",
             "cc-by-sa-4.0": "cc-by-sa-4.0", "cc-by-4.0": "cc-by-4.0"}
    lower = text.lower().replace(" ", "-")
    for key, value in known.items():
        if lower.startswith(key):
            return value
    return "other"


def _regression_metric_lines(metrics: dict[str, Any]) -> list[str]:
    """The metrics table of a regression model: R², RMSE, MAE per split."""
    rows = [(split, v) for split, v in metrics.items() if isinstance(v, dict) and "r2" in v]
    return ["| split | R² | RMSE | MAE | n |", "|---|---|---|---|---|"] + [
        f"| {split} | {v['r2']:.4f} | {v['rmse']:.4g} | {v['mae']:.4g} | {v.get('n', '')} |" for split, v in rows]


def _pipeline(modality: str, task: str = "classification") -> str:
    if task == "regression" and modality == "array":
        return "tabular-regression"
    return {"image": "image-classification", "text": "text-classification",
            "audio": "audio-classification"}.get(modality, "tabular-classification")
