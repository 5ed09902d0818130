"""The same conversation from several inputs → one chronological, de-duplicated stream.

A Slack export split by date, two DiscordChatExporter files of one channel, monthly exports: each
input yields part of a conversation. Every conversation read is put in a spool (a temporary
SQLite file, so memory stays bounded however large the inputs are) under its key; a message id
seen again is the same message and is kept once (the first input's copy). Afterwards each key is
read back in time order (ties keep the order the inputs were given in), one page at a time.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from pathlib import Path

from importer.models import Conversation, Message

__all__ = ["SpooledConversation", "Spool"]

_PAGE = 1000


@dataclass
class SpooledConversation:
    """A merged conversation without its messages (read those with ``Spool.messages``)."""

    index: int
    meta: Conversation
    origins: list[str] = field(default_factory=list)
    #: distinct messages, and messages dropped because another input already had their id
    count: int = 0
    duplicates: int = 0

    @property
    def key(self) -> str:
        return self.meta.key


class Spool:
    """Conversations by key, merged; written by one reader, then read by many lanes."""

    def __init__(self, directory: Path | str | None = None) -> None:
        self._dir = Path(tempfile.mkdtemp(prefix="importer-spool-", dir=directory))
        # holds message text for the length of a run: owner-only (mkdtemp), deleted by close()
        self._db = sqlite3.connect(
            self._dir / "spool.sqlite", check_same_thread=False, isolation_level=None
        )
        self._lock = threading.Lock()
        self._db.executescript(
            """
            PRAGMA journal_mode=OFF;
            PRAGMA synchronous=OFF;
            PRAGMA temp_store=FILE;
            CREATE TABLE msgs (conv INTEGER NOT NULL, mid TEXT NOT NULL, ts INTEGER NOT NULL,
                               seq INTEGER NOT NULL, sender_id TEXT NOT NULL, sender_name TEXT,
                               role TEXT NOT NULL, content TEXT NOT NULL, reply_to TEXT,
                               PRIMARY KEY (conv, mid)) WITHOUT ROWID;
            """
        )
        # the time-order index is built once reading is done: faster than keeping it up to date
        self._ordered = False
        self._conversations: dict[str, SpooledConversation] = {}
        self._seq = 0

    # -- writing (one reader thread) ---------------------------------------------------------

    def add(self, conversation: Conversation) -> SpooledConversation:
        """Merge ``conversation`` into the spool."""
        key = conversation.key
        spooled = self._conversations.get(key)
        if spooled is None:
            meta = conversation.model_copy(update={"messages": []})
            spooled = SpooledConversation(len(self._conversations), meta)
            self._conversations[key] = spooled
        else:
            merged = {**spooled.meta.participants, **conversation.participants}
            spooled.meta = spooled.meta.model_copy(update={
                "participants": merged,
                "name": spooled.meta.name or conversation.name,
                "description": spooled.meta.description or conversation.description,
                # the same events may be in both inputs: the larger count is the honest one
                "skipped": max(spooled.meta.skipped, conversation.skipped),
            })
        if conversation.origin and conversation.origin not in spooled.origins:
            spooled.origins.append(conversation.origin)
        index, seq = spooled.index, self._seq
        rows = [
            (index, m.message_id, m.timestamp, seq + i, m.sender_id, m.sender_name, m.role,
             m.content, m.reply_to)
            for i, m in enumerate(conversation.messages, 1)
        ]
        self._seq += len(rows)
        with self._lock:
            before = self._db.total_changes
            self._db.execute("BEGIN")
            self._db.executemany("INSERT OR IGNORE INTO msgs VALUES (?,?,?,?,?,?,?,?,?)", rows)
            self._db.execute("COMMIT")
            added = self._db.total_changes - before
        spooled.count += added
        spooled.duplicates += len(rows) - added
        return spooled

    # -- reading -------------------------------------------------------------------------------

    def conversations(self) -> list[SpooledConversation]:
        """Every merged conversation, in the order first seen."""
        return sorted(self._conversations.values(), key=lambda s: s.index)

    def messages(self, spooled: SpooledConversation, page: int = _PAGE) -> Iterator[list[Message]]:
        """The conversation's messages in time order, ``page`` at a time."""
        for rows in self._pages(spooled, _MESSAGE_COLUMNS, page):
            yield [_message(row) for row in rows]

    def ids(self, spooled: SpooledConversation, page: int = _PAGE) -> Iterator[list[tuple[str, int]]]:
        """(message id, timestamp) of the conversation's messages in time order: what counting
        needs, without building messages."""
        for rows in self._pages(spooled, "mid, ts", page):
            yield [(row[2], row[3]) for row in rows]

    def _pages(self, spooled: SpooledConversation, columns: str, page: int
               ) -> Iterator[list[tuple[Any, ...]]]:
        after: tuple[int, int] | None = None
        with self._lock:
            if not self._ordered:
                self._db.execute("CREATE INDEX IF NOT EXISTS msgs_order ON msgs (conv, ts, seq)")
                self._ordered = True
        while True:
            with self._lock:
                if after is None:
                    rows = self._db.execute(
                        f"SELECT ts, seq, {columns} FROM msgs WHERE conv=? "
                        "ORDER BY ts, seq LIMIT ?",
                        (spooled.index, page),
                    ).fetchall()
                else:
                    rows = self._db.execute(
                        f"SELECT ts, seq, {columns} FROM msgs WHERE conv=? AND (ts, seq) > (?, ?) "
                        "ORDER BY ts, seq LIMIT ?",
                        (spooled.index, *after, page),
                    ).fetchall()
            if not rows:
                return
            yield rows
            after = (rows[-1][0], rows[-1][1])
            if len(rows) < page:
                return

    def close(self) -> None:
        with self._lock:
            self._db.close()
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_MESSAGE_COLUMNS = "mid, sender_id, sender_name, role, content, reply_to"


def _message(row: tuple[Any, ...]) -> Message:
    ts, _, mid, sender_id, sender_name, role, content, reply_to = row
    # validated when the converter built it; stored and read back unchanged
    return Message.model_construct(
        message_id=mid, timestamp=ts, sender_id=sender_id, sender_name=sender_name, role=role,
        content=content, reply_to=reply_to,
    )
