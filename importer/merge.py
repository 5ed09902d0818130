"""The same conversation from several inputs → one chronological, de-duplicated stream.

A Slack export split by date, two DiscordChatExporter files of one channel, monthly exports: each
input yields part of a conversation. Every conversation read is appended to a spool (a temporary
SQLite file, so memory stays bounded however large the inputs are) under its key. A conversation
that arrived in one piece is read back as it was written (converters hand over their messages
sorted, with ids unique). One that arrived in several pieces is merged when reading is done: a
message id seen again is the same message and is kept once (the first input's copy), and the rest
is read in time order (ties keep the order the inputs were given in), one page at a time.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from importer.models import Conversation, Message

__all__ = ["Spool", "SpooledConversation"]

_PAGE = 1000
_COLUMNS = "mid, ts, sender_id, sender_name, role, content, reply_to"


@dataclass
class SpooledConversation:
    """A merged conversation without its messages (read those with ``Spool.messages``)."""

    index: int
    meta: Conversation
    origins: list[str] = field(default_factory=list)
    #: distinct messages, and messages dropped because another input already had their id
    count: int = 0
    duplicates: int = 0
    #: rowids of each piece appended: one piece is read back by rowid, several are merged
    pieces: list[tuple[int, int]] = field(default_factory=list)

    @property
    def key(self) -> str:
        return self.meta.key


class Spool:
    """Conversations by key, merged; written by one reader, then read by many lanes."""

    def __init__(self, directory: Path | str | None = None, *, ids_only: bool = False) -> None:
        #: keep only ids and times (enough to merge and count: ``--validate-only``)
        self.ids_only = ids_only
        self._dir = Path(tempfile.mkdtemp(prefix="importer-spool-", dir=directory))
        # holds message text for the length of a run: owner-only (mkdtemp), deleted by close()
        self._db = sqlite3.connect(
            self._dir / "spool.sqlite", check_same_thread=False, isolation_level=None
        )
        self._lock = threading.Lock()
        # append-only while reading (no index to keep up to date); merging happens once after
        self._db.executescript(
            """
            PRAGMA journal_mode=OFF;
            PRAGMA synchronous=OFF;
            PRAGMA temp_store=FILE;
            CREATE TABLE msgs (conv INTEGER NOT NULL, mid TEXT NOT NULL, ts INTEGER NOT NULL,
                               sender_id TEXT NOT NULL, sender_name TEXT, role TEXT NOT NULL,
                               content TEXT NOT NULL, reply_to TEXT);
            """
        )
        self._merged = False
        self._conversations: dict[str, SpooledConversation] = {}

    # -- writing (one reader thread) ---------------------------------------------------------

    def add(self, conversation: Conversation) -> SpooledConversation:
        """Append ``conversation`` to the spool under its key."""
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
        index = spooled.index
        rows: list[tuple[Any, ...]]
        if self.ids_only:
            rows = [(index, m.message_id, m.timestamp) for m in conversation.messages]
            insert = "INSERT INTO msgs (conv, mid, ts, sender_id, role, content) VALUES (?,?,?,'','','')"
        else:
            rows = [
                (index, m.message_id, m.timestamp, m.sender_id, m.sender_name, m.role, m.content,
                 m.reply_to)
                for m in conversation.messages
            ]
            insert = "INSERT INTO msgs VALUES (?,?,?,?,?,?,?,?)"
        if not rows:
            return spooled
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany(insert, rows)
            self._db.execute("COMMIT")
            last = self._db.execute("SELECT max(rowid) FROM msgs").fetchone()[0]
        spooled.pieces.append((last - len(rows) + 1, last))
        spooled.count += len(rows)
        return spooled

    def _merge(self) -> None:
        """Once, after reading: de-duplicate and order the conversations read in pieces."""
        with self._lock:
            if self._merged:
                return
            self._merged = True
            several = [s for s in self._conversations.values() if len(s.pieces) > 1]
            if not several:
                return
            marks = ",".join(str(s.index) for s in several)
            self._db.execute("BEGIN")
            # a message id seen again is the same message: keep the first input's copy
            self._db.execute(
                f"DELETE FROM msgs WHERE conv IN ({marks}) AND rowid NOT IN "
                f"(SELECT min(rowid) FROM msgs WHERE conv IN ({marks}) GROUP BY conv, mid)"
            )
            self._db.execute("CREATE INDEX msgs_merged ON msgs (conv, ts)")
            self._db.execute("COMMIT")
            for spooled in several:
                count = self._db.execute(
                    "SELECT count(*) FROM msgs WHERE conv=?", (spooled.index,)
                ).fetchone()[0]
                spooled.duplicates += spooled.count - count
                spooled.count = count

    # -- reading -------------------------------------------------------------------------------

    def conversations(self) -> list[SpooledConversation]:
        """Every merged conversation, in the order first seen."""
        self._merge()
        return sorted(self._conversations.values(), key=lambda s: s.index)

    def messages(self, spooled: SpooledConversation, page: int = _PAGE) -> Iterator[list[Message]]:
        """The conversation's messages in time order, ``page`` at a time."""
        if self.ids_only:
            raise RuntimeError("this spool keeps ids only")
        for rows in self._pages(spooled, page):
            yield [_message(row) for row in rows]

    def ids(self, spooled: SpooledConversation, page: int = _PAGE) -> Iterator[list[tuple[str, int]]]:
        """(message id, timestamp) of the conversation's messages in time order: what counting
        needs, without building messages."""
        for rows in self._pages(spooled, page):
            yield [(row[1], row[2]) for row in rows]

    def _pages(self, spooled: SpooledConversation, page: int) -> Iterator[list[tuple[Any, ...]]]:
        self._merge()
        if len(spooled.pieces) == 1:
            first, last = spooled.pieces[0]
            query = (f"SELECT rowid, {_COLUMNS} FROM msgs WHERE rowid > ? AND rowid <= ? "
                     "ORDER BY rowid LIMIT ?")
            after: Any = first - 1
            while True:
                with self._lock:
                    rows = self._db.execute(query, (after, last, page)).fetchall()
                if not rows:
                    return
                yield rows
                after = rows[-1][0]
        elif spooled.pieces:
            query = (f"SELECT rowid, {_COLUMNS} FROM msgs "
                     "WHERE conv = ? AND (ts, rowid) > (?, ?) ORDER BY ts, rowid LIMIT ?")
            after = (-(2**63), 0)
            while True:
                with self._lock:
                    rows = self._db.execute(query, (spooled.index, *after, page)).fetchall()
                if not rows:
                    return
                yield rows
                after = (rows[-1][2], rows[-1][0])

    def close(self) -> None:
        with self._lock:
            self._db.close()
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _message(row: tuple[Any, ...]) -> Message:
    _, mid, ts, sender_id, sender_name, role, content, reply_to = row
    # validated when the converter built it; stored and read back unchanged
    return Message.model_construct(
        message_id=mid, timestamp=ts, sender_id=sender_id, sender_name=sender_name, role=role,
        content=content, reply_to=reply_to,
    )
