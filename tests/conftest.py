"""Shared fixtures: isolated convrec homes and one real MovieLens index per test session."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from convrec.config import Settings, offline_environment

offline_environment()

REPO = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO / "test-artifacts"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def settings(home: Path, shared_data_dir: Path) -> Settings:
    s = Settings(home=home)
    # Share the downloaded data wheels between tests (they are immutable and checksummed).
    s.data_dir.parent.mkdir(parents=True, exist_ok=True)
    if not s.data_dir.exists():
        s.data_dir.symlink_to(shared_data_dir, target_is_directory=True)
    return s


@pytest.fixture(scope="session")
def shared_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = Path(os.environ.get("CONVREC_TEST_DATA", REPO / ".cache" / "test-data"))
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def ml_settings(tmp_path_factory: pytest.TempPathFactory, shared_data_dir: Path) -> Settings:
    home = tmp_path_factory.mktemp("ml-home")
    s = Settings(home=home)
    s.data_dir.parent.mkdir(parents=True, exist_ok=True)
    s.data_dir.symlink_to(shared_data_dir, target_is_directory=True)
    return s


@pytest.fixture(scope="session")
def ml_index(ml_settings: Settings):
    """The real MovieLens index, built once with the real embedding model."""
    from convrec.retrieval.index import Index, build_index

    build_index(ml_settings, "movielens", progress=False)
    return Index.open(ml_settings, "movielens")


@pytest.fixture
def chroma_server(tmp_path: Path):
    """A real `chroma run` server on 127.0.0.1, stopped after the test."""
    port = free_port()
    exe = Path(sys.executable).with_name("chroma")
    proc = subprocess.Popen(
        [str(exe), "run", "--path", str(tmp_path / "chroma-server"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "ANONYMIZED_TELEMETRY": "False"},
    )
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError("chroma run exited early")
            time.sleep(0.2)
    else:
        proc.kill()
        raise RuntimeError("chroma run did not start in 60 s")
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


# --- language models -------------------------------------------------------------------------


@pytest.fixture(scope="session")
def llm_models_dir() -> Path:
    """Cached model copies shared across test runs (the first build converts the packaged GGUF,
    about a minute; later sessions reuse it). Override with $CONVREC_TEST_MODELS."""
    path = Path(os.environ.get("CONVREC_TEST_MODELS", REPO / ".cache" / "test-models"))
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def local_llm(llm_models_dir: Path):
    """The real default model (Qwen2.5-Coder-0.5B-Instruct, default quantization), loaded once
    per test session and shared (the backend is thread-safe)."""
    from convrec.agent.llm_local import LocalBackend

    return LocalBackend.load("qwen2.5-coder-0.5b", models_dir=llm_models_dir)
