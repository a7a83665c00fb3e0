"""What a turn returns: the reply text, the picks with their reasons, and what convrec understood.

Plain pydantic models, so the REST API, the chat page, the LangChain tool and the evaluation
harness all see the same shape.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class RecommendedItem(BaseModel):
    id: str
    title: str
    facts: dict[str, Any] = Field(default_factory=dict, description="The item's facets, as data.")
    why: str = Field("", description="One short reason, drawn from facts and score parts.")
    score: float = 0.0
    parts: dict[str, float] = Field(default_factory=dict, description="Score parts from the ranker.")


class Chip(BaseModel):
    """One constraint convrec understood; `key` removes it (`Agent.remove_constraint`)."""

    key: str
    label: str
    kind: str


class Reply(BaseModel):
    session_id: str
    text: str
    kind: Literal["picks", "about", "reordered", "chat"] = Field(
        default="picks",
        description="What the turn gave: new picks; an answer about one shown item ('tell me more about #2'), "
        "its card in `items` (or, for 'why these?', the list's cards); the list just shown, reordered ('which one is the best?'); or a word with no "
        "list ('thanks', 'hi', an empty message).",
    )
    items: list[RecommendedItem] = Field(default_factory=list)
    understood: list[Chip] = Field(default_factory=list)
    relaxed: list[str] = Field(default_factory=list, description="Constraints dropped to find anything.")
    notice: str = ""
    catalog: str = ""
    timings: dict[str, float] = Field(default_factory=dict, description="Seconds per stage of the turn.")
    removed_titles: list[str] = Field(default_factory=list, description="Titles the guard took out of the LLM's text.")
    removed_claims: list[str] = Field(
        default_factory=list,
        description="Numbers and facet values (e.g. a genre) the guard took out of the LLM's text because the "
        "pick's facts do not hold them.",
    )
    cited: list[str] = Field(
        default_factory=list,
        description="Ids of items besides the picks that the reply may name: ones the person referred to or "
        "liked, and history items the reasons point at ('people who liked X also liked it').",
    )


class ReplyEvent(BaseModel):
    """A streamed piece of a turn: text deltas, then one `done` carrying the whole reply."""

    type: Literal["delta", "done"]
    text: str = ""
    reply: Reply | None = None
