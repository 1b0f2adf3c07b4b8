"""Debian's Chromium, headless, driven over the DevTools protocol (no test framework's own
browser download): the app's browser test and its latency benchmark."""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from websockets.sync.client import ClientConnection, connect

FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
    # Tabs behind the first (one session each in the load benchmark) run at full speed.
    "--disable-background-timer-throttling", "--disable-renderer-backgrounding",
    "--disable-backgrounding-occluded-windows",
]  # fmt: skip

# The forecast page's "Intervals of" choice: clicks the option named %r.
CLICK_INTERVALS_OF = """
(() => {
  const labels = [...document.querySelectorAll('[data-testid="stRadio"] label')];
  labels.find(l => l.innerText.trim() === %r).click();
  return true;
})()
"""
# The chart's legend entries.
LEGEND = "[...document.querySelectorAll('.js-plotly-plot .legendtext')].map(t => t.textContent)"


class Page:
    """One Chromium tab."""

    def __init__(self, socket: ClientConnection) -> None:
        self.socket = socket
        self.next_id = 0

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        self.socket.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv(timeout=60))
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return dict(message["result"])

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result["result"].get("value")

    def screenshot(self, path: Path) -> None:
        data = self.call("Page.captureScreenshot", format="png")["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))

    def wait_until(self, expression: str, timeout: float, poll: float = 0.5) -> Any:
        """Polls ``expression`` until it is truthy (a cold start may show only the header at
        first); on timeout the error shows the page's text."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(poll)
        text = self.evaluate("document.body.innerText")
        raise AssertionError(f"{expression} stayed false for {timeout} s; page text:\n{text}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Stops a process group that may have exited already (keeping the test's own error)."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(20)
    except ProcessLookupError:
        pass


@contextmanager
def chromium(window: str = "1400,2400") -> Iterator[Page]:
    """A fresh headless Chromium with an empty profile, and its one tab."""
    with chromium_tabs(1, window) as (page,):
        yield page


@contextmanager
def chromium_tabs(count: int, window: str = "1400,2400") -> Iterator[list[Page]]:
    """A fresh headless Chromium with an empty profile and ``count`` tabs (one session each
    on a Streamlit server)."""
    binary = shutil.which("chromium")
    if binary is None:
        raise RuntimeError("chromium is not installed; `make test` installs Debian's chromium")
    with tempfile.TemporaryDirectory(prefix="sf-chromium-") as profile, ExitStack() as sockets:
        process = subprocess.Popen(
            [binary, *FLAGS, f"--window-size={window}", f"--user-data-dir={profile}",
             "--remote-debugging-port=0", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        try:
            active = Path(profile) / "DevToolsActivePort"
            deadline = time.monotonic() + 60
            while not active.exists() or not active.read_text().strip():
                if process.poll() is not None:
                    raise RuntimeError("chromium exited at start")
                if time.monotonic() > deadline:
                    raise RuntimeError("chromium did not open its DevTools port")
                time.sleep(0.2)
            devtools = f"http://127.0.0.1:{active.read_text().split()[0]}"
            with urllib.request.urlopen(f"{devtools}/json/list", timeout=10) as r:
                tabs = [t for t in json.loads(r.read()) if t["type"] == "page"]
            for _ in range(count - len(tabs)):
                opened = urllib.request.Request(f"{devtools}/json/new?about:blank", method="PUT")
                with urllib.request.urlopen(opened, timeout=10) as r:
                    tabs.append(json.loads(r.read()))
            pages = []
            for tab in tabs:
                page = Page(
                    sockets.enter_context(connect(tab["webSocketDebuggerUrl"], max_size=None))
                )
                page.call("Page.enable")
                pages.append(page)
            yield pages
        finally:
            _stop(process)


@contextmanager
def app_server(env: dict[str, str], log: Path, model: str | None = None) -> Iterator[str]:
    """``salesforecast ui`` on a free loopback port; yields its URL."""
    import sys

    from tests.servers import free_port, wait_for

    port = free_port()
    command = [sys.executable, "-m", "salesforecast.cli", "ui", "--port", str(port)]
    if model:
        command += ["--model", model]
    with open(log, "wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)  # fmt: skip
    try:
        wait_for(f"http://127.0.0.1:{port}/_stcore/health", process, 60, log)
        yield f"http://127.0.0.1:{port}"
    finally:
        _stop(process)
