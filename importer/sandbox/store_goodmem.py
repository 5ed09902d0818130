"""The sandbox's GoodMem tables: spaces and the memories created in them (never overwritten)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["GOODMEM_SCHEMA", "GoodMemTables", "MemoryRecord", "SpaceRecord", "StoredSpace"]

GOODMEM_SCHEMA = """
CREATE TABLE IF NOT EXISTS goodmem_spaces (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    space_id   TEXT NOT NULL UNIQUE,
    name       TEXT NOT NULL UNIQUE,
    labels     TEXT NOT NULL,
    embedders  TEXT NOT NULL,
    chunking   TEXT,
    created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS goodmem_memories (
    seq              INTEGER PRIMARY KEY AUTOINCREMENT,
    memory_id        TEXT NOT NULL UNIQUE,
    space_id         TEXT NOT NULL,
    content          BLOB NOT NULL,
    content_type     TEXT NOT NULL,
    metadata         TEXT,
    created_at       INTEGER NOT NULL,
    conversation_id  TEXT,
    first_message_id TEXT,
    message_count    INTEGER
);
CREATE INDEX IF NOT EXISTS goodmem_memories_by_space ON goodmem_memories (space_id, seq);
"""

# Per space: memories, messages they say they cover, and those covered again by a memory that
# starts at the same message of the same conversation (a window stored twice).
_SUMMARY_SQL = """
WITH ranked AS (
    SELECT space_id, conversation_id, COALESCE(message_count, 0) AS covered,
           ROW_NUMBER() OVER (
               PARTITION BY space_id, conversation_id, first_message_id ORDER BY seq
           ) AS copy
    FROM goodmem_memories
)
SELECT space_id, COUNT(*), SUM(covered),
       SUM(CASE WHEN copy > 1 AND conversation_id IS NOT NULL THEN covered ELSE 0 END),
       COUNT(DISTINCT conversation_id)
FROM ranked
GROUP BY space_id
"""

_Transaction = Callable[[], AbstractContextManager[sqlite3.Connection]]
_Query = Callable[[str, Sequence[Any]], list[tuple[Any, ...]]]


@dataclass(frozen=True, slots=True)
class SpaceRecord:
    space_id: str
    name: str
    labels: dict[str, str]
    #: ``[{embedderId, defaultRetrievalWeight}]``
    embedders: list[dict[str, Any]]
    chunking: dict[str, Any] | None
    created_at: int


@dataclass(frozen=True, slots=True)
class MemoryRecord:
    memory_id: str
    space_id: str
    content: bytes
    content_type: str
    metadata: dict[str, Any] | None
    created_at: int


@dataclass(frozen=True, slots=True)
class StoredSpace:
    """What the store holds for one space, and how many chat messages its memories cover."""

    space_id: str
    name: str
    memories: int
    #: the sum of the memories' ``metadata.message_count``
    messages: int
    #: messages covered again by a second memory starting at the same message
    duplicate_messages: int
    conversations: int

    @property
    def key(self) -> str:
        return f"goodmem:{self.name}"


class GoodMemTables:
    """Reads and writes of the GoodMem tables, through the store's one connection."""

    def __init__(self, transaction: _Transaction, query: _Query) -> None:
        self._transaction = transaction
        self._query = query

    def create_space(self, space: SpaceRecord) -> Literal["created", "name taken", "id taken"]:
        with self._transaction() as db:
            taken = db.execute(
                "SELECT space_id = ?, name = ? FROM goodmem_spaces WHERE space_id = ? OR name = ?",
                (space.space_id, space.name, space.space_id, space.name),
            ).fetchone()
            if taken is not None:
                return "id taken" if taken[0] else "name taken"
            db.execute(
                "INSERT INTO goodmem_spaces"
                " (space_id, name, labels, embedders, chunking, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    space.space_id,
                    space.name,
                    json.dumps(space.labels),
                    json.dumps(space.embedders),
                    json.dumps(space.chunking) if space.chunking is not None else None,
                    space.created_at,
                ),
            )
        return "created"

    def spaces(self) -> list[SpaceRecord]:
        """Every space, newest first (GoodMem's default order)."""
        return [
            _space(row)
            for row in self._query(
                "SELECT space_id, name, labels, embedders, chunking, created_at"
                " FROM goodmem_spaces ORDER BY seq DESC",
                (),
            )
        ]

    def space(self, space_id: str) -> SpaceRecord | None:
        rows = self._query(
            "SELECT space_id, name, labels, embedders, chunking, created_at"
            " FROM goodmem_spaces WHERE space_id = ?",
            (space_id,),
        )
        return _space(rows[0]) if rows else None

    def delete_space(self, space_id: str) -> bool:
        """Remove a space and its memories; False when there was no such space."""
        with self._transaction() as db:
            gone = db.execute("DELETE FROM goodmem_spaces WHERE space_id = ?", (space_id,))
            db.execute("DELETE FROM goodmem_memories WHERE space_id = ?", (space_id,))
        return gone.rowcount == 1

    def create_memories(self, memories: Sequence[MemoryRecord]) -> list[bool]:
        """Insert each memory unless its id is taken; per item, whether it was created."""
        created = []
        with self._transaction() as db:
            for memory in memories:
                metadata = memory.metadata or {}
                count = metadata.get("message_count")
                cursor = db.execute(
                    "INSERT OR IGNORE INTO goodmem_memories (memory_id, space_id, content,"
                    " content_type, metadata, created_at, conversation_id, first_message_id,"
                    " message_count) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        memory.memory_id,
                        memory.space_id,
                        memory.content,
                        memory.content_type,
                        json.dumps(memory.metadata) if memory.metadata is not None else None,
                        memory.created_at,
                        _text(metadata.get("conversation_id")),
                        _text(metadata.get("first_message_id")),
                        count if isinstance(count, int) and not isinstance(count, bool) else None,
                    ),
                )
                created.append(cursor.rowcount == 1)
        return created

    def memory(self, memory_id: str) -> MemoryRecord | None:
        rows = self._query(
            "SELECT memory_id, space_id, content, content_type, metadata, created_at"
            " FROM goodmem_memories WHERE memory_id = ?",
            (memory_id,),
        )
        return _memory(rows[0]) if rows else None

    def memories(self, space_id: str) -> list[MemoryRecord]:
        """A space's memories in the order they were created."""
        rows = self._query(
            "SELECT memory_id, space_id, content, content_type, metadata, created_at"
            " FROM goodmem_memories WHERE space_id = ? ORDER BY seq",
            (space_id,),
        )
        return [_memory(row) for row in rows]

    def summary(self) -> list[StoredSpace]:
        """Every space with what it holds, sorted by name."""
        counts = {row[0]: row[1:] for row in self._query(_SUMMARY_SQL, ())}
        result = []
        for space in self.spaces():
            memories, covered, duplicates, conversations = counts.get(
                space.space_id, (0, 0, 0, 0)
            )
            result.append(
                StoredSpace(
                    space_id=space.space_id,
                    name=space.name,
                    memories=memories,
                    messages=covered or 0,
                    duplicate_messages=duplicates or 0,
                    conversations=conversations,
                )
            )
        return sorted(result, key=lambda s: s.name)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _space(row: tuple[Any, ...]) -> SpaceRecord:
    space_id, name, labels, embedders, chunking, created_at = row
    return SpaceRecord(
        space_id=space_id,
        name=name,
        labels=json.loads(labels),
        embedders=json.loads(embedders),
        chunking=json.loads(chunking) if chunking else None,
        created_at=created_at,
    )


def _memory(row: tuple[Any, ...]) -> MemoryRecord:
    memory_id, space_id, content, content_type, metadata, created_at = row
    return MemoryRecord(
        memory_id=memory_id,
        space_id=space_id,
        content=bytes(content),
        content_type=content_type,
        metadata=json.loads(metadata) if metadata else None,
        created_at=created_at,
    )
