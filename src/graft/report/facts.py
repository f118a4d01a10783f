"""What a report shows, read from a saved model (or one about to be saved) and, optionally, its data.

Every function here returns plain dicts and lists (or None when the model holds no such record);
``graft.report.page`` turns them into HTML. Nothing is recomputed that the model already records,
except the confusion matrix, which needs the test split (see :func:`evaluation`).
"""

from __future__ import annotations

import csv
import io
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from graft.data.dataset import Dataset
    from graft.models.saved import SavedModel

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
MAX_SKIPPED_ROWS = 200  # skipped files listed in the page; the count says how many more there are


def model_file(model: "SavedModel", name: str) -> bytes | None:
    """A file of the model: the bytes about to be saved, else the file in its folder, else None."""
    if name in model.extra_files:
        return model.extra_files[name]
    if model.path is not None and (Path(model.path) / name).is_file():
        return (Path(model.path) / name).read_bytes()
    return None


def json_file(model: "SavedModel", name: str) -> Any:
    raw = model_file(model, name)
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        log.warning("%s of %s is not valid JSON; left out of the report", name, model.path)
        return None


def overview(model: "SavedModel") -> dict[str, Any]:
    """Name, method, backbone, classes, creation time, versions and the headline metrics."""
    lineage, ref = model.lineage, model.config.backbone
    metrics = lineage.get("metrics") or {}
    headline = next((metrics[s] for s in ("test", "target_eval", "val") if isinstance(metrics.get(s), dict)), None)
    split = next((s for s in ("test", "target_eval", "val") if isinstance(metrics.get(s), dict)), None)
    return {"name": Path(model.path).name if model.path else "model", "path": str(model.path or ""),
            "method": model.config.method + (" (multi-layer head)" if model.config.head.get("type") == "multilayer" else ""),
            "backbone": ref.name, "license": ref.license, "modality": ref.modality,
            "classes": list(model.classes), "created": lineage.get("created"),
            "tasks": {n: len(t.get("classes") or []) for n, t in (getattr(model.config, "tasks", None) or {}).items()},
            "graft": (lineage.get("versions") or {}).get("graft"), "headline": headline, "headline_split": split,
            "verdict": (lineage.get("verdict") or {}).get("verdict"),
            "drift": ((lineage.get("adaptation") or {}).get("drift") or {}).get("severity")}


def tasks(model: "SavedModel") -> list[list[Any]]:
    """A multi-task model's tasks: name, classes and each split's accuracy / macro-F1 for that task."""
    named = getattr(model.config, "tasks", None) or {}
    recorded = model.lineage.get("tasks") if isinstance(model.lineage.get("tasks"), dict) else {}
    rows = []
    for name, task in named.items():
        record = recorded.get(name) if isinstance(recorded.get(name), dict) else {}
        scores = record.get("metrics") or {}
        source = (record.get("dataset") or {}).get("source")
        rows.append([name, len(task.get("classes") or []), source,
                     *((scores.get(s) or {}).get(k) for s in ("val", "test") for k in ("accuracy", "macro_f1"))])
    return rows


# --- data ------------------------------------------------------------------------------------------


def data_facts(model: "SavedModel", ds: "Dataset | None") -> dict[str, Any]:
    """Source, fingerprint, counts per split (per class when the data is at hand), skipped files."""
    record = model.lineage.get("dataset") or {}
    facts: dict[str, Any] = {"source": record.get("source"), "fingerprint": record.get("fingerprint"),
                             "modality": record.get("modality"), "splits": record.get("splits") or {},
                             "license": record.get("license"), "per_class": None}
    if ds is not None:
        facts["per_class"] = class_counts(ds, model.classes)
        facts["splits"] = {s: int(np.sum(ds.splits == s)) for s in SPLITS if np.any(ds.splits == s)}
    facts["skipped"], facts["n_skipped"] = skipped_files(model, ds, record.get("skipped"))
    return facts


def class_counts(ds: "Dataset", classes: list[str]) -> dict[str, dict[str, int]]:
    """``{class: {split: n}}`` for the model's classes, in the model's order."""
    index = {c: i for i, c in enumerate(ds.classes)}
    out: dict[str, dict[str, int]] = {}
    for name in classes:
        label = index.get(name, -1)
        out[name] = {s: int(np.sum((ds.labels == label) & (ds.splits == s))) for s in SPLITS if np.any(ds.splits == s)}
    return out


def skipped_files(model: "SavedModel", ds: "Dataset | None", recorded: Any) -> tuple[list[tuple[str, str]], int]:
    """Up to ``MAX_SKIPPED_ROWS`` (path, why) rows, and how many files were skipped in all."""
    if ds is not None and ds.skipped:
        rows = [(str(e.path), str(e.reason)) for e in ds.skipped.entries]
    else:
        raw = model_file(model, "skipped.tsv")
        rows = _read_tsv(raw) if raw is not None else []
    total = max(len(rows), int(recorded) if isinstance(recorded, int) else 0)
    return rows[:MAX_SKIPPED_ROWS], total


def _read_tsv(raw: bytes) -> list[tuple[str, str]]:
    reader = csv.reader(io.StringIO(raw.decode("utf-8", "replace")), delimiter="\t", quoting=csv.QUOTE_NONE)
    rows = [r for r in reader if r]
    return [(r[0], r[1] if len(r) > 1 else "") for r in rows[1:]]


# --- ranking, fit, training ------------------------------------------------------------------------


def rank_facts(model: "SavedModel") -> dict[str, Any] | None:
    """Backbone scores the model's lineage records: ``lineage["rank"]`` or fit's backbone pick."""
    lineage = model.lineage
    rank = lineage.get("rank")
    if isinstance(rank, dict) and rank.get("rows"):
        return {"how": rank.get("how", "graft rank"), "score": rank.get("by", "score"),
                "rows": [(r["backbone"], r.get("scores", {}).get(rank.get("by", ""))) for r in rank["rows"]],
                "kept": rank.get("ranking", [])}
    picked = (lineage.get("fit") or json_file(model, "fit.json") or {}).get("backbones") or {}
    scores, screen = picked.get("logme"), picked.get("screen")
    scores = scores if isinstance(scores, dict) else {}
    if not scores and not isinstance(screen, dict):
        return None
    rows = sorted(scores.items(), key=lambda kv: -np.inf if kv[1] is None else -kv[1])
    return {"how": picked.get("how", ""), "score": "LogME", "rows": rows, "kept": list(picked.get("backbones") or []),
            "seconds": picked.get("seconds"), "screen": screen if isinstance(screen, dict) else None}


def fit_facts(model: "SavedModel") -> dict[str, Any] | None:
    """fit.json: every arm (validation ± se, test, seconds, skipped and why), the pick and the rule."""
    report = model.lineage.get("fit") or json_file(model, "fit.json")
    if not isinstance(report, dict) or "candidates" not in report:
        return None
    return report


def history(model: "SavedModel") -> list[dict[str, Any]] | None:
    """Per-epoch records of fine-tuning (history.json), or None for models that were not trained by epochs."""
    rows = json_file(model, "history.json")
    return rows if isinstance(rows, list) and rows else None


# --- evaluation ------------------------------------------------------------------------------------


def evaluation(model: "SavedModel", ds: "Dataset | None", held_out: bool = False) -> dict[str, Any]:
    """Per-class metrics and the confusion matrix on the test split.

    From the lineage when it records them; otherwise computed on ``ds``'s test split (never on
    training or validation items: they would flatter the model), or on all of ``ds`` when it is
    ``held_out`` as a whole (labelled target data adapt never trained on). ``{"missing": why}`` when neither.
    """
    for split in ("test", "target_eval"):
        recorded = (model.lineage.get("metrics") or {}).get(split)
        if isinstance(recorded, dict) and recorded.get("confusion_matrix") and recorded.get("per_class"):
            return recorded | {"split": split, "from": "lineage.json"}
    if ds is None:
        return {"missing": "no labelled test data at hand (the model's recorded data folder is gone or changed, "
                           "or it had no labels): `graft report MODEL --data DIR` draws the confusion matrix "
                           "from DIR's test split"}
    if not ds.has_split("test") and not held_out:
        return {"missing": f"{ds.source} has no test split: the confusion matrix is drawn on test items only "
                           "(training and validation items would flatter the model)"}
    from graft.api import evaluate

    result = evaluate(model, ds)
    where = "the test split of" if ds.has_split("test") else "all items of"
    return result | {"split": "test", "from": f"evaluated on {where} {ds.source}"}


def recorded_data(model: "SavedModel", **read_options: Any) -> "Dataset | None":
    """The model's training data when its recorded folder still holds the same data (same fingerprint)."""
    from graft.drift.readapt import training_data

    try:
        return training_data(model, **read_options)
    except Exception as exc:  # noqa: BLE001  (a report never fails because old data cannot be read)
        log.warning("cannot read the model's recorded data (%s); the report draws nothing from it", exc)
        return None


# --- verify, drift, adaptation --------------------------------------------------------------------


def verdict(model: "SavedModel") -> dict[str, Any] | None:
    v = model.lineage.get("verdict")
    return v if isinstance(v, dict) and "arms" in v else None


def drift(model: "SavedModel") -> dict[str, Any] | None:
    """The drift check that led to this model (``graft drift --adapt``), as recorded in its lineage."""
    found = (model.lineage.get("adaptation") or {}).get("drift") or model.lineage.get("drift")
    return found if isinstance(found, dict) and "severity" in found else None


def adaptation(model: "SavedModel") -> dict[str, Any] | None:
    record = model.lineage.get("adaptation")
    if not isinstance(record, dict):
        return None
    metrics = model.lineage.get("metrics") or {}
    return record | {"target_eval_metrics": metrics.get("target_eval")}


def has_reference(model: "SavedModel") -> bool:
    return bool(model.reference) or model_file(model, "reference.safetensors") is not None


# --- lineage chain and reproduction ---------------------------------------------------------------


def records(model: "SavedModel") -> list[dict[str, Any]]:
    """The lineage records from this model to its root, this model first (each parent graft model's
    record is nested in its child's ``parent["lineage"]``)."""
    out, record = [], model.lineage
    while isinstance(record, dict) and record and len(out) < 100:  # 100 hops guards a hand-made cycle
        out.append(record)
        parent = record.get("parent") if isinstance(record.get("parent"), dict) else {}
        record = parent.get("lineage") or _folder_lineage(parent.get("model"))
    return out


def _folder_lineage(folder: Any) -> dict[str, Any] | None:
    """lineage.json of a parent model recorded by its folder only (re-adaptation), while it is there."""
    path = Path(folder) / "lineage.json" if isinstance(folder, str) and folder else None
    try:
        return json.loads(path.read_text(encoding="utf-8")) if path is not None and path.is_file() else None
    except (OSError, ValueError):
        return None


def chain_view(model: "SavedModel") -> dict[str, Any]:
    """The chain to the root with every licence and the restrictions a derivative inherits:
    :func:`graft.models.lineage.lineage_chain` of the model's lineage (``hops``, ``root``,
    ``licences``, ``restrictions``, ``statement``)."""
    try:
        from graft.models.lineage import lineage_chain
    except ImportError:  # a graft whose lineage records one hop only
        return _one_hop(model)
    view = lineage_chain(model.lineage)
    if view["hops"] and model.path is not None:
        view["hops"][0]["model"] = str(model.path)
    return view


def reproduce(model: "SavedModel") -> list[dict[str, Any]]:
    """Per hop, root first: the command that made it (None: the Python API), its settings, the data
    fingerprint and the package versions."""
    steps = []
    for depth, record in reversed(list(enumerate(records(model)))):
        data = record.get("dataset") if isinstance(record.get("dataset"), dict) else {}
        steps.append({"hop": depth, "method": record.get("method"), "maker": _maker(record),
                      "command": _portable(record.get("command")),
                      "settings": record.get("settings") or {}, "source": data.get("source"),
                      "fingerprint": data.get("fingerprint"), "versions": record.get("versions") or {}})
    return steps


def _maker(record: dict[str, Any]) -> str:
    """The API function that made a hop, from what its record holds."""
    method = str(record.get("method") or "?")
    if "verdict" in record:
        return "verify_transfer"
    if "fit" in record:
        return "fit"
    if (record.get("adaptation") or {}).get("kind") == "re-adaptation after drift":
        return "readapt"
    return method.split(":")[0]


def _portable(command: Any) -> str | None:
    """The recorded command with the graft executable's own path cut to ``graft``."""
    if not isinstance(command, str) or not command.strip():
        return None
    head, _, rest = command.partition(" ")
    return ("graft " + rest) if head.endswith("/graft") else command


def _one_hop(model: "SavedModel") -> dict[str, Any]:
    record, ref = model.lineage, model.config.backbone
    parent = record.get("parent") if isinstance(record.get("parent"), dict) else {}
    metrics = {k: v for k, v in (record.get("metrics") or {}).items() if isinstance(v, dict) and ("accuracy" in v or "r2" in v)}
    hop = {"model": str(model.path) if model.path else None, "method": record.get("method"), "relation": "finetune",
           "data": record.get("dataset"), "metrics": metrics, "settings": {}, "weights_license": ref.license,
           "created": record.get("created")}
    root = {"kind": "zoo", "backbone": parent.get("backbone"), "weights_sha256": parent.get("weights_sha256"),
            "license": ref.license}
    licences = [{"what": f"weights of {root['backbone']}", "license": ref.license, "restriction": None, "hop": 1}]
    return {"hops": [hop], "root": root, "licences": licences, "restrictions": [],
            "statement": "This graft records one hop; its data licence is not recorded."}
