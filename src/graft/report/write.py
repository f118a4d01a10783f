"""``graft.report``: render a model's report and write it, atomically, where the overwrite rules allow.

Where it goes: ``report.html`` inside the model folder by default. There it is one of the model's
files: config.json lists its sha256 like every file graft saved, so replacing the model
(``--overwrite``) replaces the report too instead of refusing it as a user's file. ``fit``,
``verify``, ``adapt`` and ``drift --adapt`` render it before saving and hand it to the save
(``extra_files``), so it arrives with the model in the same rename.

When an existing file is replaced: the model's own report (``MODEL/report.html`` listed in its
config.json with the same sha256, i.e. written by graft and unchanged since) is a view of the model
and is rewritten freely. Anything else — a report the user edited, a file at ``--out`` elsewhere —
needs ``overwrite`` (``--overwrite``), as every graft output.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from graft.errors import GraftError, UsageError

if TYPE_CHECKING:
    from graft.data.dataset import Dataset
    from graft.models.saved import SavedModel

log = logging.getLogger(__name__)

REPORT = "report.html"


def report(model_dir: str | Path, out: str | Path | None = None, *, data: "str | Path | Dataset | None" = None,
           overwrite: bool = False, **read_options: Any) -> Path:
    """Write the model's report, one self-contained HTML file, and return its path.

    Args:
        model_dir: a saved graft model folder.
        out: where to write it; default ``model_dir/report.html`` (then listed among the model's files).
        data: the dataset to draw the confusion matrix and class counts from (its test split); for a
            regression model, the predicted-vs-true scatter and the residuals (a table's label column
            defaults to the one named after the target). By default, the model's recorded training
            data when that folder (or file) still holds the same data (same fingerprint); without
            either, the report says what is missing.
        overwrite: replace an existing file at ``out`` (not needed for the model's own, unchanged report).

    Example:
        >>> graft.report("models/pets")                        # doctest: +SKIP
        PosixPath('models/pets/report.html')
    """
    from graft._config import atomic_write_bytes
    from graft.api import as_dataset, load
    from graft.models.saved import SavedModel, only_saved_models

    model_dir = Path(model_dir)
    only_saved_models(model_dir, "graft report")
    model = load(model_dir)
    if not isinstance(model, SavedModel):
        raise UsageError(f"{model_dir} is not a graft model folder; report on the graft model it came from")
    target = Path(out) if out is not None else model_dir / REPORT
    own = _is_own_report(target, model_dir)
    check_report_target(target, model_dir, overwrite)
    if getattr(model, "is_regression", False):  # a table's label is read as the model's numeric target
        from graft.report.regression import read_options as regression_options

        read_options = regression_options(model, read_options)
    ds = as_dataset(data, **read_options) if data is not None else _recorded_data(model)
    page = render(model, ds)
    atomic_write_bytes(target, page.encode("utf-8"))
    if own:
        _list_in_config(model_dir, page.encode("utf-8"))
    return target


def render(model: "SavedModel", data: "Dataset | None" = None, name: str | None = None,
           eval_data: "Dataset | None | str" = "data") -> str:
    """The report of ``model`` as an HTML string.

    ``name``: the folder the model is about to be saved to (its own ``path`` is used otherwise).
    ``data``: the model's training data (class counts, skipped files; its test split for the
    confusion matrix). ``eval_data``: other labelled data to draw the confusion matrix from
    instead, every item held out (adapt's labelled target data); None for none.
    """
    from graft.report import facts as F
    from graft.report import page as P

    info = F.overview(model)
    if name:  # a model about to be saved: where it is going
        info["name"], info["path"] = Path(name).name, name
    if getattr(model, "is_regression", False):
        return _render_regression(model, data, info)
    adaptation = F.adaptation(model)
    held_out = not isinstance(eval_data, str)
    evaluation = _evaluation(model, data if not held_out else eval_data, held_out)  # type: ignore[arg-type]
    body = [P.header(info), P.data_section(F.data_facts(model, data), F.tasks(model)), P.rank_section(F.rank_facts(model)),
            P.fit_section(F.fit_facts(model)),
            P.training_section(F.history(model), model.lineage.get("settings") or {}),
            P.evaluation_section(evaluation), P.verify_section(F.verdict(model)),
            P.adaptation_section(adaptation), P.drift_section(F.drift(model), F.has_reference(model)),
            P.chain_section(F.chain_view(model)), P.reproduce_section(F.reproduce(model))]
    return P.document(f"{info['name']} · graft report", body, lambda a: a != "adaptation" or adaptation is not None)


def _render_regression(model: "SavedModel", data: "Dataset | None", info: dict[str, Any]) -> str:
    """The page of a regression model: the classifier's sections where they apply, the target,
    R² / RMSE / MAE, predictions vs truth and the residuals where classes and accuracy would be."""
    from graft.report import facts as F
    from graft.report import page as P
    from graft.report import regression as R

    info = R.overview(model, info)
    d = R.data_facts(model, data)
    evaluation = _evaluation(model, data, False, R.evaluation)
    rank = F.rank_facts(model)
    body = [P.header(info), P.data_section(d, instead_of_classes=R.target_block(d["target"], R.target_name(model), d["notes"])),
            P.rank_section(rank) if rank else R.rank_section(info["modality"]), R.fit_section(R.fit_facts(model)),
            P.training_section(F.history(model), model.lineage.get("settings") or {}),
            R.evaluation_section(evaluation, R.target_name(model)), R.verify_section(F.verdict(model)),
            R.drift_section(F.drift(model)),
            P.chain_section(F.chain_view(model)), P.reproduce_section(F.reproduce(model))]
    return P.document(f"{info['name']} · graft report", body, lambda a: a != "adaptation", R.NAV)


def attach(model: "SavedModel", data: "Dataset | None", out: str | Path, eval_data: "Dataset | None | str" = "data") -> None:
    """Render the report of a model about to be saved at ``out`` into its files (``report.html``).

    A report that cannot be rendered is logged and left out: the model, the result of a long run,
    is saved either way.
    """
    try:
        model.extra_files[REPORT] = render(model, data, name=str(out), eval_data=eval_data).encode("utf-8")
    except Exception as exc:  # noqa: BLE001  (see the docstring)
        log.warning("the report could not be written (%s: %s); the model is saved without it; "
                    "run `graft report %s` to retry", type(exc).__name__, exc, out)


def report_path(model_dir: str | Path) -> Path | None:
    """``model_dir/report.html`` when the saved model has one."""
    path = Path(model_dir) / REPORT
    return path if path.is_file() else None


def check_report_target(target: Path, model_dir: Path, overwrite: bool) -> None:
    """Refuse (UsageError) to replace a file the report did not write, unless ``overwrite``."""
    from graft._files import OVERWRITE_HINT, check_new_output

    if target.is_dir():
        raise UsageError(f"{target} is a folder; give a file path for the report, e.g. {target / REPORT}")
    if _is_own_report(target, model_dir) and target.is_file() and not overwrite:
        if _recorded_sha(model_dir) == hashlib.sha256(target.read_bytes()).hexdigest():
            return
        raise UsageError(f"{target} was changed since graft wrote it (or graft did not write it); {OVERWRITE_HINT}")
    check_new_output(target, overwrite)


def _is_own_report(target: Path, model_dir: Path) -> bool:
    return target.name == REPORT and target.parent.resolve() == model_dir.resolve()


def _recorded_sha(model_dir: Path) -> str | None:
    from graft.models.saved import CONFIG

    try:
        files = json.loads((model_dir / CONFIG).read_text(encoding="utf-8")).get("files") or {}
    except (OSError, ValueError, AttributeError):
        return None
    return files.get(REPORT) if isinstance(files, dict) else None


def _list_in_config(model_dir: Path, data: bytes) -> None:
    """Record the report's sha256 in config.json's file list (so replacing the model replaces it)."""
    from graft._config import write_json
    from graft.models.saved import CONFIG

    raw = json.loads((model_dir / CONFIG).read_text(encoding="utf-8"))
    if not raw.get("files"):  # saved before checksums: listing one file would make the others look foreign
        return
    raw["files"] = dict(sorted({**(raw.get("files") or {}), REPORT: hashlib.sha256(data).hexdigest()}.items()))
    write_json(model_dir / CONFIG, raw)


def _recorded_data(model: "SavedModel") -> "Dataset | None":
    if getattr(model, "is_regression", False):
        from graft.report.regression import recorded_data as recorded_regression

        return recorded_regression(model)
    from graft.report.facts import recorded_data

    return recorded_data(model)


def _evaluation(model: "SavedModel", data: "Dataset | None", held_out: bool, how: Any = None) -> dict[str, Any]:
    from graft.report.facts import evaluation

    try:
        return (how or evaluation)(model, data, held_out)
    except GraftError as exc:  # data of another modality, no class in common, ...: said in the page
        return {"missing": f"could not evaluate on {getattr(data, 'source', 'the data')}: {exc}"}
