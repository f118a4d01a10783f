"""One ONNX graph from model input to class probabilities: backbone (with its trained weights) +
head (standardisation, linear, softmax), traced as one torch module with a dynamic batch axis."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from graft.errors import GraftError

if TYPE_CHECKING:
    import torch

    from graft.backbones.base import Backbone
    from graft.heads.linear import LinearHead

log = logging.getLogger(__name__)

OPSET = 17
OUTPUT = "probabilities"
# Inputs that are one tensor get a name by modality; dict inputs keep the backbone's own keys.
_TENSOR_INPUT = {"image": "pixel_values", "audio": "input_values", "array": "features"}
# Token inputs: batch and sequence length both vary.
_SEQUENCE_INPUTS = {"input_ids", "attention_mask", "token_type_ids", "ids", "mask"}


def classifier_module(backbone: "Backbone | None", head: "LinearHead", input_names: list[str]) -> "torch.nn.Module":
    """``softmax(((backbone(x) - mean) / scale) @ W.T + b)`` as one module taking ``input_names`` in order."""
    import torch
    from torch import nn

    class Classifier(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.backbone = backbone
            for name, value in (("mean", head.mean), ("scale", head.scale), ("weight", head.weight), ("bias", head.bias)):
                self.register_buffer(name, torch.as_tensor(np.asarray(value, dtype=np.float32)))

        def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
            if self.backbone is None:
                features = inputs[0]
            elif len(input_names) == 1 and input_names[0] in _TENSOR_INPUT.values():
                features = self.backbone.forward_features(inputs[0])
            else:
                features = self.backbone.forward_features(dict(zip(input_names, inputs)))
            logits = ((features - self.mean) / self.scale) @ self.weight.T + self.bias
            return torch.softmax(logits, dim=-1)

    return Classifier().eval()


def multilayer_module(backbone: "Backbone", head: "LinearHead", selection: dict[str, Any],
                      input_names: list[str]) -> "torch.nn.Module":
    """A multi-layer probe as one module: forward hooks on the selected taps, each tap pooled as the
    backbone pools it, rounded through float16 (as the cache the head was fitted on), normalised,
    its selected columns kept; averaged over the test-time views; then the head."""
    import torch
    from torch import nn

    from graft.backbones.base import SOURCE_LOGITS
    from graft.features.taps import pooling_grid

    points = dict(backbone.tap_points())
    taps = list(selection["columns"])
    grid = pooling_grid(selection.get("pooling", "mean"))
    width = int(selection.get("max_tap_width", 1024))
    views = list(selection.get("tta_views", []))
    unknown = [v for v in views if v != "hflip"]
    if unknown:
        raise GraftError(f"test-time view(s) {unknown} cannot be exported yet (only hflip)")
    classifier = classifier_module(None, head, ["features"])

    class MultiLayer(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.backbone, self.classifier = backbone, classifier
            for i, tap in enumerate(taps):
                self.register_buffer(f"columns{i}", torch.as_tensor(list(selection["columns"][tap]), dtype=torch.long))

        def prepared(self, batch: Any) -> torch.Tensor:
            outputs: dict[str, torch.Tensor] = {}

            def hook_for(name: str) -> Any:
                return lambda module, inputs, output: outputs.__setitem__(name, self.backbone.pool_tap(output, batch, grid, width).float())

            handles = [points[t].register_forward_hook(hook_for(t)) for t in taps if t != SOURCE_LOGITS]
            try:
                features = self.backbone.forward_features(batch)
            finally:
                for handle in handles:
                    handle.remove()
            if SOURCE_LOGITS in taps:
                outputs[SOURCE_LOGITS] = self.backbone.source_logits(features).float()
            parts = []
            for i, tap in enumerate(taps):
                x = outputs[tap].clamp(-_FLOAT16_MAX, _FLOAT16_MAX).half().float()
                if selection.get("normalisation", "l2") == "l2":
                    x = x / x.norm(dim=1, keepdim=True).clamp_min(1e-12)
                parts.append(x.index_select(1, getattr(self, f"columns{i}")))
            return torch.cat(parts, dim=1)

        def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
            batch = inputs[0] if len(input_names) == 1 else dict(zip(input_names, inputs))
            features = self.prepared(batch)
            if views:  # hflip of a (B, C, H, W) image batch, as graft.features.views does per item
                features = torch.stack([features] + [self.prepared(torch.flip(batch, dims=[-1])) for _ in views]).mean(0)
            return self.classifier(features)

    return MultiLayer().eval()


_FLOAT16_MAX = 65504.0


def dynamic_axes(input_names: list[str]) -> dict[str, dict[int, str]]:
    axes = {name: ({0: "batch", 1: "sequence"} if name in _SEQUENCE_INPUTS else {0: "batch"}) for name in input_names}
    axes[OUTPUT] = {0: "batch"}
    return axes


def export_onnx(module: "torch.nn.Module", example: dict[str, np.ndarray], path: Path) -> list[dict[str, Any]]:
    """Trace ``module`` on ``example`` (two or more items, so no batch size is baked in), write
    ``path`` and check it with ``onnx.checker``. Returns the inputs' names, dtypes and shapes."""
    import onnx
    import torch

    names = list(example)
    args = tuple(torch.from_numpy(np.ascontiguousarray(example[n])) for n in names)
    with warnings.catch_warnings(), torch.no_grad():
        # the TorchScript exporter is deprecated in favour of dynamo, which is ~4x slower here and
        # still needs per-model dynamic-shape specs; its output is the same ONNX
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(module, args, str(path), input_names=names, output_names=[OUTPUT],
                              dynamic_axes=dynamic_axes(names), opset_version=OPSET, dynamo=False)
        except Exception as exc:  # tracing errors come in many types
            raise GraftError(f"ONNX export of the model failed while tracing ({type(exc).__name__}: {exc})") from exc
    try:
        onnx.checker.check_model(str(path), full_check=True)
    except Exception as exc:
        raise GraftError(f"{path}: the exported graph fails onnx.checker ({exc})") from exc
    axes = dynamic_axes(names)
    used = {i.name for i in onnx.load(str(path), load_external_data=False).graph.input}  # tracing drops unused inputs
    return [{"name": n, "datatype": _v2_type(example[n].dtype),
             "shape": [axes[n].get(i, int(d)) for i, d in enumerate(example[n].shape)]} for n in names if n in used]


def _v2_type(dtype: np.dtype) -> str:
    """The Open Inference Protocol's name for a numpy dtype."""
    return {"float32": "FP32", "int64": "INT64", "float64": "FP64", "int32": "INT32", "bool": "BOOL"}[np.dtype(dtype).name]
