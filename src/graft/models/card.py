"""The model card (README.md) with Hugging Face metadata, generated from config and lineage."""

from __future__ import annotations

from typing import Any

from graft.models.config import ModelConfig


def _yaml_list(key: str, values: list[str]) -> list[str]:
    return [f"{key}:"] + [f"- {v}" for v in values] if values else []


def render_card(config: ModelConfig, lineage: dict[str, Any]) -> str:
    """Markdown card: what the model is, where it came from, how it scored, how to use it."""
    data = lineage.get("dataset", {})
    metrics = lineage.get("metrics", {})
    front = ["---", "library_name: graft", f"base_model: {config.backbone.name}",
             f"license: {_licence_id(config.backbone.license)}", "pipeline_tag: " + _pipeline(config.backbone.modality)]
    lora = config.backbone.lora
    front += _yaml_list("tags", ["graft", "transfer-learning", config.method.split(":")[0]] + (["lora", "peft"] if lora else []))
    front += _yaml_list("datasets", [str(data.get("source", "unknown"))])
    if metrics:
        front += ["model-index:", f"- name: {config.backbone.name}-{config.method.replace(':', '-')}", "  results:",
                  "  - task:", "      type: " + _pipeline(config.backbone.modality), "    metrics:"]
        for split, values in metrics.items():
            for name in ("accuracy", "macro_f1"):
                if isinstance(values, dict) and name in values:
                    front += [f"    - type: {name}", f"      value: {values[name]:.4f}", f"      name: {split} {name}"]
    front.append("---")
    body = [
        f"# {config.backbone.name} → {len(config.classes)}-class classifier ({config.method})",
        "",
        f"Made with [graft](https://github.com/graft-ml/graft) by **{config.method}** on top of the pretrained "
        f"backbone `{config.backbone.name}` (weights sha256 `{config.backbone.weights_sha256[:16]}…`).",
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
        "## Classes",
        ", ".join(f"`{c}`" for c in config.classes),
        "",
        "## Training data",
        f"- source: `{data.get('source', 'unknown')}`",
        f"- fingerprint: `{data.get('fingerprint', '?')}`",
        f"- examples: {data.get('splits', {})}",
        f"- skipped files: {data.get('skipped', 0)}",
        "",
        "## Metrics",
    ]
    if metrics:
        body += ["| split | accuracy | macro-F1 | n |", "|---|---|---|---|"]
        for split, values in metrics.items():
            if isinstance(values, dict) and "accuracy" in values:
                body.append(f"| {split} | {values['accuracy']:.4f} | {values.get('macro_f1', float('nan')):.4f} | {values.get('n', '')} |")
    else:
        body.append("No held-out metrics recorded.")
    verdict = lineage.get("verdict")
    if verdict:
        body += ["", "## Did transfer help?", f"**{verdict.get('verdict', '?')}** — {verdict.get('summary', '')}"]
    body += [
        "",
        "## Licences",
        f"- backbone weights: {config.backbone.license}",
        f"- training data: {data.get('license', 'as given by the data owner')}",
        "",
        "## Use",
        "```python",
        "import graft",
        "model = graft.load('PATH_TO_THIS_FOLDER')",
        "model.predict(['input1', 'input2'])",
        "```",
        "or `graft predict PATH_TO_THIS_FOLDER INPUT...`.",
        "",
        "## Lineage",
        f"Created {lineage.get('created', '?')} with graft {lineage.get('versions', {}).get('graft', '?')}; "
        "full record in `lineage.json`.",
    ]
    return "\n".join(front + [""] + body) + "\n"


def _licence_id(text: str) -> str:
    known = {"bsd-3-clause": "bsd-3-clause", "apache-2.0": "apache-2.0", "mit": "mit"}
    lower = text.lower()
    for key, value in known.items():
        if lower.startswith(key):
            return value
    return "other"


def _pipeline(modality: str) -> str:
    return {"image": "image-classification", "text": "text-classification",
            "audio": "audio-classification"}.get(modality, "tabular-classification")
