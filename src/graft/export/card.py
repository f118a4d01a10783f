"""README.md of an exported folder: what it is, which model it came from, how well it matches."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def render(info: dict[str, Any]) -> str:
    """Markdown card from the export's config.json."""
    parent, parity = info["parent"], info.get("parity", {})
    base = ([f"base_model: {Path(parent['path']).name}", f"base_model_relation: {parent['relation']}"]
            if parent.get("relation") and parent.get("path") else [f"base_model: {parent['backbone']}"])
    lines = ["---", "library_name: onnx", *base, "tags:", "- graft", "- onnx", "---", "",
             f"# ONNX export of a {len(info['classes'])}-class {info['modality']} classifier",
             "",
             f"Exported by graft from the saved model `{parent.get('path')}` ({parent['method']} on `{parent['backbone']}`, "
             f"backbone weights sha256 `{str(parent['backbone_weights_sha256'])[:16]}…`"
             + (f", model.safetensors sha256 `{parent['model_sha256'][:16]}…`" if parent.get("model_sha256") else "") + ").",
             "", "## Files",
             f"- `{info['files']['fp32']}`: fp32 graph, opset {info['opset']}, input → class probabilities"]
    if info["files"].get("int8"):
        lines.append(f"- `{info['files']['int8']}`: int8 graph")
    lines += ["- `config.json`: classes, inputs, preprocessing, the checks below", "",
              "## Inputs", "| name | datatype | shape |", "|---|---|---|"]
    lines += [f"| `{i['name']}` | {i['datatype']} | {i['shape']} |" for i in info["inputs"]]
    lines += ["", f"Output `probabilities`: (batch, {len(info['classes'])}) in the class order of config.json.", "",
              "## Preprocessing", _preprocess_text(info["preprocess"]), "",
              "## Classes", ", ".join(f"`{c}`" for c in info["classes"]), "",
              "## Parity with PyTorch",
              f"On {parity.get('n')} items of the training data: largest probability difference "
              f"{parity.get('max_abs_difference', float('nan')):.2e} (allowed {parity.get('tolerance')}), "
              f"top-1 agreement {parity.get('top1_agreement', float('nan')):.2%}."]
    lines += _quantization_text(info.get("quantization"))
    lines += ["", "## Use", "```python", "import graft", "model = graft.load('PATH_TO_THIS_FOLDER')   # onnxruntime backend",
              "model.predict(['input1', 'input2'])", "```",
              "or `graft predict PATH_TO_THIS_FOLDER INPUT...`, `graft serve PATH_TO_THIS_FOLDER --backend onnx`; "
              "with onnxruntime alone: preprocess as above and run `InferenceSession('model.onnx').run(None, inputs)`."]
    return "\n".join(lines) + "\n"


def _preprocess_text(p: dict[str, Any]) -> str:
    kind = p["kind"]
    if kind == "image":
        return (f"RGB; resize the shorter side to {p['resize_shorter_to']} ({p['interpolation']}); centre crop "
                f"{p['crop'][0]}×{p['crop'][1]}; scale to [0, 1]; subtract mean {p['mean']}, divide by std {p['std']}; NCHW float32.")
    if kind == "tokenizer":
        return (f"Tokenizer in `{p['files']}/` (`tokenizer.json`), truncated to {p['max_tokens']} tokens"
                + (", text lowercased first" if p.get("lowercase") else "") + f"; pad each batch to its longest text with id {p['pad_id']}.")
    if kind == "waveform":
        return f"Mono float32 waveform at {p['sample_rate']} Hz, zero-padded or cut to {p['num_samples']} samples; shape (batch, 1, samples)."
    if kind == "word_ids":
        return (f"Words found with the regex in config.json (lowercased: {p['lowercase']}), looked up in `{p['vocab_file']}` "
                "(line number = row); unknown words fall back to their pieces; pad ids with 0 and mask.")
    if kind == "hashed_words":
        return f"Lowercased whitespace words, CRC32 hashed into {p['vocab'] - 1} buckets (+1), at most {p['max_tokens']}."
    return f"Numeric feature rows of {p.get('feature_dim')} values, float32."


def _quantization_text(q: dict[str, Any] | None) -> list[str]:
    if not q:
        return []
    lines = ["", f"## int8 ({q['method']})",
             f"On the {q['split']} split ({q['n']} items): top-1 agreement with fp32 {q['top1_agreement']:.2%}"
             + (f"; accuracy fp32 {q['fp32_accuracy']:.4f} → int8 {q['int8_accuracy']:.4f} ({q['accuracy_change']:+.4f})"
                if "accuracy_change" in q else "")
             + f"; size {q['size_fp32'] / 1e6:.1f} MB → {q['size_int8'] / 1e6:.1f} MB."]
    if not q["accepted"]:
        lines.append(f"**Refused**: agreement below {q['min_agreement']:.0%}; the int8 graph was not kept.")
    elif q.get("forced"):
        lines.append(f"**Kept with --force** although agreement is below {q['min_agreement']:.0%}.")
    return lines
