"""SQLite sessions: round trips, user history across sessions, and failed writes that lose nothing."""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path

import pytest

from convrec.agent.sessions import SessionStore, UnknownSessionError
from convrec.errors import ConvrecError


def test_round_trip_survives_reopening(tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "s.sqlite")
    s = store.create("movielens", user_id="196")
    store.record_turn(s.id, "sci-fi please", "Here are 2 picks", [{"id": "50"}], {"turn": 1})
    store.add_feedback(s.id, "50", 1)
    again = SessionStore(tmp_path / "s.sqlite")  # a restart
    assert again.get(s.id).state == {"turn": 1} and again.get(s.id).user_id == "196"
    assert [(m.role, m.text) for m in again.messages(s.id)] == [("user", "sci-fi please"), ("assistant", "Here are 2 picks")]
    assert again.messages(s.id)[1].items == [{"id": "50"}]
    assert again.feedback(s.id, "196", "movielens") == {"50": 1}


def test_ids_are_unguessable_and_unknown_ids_are_clear(tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "s.sqlite")
    ids = {store.create("movielens").id for _ in range(50)}
    assert len(ids) == 50 and all(len(i) >= 32 for i in ids)
    with pytest.raises(UnknownSessionError, match="No such session"):
        store.get("nope")
    with pytest.raises(UnknownSessionError):
        store.record_turn("nope", "a", "b", [], {})


def test_feedback_latest_wins_and_follows_the_user(tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "s.sqlite")
    first = store.create("movielens", user_id="u1")
    store.add_feedback(first.id, "50", 1)
    store.add_feedback(first.id, "50", -1)
    second = store.create("movielens", user_id="u1")
    stranger = store.create("movielens", user_id="u2")
    anonymous = store.create("movielens")
    assert store.feedback(second.id, "u1", "movielens") == {"50": -1}  # earlier session's feedback
    assert store.feedback(stranger.id, "u2", "movielens") == {}
    assert store.feedback(anonymous.id, None, "movielens") == {}
    assert store.feedback(second.id, "u1", "bookcrossing") == {}
    with pytest.raises(ConvrecError, match="1 \\(like\\) or -1"):
        store.add_feedback(first.id, "50", 5)


def test_failed_write_loses_nothing(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    store = SessionStore(path)
    s = store.create("movielens")
    store.record_turn(s.id, "first", "reply one", [], {"turn": 1})
    # A real failure: the database file becomes read-only under the running store.
    os.chmod(path, 0o444)
    try:
        ro = SessionStore.__new__(SessionStore)
        ro.path, ro._local = path, threading.local()
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None, check_same_thread=False)
        ro._local.conn = conn
        with pytest.raises(ConvrecError, match="nothing was changed"):
            ro.record_turn(s.id, "second", "reply two", [], {"turn": 2})
    finally:
        os.chmod(path, 0o644)
    assert [m.text for m in store.messages(s.id)] == ["first", "reply one"]
    assert store.get(s.id).state == {"turn": 1}


def test_concurrent_writers(tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "s.sqlite")
    sessions = [store.create("movielens").id for _ in range(8)]

    def work(sid: str) -> None:
        for n in range(10):
            store.record_turn(sid, f"{sid}-{n}", "ok", [], {"n": n})

    threads = [threading.Thread(target=work, args=(sid,)) for sid in sessions]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for sid in sessions:
        texts = [m.text for m in store.messages(sid) if m.role == "user"]
        assert texts == [f"{sid}-{n}" for n in range(10)]  # no cross-talk, nothing lost
