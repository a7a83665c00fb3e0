"""Sessions, messages and feedback, persisted in SQLite.

Every change is one transaction: a write that fails (disk full, a killed process) rolls back and
loses nothing already stored. Session ids are unguessable (`secrets.token_urlsafe`). Feedback is
kept per user and catalog, so likes given in chat become part of that user's history for ranking.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from convrec.errors import ConvrecError

SCHEMA = """
PRAGMA journal_mode=WAL;
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    user_id TEXT,
    catalog TEXT NOT NULL,
    state TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    role TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
    text TEXT NOT NULL,
    items TEXT NOT NULL DEFAULT '[]',
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_by_session ON messages(session_id, id);
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    user_id TEXT,
    catalog TEXT NOT NULL,
    item_id TEXT NOT NULL,
    value INTEGER NOT NULL CHECK (value IN (-1, 1)),
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS feedback_by_user ON feedback(catalog, user_id);
CREATE INDEX IF NOT EXISTS feedback_by_session ON feedback(session_id);
"""


class UnknownSessionError(ConvrecError):
    """A session id that does not exist (or belongs to someone else)."""


@dataclass(frozen=True)
class SessionRecord:
    id: str
    user_id: str | None
    catalog: str
    state: dict[str, Any]
    created_at: float
    updated_at: float


@dataclass(frozen=True)
class MessageRecord:
    role: str
    text: str
    items: list[dict[str, Any]]
    created_at: float


class SessionStore:
    """A SQLite file of sessions. Safe to share between threads and processes."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        try:
            self._conn().executescript(SCHEMA)  # idempotent; executescript manages its own commits
        except sqlite3.DatabaseError as exc:
            raise ConvrecError(f"Cannot open the session database {self.path} ({exc}).") from None

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA busy_timeout=30000")
            self._local.conn = conn
        return conn

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        db = self._conn()
        try:
            db.execute("BEGIN IMMEDIATE")
            yield db
            db.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise ConvrecError(f"Could not save to {self.path} ({exc}); nothing was changed.") from None
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise

    # -- sessions --------------------------------------------------------------------------------
    def create(self, catalog: str, user_id: str | None = None, state: dict[str, Any] | None = None) -> SessionRecord:
        now = time.time()
        sid = secrets.token_urlsafe(24)
        with self._tx() as db:
            db.execute(
                "INSERT INTO sessions (id, user_id, catalog, state, created_at, updated_at) VALUES (?,?,?,?,?,?)",
                (sid, user_id, catalog, json.dumps(state or {}), now, now),
            )
        return SessionRecord(sid, user_id, catalog, state or {}, now, now)

    def get(self, session_id: str) -> SessionRecord:
        row = self._conn().execute(
            "SELECT id, user_id, catalog, state, created_at, updated_at FROM sessions WHERE id = ?", (session_id,)
        ).fetchone()
        if row is None:
            raise UnknownSessionError("No such session; start a new one.")
        return SessionRecord(row[0], row[1], row[2], json.loads(row[3]), row[4], row[5])

    def exists(self, session_id: str) -> bool:
        return self._conn().execute("SELECT 1 FROM sessions WHERE id = ?", (session_id,)).fetchone() is not None

    def set_user(self, session_id: str, user_id: str | None) -> None:
        with self._tx() as db:
            db.execute("UPDATE sessions SET user_id = ?, updated_at = ? WHERE id = ?", (user_id, time.time(), session_id))

    def record_turn(
        self,
        session_id: str,
        user_text: str,
        reply_text: str,
        items: list[dict[str, Any]],
        state: dict[str, Any],
    ) -> None:
        """Store both messages of a turn and the new dialogue state, all or nothing."""
        now = time.time()
        with self._tx() as db:
            cur = db.execute("UPDATE sessions SET state = ?, updated_at = ? WHERE id = ?", (json.dumps(state), now, session_id))
            if cur.rowcount != 1:
                raise UnknownSessionError("No such session; start a new one.")
            db.execute(
                "INSERT INTO messages (session_id, role, text, items, created_at) VALUES (?, 'user', ?, '[]', ?)",
                (session_id, user_text, now),
            )
            db.execute(
                "INSERT INTO messages (session_id, role, text, items, created_at) VALUES (?, 'assistant', ?, ?, ?)",
                (session_id, reply_text, json.dumps(items), now),
            )

    def save_state(self, session_id: str, state: dict[str, Any]) -> None:
        with self._tx() as db:
            db.execute("UPDATE sessions SET state = ?, updated_at = ? WHERE id = ?", (json.dumps(state), time.time(), session_id))

    def messages(self, session_id: str) -> list[MessageRecord]:
        rows = self._conn().execute(
            "SELECT role, text, items, created_at FROM messages WHERE session_id = ? ORDER BY id", (session_id,)
        ).fetchall()
        return [MessageRecord(r[0], r[1], json.loads(r[2]), r[3]) for r in rows]

    # -- feedback --------------------------------------------------------------------------------
    def add_feedback(self, session_id: str, item_id: str, value: int) -> None:
        if value not in (-1, 1):
            raise ConvrecError("Feedback must be 1 (like) or -1 (dislike).")
        session = self.get(session_id)
        with self._tx() as db:
            # The latest opinion on an item wins: replace any earlier one from this session.
            db.execute("DELETE FROM feedback WHERE session_id = ? AND item_id = ?", (session_id, item_id))
            db.execute(
                "INSERT INTO feedback (session_id, user_id, catalog, item_id, value, created_at) VALUES (?,?,?,?,?,?)",
                (session_id, session.user_id, session.catalog, item_id, value, time.time()),
            )

    def feedback(self, session_id: str, user_id: str | None, catalog: str) -> dict[str, int]:
        """item id -> +1/-1: this session's feedback, plus all of this user's earlier feedback."""
        if user_id is None:
            rows = self._conn().execute(
                "SELECT item_id, value FROM feedback WHERE session_id = ? ORDER BY id", (session_id,)
            ).fetchall()
        else:
            rows = self._conn().execute(
                "SELECT item_id, value FROM feedback WHERE (session_id = ? OR (user_id = ? AND catalog = ?)) ORDER BY id",
                (session_id, user_id, catalog),
            ).fetchall()
        return {item: value for item, value in rows}
