"""`convrec llm-serve`: an OpenAI-compatible chat server over any `LLMBackend`.

Lets the LLM run on its own machine (a GPU box) while the rest of convrec points
`llm.base_url` at it; it is also what the OpenAI backend's tests talk to. Endpoints:

- `GET /v1/models` — the one model served.
- `POST /v1/chat/completions` — `messages`, `max_tokens` / `max_completion_tokens`, `stop`,
  `stream` (server-sent events, ending with `data: [DONE]`), and `response_format` of type
  `json_schema` (grammar-constrained through the backend's `generate_json`) or `json_object`.
  Other OpenAI fields are accepted and ignored; sampling follows the server's own settings.
- `GET /health`.

Requests run in FastAPI's thread pool; the local backend's lock serialises generation.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from convrec.agent.llm import LLMBackend
from convrec.errors import LLMError, LLMUnavailableError


class _Part(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: str
    text: str | None = None


class _Message(BaseModel):
    model_config = ConfigDict(extra="ignore")
    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[_Part] | None = None

    def plain(self) -> dict[str, str]:
        role = "system" if self.role == "developer" else self.role
        if isinstance(self.content, list):
            text = "".join(p.text or "" for p in self.content if p.type == "text")
        else:
            text = self.content or ""
        return {"role": role, "content": text}


class ChatCompletionRequest(BaseModel):
    """The subset of OpenAI's chat-completions request that convrec serves."""

    model_config = ConfigDict(extra="ignore")
    model: str | None = None
    messages: list[_Message] = Field(min_length=1)
    max_tokens: int | None = Field(None, ge=1, le=8192)
    max_completion_tokens: int | None = Field(None, ge=1, le=8192)
    stop: str | list[str] | None = None
    stream: bool = False
    response_format: dict[str, Any] | None = None


def create_app(backend: LLMBackend, model_id: str, default_max_tokens: int = 256) -> Any:
    """The FastAPI app serving `backend` under the model id `model_id`."""
    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse, StreamingResponse

    app = FastAPI(title="convrec LLM server", version="1")
    created = int(time.time())

    def error(status: int, message: str, kind: str = "invalid_request_error") -> JSONResponse:
        return JSONResponse({"error": {"message": message, "type": kind, "code": None, "param": None}}, status)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        return error(400, f"Invalid request{' at ' + where if where else ''}: {first.get('msg')}.")

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok", "model": model_id}

    @app.get("/v1/models")
    def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": model_id, "object": "model", "created": created, "owned_by": "convrec"}]}

    @app.post("/v1/chat/completions", response_model=None)
    def chat(request: ChatCompletionRequest) -> Any:
        if request.model not in (None, "", model_id):
            return error(404, f"The model {request.model!r} is not served here; use {model_id!r}.", "not_found_error")
        messages = [m.plain() for m in request.messages]
        max_tokens = request.max_completion_tokens or request.max_tokens or default_max_tokens
        stop = [request.stop] if isinstance(request.stop, str) else request.stop
        try:
            schema = _schema_of(request.response_format)
        except ValueError as exc:
            return error(400, str(exc))
        completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        if request.stream:
            # Pull the first delta before answering, so a bad request still gets an HTTP error
            # status instead of a broken event stream.
            try:
                deltas = _deltas(backend, messages, schema, max_tokens, stop)
                first = next(deltas, None)
            except LLMError as exc:
                return error(400 if not isinstance(exc, LLMUnavailableError) else 502, str(exc), "llm_error")
            return StreamingResponse(
                _events(completion_id, model_id, first, deltas),
                media_type="text/event-stream",
                headers={"Cache-Control": "no-cache"},
            )
        try:
            if schema is not None:
                content = json.dumps(backend.generate_json(messages, schema, max_tokens), ensure_ascii=False)
            else:
                content = "".join(backend.stream(messages, max_tokens, stop))
        except LLMError as exc:
            return error(400 if not isinstance(exc, LLMUnavailableError) else 502, str(exc), "llm_error")
        return {
            "id": completion_id,
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model_id,
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
            ],
        }

    return app


def _schema_of(response_format: dict[str, Any] | None) -> dict | None:
    """The JSON Schema a request's `response_format` asks for (None = free text)."""
    if not response_format or response_format.get("type") in (None, "text"):
        return None
    kind = response_format.get("type")
    if kind == "json_object":
        return {"type": "object"}
    if kind == "json_schema":
        spec = response_format.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, dict) else None
        if not isinstance(schema, dict):
            raise ValueError("response_format.json_schema.schema must be a JSON Schema object.")
        return schema
    raise ValueError(f"response_format type {kind!r} is not supported; use text, json_object or json_schema.")


def _deltas(
    backend: LLMBackend, messages: list[dict], schema: dict | None, max_tokens: int, stop: list[str] | None
) -> Iterator[str]:
    if schema is not None:  # structured output is produced whole, then sent as one delta
        yield json.dumps(backend.generate_json(messages, schema, max_tokens), ensure_ascii=False)
        return
    yield from backend.stream(messages, max_tokens, stop)


def _events(completion_id: str, model_id: str, first: str | None, rest: Iterator[str]) -> Iterator[str]:
    """Server-sent events in OpenAI's chunk format."""

    def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
        body = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model_id,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"

    yield chunk({"role": "assistant", "content": ""})
    try:
        if first:
            yield chunk({"content": first})
        for text in rest:
            yield chunk({"content": text})
    except LLMError as exc:  # mid-stream: the status is already sent; report in-band
        yield f"data: {json.dumps({'error': {'message': str(exc), 'type': 'llm_error'}})}\n\n"
        return
    finally:
        close = getattr(rest, "close", None)
        if close is not None:
            close()  # a client that hung up cancels the generation
    yield chunk({}, "stop")
    yield "data: [DONE]\n\n"


def serve(backend: LLMBackend, model_id: str, host: str, port: int, default_max_tokens: int = 256) -> None:
    """Run the server in the foreground (Ctrl-C stops it)."""
    import uvicorn

    uvicorn.run(create_app(backend, model_id, default_max_tokens), host=host, port=port, log_level="info")
