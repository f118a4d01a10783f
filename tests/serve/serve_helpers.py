"""Helpers shared by the serve tests (imported by module name: tests/ has no packages)."""

from __future__ import annotations

import base64
import time
from pathlib import Path

TOKEN = "s3cret-token"


def wait_ready(client, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while client.get("/v2/health/ready").status_code != 200:
        assert time.monotonic() < deadline, "models did not load in time"
        time.sleep(0.02)


def b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(models: list[Path], port: int, *options: str, env: dict | None = None):
    """``graft serve`` in a subprocess on 127.0.0.1:port; returns the Popen (stdout/stderr to a temp file)."""
    import os
    import subprocess
    import sys
    import tempfile

    log = tempfile.TemporaryFile()
    cmd = [sys.executable, "-m", "graft.cli.main", "serve", *map(str, models), "--port", str(port), *options]
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
    proc.log = log  # type: ignore[attr-defined]
    return proc


def wait_http_ready(port: int, proc, timeout: float = 90.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"server exited early:\n{server_log(proc)}"
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v2/health/ready", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"server not ready after {timeout} s:\n{server_log(proc)}")


def server_log(proc) -> str:
    proc.log.seek(0)
    return proc.log.read().decode(errors="replace")[-3000:]


def metric(text: str, name: str) -> float:
    """Sum of a Prometheus sample over its label sets."""
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name + "{") or line.startswith(name + " "))
