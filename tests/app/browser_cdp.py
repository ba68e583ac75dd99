"""Minimal headless-Chromium driver over the DevTools protocol (no selenium/playwright needed).

Why not ``chromium --dump-dom --virtual-time-budget``: virtual time does not wait for Streamlit's
websocket, so the dump is the empty app shell. Here we poll the live DOM in real time instead, record
every network request the page makes, and take screenshots with ``Page.captureScreenshot``.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM_FLAGS = [  # headless, offline-friendly; the window size is set per use
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
]


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None


def require_chromium() -> str:
    """The chromium binary; skips the test without one (fails it when CI is set: CI must install it)."""
    path = find_chromium()
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(
                "chromium is not installed but CI is set: `apt-get install -y chromium` (make test does)"
            )
        pytest.skip("chromium not installed (apt-get install -y chromium); runs in CI")
    return path


class Browser:
    """``with Browser(path) as b: page = b.open(url)`` -- one page per ``open``."""

    def __init__(self, binary: str) -> None:
        self.binary = binary
        self.profile = tempfile.mkdtemp(prefix="rs-chromium-")
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> Browser:
        self.proc = subprocess.Popen(
            [
                self.binary,
                *CHROMIUM_FLAGS,
                "--window-size=1400,2400",
                f"--user-data-dir={self.profile}",
                "--remote-debugging-port=0",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        port_file = Path(self.profile) / "DevToolsActivePort"
        deadline = time.time() + 60
        while not port_file.exists() or not port_file.read_text().strip():
            if time.time() > deadline or self.proc.poll() is not None:
                raise RuntimeError("chromium did not start (no DevToolsActivePort)")
            time.sleep(0.1)
        self.port = int(port_file.read_text().split()[0])
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        shutil.rmtree(self.profile, ignore_errors=True)

    def open(self, url: str) -> Page:
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}/json/new?about:blank", method="PUT")
        with urllib.request.urlopen(req, timeout=30) as r:
            target = json.loads(r.read())
        page = Page(target["webSocketDebuggerUrl"])
        page.call("Network.enable")
        page.call("Page.enable")
        page.call("Page.navigate", url=url)
        return page


class Page:
    def __init__(self, ws_url: str) -> None:
        from websockets.sync.client import connect

        self._conn = connect(ws_url, max_size=64 * 2**20, open_timeout=30)
        self.ws = self._conn.__enter__()
        self._id = 0
        self.requests: list[str] = []  # every URL the page asked the network for

    def call(self, method: str, timeout: float = 60, **params: Any) -> dict:
        self._id += 1
        my_id = self._id
        self.ws.send(json.dumps({"id": my_id, "method": method, "params": params}))
        deadline = time.time() + timeout
        while True:
            msg = json.loads(self.ws.recv(timeout=max(0.1, deadline - time.time())))
            if msg.get("method") == "Network.requestWillBeSent":
                self.requests.append(msg["params"]["request"]["url"])
            if msg.get("id") == my_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})

    def eval(self, expression: str) -> Any:
        res = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in res:
            raise RuntimeError(f"JS error: {res['exceptionDetails']}")
        return res["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 180, settle: float = 1.0) -> Any:
        """Poll a JS expression until truthy (then wait ``settle`` s for late redraws and re-evaluate)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            value = self.eval(expression)
            if value:
                time.sleep(settle)
                return self.eval(expression) or value
            time.sleep(0.5)
        raise TimeoutError(f"timed out after {timeout:.0f} s waiting for: {expression}")

    def screenshot(self, path: Path) -> Path:
        data = self.call("Page.captureScreenshot", format="png")["data"]  # the (tall) window
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path

    def dom(self) -> str:
        return self.eval("document.documentElement.outerHTML")

    def close(self) -> None:
        self._conn.__exit__(None, None, None)


@contextlib.contextmanager
def live_streamlit(home: Path, env: dict[str, str], repo: Path) -> Iterator[str]:
    """``streamlit run app/streamlit_app.py`` on a free loopback port with ``env``, its log in
    ``home/streamlit.log``; yields the base URL once ``/_stcore/health`` answers (fails the test after 90 s or
    if the server exits) and stops the server on exit."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = (home / "streamlit.log").open("w")
    args = ["--server.port", str(port), "--server.address", "127.0.0.1", "--server.headless", "true"]
    args += ["--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app/streamlit_app.py", *args],
        cwd=repo,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.time() > deadline or proc.poll() is not None:
                pytest.fail(f"streamlit did not start: {(home / 'streamlit.log').read_text()[-2000:]}")
            time.sleep(0.5)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
