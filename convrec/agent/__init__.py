"""The conversational agent: understanding a message, the dialogue state, the turn loop, replies.

`from convrec.agent import Agent, Reply` is the entry point; the names load lazily so that importing
a submodule (say `convrec.agent.rules`) does not pull in the retrieval and ranking stacks.
"""

from __future__ import annotations

from typing import Any

_EXPORTS = {
    "Agent": "convrec.agent.turn",
    "Reply": "convrec.agent.reply",
    "ReplyEvent": "convrec.agent.reply",
    "RecommendedItem": "convrec.agent.reply",
    "Chip": "convrec.agent.reply",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'convrec.agent' has no attribute {name!r}")
