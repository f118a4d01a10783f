"""Classification and regression metrics shared by probe, trainer, evaluate and verify."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np


def classification_metrics(y_true: np.ndarray, proba: np.ndarray, n_classes: int,
                           class_names: Sequence[str] | None = None, detailed: bool = False) -> dict[str, Any]:
    """Accuracy, macro-F1, log loss and n; with ``detailed``, per-class metrics and the confusion matrix.

    Example:
        >>> classification_metrics(np.array([0, 1]), np.array([[0.9, 0.1], [0.2, 0.8]]), 2)["accuracy"]
        1.0
    """
    from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support

    y_true = np.asarray(y_true, dtype=np.int64)
    proba = np.asarray(proba, dtype=np.float64)
    y_pred = proba.argmax(axis=1)
    labels = np.arange(n_classes)
    present = np.unique(y_true)
    out: dict[str, Any] = {
        "n": int(len(y_true)),
        "accuracy": float(np.mean(y_pred == y_true)) if len(y_true) else float("nan"),
        # macro-F1 over the classes present in y_true, so absent classes do not count as zeros
        "macro_f1": float(f1_score(y_true, y_pred, labels=present, average="macro", zero_division=0)) if len(y_true) else float("nan"),
        "log_loss": float(-np.mean(np.log(np.clip(proba[np.arange(len(y_true)), y_true], 1e-12, None)))) if len(y_true) else float("nan"),
    }
    if detailed:
        names = list(class_names) if class_names is not None else [str(i) for i in labels]
        p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
        out["per_class"] = {names[i]: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
                            for i in labels}
        out["confusion_matrix"] = confusion_matrix(y_true, y_pred, labels=labels).tolist()
        out["classes"] = names
    return out


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray, names: Sequence[str] | None = None,
                       detailed: bool = False, largest: int = 10) -> dict[str, Any]:
    """R², RMSE, MAE and n; with ``detailed``, a residual summary (``y_true - y_pred``): quantiles,
    mean, and the ``largest`` residuals by size with the items' ``names``.

    Example:
        >>> regression_metrics(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 4.0]))["mae"]
        0.3333333333333333
    """
    y_true = np.asarray(y_true, dtype=np.float64)
    y_pred = np.asarray(y_pred, dtype=np.float64)
    n = len(y_true)
    if not n:
        return {"n": 0, "r2": float("nan"), "rmse": float("nan"), "mae": float("nan")}
    residual = y_true - y_pred
    total = float(np.sum((y_true - y_true.mean()) ** 2))
    # R² of a constant target is undefined; 0 for a perfect fit of it would hide nothing, NaN says so
    r2 = 1.0 - float(np.sum(residual ** 2)) / total if total > 0 else float("nan")
    out: dict[str, Any] = {"n": int(n), "r2": r2, "rmse": float(np.sqrt(np.mean(residual ** 2))),
                           "mae": float(np.mean(np.abs(residual)))}
    if detailed:
        out["residuals"] = residual_summary(y_true, y_pred, names, largest)
    return out


def residual_summary(y_true: np.ndarray, y_pred: np.ndarray, names: Sequence[str] | None = None,
                     largest: int = 10) -> dict[str, Any]:
    """Quantiles of the residuals (true minus predicted) and the items with the largest ones."""
    residual = np.asarray(y_true, dtype=np.float64) - np.asarray(y_pred, dtype=np.float64)
    levels = (0.0, 0.05, 0.25, 0.5, 0.75, 0.95, 1.0)
    worst = np.argsort(-np.abs(residual), kind="stable")[:largest]
    names = list(names) if names is not None else [str(i) for i in range(len(residual))]
    return {
        "mean": float(residual.mean()),
        "quantiles": {f"{q:g}": float(v) for q, v in zip(levels, np.quantile(residual, levels))},
        "largest": [{"item": names[i], "true": float(y_true[i]), "predicted": float(y_pred[i]),
                     "residual": float(residual[i])} for i in worst],
    }
