"""Helpers for the page and API tests (and bench/serve.py): a real `convrec serve` process
(started, probed, stopped, restarted) and a browser tab on the chat page (Playwright driving
Debian's Chromium).

Not a fixture module: test files and the benchmark use these classes directly.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Offline, sandbox-free headless flags: no component updates, no sync, no QUIC, no background fetches.
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-background-networking",
    "--disable-component-update", "--no-first-run", "--disable-sync",
]
TIMEOUT_MS = 60_000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def linked_home(source_home: Path, new_home: Path) -> Path:
    """A fresh convrec home (own session database) that reuses another home's built indexes."""
    new_home.mkdir(parents=True, exist_ok=True)
    for name in ("indexes", "data", "models"):
        src = source_home / name
        dst = new_home / name
        if src.exists() and not dst.exists():
            dst.symlink_to(src.resolve(), target_is_directory=True)
    return new_home


class ConvrecServer:
    """`python -m convrec.cli --home HOME serve ...` in a subprocess, logging to a file."""

    def __init__(
        self,
        home: Path,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        token: str | None = None,
        llm: bool = False,
        log: Path | None = None,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.home = Path(home)
        self.host = host
        self.port = port or free_port()
        self.token = token
        self.llm = llm
        self.log = log or self.home / f"server-{self.port}.log"
        self.extra_env = extra_env or {}
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        cmd = [sys.executable, "-m", "convrec.cli", "--home", str(self.home), "serve", "--host", self.host]
        cmd += ["--port", str(self.port), "--llm" if self.llm else "--no-llm"]
        return cmd

    def start(self, timeout: float = 240.0) -> ConvrecServer:
        env = {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "200", **self.extra_env}
        env.pop("CONVREC_TOKEN", None)
        if self.token:
            env["CONVREC_TOKEN"] = self.token  # via the environment: never on a command line
        self.log.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.log, "ab")
        self.proc = subprocess.Popen(self.command(), stdout=handle, stderr=subprocess.STDOUT, env=env, cwd=REPO)
        handle.close()
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"convrec serve exited with {self.proc.returncode}:\n{self.log_text()[-3000:]}")
            try:
                status, _ = self.get("/health", timeout=2)
                if status == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"convrec serve did not answer /health in {timeout:.0f} s:\n{self.log_text()[-3000:]}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None

    def restart(self, sig: int = signal.SIGTERM) -> ConvrecServer:
        self.stop(sig)
        return self.start()

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    # -- a tiny HTTP client (stdlib, so it is obviously not in-process) -------------------------------
    def request(
        self, method: str, path: str, body: Any = None, token: str | None | bool = True, timeout: float = 120
    ) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        bearer = self.token if token is True else (token or None)
        if bearer:
            req.add_header("Authorization", f"Bearer {bearer}")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                raw = resp.read()
                status = resp.status
        except urllib.error.HTTPError as err:
            raw = err.read()
            status = err.code
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, raw.decode(errors="replace")

    def get(self, path: str, **kw: Any) -> tuple[int, Any]:
        return self.request("GET", path, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> tuple[int, Any]:
        return self.request("POST", path, body if body is not None else {}, **kw)

    def __enter__(self) -> ConvrecServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def chromium() -> Iterator[Any]:
    """Debian's Chromium, headless, driven by Playwright (no browser download)."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        raise RuntimeError("Chromium is missing: run `make system-deps` (apt-get install chromium)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


class ChatTab:
    """One browser tab on the chat page (one session). Records any request that leaves 127.0.0.1."""

    def __init__(self, browser: Any, url: str, outside: list[str]) -> None:
        self.page = browser.new_page(viewport={"width": 1280, "height": 1200})
        self.page.set_default_timeout(TIMEOUT_MS)

        def watch(request: Any) -> None:
            host = urlparse(request.url).hostname
            if request.url.startswith(("http", "ws")) and host not in ("127.0.0.1", "localhost"):
                outside.append(request.url)

        self.page.on("request", watch)
        self.page.goto(url, wait_until="load")  # Gradio keeps connections open: never "networkidle"
        self.page.wait_for_selector("#convrec-input textarea")

    def ask(self, text: str) -> list[str]:
        """Send a message and wait until the turn is complete; the item ids on the cards."""
        before = self.page.locator("#convrec-chat .message-row").count()
        self.page.fill("#convrec-input textarea", text)
        self.page.click("#convrec-send")
        self.page.wait_for_function(
            "n => document.querySelectorAll('#convrec-chat .message-row').length >= n + 2", arg=before
        )
        # The chat grows and the status says "Thinking…" in the same update; the turn is over
        # when the status reports the picks, an answer (or an error).
        self.page.wait_for_function(
            "() => { const s = document.querySelector('#convrec-status').innerText;"
            " return /pick|Answered|⚠️/.test(s) && !/Thinking|Writing/.test(s); }"
        )
        turn = (before + 2) // 2
        status = self.status()
        picks = int(status.split(" pick")[0]) if status.split(" pick")[0].isdigit() else 0
        if picks:  # cards are drawn after the reply: wait for this turn's cards
            self.page.wait_for_function(
                "([t, n]) => document.querySelectorAll(`.card-body[data-turn='${t}']`).length === n", arg=[turn, picks]
            )
        return self.cards()

    def cards(self) -> list[str]:
        return self.page.eval_on_selector_all(".card-body", "els => els.map(e => e.dataset.itemId)")

    def status(self) -> str:
        return self.page.inner_text("#convrec-status")
