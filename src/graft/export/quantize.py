"""int8 by onnxruntime: dynamic quantisation (weights int8, activations quantised on the fly; the
choice for transformers) or static QDQ with calibration on training data (the choice for CNNs),
then judged on the data's test split against the fp32 graph."""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator, Literal, Sequence

import numpy as np

from graft.errors import GraftError

log = logging.getLogger(__name__)

Method = Literal["dynamic", "static"]
MIN_AGREEMENT = 0.99


def quantize(fp32: Path, out: Path, method: Method, calibration: Callable[[], Iterator[dict[str, np.ndarray]]] | None = None) -> None:
    """Write the int8 graph of ``fp32`` to ``out``. ``calibration`` yields input batches (static only)."""
    from onnxruntime import quantization as q

    try:
        if method == "dynamic":
            q.quantize_dynamic(str(fp32), str(out), weight_type=q.QuantType.QInt8)
            return
        if calibration is None:
            raise GraftError("static quantisation needs calibration data (the model's training data or --data)")
        with tempfile.TemporaryDirectory(prefix="graft-quant-") as tmp:
            prepared = _preprocessed(fp32, Path(tmp) / "prepared.onnx")
            # u8 activations and s8 per-channel weights: onnxruntime's recommended CPU setting
            q.quantize_static(str(prepared), str(out), _Reader(calibration()), quant_format=q.QuantFormat.QDQ,
                              activation_type=q.QuantType.QUInt8, weight_type=q.QuantType.QInt8, per_channel=True,
                              calibrate_method=q.CalibrationMethod.MinMax)
    except GraftError:
        raise
    except Exception as exc:  # the quantiser raises many types on graphs it cannot handle
        raise GraftError(f"int8 {method} quantisation failed ({type(exc).__name__}: {exc}); "
                         "export without --quantize, or try the other method") from exc


def _preprocessed(fp32: Path, out: Path) -> Path:
    """onnxruntime's recommended pre-pass (shape inference, graph optimisation) before static
    quantisation; the original graph when the pre-pass cannot handle it."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    try:
        quant_pre_process(str(fp32), str(out), skip_symbolic_shape=False)
        return out
    except Exception as exc:  # optional step: fall back to the graph as exported
        log.info("quantisation pre-pass skipped (%s: %s)", type(exc).__name__, exc)
        shutil.copyfile(fp32, out)
        return out


class _Reader:
    """onnxruntime's CalibrationDataReader protocol over an iterator of input batches."""

    def __init__(self, batches: Iterator[dict[str, np.ndarray]]) -> None:
        self._batches = batches

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._batches, None)

    def rewind(self) -> None:  # called by newer onnxruntime versions; one pass is enough for MinMax
        pass


def judge(fp32_proba: np.ndarray, int8_proba: np.ndarray, labels: np.ndarray | None) -> dict[str, Any]:
    """Top-1 agreement of int8 with fp32, and the accuracy of each where labels are known."""
    a, b = fp32_proba.argmax(axis=1), int8_proba.argmax(axis=1)
    result: dict[str, Any] = {"n": int(len(a)), "top1_agreement": float((a == b).mean()) if len(a) else float("nan"),
                              "max_probability_difference": float(np.abs(fp32_proba - int8_proba).max()) if len(a) else 0.0}
    if labels is not None and len(labels) and (labels >= 0).all():
        result["fp32_accuracy"] = float((a == labels).mean())
        result["int8_accuracy"] = float((b == labels).mean())
        result["accuracy_change"] = result["int8_accuracy"] - result["fp32_accuracy"]
    return result


def batches(preprocess: Callable[[Sequence[Any]], dict[str, np.ndarray]], items: Sequence[Any], size: int = 16) -> Iterator[dict[str, np.ndarray]]:
    for start in range(0, len(items), size):
        yield preprocess(items[start: start + size])
