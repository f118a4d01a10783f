"""A real uvicorn server on 127.0.0.1: concurrent requests are batched, SIGTERM lets requests in
flight finish, and (slow) kill -9 then restart serves again with the model files untouched."""

from __future__ import annotations

import hashlib
import signal
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from serve_helpers import b64, free_port, metric, server_log, start_server, wait_http_ready

httpx = pytest.importorskip("httpx")
pytest.importorskip("uvicorn")


def _body(files: list[Path]) -> dict:
    return {"inputs": [{"name": "image", "datatype": "BYTES", "shape": [len(files)], "data": [b64(f) for f in files]}]}


def _hashes(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


def _concurrent(port: int, bodies: list[dict], workers: int = 16) -> list:
    with httpx.Client(timeout=60) as client, ThreadPoolExecutor(workers) as pool:
        return list(pool.map(lambda b: client.post(f"http://127.0.0.1:{port}/v2/models/colours/infer", json=b), bodies))


def test_concurrent_requests_are_batched_and_sigterm_finishes_requests_in_flight(image_model, tiny_images):
    files = sorted((tiny_images / "test").rglob("*.png"))
    port = free_port()
    proc = start_server([image_model], port, "--max-batch", "16", "--max-latency-ms", "150", "--threads", "1")
    try:
        wait_http_ready(port, proc)
        bodies = [_body([f]) for f in files] * 3
        replies = _concurrent(port, bodies)
        assert [r.status_code for r in replies] == [200] * len(bodies)
        assert [r.json()["outputs"][1]["data"][0] for r in replies] == [f.parent.name for f in files] * 3
        text = httpx.get(f"http://127.0.0.1:{port}/metrics").text
        passes, inputs = metric(text, "graft_batch_size_count"), metric(text, "graft_batch_size_sum")
        assert inputs == len(bodies) and passes < len(bodies) / 2, text  # several requests per forward pass
        with httpx.Client(timeout=60) as client, ThreadPoolExecutor(8) as pool:
            url = f"http://127.0.0.1:{port}/v2/models/colours/infer"
            pending = [pool.submit(client.post, url, json=_body([f])) for f in files[:8]]
            import time

            time.sleep(0.05)  # the requests now wait in the batcher (up to 150 ms)
            proc.send_signal(signal.SIGTERM)
            assert [p.result().status_code for p in pending] == [200] * 8
        # uvicorn re-raises SIGTERM after its graceful shutdown, so the status is 0 or -SIGTERM
        assert proc.wait(timeout=60) in (0, -signal.SIGTERM), server_log(proc)
        assert "Application shutdown complete" in server_log(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)


@pytest.mark.slow
def test_kill_9_during_load_then_restart_serves_again_and_leaves_the_model_untouched(image_model, tiny_images):
    files = sorted((tiny_images / "test").rglob("*.png"))
    before = _hashes(image_model)
    port = free_port()
    proc = start_server([image_model], port)
    try:
        wait_http_ready(port, proc)
        with ThreadPoolExecutor(1) as pool:
            load = pool.submit(_concurrent, port, [_body([f]) for f in files] * 10, 8)
            import time

            time.sleep(0.3)
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
            try:
                load.result()
            except httpx.HTTPError:
                pass  # connections cut by the kill
    finally:
        if proc.poll() is None:
            proc.kill()
    assert _hashes(image_model) == before
    proc = start_server([image_model], port)
    try:
        wait_http_ready(port, proc)
        replies = _concurrent(port, [_body([f]) for f in files])
        assert [r.status_code for r in replies] == [200] * len(files)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
