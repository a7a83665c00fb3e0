"""A real `convrec serve` process bound off-loopback with a token: auth refused without it,
20 concurrent sessions with no cross-talk, and a real restart (after a crash) that keeps sessions,
messages and feedback — with the feedback now part of that user's history for ranking."""

from __future__ import annotations

import signal
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from convrec.config import Settings
from ui_helpers import ChatTab, ConvrecServer, chromium, linked_home

TOKEN = "server-test-token-0123456789abcdef"
REQUEST = "a light-hearted sci-fi film from the 90s, nothing violent"
GENRES = ["Comedy", "Drama", "Action", "Thriller", "Romance", "Horror", "Sci-Fi", "Adventure", "Crime", "Children's"]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(ml_settings: Settings, ml_index: Any, tmp_path_factory: pytest.TempPathFactory) -> ConvrecServer:
    home = linked_home(ml_settings.home, tmp_path_factory.mktemp("served-home"))
    srv = ConvrecServer(home, host="0.0.0.0", token=TOKEN).start()
    yield srv
    srv.stop()


def test_off_loopback_needs_the_token(server: ConvrecServer) -> None:
    assert server.get("/health", token=None)[0] == 200
    for token in (None, "wrong-token-0123456789abcdef"):
        for method, path in [("POST", "/sessions"), ("GET", "/catalogs"), ("GET", "/docs"), ("GET", "/ui/")]:
            status, body = server.request(method, path, {} if method == "POST" else None, token=token)
            assert status == 401, (method, path, status)
    status, body = server.post("/sessions", {"user_id": "196"})
    assert status == 201 and len(body["session_id"]) >= 32


def test_twenty_concurrent_sessions_do_not_cross_talk(server: ConvrecServer) -> None:
    asks = [(f"u{n}", GENRES[n % 10], "80s" if n < 10 else "90s") for n in range(20)]

    def converse(ask: tuple[str, str, str]) -> dict[str, Any]:
        user, genre, decade = ask
        status, body = server.post("/sessions", {"user_id": user})
        assert status == 201
        sid = body["session_id"]
        first_text, second_text = f"a {genre.lower()} film from the {decade}", "something else like those"
        s1, first = server.post(f"/sessions/{sid}/messages", {"text": first_text})
        s2, second = server.post(f"/sessions/{sid}/messages", {"text": second_text})
        s3, view = server.get(f"/sessions/{sid}")
        assert (s1, s2, s3) == (200, 200, 200)
        return {"sid": sid, "user": user, "genre": genre, "texts": [first_text, second_text],
                "replies": [first, second], "view": view}

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(converse, asks))

    assert len({r["sid"] for r in results}) == 20
    for r in results:
        view = r["view"]
        assert view["session_id"] == r["sid"] and view["user_id"] == r["user"]
        assert [m["text"] for m in view["messages"] if m["role"] == "user"] == r["texts"]
        shown: list[str] = []
        for reply in r["replies"]:
            assert reply["session_id"] == r["sid"]
            assert reply["items"], reply["text"]
            if not reply["relaxed"]:
                assert r["genre"] in " ".join(c["label"] for c in reply["understood"])
                assert all(r["genre"] in item["facts"]["genres"] for item in reply["items"]), r
            shown += [i["id"] for i in reply["items"]]
        assert len(shown) == len(set(shown))  # the second turn did not repeat the first's picks
        stored = [i["id"] for m in view["messages"] if m["role"] == "assistant" for i in m["items"]]
        assert stored == shown


def test_restart_keeps_history_and_feedback_becomes_user_history(server: ConvrecServer) -> None:
    user = "405"
    # What this user gets before giving any feedback.
    _, control = server.post("/sessions", {"user_id": user})
    _, before = server.post(f"/sessions/{control['session_id']}/messages", {"text": REQUEST})

    _, created = server.post("/sessions", {"user_id": user})
    sid = created["session_id"]
    _, reply = server.post(f"/sessions/{sid}/messages", {"text": REQUEST})
    liked, disliked = reply["items"][-1]["id"], reply["items"][0]["id"]
    assert server.post(f"/sessions/{sid}/feedback", {"item_id": liked, "value": 1})[0] == 200
    assert server.post(f"/sessions/{sid}/feedback", {"item_id": disliked, "value": -1})[0] == 200
    _, saved = server.get(f"/sessions/{sid}")

    old_pid = server.proc.pid
    server.restart(sig=signal.SIGKILL)  # a crash, not a polite shutdown: committed data must survive
    assert server.proc.pid != old_pid

    status, after = server.get(f"/sessions/{sid}")
    assert status == 200
    assert after["messages"] == saved["messages"] and len(after["messages"]) == 2
    assert after["feedback"] == {liked: 1, disliked: -1}
    assert after["understood"] == saved["understood"] and after["user_id"] == user

    # The conversation goes on where it was: constraints kept, earlier picks not repeated.
    status, more = server.post(f"/sessions/{sid}/messages", {"text": "something else"})
    assert status == 200 and "Sci-Fi" in " ".join(c["label"] for c in more["understood"])
    assert not {i["id"] for i in more["items"]} & {i["id"] for i in reply["items"]}

    # A new session of the same user starts from that feedback: same request, different picks.
    _, fresh = server.post("/sessions", {"user_id": user})
    _, now = server.post(f"/sessions/{fresh['session_id']}/messages", {"text": REQUEST})
    ids_before, ids_now = [i["id"] for i in before["items"]], [i["id"] for i in now["items"]]
    assert ids_now != ids_before
    assert disliked not in ids_now


def test_unauthenticated_stream_is_refused_before_any_work(server: ConvrecServer, tmp_path: Path) -> None:
    _, created = server.post("/sessions", {})
    status, _ = server.request("POST", f"/sessions/{created['session_id']}/messages/stream", {"text": REQUEST}, token=None)
    assert status == 401
    assert server.get(f"/sessions/{created['session_id']}")[1]["messages"] == []


def test_browser_opens_the_guarded_page_with_the_token_once(server: ConvrecServer) -> None:
    outside: list[str] = []
    with chromium() as browser:
        page = browser.new_page()
        refused = page.goto(server.url + "/ui/")
        assert refused.status == 401 and "bearer token" in page.inner_text("body")
        page.close()
        tab = ChatTab(browser, f"{server.url}/ui/?token={TOKEN}", outside)
        assert "token=" not in tab.page.url  # dropped from the address bar; an HttpOnly cookie carries it
        assert tab.ask(REQUEST)  # the page's own API calls pass the guard
    assert outside == []
