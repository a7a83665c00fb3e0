"""LangChain adapters, so an existing LangChain/LangGraph assistant can call convrec.

- `ConvrecTool`: a LangChain tool. A customer-service agent's LLM calls it with the customer's
  request (and a conversation id, to refine over several turns); it answers with the reply text as
  the tool's content and the whole `Reply` as its artifact.
- `convrec_runnable(agent)`: a `Runnable` taking `{"message", "session_id"?, "user_id"?}` (or a
  plain string) and returning the `Reply` as a dict.
- `convrec_text_stream(agent)`: the same input; its stream is the reply text as it is written.

Thin by design: all behaviour lives in `Agent`; these only translate shapes.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

from langchain_core.runnables import Runnable, RunnableGenerator, RunnableLambda
from langchain_core.tools import BaseTool
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from convrec.errors import ConvrecError


class RecommendInput(BaseModel):
    """Arguments of the convrec tool call."""

    request: str = Field(..., description="What the customer is looking for, in their own words.")
    conversation_id: str | None = Field(
        None,
        description="Pass the same id on follow-ups ('something older', 'more like #2') to refine; "
        "omit to start a new conversation.",
    )
    user_id: str | None = Field(None, description="The customer's id in the catalog, if known (history-aware picks).")


class ConvrecTool(BaseTool):
    """Recommends catalog items for a natural-language request, with a reason for each pick."""

    name: str = "convrec_recommend"
    description: str = (
        "Recommend items (e.g. movies) from the catalog for a natural-language request. Handles "
        "genres, eras, exclusions ('nothing violent'), references ('like Toy Story'), the people "
        "behind a title ('by the director of Fargo', where the catalog has a knowledge graph), follow-ups "
        "when given the same conversation_id, and questions about one pick ('tell me more about #2', "
        "'is it funny?'). Returns the picks with a short reason each."
    )
    args_schema: type[BaseModel] = RecommendInput
    response_format: str = "content_and_artifact"
    model_config = ConfigDict(arbitrary_types_allowed=True)

    agent: Any = Field(..., exclude=True, description="A convrec.agent.Agent.")
    catalog: str | None = None
    _conversations: dict[str, str] = PrivateAttr(default_factory=dict)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    def _session_for(self, conversation_id: str | None, user_id: str | None) -> tuple[str, str]:
        """Map the caller's conversation id onto a convrec session (created on first use)."""
        with self._lock:
            if conversation_id and conversation_id in self._conversations:
                return conversation_id, self._conversations[conversation_id]
            sid = self.agent.new_session(user_id=user_id, catalog=self.catalog)
            key = conversation_id or sid
            self._conversations[key] = sid
            return key, sid

    def _run(
        self, request: str, conversation_id: str | None = None, user_id: str | None = None, **_: Any
    ) -> tuple[str, dict[str, Any]]:
        key, sid = self._session_for(conversation_id, user_id)
        try:
            reply = self.agent.chat(sid, request)
        except ConvrecError as exc:
            return f"convrec could not answer: {exc}", {"error": str(exc), "conversation_id": key}
        artifact = reply.model_dump()
        artifact["conversation_id"] = key
        return f"{reply.text}\n\n(conversation_id: {key})", artifact


def _payload(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        return {"message": value}
    if isinstance(value, dict) and "message" in value:
        return value
    raise ConvrecError('convrec expects a string or {"message": ..., "session_id": ..., "user_id": ...}.')


def _session(agent: Any, payload: dict[str, Any], catalog: str | None) -> str:
    sid = payload.get("session_id")
    if sid and agent.sessions.exists(sid):
        return sid
    return agent.new_session(user_id=payload.get("user_id"), catalog=catalog)


def convrec_runnable(agent: Any, catalog: str | None = None) -> Runnable:
    """A Runnable: `{"message", "session_id"?, "user_id"?}` or a string → the `Reply` as a dict.

    Pass the returned `session_id` back in to refine the same conversation.
    """

    def _invoke(value: Any) -> dict[str, Any]:
        payload = _payload(value)
        return agent.chat(_session(agent, payload, catalog), str(payload["message"])).model_dump()

    return RunnableLambda(_invoke, name="convrec")


def convrec_text_stream(agent: Any, catalog: str | None = None) -> Runnable:
    """A Runnable whose stream is the reply's text as it is written (invoke: the whole text)."""

    def _generate(values: Iterator[Any]) -> Iterator[str]:
        for value in values:
            payload = _payload(value)
            for event in agent.chat_stream(_session(agent, payload, catalog), str(payload["message"])):
                if event.type == "delta":
                    yield event.text

    return RunnableGenerator(_generate, name="convrec_text")
