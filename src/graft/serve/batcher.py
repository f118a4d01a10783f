"""Dynamic micro-batching: concurrent requests' inputs are gathered (up to ``max_batch`` inputs, or
``max_latency_ms`` after the first) and run as one forward pass in a worker thread.

Each waiting input holds a future. A batch whose forward pass raises is retried input by input,
so one bad input fails only its own request. A full queue raises ``QueueFull`` at once (the
server answers 503 with Retry-After) instead of letting latency grow without bound.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

log = logging.getLogger(__name__)


class QueueFull(Exception):
    """More inputs are waiting than the server accepts."""


class InputFailed(Exception):
    """The model could not run on this input (the message says why)."""


@dataclass
class _Pending:
    item: Any
    future: "asyncio.Future[np.ndarray]"


class MicroBatcher:
    """Gathers inputs from concurrent requests into batches for ``predict``.

    Args:
        predict: items → (N, C) probabilities; called in one worker thread, never concurrently.
        max_batch: the largest batch.
        max_latency_ms: how long the first input of a batch waits for others.
        max_queue: waiting inputs beyond this raise ``QueueFull``.
        on_batch: called with each batch size (metrics).
    """

    def __init__(self, predict: Callable[[Sequence[Any]], np.ndarray], max_batch: int, max_latency_ms: float,
                 max_queue: int, on_batch: Callable[[int], None] | None = None) -> None:
        self.predict = predict
        self.max_batch = max_batch
        self.max_latency = max_latency_ms / 1000.0
        self.max_queue = max_queue
        self.on_batch = on_batch
        self._queue: asyncio.Queue[_Pending] | None = None
        self._task: asyncio.Task[None] | None = None
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="graft-batch")

    def start(self) -> None:
        self._queue = asyncio.Queue()
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Finish what is queued, then stop the worker."""
        if self._task is not None:
            while self._queue is not None and not self._queue.empty():
                await asyncio.sleep(0.01)
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self._pool.shutdown(wait=True)

    @property
    def waiting(self) -> int:
        return self._queue.qsize() if self._queue is not None else 0

    async def submit(self, items: Sequence[Any]) -> np.ndarray:
        """Probabilities (N, C) for ``items``; raises QueueFull or InputFailed."""
        assert self._queue is not None, "start() the batcher first"
        if self._queue.qsize() + len(items) > self.max_queue:
            raise QueueFull(f"{self._queue.qsize()} inputs are waiting (limit {self.max_queue})")
        loop = asyncio.get_running_loop()
        pending = [_Pending(item, loop.create_future()) for item in items]
        for p in pending:
            self._queue.put_nowait(p)
        return np.stack(await asyncio.gather(*(p.future for p in pending)))

    async def _run(self) -> None:
        assert self._queue is not None
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self._queue.get()]
            deadline = loop.time() + self.max_latency
            while len(batch) < self.max_batch:
                if not self._queue.empty():
                    batch.append(self._queue.get_nowait())
                    continue
                timeout = deadline - loop.time()
                if timeout <= 0:
                    break
                try:
                    batch.append(await asyncio.wait_for(self._queue.get(), timeout))
                except asyncio.TimeoutError:
                    break
            batch = [p for p in batch if not p.future.done()]  # a client that went away
            if batch:
                if self.on_batch is not None:  # here, not in _forward: its per-input retries are not new batches
                    self.on_batch(len(batch))
                await self._forward(loop, batch)

    async def _forward(self, loop: asyncio.AbstractEventLoop, batch: list[_Pending]) -> None:
        try:
            proba = await loop.run_in_executor(self._pool, self.predict, [p.item for p in batch])
        except Exception as exc:  # one bad input: run the rest alone, so only its request fails
            log.info("batch of %d failed (%s: %s); retrying input by input", len(batch), type(exc).__name__, exc)
            if len(batch) == 1:
                _settle(batch[0], exc=InputFailed(f"{type(exc).__name__}: {exc}"))
                return
            for p in batch:
                await self._forward(loop, [p])
            return
        for p, row in zip(batch, proba):
            _settle(p, row)


def _settle(p: _Pending, row: np.ndarray | None = None, exc: Exception | None = None) -> None:
    if p.future.done():
        return
    if exc is not None:
        p.future.set_exception(exc)
    else:
        p.future.set_result(row)
