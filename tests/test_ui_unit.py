"""Chat page and REST API pieces that need no live turn: escaping, cards, bind checks, the bearer
middleware, error mapping, and `convrec serve` refusing to listen off-loopback without a token."""

from __future__ import annotations

import html
import os
import subprocess
import sys
import time

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from convrec.agent.sessions import SessionStorageError, UnknownSessionError
from convrec.errors import ConvrecError, StoreUnavailableError, UnknownItemError
from convrec.ui.api import BearerAuth, check_bind, is_loopback, status_for
from convrec.agent.reply import RecommendedItem, Reply
from convrec.ui.chat import card_html, escape_reply_text, escape_user_text, status_line
from ui_helpers import REPO

TOKEN = "t0ken-for-tests-0123456789"


# --- escaping -------------------------------------------------------------------------------------


def test_user_text_is_shown_as_typed_never_as_markup() -> None:
    typed = '<script>alert("x")</script> <b>bold</b> *stars* [link](http://example.com) # head'
    shown = escape_user_text(typed)
    assert "<" not in shown and ">" not in shown  # no tag survives
    assert "&lt;script&gt;" in shown
    assert "\\*stars\\*" in shown and "\\[link\\]" in shown and "\\#" in shown  # Markdown neutralised
    assert escape_user_text("it's \"fine\"") == "it's \"fine\""  # quotes stay readable


def test_reply_keeps_markdown_but_not_html_and_titles_stay_literal() -> None:
    text = "1. **B*A*P*S** (1997) — <img src=x onerror=alert(1)> a comedy\n"
    shown = escape_reply_text(text, ["B*A*P*S"])
    assert "**B\\*A\\*P\\*S**" in shown  # bold kept, the title's asterisks are literal
    assert "<img" not in shown and "&lt;img" in shown


def test_card_escapes_every_value() -> None:
    item = {
        "id": '1"><script>',
        "title": "<i>Evil</i> & Co",
        "facts": {"id": "1", "title": "x", "year": 1995, "genres": ["Sci-Fi", "<b>War</b>"]},
        "why": "because <script>alert(1)</script>",
    }
    out = card_html(item, 2, verdict=1)
    assert "<script>" not in out and "<i>" not in out and "<b>War" not in out
    assert "&lt;i&gt;Evil&lt;/i&gt; &amp; Co" in out and "(1995)" in out
    assert 'data-item-id="1&quot;&gt;&lt;script&gt;"' in out and 'data-rank="2"' in out
    assert "Sci-Fi" in out and "You liked this" in out
    assert "Not for you" in card_html(item, 1, verdict=-1)


def test_status_line_says_what_the_turn_gave() -> None:
    picks = [RecommendedItem(id=str(i), title=f"T{i}", facts={}, why="") for i in range(3)]
    assert status_line(Reply(session_id="s", text="", items=picks, timings={"total": 0.25})) == (
        "3 picks in 250 ms. Like or dislike a card to steer the next ones.")
    about = Reply(session_id="s", text="", kind="about", items=[RecommendedItem(id="1", title="B*A*P*S", facts={})],
                  timings={"total": 1.5})
    assert status_line(about).startswith(r"Answered about B\*A\*P\*S in 1.5 s.")
    assert status_line(Reply(session_id="s", text="", kind="reordered", items=picks)).startswith(
        "The same 3 picks, by rating.")
    assert status_line(Reply(session_id="s", text="", kind="chat")) == "Answered."
    assert status_line(Reply(session_id="s", text="", items=[])) == "0 picks."


# --- binding and auth ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "host,loop",
    [("127.0.0.1", True), ("127.0.0.53", True), ("localhost", True), ("::1", True), ("[::1]", True),
     ("0.0.0.0", False), ("::", False), ("192.168.1.5", False), ("example.com", False)],
)
def test_loopback_detection(host: str, loop: bool) -> None:
    assert is_loopback(host) is loop


def test_bind_needs_a_real_token_off_loopback() -> None:
    check_bind("127.0.0.1", None)
    check_bind("0.0.0.0", TOKEN)
    with pytest.raises(ConvrecError, match="Refusing to listen on 0.0.0.0 without a bearer token"):
        check_bind("0.0.0.0", None)
    with pytest.raises(ConvrecError, match="at least 16 characters"):
        check_bind("0.0.0.0", "short")


def _guarded_app() -> TestClient:
    app = FastAPI()

    @app.get("/health")
    def health() -> dict:
        return {"status": "ok"}

    @app.get("/secret")
    def secret() -> dict:
        return {"secret": 42}

    app.add_middleware(BearerAuth, token=TOKEN)
    return TestClient(app, follow_redirects=False)


def test_bearer_middleware_refuses_without_the_token() -> None:
    client = _guarded_app()
    assert client.get("/health").status_code == 200  # probes need no token
    for headers in ({}, {"Authorization": "Bearer wrong-token-0123456789"}, {"Authorization": TOKEN},
                    {"Authorization": f"Basic {TOKEN}"}):
        resp = client.get("/secret", headers=headers)
        assert resp.status_code == 401 and resp.headers["www-authenticate"] == "Bearer"
        assert resp.json()["detail"].startswith("Missing or wrong bearer token")
    assert client.get("/secret", headers={"Authorization": f"Bearer {TOKEN}"}).json() == {"secret": 42}
    assert client.post("/secret?token=" + TOKEN).status_code == 401  # the query token is for page loads only


def test_browser_gets_the_token_once_as_a_cookie() -> None:
    client = _guarded_app()
    resp = client.get(f"/secret?a=1&token={TOKEN}")
    assert resp.status_code == 303 and resp.headers["location"] == "/secret?a=1"  # token leaves the address bar
    cookie = resp.headers["set-cookie"]
    assert "convrec_token=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    assert client.get("/secret?a=1").json() == {"secret": 42}  # the cookie now carries it
    client.cookies.clear()
    assert client.get("/secret").status_code == 401


def test_errors_map_to_clear_statuses() -> None:
    assert status_for(UnknownSessionError("x")) == 404
    assert status_for(UnknownItemError("x")) == 404
    assert status_for(SessionStorageError("x")) == 503
    assert status_for(StoreUnavailableError("x")) == 503
    assert status_for(ConvrecError("x")) == 400


def test_serve_refuses_to_start_off_loopback_without_a_token(tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "CONVREC_TOKEN"}
    env["PYTHONPATH"] = str(REPO)
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "convrec.cli", "--home", str(tmp_path), "serve", "--host", "0.0.0.0", "--port", "1"],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert result.returncode == 2
    assert "Refusing to listen on 0.0.0.0 without a bearer token" in result.stderr
    assert "Traceback" not in result.stderr
    assert time.perf_counter() - started < 60  # refused before any model or index is loaded
    weak = subprocess.run(
        [sys.executable, "-m", "convrec.cli", "--home", str(tmp_path), "serve", "--host", "0.0.0.0", "--token", "abc"],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert weak.returncode == 2 and "at least 16 characters" in weak.stderr


def test_escaped_text_round_trips_to_the_same_characters() -> None:
    # What the browser shows after Markdown drops the backslashes and HTML decodes the entities.
    typed = "<b>x</b> & *y* 'q'"
    unmd = escape_user_text(typed).replace("\\", "")
    assert html.unescape(unmd) == typed
