"""One streamed turn through the REST API with the real default LLM (Qwen2.5-Coder-0.5B-Instruct)
parsing the request and writing the reply: the stream carries several deltas, the reply names only
its picks, and the page's escaping keeps the LLM's text inert."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from convrec.config import Settings
from convrec.ui.api import create_app
from convrec.ui.chat import escape_reply_text

pytestmark = pytest.mark.slow


def test_a_streamed_turn_with_the_real_llm(
    ml_settings: Settings, ml_index: Any, local_llm: Any, tmp_path_factory: pytest.TempPathFactory
) -> None:
    from convrec.agent.sessions import SessionStore
    from convrec.agent.turn import Agent

    agent = Agent(ml_settings, llm=local_llm, sessions=SessionStore(tmp_path_factory.mktemp("llm") / "s.sqlite"))
    with TestClient(create_app(agent, ui=False)) as client:
        assert client.get("/health").json()["llm"] is True
        sid = client.post("/sessions", json={"user_id": "196"}).json()["session_id"]
        with client.stream(
            "POST", f"/sessions/{sid}/messages/stream", json={"text": "a funny animated film for my kids"}
        ) as resp:
            assert resp.status_code == 200
            raw = "".join(resp.iter_text())
    events = []
    for block in raw.split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "event" in lines:
            events.append((lines["event"], json.loads(lines["data"])))
    assert events[-1][0] == "done", events[-1]
    reply = events[-1][1]
    assert sum(1 for kind, _ in events if kind == "delta") >= 2
    assert reply["items"] and all(item["why"] for item in reply["items"])
    assert any(g in item["facts"]["genres"] for item in reply["items"] for g in ("Animation", "Children's"))
    assert "".join(d["text"] for kind, d in events if kind == "delta").strip() == reply["text"]
    assert "<" not in escape_reply_text(reply["text"], [i["title"] for i in reply["items"]])
