"""Headless Chromium for the browser tests (test_ui.py, test_webapp.py): where it is, a free local
port, a Chromium started on a fresh profile until its DevTools endpoint lists a page
(:func:`chromium_page`), and just enough of the DevTools protocol to drive it (:class:`Browser`)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator

from core.settings import project_dir

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
OUTPUT = project_dir() / "test-output"  # screenshots


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url: str, timeout: float = 5.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read()


@contextlib.contextmanager
def chromium_page(*flags: str) -> Iterator[str]:
    """Headless Chromium on a fresh profile, with ``flags`` besides the common ones: yields the
    DevTools websocket URL of its page once the endpoint lists one (60 s at most), then stops
    Chromium and deletes the profile."""
    port = free_port()
    profile = tempfile.mkdtemp(prefix="chr-", dir="/tmp")
    chromium = subprocess.Popen(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            *flags,
            f"--user-data-dir={profile}",
            f"--remote-debugging-port={port}",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        targets = []
        while time.monotonic() < deadline and not targets:
            try:
                targets = [
                    t
                    for t in json.loads(http_get(f"http://127.0.0.1:{port}/json/list"))
                    if t["type"] == "page"
                ]
            except OSError:
                time.sleep(0.5)
        assert targets, "chromium did not open its DevTools endpoint"
        yield targets[0]["webSocketDebuggerUrl"]
    finally:
        chromium.terminate()
        try:
            chromium.wait(timeout=20)
        except subprocess.TimeoutExpired:
            chromium.kill()
        shutil.rmtree(profile, ignore_errors=True)


class Browser:
    """Just enough of the Chrome DevTools protocol: navigate, evaluate JavaScript, screenshot."""

    def __init__(self, ws):
        self.ws = ws
        self.next_id = 0

    async def call(self, method: str, **params):
        self.next_id += 1
        await self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(await self.ws.recv())
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})

    async def evaluate(self, expression: str):
        result = await self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result.get("result", {}).get("value")

    async def wait_for(self, expression: str, timeout: float = 90.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if await self.evaluate(expression):
                return True
            await asyncio.sleep(0.5)
        return False
