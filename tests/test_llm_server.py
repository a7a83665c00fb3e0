"""The OpenAI-compatible backend against a real `convrec llm-serve` process (and broken servers)."""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from pydantic import BaseModel

from convrec.agent.llm_openai import OpenAIBackend
from convrec.errors import LLMError, LLMUnavailableError

from tests.conftest import free_port


class Pick(BaseModel):
    genre: str
    year: int


MESSAGES = [
    {"role": "system", "content": "You answer movie questions with JSON."},
    {"role": "user", "content": "Give one genre and a year for a classic 1980s action movie."},
]


@pytest.fixture(scope="module")
def llm_server(tmp_path_factory: pytest.TempPathFactory, llm_models_dir: Path):
    """A real `convrec llm-serve` subprocess on 127.0.0.1 serving the default model."""
    home = tmp_path_factory.mktemp("llm-serve-home")
    (home / "models").symlink_to(llm_models_dir, target_is_directory=True)
    port = free_port()
    log = open(home / "server.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "convrec.cli", "--home", str(home), "llm-serve", "--host", "127.0.0.1", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent), "HF_HUB_DISABLE_PROGRESS_BARS": "1"},
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 300  # a cold cache converts the GGUF first
    while True:
        try:
            with urllib.request.urlopen(url + "/health", timeout=1) as reply:
                if reply.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.time() > deadline:
            proc.kill()
            raise RuntimeError(f"llm-serve did not start: {(home / 'server.log').read_text()[-2000:]}")
        time.sleep(0.5)
    yield url
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


pytestmark = pytest.mark.slow


def test_structured_output_through_the_servers_json_schema_mode(llm_server: str) -> None:
    backend = OpenAIBackend(llm_server + "/v1", json_retries=0)
    result = backend.generate_json(MESSAGES, Pick.model_json_schema(), max_tokens=24)
    Pick.model_validate(result)
    assert backend.model_name == "qwen2.5-coder-0.5b"  # discovered from /v1/models
    assert backend.name == f"openai:qwen2.5-coder-0.5b@{llm_server}/v1"


def test_streaming_through_the_server(llm_server: str) -> None:
    backend = OpenAIBackend(llm_server)  # /v1 is added
    deltas = list(backend.stream([{"role": "user", "content": "Say hello in five words."}], max_tokens=16))
    assert len(deltas) >= 2 and "".join(deltas).strip()


def test_official_client_sees_openai_shapes(llm_server: str) -> None:
    import openai

    client = openai.OpenAI(base_url=llm_server + "/v1", api_key="x", max_retries=0)
    assert [m.id for m in client.models.list()] == ["qwen2.5-coder-0.5b"]
    genre = {"type": "object", "properties": {"genre": {"enum": ["Action", "Drama"]}}, "required": ["genre"]}
    completion = client.chat.completions.create(
        model="qwen2.5-coder-0.5b",
        messages=MESSAGES,
        max_tokens=12,
        response_format={"type": "json_schema", "json_schema": {"name": "Genre", "schema": genre}},
    )
    assert json.loads(completion.choices[0].message.content)["genre"] in {"Action", "Drama"}
    assert completion.object == "chat.completion" and completion.choices[0].finish_reason == "stop"
    with pytest.raises(openai.BadRequestError, match="response_format type 'grammar' is not supported"):
        client.chat.completions.create(
            model="qwen2.5-coder-0.5b", messages=MESSAGES, response_format={"type": "grammar"}  # type: ignore[typeddict-item]
        )
    with pytest.raises(openai.NotFoundError, match="not served here"):
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES)


def test_dead_server_is_one_clear_sentence() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens here
    backend = OpenAIBackend(url, model_name="m", timeout_s=5)
    with pytest.raises(LLMUnavailableError) as caught:
        backend.generate_json(MESSAGES, Pick.model_json_schema())
    assert str(caught.value) == f"Cannot reach the LLM server at {url}; is it running?"
    with pytest.raises(LLMUnavailableError, match="Cannot reach"):
        list(backend.stream(MESSAGES))


class _Faulty(http.server.BaseHTTPRequestHandler):
    """Injects server faults: garbage bodies, or well-formed answers whose JSON breaks the schema."""

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.server.mode == "garbage":  # type: ignore[attr-defined]
            body, kind = b"<html>502 bad gateway</html>", "text/html"
        else:
            answer = {"choices": [{"index": 0, "message": {"role": "assistant", "content": '{"genre": 7, "year": 1980}'}, "finish_reason": "stop"}]}
            body, kind = json.dumps({"id": "x", "object": "chat.completion", "created": 0, "model": "m", **answer}).encode(), "application/json"
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("garbage", r"answered with something that is not an OpenAI chat response"),
        ("wrong-json", r"does not match the schema at genre: 7 is not of type 'string'"),
    ],
)
def test_server_answering_garbage_is_a_clear_error(mode: str, expected: str) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Faulty)
    server.mode = mode  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        backend = OpenAIBackend(f"http://127.0.0.1:{server.server_address[1]}/v1", model_name="m", timeout_s=5)
        with pytest.raises(LLMError, match=expected):
            backend.generate_json(MESSAGES, Pick.model_json_schema())
    finally:
        server.shutdown()
        server.server_close()


def test_llm_serve_rejects_an_unknown_model_in_one_line(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from convrec.cli import app

    result = CliRunner().invoke(app, ["--home", str(tmp_path), "llm-serve", "--model", "gpt-9"])
    assert result.exit_code == 2
    assert "Invalid setting llm.model" in result.output and "Traceback" not in result.output
