"""Any LangChain chat model as an `LLMBackend` (for Python users who already have one).

Streaming goes through the model's own `.stream()`. Structured output cannot rely on
`with_structured_output` (local LangChain models raise or return invalid JSON with it, see
ASSETS.md), so the schema is put into the system prompt, the first JSON object in the answer is
parsed and validated, and one retry shows the model its mistake; after that, a clear `LLMError`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from convrec.agent.llm import ChatMessage, check_messages, cut_at_stops, json_instruction, validate_json_text
from convrec.errors import LLMError


class LangChainBackend:
    """`LLMBackend` over a LangChain `BaseChatModel` (or any runnable taking a message list and
    returning a message). `max_tokens` is passed only where the model accepts it at call time;
    otherwise the model's own configuration limits the length."""

    def __init__(self, chat_model: Any, *, name: str | None = None, json_retries: int = 1):
        self.chat_model = chat_model
        self.name = name or f"langchain:{type(chat_model).__name__}"
        self.json_retries = json_retries

    def generate_json(self, messages: list[ChatMessage], schema: dict, max_tokens: int = 256) -> dict:
        """JSON matching `schema`, asked for by instruction and validated (one retry)."""
        messages = check_messages(messages)
        instruction = json_instruction(schema)
        if messages[0]["role"] == "system":
            prompt = [{"role": "system", "content": messages[0]["content"] + "\n\n" + instruction}, *messages[1:]]
        else:
            prompt = [{"role": "system", "content": instruction}, *messages]
        problem: LLMError | None = None
        for _ in range(self.json_retries + 1):
            answer = self._invoke(prompt, max_tokens)
            try:
                return validate_json_text(answer, schema, f"The chat model {self.name}")
            except LLMError as exc:
                problem = exc
                prompt = [
                    *prompt,
                    {"role": "assistant", "content": answer},
                    {"role": "user", "content": f"That was not valid: {exc} Reply with the corrected JSON object only."},
                ]
        assert problem is not None
        raise LLMError(f"{problem} (after {self.json_retries + 1} tries)") from None

    def stream(
        self, messages: list[ChatMessage], max_tokens: int = 256, stop: list[str] | None = None
    ) -> Iterator[str]:
        """Text deltas from the chat model's `.stream()`; stop strings are applied here too, since
        not every model honours them."""
        lc_messages = to_langchain(check_messages(messages))
        # Chat models take `stop`; a plain runnable standing in for one may not.
        options = {"stop": stop} if stop and self._is_chat_model() else {}
        yield from cut_at_stops(self._chunks(lc_messages, options), stop)

    def _chunks(self, lc_messages: list[Any], options: dict[str, Any]) -> Iterator[str]:
        try:
            for chunk in self.chat_model.stream(lc_messages, **options):
                yield _text(chunk)
        except Exception as exc:  # provider errors come in every type
            raise LLMError(f"The chat model {self.name} failed: {type(exc).__name__}: {exc}") from None

    def _invoke(self, messages: list[ChatMessage], max_tokens: int) -> str:
        lc_messages = to_langchain(messages)
        try:
            if self._is_chat_model():
                try:
                    reply = self.chat_model.invoke(lc_messages, max_tokens=max_tokens)
                except TypeError:  # this model takes no max_tokens at call time
                    reply = self.chat_model.invoke(lc_messages)
            else:
                reply = self.chat_model.invoke(lc_messages)
        except Exception as exc:  # provider errors come in every type
            raise LLMError(f"The chat model {self.name} failed: {type(exc).__name__}: {exc}") from None
        return _text(reply)

    def _is_chat_model(self) -> bool:
        from langchain_core.language_models import BaseChatModel

        return isinstance(self.chat_model, BaseChatModel)


def to_langchain(messages: list[ChatMessage]) -> list[Any]:
    """convrec chat messages as LangChain message objects."""
    from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

    kinds = {"system": SystemMessage, "user": HumanMessage, "assistant": AIMessage}
    return [kinds[m["role"]](content=m["content"]) for m in messages]


def _text(message: Any) -> str:
    """The text of a LangChain message or chunk (string or content blocks), or of a string."""
    if isinstance(message, str):
        return message
    text = getattr(message, "text", None)
    if isinstance(text, str):
        return str(text)
    content = getattr(message, "content", "")
    return content if isinstance(content, str) else ""
