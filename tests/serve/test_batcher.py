"""The micro-batcher: gathers concurrent inputs, isolates a bad one, refuses beyond its queue."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from graft.serve.batcher import InputFailed, MicroBatcher, QueueFull


class Recorder:
    """predict(items) → one-hot rows of each item's number; raises on "bad"; records batch sizes."""

    def __init__(self, delay: float = 0.0) -> None:
        self.batches: list[int] = []
        self.delay = delay

    def __call__(self, items):
        self.batches.append(len(items))
        time.sleep(self.delay)
        if "bad" in items:
            raise ValueError("cannot use 'bad'")
        return np.eye(10)[[int(i) for i in items]]


def _run(coro):
    return asyncio.run(coro)


def test_concurrent_inputs_share_forward_passes_in_order():
    predict = Recorder(delay=0.01)

    async def main():
        batcher = MicroBatcher(predict, max_batch=4, max_latency_ms=50, max_queue=100)
        batcher.start()
        results = await asyncio.gather(*(batcher.submit([str(i)]) for i in range(10)))
        await batcher.stop()
        return results

    results = _run(main())
    assert [int(r[0].argmax()) for r in results] == list(range(10))
    assert sum(predict.batches) == 10 and max(predict.batches) <= 4 and len(predict.batches) <= 4


def test_a_bad_input_fails_only_its_own_request():
    predict = Recorder()

    async def main():
        batcher = MicroBatcher(predict, max_batch=8, max_latency_ms=50, max_queue=100)
        batcher.start()
        results = await asyncio.gather(batcher.submit(["1"]), batcher.submit(["bad"]), batcher.submit(["2", "3"]),
                                       return_exceptions=True)
        await batcher.stop()
        return results

    ok1, bad, ok2 = _run(main())
    assert int(ok1[0].argmax()) == 1 and [int(r.argmax()) for r in ok2] == [2, 3]
    assert isinstance(bad, InputFailed) and "cannot use 'bad'" in str(bad)


def test_a_full_queue_refuses_at_once():
    predict = Recorder(delay=0.3)

    async def main():
        batcher = MicroBatcher(predict, max_batch=1, max_latency_ms=0, max_queue=2)
        batcher.start()
        first = asyncio.ensure_future(batcher.submit(["1"]))
        await asyncio.sleep(0.05)  # "1" is in the forward pass; the queue is empty again
        second = asyncio.ensure_future(batcher.submit(["2", "3"]))
        await asyncio.sleep(0)
        with pytest.raises(QueueFull, match="limit 2"):
            await batcher.submit(["4"])
        results = await asyncio.gather(first, second)
        await batcher.stop()
        return results

    first, second = _run(main())
    assert int(first[0].argmax()) == 1 and [int(r.argmax()) for r in second] == [2, 3]


def test_server_answers_503_with_retry_after_when_its_queue_is_full(image_model, tiny_images):
    """Through the app: a slow model, a queue of one input, eight concurrent clients."""
    from fastapi.testclient import TestClient

    import graft
    from graft.serve import ServeSettings, create_app
    from serve_helpers import b64, wait_ready

    class Slow:
        def __init__(self, model):
            self.model, self.config, self.classes, self.path = model, model.config, model.classes, model.path

        def predict_proba(self, items):
            time.sleep(0.3)
            return self.model.predict_proba(items)

    body = {"inputs": [{"name": "image", "datatype": "BYTES", "shape": [1],
                        "data": [b64(sorted((tiny_images / "test").rglob("*.png"))[0])]}]}
    app = create_app([Slow(graft.load(image_model))], ServeSettings(max_batch=1, max_latency_ms=0, max_queue=1, retry_after_s=2))
    with TestClient(app) as client:
        wait_ready(client)
        with ThreadPoolExecutor(8) as pool:
            replies = list(pool.map(lambda _: client.post("/v2/models/colours/infer", json=body), range(8)))
    statuses = sorted(r.status_code for r in replies)
    assert 200 in statuses and 503 in statuses and set(statuses) <= {200, 503}
    busy = next(r for r in replies if r.status_code == 503)
    assert busy.headers["retry-after"] == "2" and "server busy" in busy.json()["error"]
