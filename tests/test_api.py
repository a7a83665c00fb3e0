"""The REST API over the real rules-only agent (real MovieLens index, real ranker, real SQLite):
every route, one-sentence errors, 413, isolation between sessions, SSE framing, feedback that
changes the next picks, bearer auth on the real app, and injected write failures that lose nothing."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from fastapi.testclient import TestClient

from convrec.config import Settings
from convrec.ui.api import MIN_TOKEN_CHARS, create_app

REQUEST = "a light-hearted sci-fi film from the 90s, nothing violent"
TOKEN = "api-test-token-0123456789abcdef"
assert len(TOKEN) >= MIN_TOKEN_CHARS

pytestmark = pytest.mark.slow  # builds (or reuses) the real MovieLens index


@pytest.fixture(scope="module")
def agent(ml_settings: Settings, ml_index: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    from convrec.agent.sessions import SessionStore
    from convrec.agent.turn import Agent

    store = SessionStore(tmp_path_factory.mktemp("api-sessions") / "sessions.sqlite")
    return Agent(ml_settings, llm=None, sessions=store)


@pytest.fixture(scope="module")
def client(agent: Any) -> TestClient:
    with TestClient(create_app(agent, ui=True)) as c:
        yield c


def new_session(client: TestClient, **body: Any) -> str:
    resp = client.post("/sessions", json=body)
    assert resp.status_code == 201, resp.text
    return resp.json()["session_id"]


def say(client: TestClient, sid: str, text: str) -> dict[str, Any]:
    resp = client.post(f"/sessions/{sid}/messages", json={"text": text})
    assert resp.status_code == 200, resp.text
    return resp.json()


def sse_events(raw: str) -> list[tuple[str, dict[str, Any]]]:
    """Parse a text/event-stream body into (event, data) pairs."""
    events = []
    for block in raw.replace("\r\n", "\n").split("\n\n"):
        name, data = "message", []
        for line in block.split("\n"):
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].removeprefix(" "))
        if data:
            events.append((name, json.loads("\n".join(data))))
    return events


def test_health_catalogs_and_docs(client: TestClient, agent: Any) -> None:
    built = agent.catalogs()  # the shared test home may hold other tests' catalogs too
    assert "movielens" in built
    health = client.get("/health").json()
    assert health == {"status": "ok", "default_catalog": "movielens", "catalogs": built, "llm": False}
    assert client.get("/catalogs").json() == {"default": "movielens", "catalogs": built}
    schema = client.get("/openapi.json").json()
    assert {"/sessions", "/sessions/{session_id}/messages", "/sessions/{session_id}/messages/stream",
            "/sessions/{session_id}/feedback", "/items/{item_id}", "/health"} <= set(schema["paths"])
    assert client.get("/docs").status_code == 200
    page = client.get("/ui/")
    assert page.status_code == 200 and "gradio" in page.text.lower()
    assert client.get("/", follow_redirects=False).headers["location"] == "/ui/"


def test_a_turn_answers_with_picks_reasons_and_chips(client: TestClient) -> None:
    sid = new_session(client, user_id="196")
    assert len(sid) >= 32 and sid.replace("-", "").replace("_", "").isalnum()
    reply = say(client, sid, REQUEST)
    assert reply["session_id"] == sid and reply["catalog"] == "movielens"
    assert 1 <= len(reply["items"]) <= 10
    for item in reply["items"]:
        assert "Sci-Fi" in item["facts"]["genres"] and 1990 <= item["facts"]["year"] <= 1999
        assert item["why"] and item["title"] in reply["text"]
    labels = " ".join(c["label"] for c in reply["understood"])
    assert "Sci-Fi" in labels and "199" in labels
    view = client.get(f"/sessions/{sid}").json()
    assert [m["role"] for m in view["messages"]] == ["user", "assistant"]
    assert view["messages"][0]["text"] == REQUEST and view["user_id"] == "196"
    assert [i["id"] for i in view["messages"][1]["items"]] == [i["id"] for i in reply["items"]]
    assert view["understood"] == reply["understood"]


def test_stream_sends_deltas_then_the_whole_reply(client: TestClient) -> None:
    sid = new_session(client)
    with client.stream("POST", f"/sessions/{sid}/messages/stream", json={"text": REQUEST}) as resp:
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/event-stream")
        raw = "".join(resp.iter_text())
    events = sse_events(raw)
    kinds = [k for k, _ in events]
    assert kinds[-1] == "done" and kinds.count("done") == 1 and set(kinds[:-1]) == {"delta"} and len(kinds) >= 2
    reply = events[-1][1]
    assert "".join(d["text"] for k, d in events if k == "delta").strip() == reply["text"]
    assert reply["items"] and reply["session_id"] == sid
    assert len(client.get(f"/sessions/{sid}").json()["messages"]) == 2  # the streamed turn is stored too


def test_feedback_constraints_reset_and_items(client: TestClient) -> None:
    sid = new_session(client)
    reply = say(client, sid, REQUEST)
    first = reply["items"][0]["id"]
    resp = client.post(f"/sessions/{sid}/feedback", json={"item_id": first, "value": 1})
    assert resp.status_code == 200 and resp.json()["feedback"] == {first: 1}
    resp = client.post(f"/sessions/{sid}/feedback", json={"item_id": first, "value": -1})
    assert resp.json()["feedback"] == {first: -1}  # the latest opinion wins

    chip = reply["understood"][0]
    left = client.delete(f"/sessions/{sid}/constraints/{chip['key']}")
    assert left.status_code == 200 and chip["key"] not in {c["key"] for c in left.json()["understood"]}
    again = client.delete(f"/sessions/{sid}/constraints/{chip['key']}")
    assert again.status_code == 404 and "No constraint" in again.json()["detail"]

    reset = client.post(f"/sessions/{sid}/reset")
    assert reset.status_code == 200 and reset.json()["understood"] == []
    assert client.get(f"/sessions/{sid}").json()["feedback"] == {first: -1}  # feedback survives "start over"

    item = client.get(f"/items/{first}").json()
    assert item["id"] == first and item["title"] and "genres" in item["facts"]


def test_likes_change_the_next_picks(client: TestClient) -> None:
    """Same two requests in two sessions; only one likes a pick in between."""
    liker, control = new_session(client), new_session(client)
    first = say(client, liker, "a sci-fi film")
    assert [i["id"] for i in say(client, control, "a sci-fi film")["items"]] == [i["id"] for i in first["items"]]
    liked = first["items"][-1]
    assert client.post(f"/sessions/{liker}/feedback", json={"item_id": liked["id"], "value": 1}).status_code == 200
    after_like = say(client, liker, "something else")
    no_like = say(client, control, "something else")
    assert [i["id"] for i in after_like["items"]] != [i["id"] for i in no_like["items"]]
    assert any(liked["title"] in i["why"] for i in after_like["items"])  # the reason names the liked film


@pytest.mark.parametrize(
    "method,path,body",
    [
        ("GET", "/sessions/{sid}", None),
        ("POST", "/sessions/{sid}/messages", {"text": "hi"}),
        ("POST", "/sessions/{sid}/messages/stream", {"text": "hi"}),
        ("POST", "/sessions/{sid}/feedback", {"item_id": "1", "value": 1}),
        ("DELETE", "/sessions/{sid}/constraints/genres", None),
        ("POST", "/sessions/{sid}/reset", None),
    ],
)
def test_unknown_sessions_are_404_and_malformed_ids_422(client: TestClient, method: str, path: str, body: Any) -> None:
    unknown = client.request(method, path.format(sid="A" * 32), json=body)
    assert unknown.status_code == 404 and unknown.json() == {"detail": "No such session; start a new one."}
    bad = client.request(method, path.format(sid="..%2F..%2Fetc"), json=body)
    assert bad.status_code in (404, 422) and isinstance(bad.json()["detail"], str)


def test_bad_input_gets_one_sentence_never_a_5xx(client: TestClient) -> None:
    sid = new_session(client)
    cases = [
        client.post(f"/sessions/{sid}/feedback", json={"item_id": "1", "value": 2}),
        client.post(f"/sessions/{sid}/feedback", json={"item_id": "no-such-item", "value": 1}),
        client.post(f"/sessions/{sid}/messages", json={"txt": "typo in the field name"}),
        client.post(f"/sessions/{sid}/messages", content=b"{not json", headers={"content-type": "application/json"}),
        client.post("/sessions", json={"catalog": "../../etc/passwd.toml"}),
        client.post(f"/sessions/{sid}/messages", json={"text": "hi", "catalog": "nope"}),
        client.get("/items/no-such-item"),
        client.get("/items/1", params={"catalog": "/tmp/mapping.toml"}),
        client.get("/no/such/path"),
        client.post(f"/sessions/{sid}/messages", content=b'{"text": "\\ud800 lone surrogate"}',
                    headers={"content-type": "application/json"}),
    ]
    codes = [r.status_code for r in cases]
    assert codes == [422, 404, 422, 422, 404, 404, 404, 404, 404, 422]
    for resp in cases:
        detail = resp.json()["detail"]
        assert isinstance(detail, str) and detail.endswith(".") and "\n" not in detail and "Traceback" not in detail
    assert "No catalog named '../../etc/passwd.toml'" in cases[4].json()["detail"]


def test_huge_bodies_get_413_and_long_messages_one_sentence(client: TestClient) -> None:
    sid = new_session(client)
    huge = client.post(f"/sessions/{sid}/messages", json={"text": "x" * 200_000})
    assert huge.status_code == 413 and huge.json()["detail"] == "The request body is too large."

    def chunks():  # no Content-Length: the limit must hold while reading, too
        for _ in range(100):
            yield b"x" * 4096

    streamed = client.post(f"/sessions/{sid}/messages", content=chunks(), headers={"content-type": "application/json"})
    assert streamed.status_code == 413
    long = say(client, sid, "sci-fi " * 1000)  # 7 KB: under the body limit, over the agent's message limit
    assert "too long" in long["text"] and long["items"] == [] and long["text"].count(".") <= 2
    assert client.get(f"/sessions/{sid}").json()["messages"] == []  # nothing half-stored


def test_sessions_cannot_see_each_other(client: TestClient) -> None:
    a, b = new_session(client, user_id="10"), new_session(client, user_id="20")
    ra = say(client, a, REQUEST)
    rb = say(client, b, "a dark thriller from the 70s")
    assert client.post(f"/sessions/{b}/feedback", json={"item_id": rb["items"][0]["id"], "value": 1}).status_code == 200
    va, vb = client.get(f"/sessions/{a}").json(), client.get(f"/sessions/{b}").json()
    assert [m["text"] for m in va["messages"] if m["role"] == "user"] == [REQUEST]
    assert [m["text"] for m in vb["messages"] if m["role"] == "user"] == ["a dark thriller from the 70s"]
    assert va["feedback"] == {} and vb["feedback"] == {rb["items"][0]["id"]: 1}
    assert va["understood"] == ra["understood"] and va["understood"] != vb["understood"]
    # A's constraint cannot be removed through B's id.
    key = ra["understood"][0]["key"]
    if key not in {c["key"] for c in vb["understood"]}:
        assert client.delete(f"/sessions/{b}/constraints/{key}").status_code == 404
        assert key in {c["key"] for c in client.get(f"/sessions/{a}").json()["understood"]}
    assert client.post(f"/sessions/{b}/reset").status_code == 200
    assert client.get(f"/sessions/{a}").json()["understood"] == ra["understood"]  # resetting B left A alone


class _FailingConnection:
    """A real SQLite connection whose assistant-message insert fails, as a full disk would."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
        if "INSERT INTO messages" in sql and "'assistant'" in sql:
            raise sqlite3.OperationalError("disk I/O error (injected)")
        return self._conn.execute(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


def test_a_write_that_fails_mid_turn_loses_nothing(client: TestClient, agent: Any) -> None:
    sid = new_session(client, user_id="196")
    first = say(client, sid, REQUEST)
    before = client.get(f"/sessions/{sid}").json()
    real_conn = agent.sessions._conn
    with mock.patch.object(agent.sessions, "_conn", lambda: _FailingConnection(real_conn())):
        failed = client.post(f"/sessions/{sid}/messages", json={"text": "something older, from the 70s"})
        assert failed.status_code == 503
        assert failed.json()["detail"].startswith("Could not save") and "nothing was changed" in failed.json()["detail"]
        with client.stream("POST", f"/sessions/{sid}/messages/stream", json={"text": "older please"}) as resp:
            events = sse_events("".join(resp.iter_text()))
        assert events[-1][0] == "error" and events[-1][1]["status"] == 503
    after = client.get(f"/sessions/{sid}").json()
    assert after["messages"] == before["messages"] and after["understood"] == before["understood"]
    assert len(after["messages"]) == 2 and after["messages"][1]["items"] == first["items"]
    assert say(client, sid, "something older, from the 70s")["items"]  # and the session still works


def test_a_read_only_database_fails_cleanly(client: TestClient, agent: Any, tmp_path: Path) -> None:
    sid = new_session(client)
    say(client, sid, REQUEST)
    path = agent.sessions.path

    def read_only() -> sqlite3.Connection:
        return sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None, check_same_thread=False)

    with mock.patch.object(agent.sessions, "_conn", read_only):
        for resp in (
            client.post(f"/sessions/{sid}/messages", json={"text": "comedy instead"}),
            client.post(f"/sessions/{sid}/feedback", json={"item_id": "1", "value": 1}),
            client.post("/sessions", json={}),
        ):
            assert resp.status_code == 503, resp.text
            assert "nothing was changed" in resp.json()["detail"]
        assert len(client.get(f"/sessions/{sid}").json()["messages"]) == 2  # reads still work
    assert len(client.get(f"/sessions/{sid}").json()["messages"]) == 2


def test_token_guards_api_docs_and_page(agent: Any) -> None:
    with TestClient(create_app(agent, token=TOKEN), follow_redirects=False) as c:
        assert c.get("/health").status_code == 200
        for method, path in [("POST", "/sessions"), ("GET", "/catalogs"), ("GET", "/docs"), ("GET", "/openapi.json"),
                             ("GET", "/ui/"), ("GET", "/ui/config"), ("GET", "/items/1")]:
            assert c.request(method, path).status_code == 401, path
        auth = {"Authorization": f"Bearer {TOKEN}"}
        sid = c.post("/sessions", headers=auth).json()["session_id"]
        assert c.post(f"/sessions/{sid}/messages", json={"text": REQUEST}, headers=auth).json()["items"]
        assert c.get("/openapi.json", headers=auth).json()["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
        landing = c.get(f"/ui/?token={TOKEN}")
        assert landing.status_code == 303 and landing.headers["location"] == "/ui/"
        assert c.get("/ui/").status_code == 200  # the cookie from the landing now opens the page


def test_page_handlers_drive_the_same_agent(agent: Any) -> None:
    """The chat page's handlers, called as Gradio would: stream, like, drop a chip, start over."""
    from convrec.ui.chat import EMPTY_VIEW, NEW_USER, ChatPage, user_choices

    choices = user_choices(agent)
    assert choices[0][1] == NEW_USER and len(choices) == 944 and ("User 196 · 39 ratings", "196") in choices
    page = ChatPage(agent)
    steps = list(page.respond("a sci-fi film <b>now</b>", [], None, "196", dict(EMPTY_VIEW)))
    assert len(steps) >= 3 and steps[0][-1] == "Thinking…"
    history, box, sid, view, status = steps[-1]
    assert box == "" and agent.sessions.get(sid).user_id == "196"
    assert history[0] == {"role": "user", "content": "a sci\\-fi film &lt;b&gt;now&lt;/b&gt;"}
    assert history[1]["role"] == "assistant" and view["items"] and view["chips"] and view["turn"] == 1
    assert status.startswith(f"{len(view['items'])} picks in")

    item = view["items"][0]["id"]
    view, status = page.feedback(item, 1, sid, view)
    assert view["feedback"] == {item: 1} and status.startswith("Noted: you liked")
    assert agent.sessions.feedback(sid, None, "movielens") == {item: 1}  # stored at once

    chip = view["chips"][0]
    view, status = page.remove_chip(chip["key"], sid, view)
    assert chip["key"] not in {c["key"] for c in view["chips"]} and status.startswith("Dropped")

    history, same, view, status = page.start_over(sid)
    assert history == [] and same == sid and view["items"] == [] and status.startswith("Started over")
    assert agent.sessions.feedback(sid, None, "movielens") == {item: 1}  # likes survive "start over"
    history, none, view, status = page.change_user("42")
    assert none is None and "user 42" in status
