"""The sandbox's EverCore tables: conversation metadata and single messages in arrival order."""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

__all__ = ["EVERCORE_SCHEMA", "EverCoreMessage", "EverCoreTables", "StoredEverCoreGroup"]

EVERCORE_SCHEMA = """
CREATE TABLE IF NOT EXISTS evercore_meta (
    group_id   TEXT PRIMARY KEY,
    id         TEXT NOT NULL,
    scene      TEXT,
    name       TEXT,
    version    TEXT,
    body       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS evercore_messages (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    path        TEXT NOT NULL,
    group_id    TEXT NOT NULL,
    group_name  TEXT,
    message_id  TEXT NOT NULL,
    create_time TEXT NOT NULL,
    timestamp   INTEGER NOT NULL,
    sender      TEXT NOT NULL,
    sender_name TEXT,
    role        TEXT,
    content     TEXT NOT NULL,
    refer_list  TEXT NOT NULL,
    request_id  TEXT
);
CREATE INDEX IF NOT EXISTS evercore_messages_by_group ON evercore_messages (group_id, seq);
"""

# One row per group; LAG finds a message older than the one that arrived before it.
_SUMMARY_SQL = """
WITH ordered AS (
    SELECT group_id, group_name, seq, message_id, timestamp,
           LAG(timestamp) OVER (PARTITION BY group_id ORDER BY seq) AS previous
    FROM evercore_messages
)
SELECT group_id, COUNT(*), COUNT(DISTINCT message_id),
       SUM(CASE WHEN previous > timestamp THEN 1 ELSE 0 END), MAX(group_name)
FROM ordered
GROUP BY group_id
"""

_Transaction = Callable[[], AbstractContextManager[sqlite3.Connection]]
_Query = Callable[[str, Sequence[Any]], list[tuple[Any, ...]]]


@dataclass(frozen=True, slots=True)
class EverCoreMessage:
    """One validated single-message add (``group_id`` is "" when the client sent none)."""

    group_id: str
    group_name: str | None
    message_id: str
    create_time: str
    timestamp: int
    sender: str
    sender_name: str | None
    role: str | None
    content: str
    refer_list: list[str]


@dataclass(frozen=True, slots=True)
class StoredEverCoreGroup:
    """What the store holds for one EverCore group (or one solo conversation's group id)."""

    group_id: str
    name: str | None
    scene: str | None
    #: conversation-meta was saved for this group
    meta: bool
    messages: int
    unique_ids: int
    #: messages minus unique message ids: the server never de-duplicates
    duplicates: int
    chronological: bool

    @property
    def key(self) -> str:
        return f"evercore:{self.group_id or '-'}"


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class EverCoreTables:
    """Reads and writes of the EverCore tables, through the store's one connection."""

    def __init__(self, transaction: _Transaction, query: _Query) -> None:
        self._transaction = transaction
        self._query = query

    def upsert_meta(self, group_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """Replace the whole record of ``group_id`` (the server's POST is a full upsert)."""
        now = _now_iso()
        with self._transaction() as db:
            db.execute(
                "INSERT INTO evercore_meta"
                " (group_id, id, scene, name, version, body, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (group_id) DO UPDATE SET"
                " scene = excluded.scene, name = excluded.name, version = excluded.version,"
                " body = excluded.body, updated_at = excluded.updated_at",
                (
                    group_id,
                    uuid.uuid4().hex[:24],
                    body.get("scene"),
                    body.get("name"),
                    body.get("version"),
                    json.dumps(body, ensure_ascii=False),
                    now,
                    now,
                ),
            )
        meta = self.meta(group_id)
        assert meta is not None
        return meta

    def meta(self, group_id: str) -> dict[str, Any] | None:
        """``{id, group_id, body (as saved), created_at, updated_at}`` or None."""
        rows = self._query(
            "SELECT id, body, created_at, updated_at FROM evercore_meta WHERE group_id = ?",
            (group_id,),
        )
        if not rows:
            return None
        record_id, body, created_at, updated_at = rows[0]
        return {
            "id": record_id,
            "group_id": group_id,
            "body": json.loads(body),
            "created_at": created_at,
            "updated_at": updated_at,
        }

    def add_message(self, path: str, message: EverCoreMessage, request_id: str | None) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT INTO evercore_messages (path, group_id, group_name, message_id,"
                " create_time, timestamp, sender, sender_name, role, content, refer_list,"
                " request_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    path,
                    message.group_id,
                    message.group_name,
                    message.message_id,
                    message.create_time,
                    message.timestamp,
                    message.sender,
                    message.sender_name,
                    message.role,
                    message.content,
                    json.dumps(message.refer_list),
                    request_id,
                ),
            )

    def messages(self, group_id: str) -> list[dict[str, Any]]:
        """One group's messages in arrival order."""
        names = (
            "message_id", "create_time", "timestamp", "sender", "sender_name", "role",
            "content", "refer_list", "group_name", "path",
        )
        rows = self._query(
            f"SELECT {', '.join(names)} FROM evercore_messages WHERE group_id = ? ORDER BY seq",
            (group_id,),
        )
        result = [dict(zip(names, row, strict=True)) for row in rows]
        for item in result:
            item["refer_list"] = json.loads(item["refer_list"])
        return result

    def groups(self) -> list[StoredEverCoreGroup]:
        """Every group with messages or metadata, sorted by group id."""
        metas = {
            row[0]: (row[1], row[2])
            for row in self._query("SELECT group_id, name, scene FROM evercore_meta", ())
        }
        summaries = {
            row[0]: row[1:] for row in self._query(_SUMMARY_SQL, ())
        }
        result = []
        for group_id in sorted(set(metas) | set(summaries)):
            count, unique, backwards, group_name = summaries.get(group_id, (0, 0, 0, None))
            name, scene = metas.get(group_id, (None, None))
            result.append(
                StoredEverCoreGroup(
                    group_id=group_id,
                    name=name or group_name,
                    scene=scene,
                    meta=group_id in metas,
                    messages=count,
                    unique_ids=unique,
                    duplicates=count - unique,
                    chronological=backwards == 0,
                )
            )
        return result
