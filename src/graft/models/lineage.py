"""lineage.json: which model this came from, on which data, how, with what software — to the root.

Each record names its **parent**: zoo weights (name + sha256 + licence), a hub id, a weights file, a
local model folder, random initialisation, or another graft model (``model:DIR``) by the content hash
of its weights and config, with that model's whole lineage nested inside (``parent["lineage"]``).
So a model carries its chain back to the root even when its ancestors' folders are gone, and
:func:`lineage_chain` reads it as a list of hops, each with its data (fingerprint, source, licence),
method, settings, metrics and licences.

Licences: the weights licence comes from the root backbone's spec; a dataset's from the built-in
dataset it was made from (``DATASET.json``), else from a ``LICENSE`` file or a "Licence:" line in the
``README.md`` of its folder, else it is ``"unknown (user data)"``. A non-commercial, no-derivatives
or unknown licence anywhere in the chain is a restriction the derivative inherits: the chain says so.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import platform
import re
import sys
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from graft.data.dataset import Dataset
    from graft.models.config import ModelConfig

_PACKAGES = ("graft", "numpy", "scikit-learn", "torch", "torchvision", "timm", "transformers",
             "sentence-transformers", "safetensors")
UNKNOWN_DATA = "unknown (user data)"
_LICENCE_FILES = ("LICENSE", "LICENSE.txt", "LICENSE.md", "LICENCE", "LICENCE.txt", "LICENCE.md", "COPYING")
_README_LICENCE = re.compile(r"^\s*[-*]?\s*\**licen[cs]e\**\s*:\s*(.+?)\s*$", re.IGNORECASE | re.MULTILINE)


def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


# --- licences -------------------------------------------------------------------------------------
def dataset_licence(source: str | Path) -> dict[str, str]:
    """The licence of a dataset read from ``source`` and where it was found.

    A folder made by ``graft datasets make`` (``DATASET.json``) has its built-in dataset's licence;
    otherwise the first line of a ``LICENSE``-like file, or a "Licence: ..." line in ``README.md``, in
    the data's folder or the one above it; otherwise ``"unknown (user data)"``: graft cannot know
    what the owner of a folder of files allows.
    """
    path = Path(str(source)).expanduser()
    if str(source).startswith("<") or not path.exists():
        return {"license": UNKNOWN_DATA, "license_from": "not a path graft can look in"}
    folder = path if path.is_dir() else path.parent
    for place in (folder, folder.parent):
        found = _licence_in(place)
        if found:
            return found
    return {"license": UNKNOWN_DATA, "license_from": f"no DATASET.json, LICENSE or README licence line in {folder}"}


def _licence_in(folder: Path) -> dict[str, str] | None:
    manifest = folder / "DATASET.json"
    if manifest.is_file():
        try:
            info = json.loads(manifest.read_text(encoding="utf-8"))
            return {"license": str(info["license"]), "license_from": f"built-in dataset {info.get('name', '?')} "
                                                                    f"({manifest})"}
        except (OSError, ValueError, KeyError, TypeError):
            pass
    for name in _LICENCE_FILES:
        if (folder / name).is_file():
            first = next((ln.strip() for ln in _read(folder / name).splitlines() if ln.strip()), "")
            return {"license": first[:120] or f"see {folder / name}", "license_from": str(folder / name)}
    readme = folder / "README.md"
    if readme.is_file():
        match = _README_LICENCE.search(_read(readme))
        if match:
            return {"license": match.group(1)[:120], "license_from": str(readme)}
    return None


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")[:20_000]
    except OSError:
        return ""


def licence_restriction(text: str | None) -> str | None:
    """``"non-commercial"``, ``"no-derivatives"``, ``"unknown"`` or None (nothing graft recognises as
    restricting a derivative) for a licence text such as ``"CC-BY-NC-4.0"``."""
    low = (text or "").strip().lower()
    if not low or low.startswith(("unknown", "see ", "as given", "other")) or low == "none":
        return "unknown"
    if re.search(r"(\b|-|_)nc(\b|-|_)|non-?commercial|research[- ](use[- ])?only|not for commercial", low):
        return "non-commercial"
    if re.search(r"(\b|-|_)nd(\b|-|_)|no-?deriv", low):
        return "no-derivatives"
    return None


# --- the record of one model ------------------------------------------------------------------------
def dataset_record(data: "Dataset") -> dict[str, Any]:
    info = data.describe()
    record = {k: info[k] for k in ("source", "modality", "fingerprint", "splits", "skipped")} | {"n_classes": len(data.classes)}
    return record | dataset_licence(data.source)


def parent_record(source: str, config: "ModelConfig") -> dict[str, Any]:
    """What a model's lineage says about the weights it started from (``source``: the backbone name
    it was trained from, e.g. ``"mobilenet_v2"`` or ``"model:models/fm-probe"``)."""
    from graft.backbones.saved_model import is_model_source

    if is_model_source(source):
        return model_parent(source)
    ref = config.backbone
    record: dict[str, Any] = {"backbone": ref.name, "weights_sha256": ref.weights_sha256,
                              "weights_file": ref.weights_file, "license": ref.license}
    return record | _origin(ref.name, ref.weights_sha256, ref.weights_file)


def _origin(name: str, weights_sha256: str, weights_file: str | None) -> dict[str, Any]:
    """The kind of root a backbone name and its weights are, and where they come from."""
    if weights_sha256 == "random" or weights_file == "random":
        return {"kind": "random"}
    if weights_file:
        return {"kind": "file"}
    if _zoo_spec(name) is not None:
        sources = _zoo_spec(name).weights
        return {"kind": "zoo", "weights_source": sources[0].describe() if sources else None}
    prefix, sep, rest = name.partition(":")
    if name == "identity":
        return {"kind": "features"}
    if Path(rest if sep else name).expanduser().exists():
        return {"kind": "folder" if Path(rest if sep else name).expanduser().is_dir() else "file"}
    return {"kind": "hub", "hub_id": name}


def model_parent(source: str) -> dict[str, Any]:
    """The parent record of a model trained from ``model:DIR``: that model by the content hash of its
    weights and config, its method and classes, and its own lineage nested (the chain to the root)."""
    from graft.backbones.saved_model import CONFIG, read_source

    src = read_source(source)
    lineage_file = src.path / "lineage.json"
    try:
        nested = json.loads(lineage_file.read_text(encoding="utf-8")) if lineage_file.is_file() else {}
    except ValueError:
        nested = {}
    return {"kind": "model", "model": str(src.path), "model_sha256": src.model_sha256,
            "config_sha256": hashlib.sha256((src.path / CONFIG).read_bytes()).hexdigest(),
            "method": src.config.get("method"), "backbone": src.root, "weights_sha256": src.identity,
            "license": src.ref.get("license", "unknown"), "classes": src.classes, "lineage": nested}


def relation(settings: dict[str, Any]) -> str:
    """Hugging Face's ``base_model_relation`` of a model to its parent: ``adapter`` for LoRA adapters,
    else ``finetune`` (a probe is a fine-tuned head on frozen features)."""
    train = settings.get("train") if isinstance(settings.get("train"), dict) else {}
    return "adapter" if train.get("lora") else "finetune"


def make_lineage(config: "ModelConfig", data: "Dataset", settings: dict[str, Any], metrics: dict[str, Any],
                 parent: dict[str, Any] | None = None, source: str | None = None, **extra: Any) -> dict[str, Any]:
    """The lineage record of a model trained on ``data`` with ``settings``, starting from ``source``
    (the backbone name it was given; default ``config.backbone.name``), or from ``parent`` as given."""
    parent = dict(parent or parent_record(source or config.backbone.name, config))
    parent.setdefault("relation", relation(settings))
    record = {
        "parent": parent,
        "dataset": dataset_record(data),
        "method": config.method,
        "settings": settings,
        "metrics": metrics,
        "weights_license": config.backbone.license,
        "command": " ".join(sys.argv) if sys.argv and sys.argv[0].endswith("graft") else None,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "versions": package_versions(),
    }
    record.update(extra)
    return record


# --- the chain ----------------------------------------------------------------------------------------
def lineage_chain(model: "str | Path | dict[str, Any]") -> dict[str, Any]:
    """The whole chain of a model folder (or of a lineage dict) to its root, as plain data.

    Returns:
        ``{"model", "hops", "root", "licences", "restrictions", "statement"}``: ``hops`` from this
        model up (each: model folder and whether it is still there unchanged, method, relation to its
        parent, data, settings summary, metrics, licences), ``root`` the weights the chain started
        from, ``licences`` every weights and data licence in the chain, ``restrictions`` the ones a
        derivative inherits (non-commercial, no-derivatives, unknown) stated in ``statement``.
    """
    path, lineage = _lineage_of(model)
    hops: list[dict[str, Any]] = []
    root: dict[str, Any] = {}
    record: dict[str, Any] | None = lineage
    where: dict[str, Any] = {"model": str(path) if path else None, "status": "present" if path else None}
    while record is not None and len(hops) < 100:  # a chain is a tree walk up; 100 hops guards a cycle
        hop, parent = _hop(record, where)
        hops.append(hop)
        record, where = _next(parent)
        if record is None:
            root = _root(parent)
    licences = _licences(hops, root)
    restricted = [item for item in licences if item["restriction"]]
    return {"model": str(path) if path else None, "hops": hops, "root": root, "licences": licences,
            "restrictions": restricted, "statement": statement(restricted)}


def _lineage_of(model: "str | Path | dict[str, Any]") -> tuple[Path | None, dict[str, Any]]:
    from graft.errors import GraftError, UsageError

    if isinstance(model, dict):
        return None, model
    path = Path(model)
    file = path / "lineage.json"
    if not file.is_file():
        raise UsageError(f"{path}: no lineage.json there; pass a model folder written by graft (--out)")
    try:
        return path.absolute(), json.loads(file.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise GraftError(f"{file} is not valid JSON ({exc}); the folder is damaged") from exc


def _hop(record: dict[str, Any], where: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """One hop of the chain and the parent record it names."""
    if "export" in record:  # an exported folder: its record is the source model's, plus the export
        export = record["export"]
        q = export.get("quantization") or {}
        parent = {**(export.get("parent") or {}), "kind": "model", "lineage": {k: v for k, v in record.items() if k != "export"}}
        parent["model"] = parent.get("path")
        int8 = bool(q) and q.get("accepted", False)
        parent.setdefault("relation", "quantized" if int8 else None)
        hop = {**where, "method": "export:onnx" + (f"+int8-{q.get('method')}" if int8 else ""),
               "relation": parent["relation"], "data": None, "metrics": {},
               "settings": {k: q[k] for k in ("method", "top1_agreement", "accuracy_change") if k in q},
               "weights_license": record.get("weights_license") or (export.get("parent") or {}).get("license"),
               "created": None}
        return hop, parent
    parent = dict(record.get("parent") or {})
    data = record.get("dataset") or {}
    hop = {**where, "method": record.get("method"), "relation": parent.get("relation") or "finetune",
           "data": _data_view(data) if data else None,
           "settings": settings_summary(record.get("settings") or {}),
           "metrics": metrics_summary(record.get("metrics") or {}),
           "weights_license": record.get("weights_license") or parent.get("license"),
           "created": record.get("created")}
    hop["datasets"] = _datasets(record)
    return hop, parent


def _datasets(record: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every dataset a model learnt from, by role: the training data (each task's, for a multi-task
    model) and, for domain adaptation, the unlabelled target data it saw."""
    tasks = record.get("tasks") if isinstance(record.get("tasks"), dict) else {}
    out = {f"task {name}": _data_view(t["dataset"]) for name, t in tasks.items() if isinstance(t, dict) and t.get("dataset")}
    if not out and record.get("dataset"):
        out["training"] = _data_view(record["dataset"])
    if isinstance(record.get("source_table"), dict):  # table-to-table transfer: the source rows it learnt from too
        out["source table"] = _data_view(record["source_table"])
    adaptation = record.get("adaptation") if isinstance(record.get("adaptation"), dict) else {}
    if isinstance(adaptation.get("target"), dict) and adaptation["target"].get("source"):
        out["adaptation target (unlabelled)"] = _data_view(adaptation["target"])
    return out


def _data_view(data: dict[str, Any]) -> dict[str, Any]:
    view = {k: data.get(k) for k in ("source", "fingerprint", "splits", "rows", "n_classes", "license", "license_from")
            if k in data}
    if "license" not in data:  # recorded by a graft that did not look for one: look now
        view |= dataset_licence(data.get("source", "<unknown>"))
        view["license_from"] = f"looked up now (not recorded): {view['license_from']}"
    return view


def _next(parent: dict[str, Any]) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """The parent's own record when the parent is a graft model (nested, or read from its folder)."""
    folder = parent.get("model")
    if not folder and parent.get("kind") != "model":
        return None, {}
    status = _status(parent)
    nested = parent.get("lineage")
    if nested is None and status == "present":  # an older record: only the folder's path
        try:
            nested = json.loads((Path(folder) / "lineage.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            nested = None
    if not nested:
        return None, {}
    return nested, {"model": folder, "status": status, "model_sha256": parent.get("model_sha256")}


def _status(parent: dict[str, Any]) -> str:
    """Whether the parent model's folder is still there with the weights the child recorded."""
    folder = parent.get("model")
    if not folder or not (Path(folder) / "model.safetensors").is_file():
        return "missing"
    expected = parent.get("model_sha256")
    if not expected:
        return "present"
    try:
        recorded = (json.loads((Path(folder) / "config.json").read_text(encoding="utf-8")).get("files") or {}).get(
            "model.safetensors")
    except (OSError, ValueError):
        recorded = None
    return "present" if recorded in (None, expected) else "changed"


def _root(parent: dict[str, Any]) -> dict[str, Any]:
    """The weights the chain started from."""
    root = {k: parent.get(k) for k in ("kind", "backbone", "weights_sha256", "weights_file", "weights_source",
                                        "hub_id", "model", "license") if parent.get(k) is not None}
    if "kind" not in root and parent.get("backbone"):  # recorded by an older graft
        root |= _origin(parent["backbone"], str(parent.get("weights_sha256") or ""), parent.get("weights_file"))
    if "license" not in root:
        root["license"] = _zoo_licence(parent.get("backbone"))
    return root


def _zoo_spec(name: str | None) -> Any:
    """The zoo spec of ``name``, or None (a generic source, a saved model, nothing)."""
    from graft.backbones import get_spec, is_registered
    from graft.backbones.saved_model import is_model_source

    return get_spec(name) if name and not is_model_source(name) and is_registered(name) else None


def _zoo_licence(name: str | None) -> str:
    spec = _zoo_spec(name)
    return spec.license if spec is not None else "unknown"


def _licences(hops: list[dict[str, Any]], root: dict[str, Any]) -> list[dict[str, Any]]:
    """Every licence in the chain: the root weights', then each hop's training data (nothing dropped)."""
    what = {"zoo": f"weights of {root.get('backbone')}", "hub": f"weights from {root.get('hub_id')}",
            "file": f"weights file {root.get('weights_file') or root.get('backbone')}", "random": "random initialisation",
            "folder": f"weights in {root.get('backbone')}", "features": "numeric features (no pretrained weights)",
            "model": f"weights of {root.get('backbone')} via graft model {root.get('model')} (whose own lineage is missing)"}
    kind = root.get("kind", "zoo")
    licence = root.get("license") or "unknown"
    if kind in ("random", "features"):
        licence = "none (no pretrained weights)"
    items = [{"what": what.get(kind, f"weights of {root.get('backbone')}"), "license": licence,
              "restriction": None if kind in ("random", "features") else licence_restriction(licence), "hop": "root"}]
    for i, hop in reversed(list(enumerate(hops))):
        own = hop.get("weights_license")
        if own and own != licence and kind not in ("random", "features"):  # a hop that recorded another weights licence
            items.append({"what": f"weights of {hop.get('model') or 'this model'}", "license": own,
                          "restriction": licence_restriction(own), "hop": i})
        for role, data in (hop.get("datasets") or {}).items():
            lic = data.get("license") or UNKNOWN_DATA
            label = f"{'training data' if role == 'training' else role + ' data'} {data.get('source')}"
            items.append({"what": label, "license": lic, "restriction": licence_restriction(lic), "hop": i,
                          "from": data.get("license_from")})
    return items


def statement(restricted: list[dict[str, Any]]) -> str:
    """One plain paragraph on what a derivative inherits (the same licence at several hops said once)."""
    if not restricted:
        return "No non-commercial, no-derivatives or unknown licence in the chain."
    groups: dict[tuple[str, str, str], list[int]] = {}
    for item in restricted:
        groups.setdefault((item["what"], item["license"], item["restriction"]), []).append(item["hop"])
    parts = []
    for (what, licence, kind), hops in groups.items():
        where = f"{what} ({'root' if hops == ['root'] else ('hop ' if len(hops) == 1 else 'hops ') + ', '.join(map(str, sorted(hops)))})"
        if kind == "unknown":
            said = licence if licence.lower().startswith("unknown") else f"unknown: {licence}"
            parts.append(f"{where}: licence {said}; check it before you share or sell this model")
        else:
            parts.append(f"{where}: {kind} licence ({licence}); this model inherits that restriction")
    return " ".join(part[:1].upper() + part[1:] + "." for part in parts)


# --- summaries --------------------------------------------------------------------------------------
_SETTING_KEYS = ("schedule", "epochs", "lr", "lora", "batch_size", "method", "C", "chosen_C", "chosen_keep", "chosen",
                 "best_epoch", "stopped_early", "k_shot", "taps", "features", "seconds")


def settings_summary(settings: dict[str, Any], limit: int = 10) -> dict[str, Any]:
    """The few settings a person reads first (scalars from the top level and one level down)."""
    out: dict[str, Any] = {}
    for key, value in settings.items():
        if isinstance(value, dict) and key not in ("search",):
            out |= {k: _brief(v) for k, v in value.items() if k in _SETTING_KEYS and _short(v) and k not in out}
        elif key in _SETTING_KEYS and _short(value):
            out[key] = _brief(value)
    return dict(list(out.items())[:limit])


def _brief(value: Any) -> Any:
    return len(value) if isinstance(value, list) else value


def _short(value: Any) -> bool:
    return isinstance(value, (int, float, str, bool)) or (isinstance(value, list) and len(value) < 50)


SUMMARY_METRICS = ("accuracy", "macro_f1", "r2", "rmse", "mae", "n")


def metrics_summary(metrics: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Per split: accuracy and macro-F1 (classification) or R², RMSE and MAE (regression), and n."""
    return {split: {k: v[k] for k in SUMMARY_METRICS if k in v}
            for split, v in metrics.items() if isinstance(v, dict) and ("accuracy" in v or "r2" in v)}
