"""The language-model layer: one small interface, three backends.

Everything above this module (preference parsing, replies, the turn loop) talks to an
`LLMBackend`: `generate_json(messages, schema)` returns a dict that matches a JSON Schema, and
`stream(messages)` yields text deltas. Backends:

- `LocalBackend` (`convrec.agent.llm_local`): a packaged model run with transformers in this
  process; bitsandbytes nf4 by default; JSON through grammar-constrained decoding (xgrammar), so
  structured output always parses.
- `OpenAIBackend` (`convrec.agent.llm_openai`): any OpenAI-compatible server by base URL (vLLM,
  llama.cpp server, Ollama, or `convrec llm-serve`), using the server's JSON-schema mode.
- `LangChainBackend` (`convrec.agent.llm_langchain`): any LangChain chat model a Python user
  passes in; JSON by instruction plus validation and a retry.

`make_backend(settings)` builds the configured one.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from convrec.errors import ConfigError, LLMError

if TYPE_CHECKING:
    from convrec.config import Settings

ChatMessage = dict  # {"role": "system"|"user"|"assistant", "content": str}
ROLES = ("system", "user", "assistant")


@runtime_checkable
class LLMBackend(Protocol):
    """What the agent needs from a language model.

    Implementations are safe to share between threads (sessions): the local backend serialises
    generation with a lock, server backends are stateless clients.
    """

    name: str  # e.g. "local:qwen2.5-coder-0.5b:nf4"

    def generate_json(self, messages: list[ChatMessage], schema: dict, max_tokens: int = 256) -> dict:
        """JSON matching `schema` (a JSON Schema dict, e.g. Model.model_json_schema()); local
        decoding is grammar-constrained so it always parses; stops at the end of the object."""
        ...

    def stream(
        self, messages: list[ChatMessage], max_tokens: int = 256, stop: list[str] | None = None
    ) -> Iterator[str]:
        """Text deltas as they are generated."""
        ...


def check_messages(messages: list[ChatMessage]) -> list[ChatMessage]:
    """Validate chat messages (roles and string contents) and return plain copies."""
    if not messages:
        raise LLMError("A chat request needs at least one message.")
    clean: list[ChatMessage] = []
    for i, message in enumerate(messages):
        role, content = message.get("role"), message.get("content")
        if role not in ROLES:
            raise LLMError(f"Message {i} has role {role!r}; use one of {', '.join(ROLES)}.")
        if not isinstance(content, str):
            raise LLMError(f"Message {i} has no text content.")
        clean.append({"role": role, "content": content})
    return clean


def validate_json_text(text: str, schema: dict, source: str) -> dict:
    """Parse `text` as one JSON object (leading/trailing chatter allowed) and check it against
    `schema`; raise `LLMError` with one sentence saying what was wrong."""
    start = text.find("{")
    if start < 0:
        raise LLMError(f"{source} did not answer with a JSON object (got {_snippet(text)}).")
    try:
        value, _ = json.JSONDecoder().raw_decode(text, start)
    except json.JSONDecodeError as exc:
        raise LLMError(f"{source} answered with malformed JSON ({exc.msg} in {_snippet(text[start:])}).") from None
    return validate_json_value(value, schema, source)


def validate_json_value(value: Any, schema: dict, source: str) -> dict:
    """Check a decoded JSON value against `schema`; raise `LLMError` naming the first problem."""
    import jsonschema

    if not isinstance(value, dict):
        raise LLMError(f"{source} answered with JSON that is not an object.")
    validator_cls = jsonschema.validators.validator_for(schema)
    errors = sorted(validator_cls(schema).iter_errors(value), key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        where = "/".join(str(p) for p in first.absolute_path) or "the top level"
        raise LLMError(f"{source} answered with JSON that does not match the schema at {where}: {first.message}.")
    return value


def json_instruction(schema: dict) -> str:
    """The instruction that asks an unconstrained model for JSON matching `schema`."""
    return (
        "Answer with one JSON object only, no prose and no code fences, that matches this JSON Schema:\n"
        + json.dumps(schema, separators=(",", ":"))
    )


def cut_at_stops(deltas: Iterator[str], stop: list[str] | None) -> Iterator[str]:
    """Pass text deltas through, ending just before the first stop string. A stop string may
    straddle deltas, so up to len(longest stop) - 1 characters are held back until resolved."""
    stops = [s for s in stop or () if s]
    if not stops:
        yield from (d for d in deltas if d)
        return
    hold = max(len(s) for s in stops) - 1
    buffer = ""
    for delta in deltas:
        buffer += delta
        hits = [i for i in (buffer.find(s) for s in stops) if i >= 0]
        if hits:
            if min(hits) > 0:
                yield buffer[: min(hits)]
            return
        if len(buffer) > hold:
            cut = len(buffer) - hold
            yield buffer[:cut]
            buffer = buffer[cut:]
    if buffer:
        yield buffer


def _snippet(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")


def make_backend(settings: Settings, log: Any = None) -> LLMBackend | None:
    """The backend `settings.llm` describes, or None when `llm.backend = "none"` (rules-only
    parsing and template replies). Loading a local model takes ~1-3 s once it is cached (the
    first use converts the packaged GGUF, about a minute). Build it once and share it: all
    sessions may use one backend."""
    cfg = settings.llm
    if cfg.backend == "local":
        from convrec.agent.llm_local import LocalBackend

        return LocalBackend.load(
            cfg.model,
            models_dir=settings.models_dir,
            quantization=cfg.quantization,
            device=settings.resolved_device(),
            decoder=cfg.decoder,
            temperature=cfg.temperature,
            prompt_cache=cfg.prompt_cache,
            prompt_lookup_tokens=cfg.prompt_lookup_tokens,
            threads=cfg.threads,
            log=log,
        )
    if cfg.backend == "openai":
        from convrec.agent.llm_openai import OpenAIBackend

        if not cfg.base_url:
            raise ConfigError("llm.backend is 'openai' but llm.base_url is not set (e.g. http://host:8000/v1).")
        return OpenAIBackend(
            cfg.base_url,
            model_name=cfg.model_name,
            api_key=cfg.api_key,
            temperature=cfg.temperature,
            timeout_s=cfg.timeout_s,
            json_retries=cfg.json_retries,
        )
    return None


__all__ = [
    "ChatMessage",
    "LLMBackend",
    "check_messages",
    "cut_at_stops",
    "json_instruction",
    "make_backend",
    "validate_json_text",
    "validate_json_value",
]


def __getattr__(name: str) -> Any:  # lazy re-exports: importing this module must stay cheap
    if name == "LocalBackend":
        from convrec.agent.llm_local import LocalBackend

        return LocalBackend
    if name == "OpenAIBackend":
        from convrec.agent.llm_openai import OpenAIBackend

        return OpenAIBackend
    if name == "LangChainBackend":
        from convrec.agent.llm_langchain import LangChainBackend

        return LangChainBackend
    raise AttributeError(name)
