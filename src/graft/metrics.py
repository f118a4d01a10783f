"""Classification metrics shared by probe, trainer, evaluate and verify."""

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
