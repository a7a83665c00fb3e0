"""Any OpenAI-compatible chat server (vLLM, llama.cpp server, Ollama, `convrec llm-serve`).

Structured output uses the server's JSON-schema mode (`response_format={"type": "json_schema"}`),
which vLLM, llama.cpp and Ollama implement with grammar-constrained decoding; the answer is still
validated against the schema here, retried once, and turned into a clear `LLMError` otherwise.
Network problems become one sentence (`LLMUnavailableError`) naming the server.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from typing import Any

from convrec.agent.llm import ChatMessage, check_messages, validate_json_text
from convrec.errors import LLMError, LLMUnavailableError


class OpenAIBackend:
    """`LLMBackend` over an OpenAI-compatible `/v1/chat/completions` endpoint.

    `base_url` is the API root, e.g. `http://gpu-box:8000/v1` (a URL without `/v1` gets it
    appended). `model_name` defaults to the first model the server lists. The client is
    thread-safe and holds no per-session state, so one backend serves every session.
    """

    def __init__(
        self,
        base_url: str,
        *,
        model_name: str | None = None,
        api_key: str | None = None,
        temperature: float = 0.0,
        timeout_s: float = 60.0,
        json_retries: int = 1,
    ):
        import openai

        base = base_url.rstrip("/")
        if not re.search(r"/v\d+$", base):
            base += "/v1"
        self.base_url = base
        self.temperature = temperature
        self.timeout_s = timeout_s
        self.json_retries = json_retries
        # The server may need no key (vLLM, llama.cpp, Ollama), but the client insists on one.
        self._client = openai.OpenAI(base_url=base, api_key=api_key or "not-needed", timeout=timeout_s, max_retries=0)
        self._model_name = model_name
        self._model_lock = threading.Lock()

    @property
    def model_name(self) -> str:
        """The model id sent with each request (asked of the server once when not configured)."""
        with self._model_lock:
            if self._model_name is None:
                models = self._call(lambda: list(self._client.models.list()))
                if not models:
                    raise LLMError(f"The LLM server at {self.base_url} lists no models; set llm.model_name.")
                self._model_name = str(models[0].id)
            return self._model_name

    @property
    def name(self) -> str:
        return f"openai:{self._model_name or '?'}@{self.base_url}"

    def generate_json(self, messages: list[ChatMessage], schema: dict, max_tokens: int = 256) -> dict:
        """JSON matching `schema`, using the server's JSON-schema mode; validated here."""
        messages = check_messages(messages)
        response_format = {
            "type": "json_schema",
            "json_schema": {"name": _schema_name(schema), "schema": schema, "strict": False},
        }
        problem: LLMError | None = None
        for _ in range(self.json_retries + 1):
            completion = self._call(
                lambda: self._client.chat.completions.create(
                    model=self.model_name,
                    messages=messages,  # type: ignore[arg-type]
                    max_tokens=max_tokens,
                    temperature=self.temperature,
                    response_format=response_format,  # type: ignore[arg-type]
                )
            )
            text = _content(completion, self.base_url)
            try:
                return validate_json_text(text, schema, f"The LLM server at {self.base_url}")
            except LLMError as exc:
                problem = exc
        assert problem is not None
        raise problem

    def stream(
        self, messages: list[ChatMessage], max_tokens: int = 256, stop: list[str] | None = None
    ) -> Iterator[str]:
        """Text deltas from the server's streamed answer."""
        messages = check_messages(messages)
        chunks = self._call(
            lambda: self._client.chat.completions.create(
                model=self.model_name,
                messages=messages,  # type: ignore[arg-type]
                max_tokens=max_tokens,
                temperature=self.temperature,
                stop=stop or None,
                stream=True,
            )
        )
        iterator = iter(chunks)
        try:
            while True:
                chunk = self._call(lambda: next(iterator, None))
                if chunk is None:
                    break
                choices = getattr(chunk, "choices", None) or []
                delta = getattr(choices[0], "delta", None) if choices else None
                text = getattr(delta, "content", None)
                if text:
                    yield text
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()

    def _call(self, func: Any) -> Any:
        """Run one client call, turning the client's exceptions into one-sentence errors."""
        import openai

        try:
            return func()
        except openai.APITimeoutError:
            raise LLMUnavailableError(
                f"The LLM server at {self.base_url} did not answer within {self.timeout_s:g} s."
            ) from None
        except openai.APIConnectionError:
            raise LLMUnavailableError(f"Cannot reach the LLM server at {self.base_url}; is it running?") from None
        except openai.APIStatusError as exc:
            detail = _error_detail(exc)
            raise LLMUnavailableError(
                f"The LLM server at {self.base_url} refused the request (HTTP {exc.status_code}{detail})."
            ) from None
        except (openai.OpenAIError, json.JSONDecodeError, ValueError, KeyError, TypeError) as exc:
            # APIResponseValidationError and friends: the server answered, but not in the API's shape.
            raise LLMError(
                f"The LLM server at {self.base_url} answered with something that is not an OpenAI chat "
                f"response ({type(exc).__name__})."
            ) from None


def _schema_name(schema: dict) -> str:
    """A name the API accepts (letters, digits, _ and -, at most 64) for the schema."""
    name = re.sub(r"[^A-Za-z0-9_-]", "_", str(schema.get("title") or "answer"))
    return name[:64] or "answer"


def _content(completion: Any, base_url: str) -> str:
    if not hasattr(completion, "choices"):  # the client hands back non-JSON bodies as they came
        raise LLMError(f"The LLM server at {base_url} answered with something that is not an OpenAI chat response.")
    choices = completion.choices
    if not choices:
        raise LLMError(f"The LLM server at {base_url} answered with no choices.")
    content = getattr(choices[0].message, "content", None)
    if not isinstance(content, str):
        raise LLMError(f"The LLM server at {base_url} answered with no text.")
    return content


def _error_detail(exc: Any) -> str:
    body = getattr(exc, "body", None)
    message = None
    if isinstance(body, dict):
        inner = body.get("error", body)
        message = inner.get("message") if isinstance(inner, dict) else None
        message = message or body.get("detail")
    if not message:
        return ""
    text = " ".join(str(message).split())
    return ": " + (text if len(text) <= 120 else text[:119] + "…")
