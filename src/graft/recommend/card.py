"""README.md of a recommender folder: what it is, which text backbone and ratings, how it scored, licences."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from graft.models.card import _licence_id, _yaml_list, _yaml_str
from graft.models.lineage import licence_restriction

if TYPE_CHECKING:
    from graft.recommend.model import Recommender


def render_card(model: "Recommender") -> str:
    """Markdown card with Hugging Face front matter, generated from the model's config and lineage."""
    lineage, config = model.lineage, model.config
    data = lineage.get("dataset") or {}
    backbone = config.get("backbone") or {}
    licences = [("text backbone weights", backbone.get("license")) if backbone else None,
                ("ratings data", data.get("license"))]
    licences = [item for item in licences if item]
    restricted = [(what, text) for what, text in licences if licence_restriction(text)]
    strict = next((text for _, text in restricted if licence_restriction(text) != "unknown"), None)
    front = ["---", "library_name: graft", f"base_model: {backbone.get('name') or 'none'}",
             f"license: {_licence_id(strict or backbone.get('license') or 'other')}",
             *_yaml_list("tags", ["graft", "recommender", "cold-start", "matrix-factorization"]),
             *_yaml_list("datasets", [_yaml_str(str(data.get("source", "unknown")))]), "---"]
    return "\n".join(front + [""] + _body(model, data, backbone, licences, restricted)) + "\n"


def _body(model: "Recommender", data: dict[str, Any], backbone: dict[str, Any], licences: list[tuple[str, Any]],
          restricted: list[tuple[str, Any]]) -> list[str]:
    metrics = model.lineage.get("metrics") or {}
    mapping = metrics.get("mapping") or {}
    c = model.catalogue
    lines = [f"# Recommender: {data.get('source', '?')} ({model.config.get('method')})", "",
             "Biased matrix factorisation on the warm items' ratings; each cold item (no or too few ratings) "
             "gets factors and a bias from its text and genres through a ridge map learnt on the warm items.", "",
             "## Parts",
             f"- users: {len(c.users)}, items: {len(c.items)} ({int(c.cold.sum())} cold)",
             f"- text backbone: `{backbone.get('name')}` (weights sha256 `{str(backbone.get('weights_sha256'))[:16]}…`)"
             if backbone else "- text backbone: none (the cold-item map reads no text)",
             f"- mapping input: {(model.mapping.features if model.mapping else 'none (no item table)')}; "
             f"ridge alpha {mapping.get('alpha', '—')}",
             "", "## Training data",
             f"- source: `{data.get('source', 'unknown')}`", f"- fingerprint: `{data.get('fingerprint', '?')}`",
             f"- sizes: {data.get('splits', {})}", "", "## Metrics",
             f"- validation RMSE (held-out ratings, early stopping): {_num(metrics.get('val', {}).get('rmse'))} "
             f"(best epoch {metrics.get('best_epoch', '?')})"]
    for row in mapping.get("search") or []:
        lines.append(f"- cold-item map, alpha {row['alpha']:g}: RMSE on held-out warm items' ratings {_num(row['heldout_rmse'])}")
    lines += ["", "## Licences", *[f"- {what}: {text}" for what, text in licences], ""]
    if restricted:
        lines.append("**Restrictions**: " + "; ".join(f"{what} is {licence_restriction(text)} ({text})"
                                                      for what, text in restricted)
                     + ". This folder holds which items each user rated and the item titles, taken from that data: "
                       "its terms apply to the folder too (do not redistribute it where they forbid it).")
    else:
        lines.append("No licence restriction recognised; the folder holds which items each user rated and the titles.")
    lines += ["", "## Use", "```python", "import graft", "model = graft.load('PATH_TO_THIS_FOLDER')",
              "model.recommend('USER_ID', n=10)          # top items, cold ones included",
              "model.predict(['USER_ID'], ['ITEM_ID'])   # predicted ratings", "```",
              "or `graft recommend top PATH_TO_THIS_FOLDER --user USER_ID`; new items without retraining: "
              "`graft recommend add-items PATH_TO_THIS_FOLDER items.csv`.", "",
              f"Created {model.lineage.get('created', '?')} with graft "
              f"{(model.lineage.get('versions') or {}).get('graft', '?')}; full record in `lineage.json`."]
    return lines


def _num(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else "—"
