"""A saved table-transfer model: config.json (``"format": "graft-table"``) · encoder.json · learners · card · lineage.

The learners are LightGBM text models (``learner-00.txt``) or safetensors files (linear learners);
the column encoder is JSON; config.json records the sha256 of every other file and loading checks
them. Nothing is pickled. Importing ``graft.tabular`` registers the loader, so ``graft.load(DIR)``
and ``graft predict DIR table.csv`` open these folders.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from graft._config import write_json
from graft.errors import GraftError, UsageError
from graft.models.folder import CONFIG, checksums, read_config, read_verified, replaceable, write_folder
from graft.tabular.encode import TableEncoder
from graft.tabular.ensemble import Ensemble
from graft.tabular.learners import SUFFIX, learner_from_bytes

FORMAT = "graft-table"
FORMAT_VERSION = 1
ENCODER, CARD, LINEAGE = "encoder.json", "README.md", "lineage.json"


class _Ref:
    """What callers that read ``model.config.backbone.modality`` see for a table model."""

    modality = "table"
    name = "table"


class TableInfo(dict):
    """config.json as a dict with attribute access for the fields other graft code reads."""

    @property
    def backbone(self) -> _Ref:
        return _Ref()

    @property
    def classes(self) -> list[str]:
        return list(self.get("classes") or [self["label"]])

    @property
    def method(self) -> str:
        return str(self["method"])


class TableModel:
    """A fitted table-transfer model: column encoder + ensemble of learners, with its lineage.

    Example:
        >>> model = graft.load("models/diamonds")                 # doctest: +SKIP
        >>> model.predict("fair_cut.csv")[:2]                      # doctest: +SKIP
        array([2796.1, 3310.4])
    """

    backend = "table"

    def __init__(self, info: dict[str, Any], encoder: TableEncoder, ensemble: Ensemble,
                 lineage: dict[str, Any] | None = None, path: Path | None = None) -> None:
        self.config = TableInfo(info)
        self.encoder = encoder
        self.ensemble = ensemble
        self.lineage = lineage or {}
        self.path = path

    @property
    def task(self) -> str:
        return str(self.config["task"])

    @property
    def is_regression(self) -> bool:
        return self.task == "regression"

    @property
    def classes(self) -> list[str]:
        """Class names (classification) or ``[label]`` (regression)."""
        return self.config.classes

    @property
    def label(self) -> str:
        return str(self.config["label"])

    # --- prediction ------------------------------------------------------------------------
    def _matrix(self, table: Any) -> tuple[np.ndarray, str]:
        from graft.tabular.frames import read_frame

        named = read_frame(table, "input")
        return self.encoder.transform(named.frame, named.name), named.name

    def predict_output(self, table: Any) -> np.ndarray:
        """Raw outputs: values (regression) or class probabilities (classification)."""
        return self.ensemble.predict(self._matrix(table)[0])

    def predict(self, table: Any) -> np.ndarray:
        """Predicted numbers (regression) or class names (classification) for each row of ``table``
        (a CSV / TSV / parquet path or a DataFrame; the label column, if there, is ignored)."""
        out = self.predict_output(table)
        if self.is_regression:
            return out
        return np.asarray(self.classes, dtype=object)[out.argmax(axis=1)]

    def predict_proba(self, table: Any) -> np.ndarray:
        """Class probabilities (rows, classes) of a classification model."""
        if self.is_regression:
            raise UsageError(f"{self.path or 'this model'} predicts numbers ({self.label!r}), not class probabilities; "
                             "use predict")
        return self.predict_output(table)

    def predict_rows(self, inputs: Sequence[Any] | Any) -> list[dict[str, Any]]:
        """``graft.predict`` rows for every row of every table in ``inputs``: ``{"input", "value"}``
        (regression) or ``{"input", "label", "probabilities"}`` (classification)."""
        import pandas as pd

        tables = [inputs] if isinstance(inputs, (str, Path, pd.DataFrame)) else list(inputs)
        if not tables:
            raise UsageError("no inputs given: pass one or more tables (CSV, TSV or parquet) with the model's columns")
        rows: list[dict[str, Any]] = []
        for table in tables:
            X, name = self._matrix(table)
            out = self.ensemble.predict(X)
            for i in range(len(X)):
                where = f"{name}:row {i + 1}"
                if self.is_regression:
                    rows.append({"input": where, "value": float(out[i])})
                else:
                    rows.append({"input": where, "label": self.classes[int(out[i].argmax())],
                                 "probabilities": {c: float(p) for c, p in zip(self.classes, out[i])}})
        return rows

    def evaluate_table(self, table: Any) -> dict[str, Any]:
        """``graft.evaluate`` on a labelled table: R², RMSE, MAE and residuals (regression) or accuracy,
        macro-F1, per-class metrics and the confusion matrix (classification); rows whose class the
        model does not know are counted and left out. A note says when the table is one it trained on."""
        from graft.metrics import classification_metrics, regression_metrics
        from graft.tabular.frames import label_values, read_frame

        named = read_frame(table, "evaluation")
        if self.label not in named.frame.columns:
            raise UsageError(f"{named.name} has no label column {self.label!r} to score against; its columns are: "
                             f"{', '.join(map(str, named.frame.columns))}")
        named.frame = named.frame[named.frame[self.label].notna()].reset_index(drop=True)
        out = self.ensemble.predict(self.encoder.transform(named.frame, named.name))
        y = label_values(named.frame, self.label, self.task, named.name)  # type: ignore[arg-type]
        if self.is_regression:
            names = [f"{named.name}:row {i + 1}" for i in range(len(y))]
            result = regression_metrics(y, out, names, detailed=True) | {"target": self.label}
        else:
            index = {c: i for i, c in enumerate(self.classes)}
            known = np.array([c in index for c in y], dtype=bool)
            if not known.any():
                raise UsageError(f"{named.name}: none of its classes are classes of the model {self.classes}")
            codes = np.array([index[c] for c in y[known]])
            result = classification_metrics(codes, out[known], len(self.classes), self.classes, detailed=True)
            result["unknown_class_items"] = int((~known).sum())
        trained_on = {t.get("fingerprint"): role for role in ("source", "target")
                      if (t := self.lineage.get(f"{role}_table"))}
        if named.fingerprint in trained_on:
            result["note"] = (f"this is the {trained_on[named.fingerprint]} table the model was trained on: these "
                              "scores overstate how it does on new rows")
        return result

    # --- persistence -----------------------------------------------------------------------
    def save(self, directory: str | Path, overwrite: bool = False) -> Path:
        """Write the folder atomically (temp folder, then rename); an earlier model there is replaced
        only with ``overwrite`` (and the user's own files in it are kept)."""
        target = Path(directory)
        write_folder(target, self._write, replaceable(target, overwrite))
        self.path = target
        return target

    def _write(self, folder: Path) -> None:
        from graft.tabular.card import render_table_card

        names = []
        for i, learner in enumerate(self.ensemble.learners):
            name = f"learner-{i:02d}{SUFFIX[learner.kind]}"
            (folder / name).write_bytes(learner.to_bytes())
            names.append(name)
        write_json(folder / ENCODER, self.encoder.to_dict())
        write_json(folder / LINEAGE, self.lineage)
        (folder / CARD).write_text(render_table_card(self.config, self.lineage), encoding="utf-8")
        self.config["ensemble"] = self.ensemble.describe() | {"files": names}
        self.config["files"] = checksums(folder)
        write_json(folder / CONFIG, dict(self.config))

    @classmethod
    def load(cls, directory: str | Path) -> "TableModel":
        """Open a saved folder (JSON + LightGBM text / safetensors; every file's sha256 checked)."""
        path = Path(directory)
        info = read_config(path)
        if info.get("format") != FORMAT:
            raise UsageError(f"{path} is not a graft table model (config.json format {info.get('format')!r})")
        version = info.get("format_version")
        if not isinstance(version, int) or not 1 <= version <= FORMAT_VERSION:
            raise GraftError(f"{path / CONFIG}: format_version {version!r} is not one this graft reads (1..{FORMAT_VERSION}); "
                             "upgrade graft (pip install -U graft)")
        files = info.get("files") or {}
        encoder = TableEncoder.from_dict(json.loads(read_verified(path, ENCODER, files)))
        spec = info["ensemble"]
        learners = [learner_from_bytes(meta["kind"], read_verified(path, name, files), info["task"],
                                       len(info.get("classes") or []), meta)
                    for name, meta in zip(spec["files"], spec["learners"])]
        ensemble = Ensemble(learners, info["task"], len(info.get("classes") or []), weights=list(spec["weights"]),
                            combine=spec["combine"], augment=bool(spec["augment"]))
        lineage = json.loads(read_verified(path, LINEAGE, files)) if (path / LINEAGE).is_file() else {}
        return cls(info, encoder, ensemble, lineage, path)


def load_table_model(path: str | Path) -> TableModel:
    """The loader ``graft.load`` calls for folders whose config.json says ``"format": "graft-table"``."""
    return TableModel.load(path)


def check_target(target: Path, overwrite: bool) -> None:
    """Refuse, before any work, a folder of other files or an earlier model without ``overwrite``."""
    replaceable(target, overwrite)
