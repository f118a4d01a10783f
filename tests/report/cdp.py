"""A small Chrome DevTools Protocol client over ``--remote-debugging-pipe`` (no websocket, no
package): chromium reads commands on fd 3 and writes replies and events on fd 4, each a JSON
object ended by a NUL byte. Enough to load a page and record its console errors, network
requests, DOM facts and a full-page screenshot."""

from __future__ import annotations

import base64
import fcntl
import json
import os
import queue
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

EXECUTABLES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium() -> str | None:
    return next((path for path in map(shutil.which, EXECUTABLES) if path), None)


class Browser:
    """A headless chromium with one page attached (flattened session)."""

    def __init__(self, executable: str, profile: Path, width: int = 1200, timeout: float = 60.0) -> None:
        self.timeout, self.events, self._next_id = timeout, [], 0
        cmd_r, cmd_w = os.pipe()  # we write commands, chromium reads them on its fd 3
        out_r, out_w = os.pipe()  # chromium writes on its fd 4, we read
        args = [executable, "--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe",
                f"--user-data-dir={profile}", "--no-first-run", "--no-default-browser-check", "--disable-extensions",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-default-apps", "--mute-audio", "--hide-scrollbars", f"--window-size={width},900", "about:blank"]
        # a Python trampoline puts the pipe ends at 3 and 4, then becomes chromium; the ends are first
        # moved above 9 so that placing one cannot overwrite the other
        high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (cmd_r, out_w)]
        for fd in (cmd_r, out_w):
            os.close(fd)
        trampoline = "import os, sys; os.dup2(int(sys.argv[1]), 3); os.dup2(int(sys.argv[2]), 4); os.execv(sys.argv[3], sys.argv[3:])"
        self.proc = subprocess.Popen([sys.executable, "-c", trampoline, *map(str, high), *args], pass_fds=high,
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for fd in high:
            os.close(fd)
        self._writer = os.fdopen(cmd_w, "wb")
        self._reader = os.fdopen(out_r, "rb")
        self._inbox: queue.Queue[dict[str, Any]] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.session = self._attach()

    # --- protocol ----------------------------------------------------------------------------
    def _read(self) -> None:
        buffer = b""
        while True:
            chunk = self._reader.read1(65536)
            if not chunk:
                return
            buffer += chunk
            while b"\0" in buffer:
                message, buffer = buffer.split(b"\0", 1)
                self._inbox.put(json.loads(message))

    def call(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> dict[str, Any]:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        self._writer.write(json.dumps(message).encode() + b"\0")
        self._writer.flush()
        deadline = time.monotonic() + self.timeout
        while True:
            reply = self._inbox.get(timeout=max(deadline - time.monotonic(), 0.01))
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def page(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.call(method, params, self.session)

    def _attach(self) -> str:
        targets = self.call("Target.getTargets")["targetInfos"]
        page = next(t for t in targets if t["type"] == "page")
        return self.call("Target.attachToTarget", {"targetId": page["targetId"], "flatten": True})["sessionId"]

    def wait_for(self, method: str, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if any(e.get("method") == method for e in self.events):
                return True
            try:
                self.events.append(self._inbox.get(timeout=0.1))
            except queue.Empty:
                pass
        return False

    def settle(self, seconds: float) -> None:
        """Collect events for a while (late requests, console messages)."""
        self.wait_for("<none>", seconds)

    # --- what a test asks ------------------------------------------------------------------------
    def load(self, url: str) -> None:
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.page(f"{domain}.enable")
        self.page("Page.navigate", {"url": url})
        if not self.wait_for("Page.loadEventFired", self.timeout):
            raise TimeoutError(f"{url} did not finish loading in {self.timeout} s")
        self.settle(1.0)

    def console_errors(self) -> list[str]:
        found = []
        for e in self.events:
            method, params = e.get("method"), e.get("params", {})
            if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                found.append(" ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", [])))
            elif method == "Runtime.exceptionThrown":
                found.append(params.get("exceptionDetails", {}).get("text", "exception"))
            elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
                found.append(params["entry"].get("text", ""))
        return found

    def requests(self) -> list[str]:
        return [e["params"]["request"]["url"] for e in self.events if e.get("method") == "Network.requestWillBeSent"]

    def evaluate(self, expression: str) -> Any:
        result = self.page("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        return result["result"].get("value")

    def screenshot(self, path: Path, width: int = 1200) -> Path:
        self.page("Emulation.clearDeviceMetricsOverride")  # measure the page, not the last screenshot's viewport
        height = int(self.page("Page.getLayoutMetrics")["cssContentSize"]["height"])
        self.page("Emulation.setDeviceMetricsOverride", {"width": width, "height": height, "deviceScaleFactor": 1,
                                                         "mobile": False})
        shot = self.page("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(shot["data"]))
        return path

    def close(self) -> None:
        try:
            self.call("Browser.close")
        except Exception:  # noqa: BLE001  (already gone)
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._writer.close()
