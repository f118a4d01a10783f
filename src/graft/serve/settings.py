"""Server settings, validated when built: the CLI options and ``graft.serve.create_app`` share them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from graft.errors import UsageError


@dataclass
class ServeSettings:
    """How the server batches, limits and protects inference."""

    backend: Literal["torch", "onnx"] = field(default="torch", metadata={"help": "torch (saved models) or onnx (exported folders)"})
    max_batch: int = field(default=32, metadata={"help": "largest micro-batch, 1..4096; 1 turns batching off"})
    max_latency_ms: float = field(default=5.0, metadata={"help": "longest wait for a batch to fill, 0..10000 ms"})
    max_queue: int = field(default=256, metadata={"help": "inputs waiting per model before 503 + Retry-After, >= 1"})
    max_body_bytes: int = field(default=16 * 1024 * 1024, metadata={"help": "largest request body (413 above), >= 1024"})
    max_inputs: int = field(default=256, metadata={"help": "largest number of inputs in one request, >= 1"})
    token: str | None = field(default=None, metadata={"help": "bearer token required on inference endpoints"})
    retry_after_s: int = field(default=1, metadata={"help": "Retry-After seconds sent with a 503"})
    int8: bool = field(default=False, metadata={"help": "run the int8 graph of exported folders (graft export --quantize)"})
    threads: int | None = field(default=None, metadata={"help": "threads per forward pass (PyTorch / onnxruntime), 1..256; None: their defaults"})

    def __post_init__(self) -> None:
        if self.backend not in ("torch", "onnx"):
            raise UsageError(f"--backend {self.backend!r}: choose torch or onnx")
        if not 1 <= self.max_batch <= 4096:
            raise UsageError(f"--max-batch {self.max_batch}: must be in 1..4096")
        if not 0 <= self.max_latency_ms <= 10_000:
            raise UsageError(f"--max-latency-ms {self.max_latency_ms}: must be in 0..10000")
        if self.max_queue < 1:
            raise UsageError(f"--max-queue {self.max_queue}: must be >= 1")
        if self.max_body_bytes < 1024:
            raise UsageError(f"--max-body-mb: the limit must be at least 1 KiB, got {self.max_body_bytes} bytes")
        if self.max_inputs < 1:
            raise UsageError(f"max_inputs={self.max_inputs}: must be >= 1")
        if self.threads is not None and not 1 <= self.threads <= 256:
            raise UsageError(f"--threads {self.threads}: must be in 1..256")
        if self.token is not None and not self.token.strip():
            raise UsageError("--token is empty; give a non-empty token or leave it out")
