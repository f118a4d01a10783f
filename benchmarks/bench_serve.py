"""`graft serve` under load on localhost: a mobilenet_v2 probe on Fashion-MNIST (96 px).

1. Baseline: batching off (--max-batch 1), one client sending requests one at a time.
2. Batched: 16 concurrent clients, a fixed number of requests (each image once, so the feature
   cache never answers for the model): throughput ratio to the baseline (goal >= 4x), p50 / p99
   latency, errors (goal 0), server RSS growth from the first to the last tenth of the run (goal <= 10 %).
3. Bad requests (truncated image, oversized body, malformed JSON, wrong shape) mixed into good ones:
   every good one answered with the label the Python API gives, every bad one a 4xx.
4. kill -9 during load, then a restart: it serves again, and the model files are byte-identical.

Each server gets an empty feature cache. Loops are bounded by the request counts.

    nice python benchmarks/bench_serve.py [--requests 960] [--sequential 200] [--clients 16] [--backend torch|onnx] [--threads N]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import graft
from _common import workspace


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`graft serve` in a subprocess with its own empty feature cache."""

    threads: str | None = None  # --threads for every server of the run

    def __init__(self, model: Path, backend: str, *options: str) -> None:
        self.port = _free_port()
        self.cache = tempfile.mkdtemp(prefix="graft-bench-serve-cache-")
        self.log = tempfile.TemporaryFile()
        cmd = [sys.executable, "-m", "graft.cli.main", "serve", str(model), "--port", str(self.port),
               "--backend", backend, "--max-body-mb", "1", *options]
        if Server.threads:
            cmd += ["--threads", Server.threads]
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, env={**os.environ, "GRAFT_CACHE": self.cache})
        self.url = f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 180.0) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.tail()}")
            try:
                if httpx.get(f"{self.url}/v2/health/ready", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"server not ready in {timeout} s: {self.tail()}")

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def tail(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-2000:]


def _body(path: Path) -> bytes:
    data = base64.b64encode(path.read_bytes()).decode()
    return json.dumps({"inputs": [{"name": "image", "datatype": "BYTES", "shape": [1], "data": [data]}]}).encode()


def _send(client, url: str, body: bytes) -> tuple[int, float, dict]:
    start = time.perf_counter()
    r = client.post(url, content=body, headers={"content-type": "application/json"})
    seconds = time.perf_counter() - start
    try:
        payload = r.json()
    except ValueError:
        payload = {}
    return r.status_code, seconds, payload


def _label(payload: dict) -> str | None:
    outputs = {o["name"]: o for o in payload.get("outputs", [])}
    return outputs["label"]["data"][0] if "label" in outputs else None


def run_load(server: Server, model_name: str, files: list[Path], clients: int, expected: dict[Path, str],
             sample_rss: bool = False) -> dict:
    """Send one request per file from ``clients`` threads; latency, errors, wrong labels, RSS by tenth."""
    import httpx

    url = f"{server.url}/v2/models/{model_name}/infer"
    bodies = [_body(f) for f in files]
    rss: list[tuple[int, float]] = []
    done = [0]
    lock = threading.Lock()

    def one(i: int) -> tuple[int, float, str | None]:
        status, seconds, payload = _send(client, url, bodies[i])
        with lock:
            done[0] += 1
            if sample_rss and done[0] % max(1, len(files) // 50) == 0:
                rss.append((done[0], server.rss_mb()))
        return status, seconds, _label(payload)

    with httpx.Client(timeout=120, limits=httpx.Limits(max_connections=clients + 4)) as client:
        start = time.perf_counter()
        if clients == 1:
            results = [one(i) for i in range(len(files))]
        else:
            with ThreadPoolExecutor(clients) as pool:
                results = list(pool.map(one, range(len(files))))
        wall = time.perf_counter() - start
    latencies = sorted(r[1] for r in results)
    errors = sum(r[0] != 200 for r in results)
    wrong = sum(r[0] == 200 and r[2] != expected[f] for r, f in zip(results, files))
    out = {"requests": len(files), "clients": clients, "seconds": round(wall, 2), "throughput_rps": round(len(files) / wall, 2),
           "p50_ms": round(1000 * statistics.median(latencies), 1),
           "p99_ms": round(1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))], 1),
           "errors": errors, "wrong_labels": wrong}
    if rss:
        tenth = max(1, len(rss) // 10)
        first, last = statistics.mean(m for _, m in rss[:tenth]), statistics.mean(m for _, m in rss[-tenth:])
        out.update(rss_first_tenth_mb=round(first, 1), rss_last_tenth_mb=round(last, 1), rss_growth=round(last / first - 1, 4))
    return out


def mixed_bad(server: Server, model_name: str, files: list[Path], expected: dict[Path, str], clients: int) -> dict:
    """Good requests with bad ones mixed in (1 in 4): every good answered correctly, every bad a 4xx."""
    import httpx

    url = f"{server.url}/v2/models/{model_name}/infer"
    truncated = json.dumps({"inputs": [{"name": "image", "datatype": "BYTES", "shape": [1],
                                        "data": [base64.b64encode(files[0].read_bytes()[:120]).decode()]}]}).encode()
    bad = {"truncated image": truncated, "oversized body": b'{"inputs": "' + b"x" * (1536 * 1024) + b'"}',
           "malformed JSON": b'{"inputs": [{"name": "image", ', "wrong shape": _body(files[0]).replace(b'"shape": [1]', b'"shape": [2, 3]')}
    jobs = []
    for i, f in enumerate(files):
        jobs.append(("good", f, _body(f)))
        if i % 3 == 0:
            kind = list(bad)[(i // 3) % len(bad)]
            jobs.append((kind, None, bad[kind]))

    def one(job):
        kind, f, body = job
        try:
            status, _, payload = _send(client, url, body)
        except httpx.HTTPError as exc:  # the server may close the connection after a 413
            return kind, -1, str(exc), f
        return kind, status, _label(payload) if kind == "good" else payload.get("error"), f

    with httpx.Client(timeout=120) as client, ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(one, jobs))
    good = [r for r in results if r[0] == "good"]
    bads = [r for r in results if r[0] != "good"]
    by_kind = {k: sorted({r[1] for r in bads if r[0] == k}) for k in bad}
    return {"good": len(good), "good_correct": sum(r[1] == 200 and r[2] == expected[r[3]] for r in good),
            "bad": len(bads), "bad_answered_4xx": sum(400 <= r[1] < 500 for r in bads), "statuses_by_kind": by_kind,
            "any_5xx": any(r[1] >= 500 for r in results)}


def kill_and_restart(model: Path, backend: str, files: list[Path], expected: dict[Path, str], clients: int) -> dict:
    before = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(model.rglob("*")) if p.is_file()}
    server = Server(model, backend)
    server.wait_ready()
    failures = []

    def load():
        try:
            run_load(server, model.name, files, clients, expected)
        except Exception as exc:  # connections cut by the kill
            failures.append(type(exc).__name__)

    thread = threading.Thread(target=load)
    thread.start()
    time.sleep(1.0)
    server.proc.send_signal(signal.SIGKILL)
    server.proc.wait(timeout=30)
    thread.join(timeout=300)
    after_kill = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(model.rglob("*")) if p.is_file()}
    restarted = Server(model, backend)
    try:
        restarted.wait_ready()
        again = run_load(restarted, model.name, files[:64], clients, expected)
    finally:
        restarted.stop()
    return {"files_unchanged": before == after_kill, "load_interrupted": bool(failures),
            "after_restart_errors": again["errors"], "after_restart_wrong": again["wrong_labels"], "after_restart_requests": again["requests"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-class", type=int, default=100)
    parser.add_argument("--image-size", type=int, default=96)
    parser.add_argument("--requests", type=int, default=960, help="requests in the concurrent run (each image once)")
    parser.add_argument("--sequential", type=int, default=200, help="requests in the one-client baseline")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--max-batch", type=int, default=32)
    parser.add_argument("--max-latency-ms", type=float, default=10.0)
    parser.add_argument("--backend", default="torch", choices=["torch", "onnx"])
    parser.add_argument("--threads", type=int, default=None, help="--threads of the servers (1 is robust on a busy host)")
    args = parser.parse_args()
    Server.threads = str(args.threads) if args.threads else None
    os.environ.setdefault("GRAFT_CACHE", tempfile.mkdtemp(prefix="graft-bench-serve-prep-"))
    work = workspace("serve")
    data = graft.make_dataset("fashion_mnist", work / "fashion_mnist", per_class=args.per_class)
    model = work / "fashion-mnv2"
    graft.probe(data, "mobilenet_v2", image_size=args.image_size, out=model, overwrite=True)
    if args.backend == "onnx":
        graft.export_model(model, work / "fashion-mnv2-onnx", overwrite=True)
        model = work / "fashion-mnv2-onnx"
    ds = graft.read(data)
    files = [Path(p) for p in list(ds.test.items) + list(ds.train.items)]
    expected = dict(zip(files, graft.load(model).predict(files)))  # the Python API's answers
    report = {"backend": args.backend, "image_size": args.image_size, "threads": args.threads}

    server = Server(model, args.backend, "--max-batch", "1")
    try:
        server.wait_ready()
        report["sequential_unbatched"] = run_load(server, model.name, files[:args.sequential], 1, expected)
    finally:
        server.stop()
    print(json.dumps(report["sequential_unbatched"]), flush=True)

    server = Server(model, args.backend, "--max-batch", str(args.max_batch), "--max-latency-ms", str(args.max_latency_ms))
    try:
        server.wait_ready()
        batch_files = files[args.sequential: args.sequential + args.requests]
        report["concurrent_batched"] = run_load(server, model.name, batch_files, args.clients, expected, sample_rss=True)
        print(json.dumps(report["concurrent_batched"]), flush=True)
        report["bad_requests_mixed"] = mixed_bad(server, model.name, files[:200], expected, args.clients)
        print(json.dumps(report["bad_requests_mixed"]), flush=True)
    finally:
        server.stop()
    report["throughput_ratio"] = round(report["concurrent_batched"]["throughput_rps"] / report["sequential_unbatched"]["throughput_rps"], 2)
    report["kill_9"] = kill_and_restart(model, args.backend, files[-400:], expected, args.clients)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
