"""The ledger's SQL: its schema and every query, run on the ledger's own thread (or, for
``LedgerView`` and ``read_summary``, on a read-only connection without the lock)."""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from importer.errors import CheckpointError
from importer.ledger.records import (
    ConversationState,
    InDoubt,
    InFlight,
    LedgerTotals,
    LegacyCursor,
    conversation_digest,
    id_digest,
    ledger_stem,
    unpack_entries,
)
from importer.shard import Shard

__all__ = [
    "SCHEMA",
    "SCHEMA_VERSION",
    "LedgerView",
    "copy_rows",
    "ensure",
    "has_conversations",
    "known",
    "legacy_cursors",
    "read_summary",
    "state",
    "summary_states",
    "totals",
    "transaction",
    "write_atomically",
]

SCHEMA_VERSION = 2
#: ids asked of SQLite per query (well under its limit of bound parameters)
_LOOKUP_BATCH = 500

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS conversations (
    conv INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    acked INTEGER NOT NULL DEFAULT 0,
    max_ts INTEGER,
    group_ready INTEGER NOT NULL DEFAULT 0,
    flushed_at INTEGER,
    failure TEXT,
    origin TEXT NOT NULL DEFAULT '',
    updated_at TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS acked (
    conv INTEGER NOT NULL,
    id INTEGER NOT NULL,
    content INTEGER NOT NULL,
    PRIMARY KEY (conv, id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS inflight (
    conv INTEGER PRIMARY KEY,
    first_id TEXT NOT NULL,
    last_id TEXT NOT NULL,
    count INTEGER NOT NULL,
    max_ts INTEGER NOT NULL,
    entries BLOB NOT NULL,
    task_id TEXT,
    sent_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS in_doubt (
    conv INTEGER NOT NULL,
    kind TEXT NOT NULL,
    first_id TEXT NOT NULL,
    last_id TEXT NOT NULL,
    count INTEGER NOT NULL,
    task_id TEXT,
    entries BLOB NOT NULL,
    noted_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS legacy (
    conv INTEGER PRIMARY KEY,
    cursor_ts INTEGER NOT NULL,
    cursor_ids TEXT NOT NULL,
    task_id TEXT,
    task_cursor_ts INTEGER,
    task_cursor_ids TEXT
);
"""



def transaction(db: sqlite3.Connection, ops: Sequence[Callable[[sqlite3.Connection], object]]) -> None:
    db.execute("BEGIN IMMEDIATE")
    try:
        for op in ops:
            op(db)
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def ensure(db: sqlite3.Connection, conv: int, key: str) -> None:
    db.execute("INSERT OR IGNORE INTO conversations(conv, key) VALUES (?, ?)", (conv, key))


def has_conversations(db: sqlite3.Connection) -> bool:
    return db.execute("SELECT 1 FROM conversations LIMIT 1").fetchone() is not None


def state(db: sqlite3.Connection, conv: int) -> ConversationState:
    row = db.execute(
        "SELECT acked, max_ts, group_ready, flushed_at, failure, origin FROM conversations "
        "WHERE conv=?", (conv,)
    ).fetchone()
    if row is None:
        return ConversationState()
    flight = db.execute(
        "SELECT first_id, last_id, count, max_ts, entries, task_id FROM inflight WHERE conv=?",
        (conv,),
    ).fetchone()
    inflight = None
    if flight is not None:
        first, last, count, max_ts, blob, task = flight
        inflight = InFlight(first, last, count, max_ts, unpack_entries(blob), task)
    acked, max_ts, ready, flushed, failure, origin = row
    return ConversationState(acked, max_ts, bool(ready), flushed, failure, origin, inflight)


def known(db: sqlite3.Connection, conv: int, hids: Sequence[int]) -> dict[int, int]:
    found: dict[int, int] = {}
    for start in range(0, len(hids), _LOOKUP_BATCH):
        batch = hids[start : start + _LOOKUP_BATCH]
        marks = ",".join("?" * len(batch))
        found.update(db.execute(
            f"SELECT id, content FROM acked WHERE conv=? AND id IN ({marks})", (conv, *batch)
        ).fetchall())
    return found


def totals(db: sqlite3.Connection) -> LedgerTotals:
    totals = LedgerTotals()
    row = db.execute(
        "SELECT COUNT(*), COALESCE(SUM(acked), 0), COALESCE(SUM(flushed_at IS NOT NULL AND "
        "flushed_at = acked AND conv NOT IN (SELECT conv FROM inflight)), 0), "
        "COALESCE(SUM(failure IS NOT NULL), 0) FROM conversations"
    ).fetchone()
    totals.conversations, totals.acked, totals.complete, totals.failed = row
    totals.inflight = db.execute("SELECT COUNT(*) FROM inflight").fetchone()[0]
    totals.in_doubt = [
        InDoubt(key, kind, first, last, count, task)
        for key, kind, first, last, count, task in db.execute(
            "SELECT c.key, d.kind, d.first_id, d.last_id, d.count, d.task_id FROM in_doubt d "
            "JOIN conversations c ON c.conv = d.conv ORDER BY d.rowid"
        )
    ]
    return totals


def summary_states(db: sqlite3.Connection) -> dict[str, dict[str, Any]]:
    states: dict[str, dict[str, Any]] = {}
    flights = {conv: (first, last, count, task) for conv, first, last, count, task in db.execute(
        "SELECT conv, first_id, last_id, count, task_id FROM inflight")}
    for conv, key, acked, ready, flushed, failure, origin in db.execute(
        "SELECT conv, key, acked, group_ready, flushed_at, failure, origin FROM conversations "
        "ORDER BY key"
    ):
        state: dict[str, Any] = {"acked": acked}
        if origin:
            state["origin"] = origin
        if ready:
            state["group_ready"] = True
        if flushed is not None:
            state["flushed_at"] = flushed
        if failure:
            state["failure"] = failure
        if conv in flights:
            first, last, count, task = flights[conv]
            state["inflight"] = {"first_id": first, "last_id": last, "count": count,
                                 "task_id": task}
        states[key] = state
    return states


class LedgerView:
    """A ledger read without its lock (``plan``, ``--validate-only``): what would be sent."""

    def __init__(
        self, directory: Path | str, identity: str, *, shard: Shard | None = None
    ) -> None:
        self.path = Path(directory) / f"{ledger_stem(identity, shard)}.ledger.sqlite"
        self._db: sqlite3.Connection | None = None
        self._legacy: dict[int, LegacyCursor] = {}
        if self.path.exists():
            try:
                self._db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True,
                                           check_same_thread=False)
                self._legacy = legacy_cursors(self._db)
            except sqlite3.DatabaseError as exc:
                raise CheckpointError(f"ledger {self.path} is damaged ({exc})") from exc

    @property
    def exists(self) -> bool:
        return self._db is not None

    def state(self, key: str) -> ConversationState:
        return state(self._db, conversation_digest(key)) if self._db else ConversationState()

    def acknowledged(self, key: str, messages: Sequence[tuple[str, int]]) -> list[bool]:
        """For each (message id, timestamp): whether the target acknowledged it."""
        conv = conversation_digest(key)
        found = known(self._db, conv, [id_digest(m) for m, _ in messages]) if self._db else {}
        legacy = self._legacy.get(conv)
        return [
            id_digest(mid) in found or (legacy is not None and legacy.covers(ts, mid))
            for mid, ts in messages
        ]

    def close(self) -> None:
        if self._db is not None:
            self._db.close()


def legacy_cursors(db: sqlite3.Connection) -> dict[int, LegacyCursor]:
    """The cursors taken over from 0.1.0 checkpoints, by conversation."""
    cursors = {}
    for conv, ts, ids, task, task_ts, task_ids in db.execute("SELECT * FROM legacy"):
        task_cursor = (
            (task_ts, frozenset(json.loads(task_ids)))
            if task and task_ts is not None and task_ids is not None else None
        )
        cursors[conv] = LegacyCursor(ts, frozenset(json.loads(ids)), task, task_cursor)
    return cursors


def read_summary(ledger_path: Path) -> tuple[str, LedgerTotals, dict[str, dict[str, Any]]]:
    """The identity, totals and per-conversation states of a ledger, read without its lock
    (``status`` reads a ledger a run may be using)."""
    try:
        db = sqlite3.connect(f"file:{ledger_path}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise CheckpointError(f"cannot open ledger {ledger_path}: {exc}") from exc
    try:
        identity = db.execute("SELECT value FROM meta WHERE name='identity'").fetchone()[0]
        return identity, totals(db), summary_states(db)
    except (sqlite3.Error, TypeError) as exc:
        raise CheckpointError(f"{ledger_path} is not a readable ledger ({exc})") from exc
    finally:
        db.close()


def copy_rows(old: sqlite3.Connection, new: sqlite3.Connection, table: str) -> tuple[int, str]:
    """Copy the readable rows of ``table``; returns how many, and why it stopped early."""
    kept = 0
    try:
        cursor = old.execute(f"SELECT * FROM {table}")
        while True:
            rows = cursor.fetchmany(10_000)
            if not rows:
                return kept, ""
            marks = ",".join("?" * len(rows[0]))
            new.execute("BEGIN")
            new.executemany(f"INSERT OR IGNORE INTO {table} VALUES ({marks})", rows)
            new.execute("COMMIT")
            kept += len(rows)
    except sqlite3.DatabaseError as exc:
        return kept, str(exc)


def write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
