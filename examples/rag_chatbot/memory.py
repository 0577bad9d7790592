"""Conversation memory in SQLite: the last turns of a conversation go into the prompt; each answer is appended."""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Turn:
    """One message of a conversation."""

    role: str
    content: str


class MemoryStore:
    """A small thread-safe SQLite store (WAL, one connection behind a lock); ``:memory:`` works for tests."""

    def __init__(self, path: str) -> None:
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS turns (conversation_id TEXT NOT NULL, user_id TEXT NOT NULL,"
            " role TEXT NOT NULL, content TEXT NOT NULL, created REAL NOT NULL)"
        )
        self._db.execute(
            "CREATE INDEX IF NOT EXISTS turns_by_conversation ON turns (conversation_id, user_id, created)"
        )

    def history(self, conversation_id: str, user_id: str, limit: int = 6) -> list[Turn]:
        """The last ``limit`` messages of a user's conversation, oldest first (nobody reads another's history)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT role, content FROM turns WHERE conversation_id = ? AND user_id = ?"
                " ORDER BY created DESC, rowid DESC LIMIT ?",
                (conversation_id, user_id, limit),
            ).fetchall()
        return [Turn(role, content) for role, content in reversed(rows)]

    def append(self, conversation_id: str, user_id: str, question: str, answer: str) -> None:
        """Store one exchange (the user's question, then the assistant's answer) in one transaction."""
        now = time.time()
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT INTO turns (conversation_id, user_id, role, content, created) VALUES (?, ?, ?, ?, ?)",
                [
                    (conversation_id, user_id, "user", question, now),
                    (conversation_id, user_id, "assistant", answer, now),
                ],
            )
            self._db.execute("COMMIT")

    def count(self) -> int:
        """Number of stored messages."""
        with self._lock:
            (n,) = self._db.execute("SELECT COUNT(*) FROM turns").fetchone()
        return int(n)

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()
