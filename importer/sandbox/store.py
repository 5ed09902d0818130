"""The sandbox's SQLite store: groups, messages in arrival order, tasks, flushes, and queries.

One database and one connection for every API the sandbox speaks: the EverOS tables live here,
EverCore's and GoodMem's in ``store_evercore`` and ``store_goodmem`` (``store.evercore``,
``store.goodmem``). The tasks table serves EverOS tasks and EverCore background requests alike.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from importer.models import conversation_key
from importer.sandbox.store_evercore import EVERCORE_SCHEMA, EverCoreTables
from importer.sandbox.store_goodmem import GOODMEM_SCHEMA, GoodMemTables

__all__ = ["MessageRow", "SandboxStore", "StoredConversation", "TaskRecord"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS groups (
    group_id    TEXT PRIMARY KEY,
    name        TEXT,
    description TEXT,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS messages (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    kind            TEXT NOT NULL CHECK (kind IN ('group', 'personal')),
    conversation_id TEXT NOT NULL,
    session_id      TEXT,
    message_id      TEXT,
    timestamp       INTEGER NOT NULL,
    sender_id       TEXT,
    sender_name     TEXT,
    role            TEXT NOT NULL,
    content         TEXT NOT NULL,
    task_id         TEXT
);
CREATE INDEX IF NOT EXISTS messages_by_conversation
    ON messages (kind, conversation_id, session_id, seq);
CREATE TABLE IF NOT EXISTS tasks (
    task_id    TEXT PRIMARY KEY,
    created_at REAL NOT NULL,
    ready_at   REAL NOT NULL,
    outcome    TEXT NOT NULL CHECK (outcome IN ('success', 'failed'))
);
CREATE TABLE IF NOT EXISTS flushes (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    kind            TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    session_id      TEXT,
    seq             INTEGER NOT NULL,
    at              REAL NOT NULL
);
"""

# One row per conversation; LAG finds a message older than the one that arrived before it.
_SUMMARY_SQL = """
WITH ordered AS (
    SELECT kind, conversation_id, session_id, seq, message_id, timestamp,
           LAG(timestamp) OVER (
               PARTITION BY kind, conversation_id, session_id ORDER BY seq
           ) AS previous
    FROM messages
)
SELECT kind, conversation_id, session_id,
       COUNT(*), COUNT(DISTINCT message_id), COUNT(message_id),
       SUM(CASE WHEN previous > timestamp THEN 1 ELSE 0 END), MAX(seq)
FROM ordered
GROUP BY kind, conversation_id, session_id
"""

#: (kind, conversation_id, session_id)
_Key = tuple[str, str, str | None]


@dataclass(frozen=True, slots=True)
class MessageRow:
    """One validated message ready to be stored."""

    message_id: str | None
    timestamp: int
    sender_id: str | None
    sender_name: str | None
    role: str
    content: str


@dataclass(frozen=True, slots=True)
class TaskRecord:
    """An async add's task: when it was accepted, when it finishes and how."""

    task_id: str
    created_at: float
    ready_at: float
    outcome: str


@dataclass(frozen=True, slots=True)
class StoredConversation:
    """What the store holds for one conversation (a group, or a user's personal session)."""

    kind: str
    conversation_id: str
    session_id: str | None
    name: str | None
    description: str | None
    messages: int
    unique_ids: int
    #: messages minus unique message ids (messages without an id count as unique)
    duplicates: int
    #: timestamps never go backwards in arrival order
    chronological: bool
    flushes: int
    #: a flush was recorded after the last message arrived
    flushed_after_last: bool

    @property
    def key(self) -> str:
        """Same as ``Conversation.key``: ``group:<id>``, ``personal:<user>[/<session>]``."""
        return conversation_key(self.kind, self.conversation_id, self.session_id)


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class SandboxStore:
    """SQLite persistence for the sandbox server.

    One connection in WAL mode, committed once per request. A lock serialises every use of it, so
    the server's thread writes while tests (or the embedding importer) query from their own.
    """

    def __init__(self, db_path: str | Path) -> None:
        self.path = Path(db_path)
        self._lock = threading.Lock()
        if not self.path.exists():
            # it holds message text: readable by its owner only
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600))
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA + EVERCORE_SCHEMA + GOODMEM_SCHEMA)
        self.evercore = EverCoreTables(self._transaction, self._query)
        self.goodmem = GoodMemTables(self._transaction, self._query)

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    # -- writes (the server) ------------------------------------------------------------------

    def upsert_group(
        self, group_id: str, *, name: str | None = None, description: str | None = None
    ) -> dict[str, Any]:
        """Create a group or update the fields given (``None`` keeps the stored value)."""
        now = _now_iso()
        with self._transaction() as db:
            db.execute(
                "INSERT INTO groups (group_id, name, description, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (group_id) DO UPDATE SET"
                " name = COALESCE(excluded.name, name),"
                " description = COALESCE(excluded.description, description),"
                " updated_at = excluded.updated_at",
                (group_id, name, description, now, now),
            )
        group = self.group(group_id)
        assert group is not None
        return group

    def add_messages(
        self,
        kind: str,
        conversation_id: str,
        session_id: str | None,
        rows: Sequence[MessageRow],
        *,
        task_id: str | None = None,
    ) -> int:
        """Append one request's messages in order (one executemany, one commit)."""
        with self._transaction() as db:
            db.executemany(
                "INSERT INTO messages (kind, conversation_id, session_id, message_id, timestamp,"
                " sender_id, sender_name, role, content, task_id)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        kind,
                        conversation_id,
                        session_id,
                        row.message_id,
                        row.timestamp,
                        row.sender_id,
                        row.sender_name,
                        row.role,
                        row.content,
                        task_id,
                    )
                    for row in rows
                ],
            )
        return len(rows)

    def add_task(self, task: TaskRecord) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT INTO tasks (task_id, created_at, ready_at, outcome) VALUES (?, ?, ?, ?)",
                (task.task_id, task.created_at, task.ready_at, task.outcome),
            )

    def record_flush(
        self, kind: str, conversation_id: str, session_id: str | None, *, at: float
    ) -> bool:
        """Record a flush; True when messages arrived since the previous flush (or ever)."""
        key = (kind, conversation_id, session_id)
        with self._transaction() as db:
            (last_seq,) = db.execute(
                "SELECT COALESCE(MAX(seq), 0) FROM messages"
                " WHERE kind = ? AND conversation_id = ? AND session_id IS ?",
                key,
            ).fetchone()
            (flushed_seq,) = db.execute(
                "SELECT COALESCE(MAX(seq), 0) FROM flushes"
                " WHERE kind = ? AND conversation_id = ? AND session_id IS ?",
                key,
            ).fetchone()
            db.execute(
                "INSERT INTO flushes (kind, conversation_id, session_id, seq, at)"
                " VALUES (?, ?, ?, ?, ?)",
                (*key, last_seq, at),
            )
        return bool(last_seq > flushed_seq)

    # -- reads ---------------------------------------------------------------------------------

    def group(self, group_id: str) -> dict[str, Any] | None:
        rows = self._query(
            "SELECT group_id, name, description, created_at, updated_at FROM groups"
            " WHERE group_id = ?",
            (group_id,),
        )
        if not rows:
            return None
        names = ("group_id", "name", "description", "created_at", "updated_at")
        return dict(zip(names, rows[0], strict=True))

    def task(self, task_id: str) -> TaskRecord | None:
        rows = self._query(
            "SELECT task_id, created_at, ready_at, outcome FROM tasks WHERE task_id = ?",
            (task_id,),
        )
        return TaskRecord(*rows[0]) if rows else None

    def conversations(self) -> list[StoredConversation]:
        """Every conversation that has messages, a group record or a flush, sorted by key."""
        groups = {
            row[0]: (row[1], row[2])
            for row in self._query("SELECT group_id, name, description FROM groups")
        }
        flushes: dict[_Key, tuple[int, int]] = {
            (row[0], row[1], row[2]): (row[3], row[4])
            for row in self._query(
                "SELECT kind, conversation_id, session_id, COUNT(*), MAX(seq) FROM flushes"
                " GROUP BY kind, conversation_id, session_id"
            )
        }
        summaries: dict[_Key, tuple[int, int, int, int]] = {}
        for kind, cid, sid, count, distinct, with_id, backwards, last in self._query(_SUMMARY_SQL):
            unique = distinct + (count - with_id)
            summaries[(kind, cid, sid)] = (count, unique, backwards, last)
        keys: set[_Key] = set(summaries) | set(flushes)
        keys |= {("group", group_id, None) for group_id in groups}
        result = []
        for key in keys:
            kind, cid, sid = key
            count, unique, backwards, last = summaries.get(key, (0, 0, 0, 0))
            flush_count, flushed_seq = flushes.get(key, (0, 0))
            name, description = groups.get(cid, (None, None)) if kind == "group" else (None, None)
            result.append(
                StoredConversation(
                    kind=kind,
                    conversation_id=cid,
                    session_id=sid,
                    name=name,
                    description=description,
                    messages=count,
                    unique_ids=unique,
                    duplicates=count - unique,
                    chronological=backwards == 0,
                    flushes=flush_count,
                    flushed_after_last=flush_count > 0 and flushed_seq >= last,
                )
            )
        return sorted(result, key=lambda c: c.key)

    def messages(
        self, kind: str, conversation_id: str, session_id: str | None = None
    ) -> list[dict[str, Any]]:
        """One conversation's messages in arrival order."""
        names = ("message_id", "timestamp", "sender_id", "sender_name", "role", "content")
        rows = self._query(
            f"SELECT {', '.join(names)} FROM messages"
            " WHERE kind = ? AND conversation_id = ? AND session_id IS ? ORDER BY seq",
            (kind, conversation_id, session_id),
        )
        return [dict(zip(names, row, strict=True)) for row in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()
