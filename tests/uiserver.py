"""A real `convrec serve` process for tests and benchmarks: started, probed, stopped, restarted.

Not a fixture module: test files and bench/serve.py use `ConvrecServer` directly.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


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
