"""The same conversation from several inputs → one chronological, de-duplicated stream.

A Slack export split by date, two DiscordChatExporter files of one channel, monthly exports: each
input yields part of a conversation. Every piece a converter reads is appended to a spool (a
temporary SQLite file, so memory stays bounded however large one conversation or input is) under
its conversation's key, while it is being read. When a piece ends, repeats inside it are settled
(an exact repeat of a message is dropped; a different message under a used id is renamed ``id~2``)
with one query, so no id set is ever held in memory.

A conversation that arrived in one piece, in time order, is read back as it was written. One that
arrived out of order or in several pieces is ordered by an index built once reading is done; a
message id seen in several pieces is the same message and is kept once (the first input's copy),
ties in time keep the order the inputs were given in. Reading goes one page at a time.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from importer.errors import InputError
from importer.models import Conversation, Message
from importer.scratch import ScratchDir
from importer.sqlbatch import insert_rows

__all__ = ["Piece", "Repeats", "Spool", "SpooledConversation"]

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
    #: rowids of each piece appended: one piece in time order is read back by rowid, anything
    #: else through the time index
    pieces: list[tuple[int, int]] = field(default_factory=list)
    in_order: bool = True

    @property
    def key(self) -> str:
        return self.meta.key


@dataclass
class Piece:
    """One conversation's messages from one input, while they are being appended."""

    conversation: SpooledConversation
    new: bool
    first_rowid: int = 0
    last_rowid: int = 0
    count: int = 0
    in_order: bool = True
    last_ts: int = -(2**63)


@dataclass
class Repeats:
    """How repeated ids inside one piece were settled."""

    #: ids of exact repeats dropped (same id, time, sender and text)
    dropped: int = 0
    first_dropped: str | None = None
    #: (id, occurrence, new id) of different messages that shared an id
    renamed: list[tuple[str, int, str]] = field(default_factory=list)




class Spool:
    """Conversations by key, merged; written by one reader and read by many lanes (a
    conversation released while others are still written, or all once reading is done)."""

    def __init__(
        self, directory: Path | str | None = None, *, ids_only: bool = False,
        shared: bool = False,
    ) -> None:
        #: keep only ids, times and fingerprints (enough to merge and count: ``--validate-only``)
        self.ids_only = ids_only
        # holds message text for the length of a run: owner-only, removed by close() (or, after
        # a run that could not, by the next spool made beside it)
        self._scratch = ScratchDir("importer-spool-", directory)
        self._connection: sqlite3.Connection | None = self._connect()
        self._lock = threading.Lock()
        # ``shared``: written by a forked child while this process reads, through a write-ahead
        # log so that neither waits for the other
        journal = "WAL" if shared else "OFF"
        # append-only while reading (no index to keep up to date); ordering happens once after
        self._db.executescript(
            f"""
            PRAGMA journal_mode={journal};
            -- fp: what tells two messages under one id apart (with the time), hash((sender,
            -- text)); Python's own hash is enough, fingerprints are compared in this run only
            CREATE TABLE msgs (conv INTEGER NOT NULL, mid TEXT NOT NULL, ts INTEGER NOT NULL,
                               fp INTEGER NOT NULL, sender_id TEXT NOT NULL, sender_name TEXT,
                               role TEXT NOT NULL, content TEXT NOT NULL, reply_to TEXT);
            """
        )
        if shared:
            # each process opens its own connection once forked: SQLite's connections, and
            # its record of which files the process has open, must not cross a fork
            self._connection.close()
            self._connection = None
        self._merged = False
        #: the merge at the end of reading is running (it holds the spool for a while)
        self.merging = False
        self._conversations: dict[str, SpooledConversation] = {}
        #: keys of conversations released while reading: only the key is kept from then on
        #: (the sender holds the rest), so that no later input can add to one
        self._released: set[str] = set()
        self._next_index = 0

    @property
    def _db(self) -> sqlite3.Connection:
        if self._connection is None:
            self._connection = self._connect()
        return self._connection

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(
            self._scratch.path / "spool.sqlite", check_same_thread=False, isolation_level=None
        )
        db.executescript("PRAGMA synchronous=OFF; PRAGMA temp_store=FILE;")
        return db

    # -- writing (one reader thread) ---------------------------------------------------------

    def begin(self, header: Conversation) -> Piece:
        """Start a piece of the conversation ``header`` names (its messages are not read)."""
        if self._merged:
            raise RuntimeError("the spool is being read; no more pieces")
        spooled = self._conversations.get(header.key)
        if header.key in self._released:
            # its converter's ``keys`` left it out: the rest of the input goes unread
            raise InputError(
                header.origin or "?",
                f"holds more of conversation {header.key}, which was already being sent: the "
                "converter's keys() did not name it (a bug in that converter); not imported",
            )
        if spooled is None:
            meta = header.model_copy(update={"messages": []})
            spooled = SpooledConversation(self._next_index, meta)
            self._next_index += 1
            self._conversations[header.key] = spooled
            return Piece(spooled, new=True)
        return Piece(spooled, new=False)

    def append(self, piece: Piece, messages: list[Message]) -> None:
        """Append a batch of the piece's messages (in the order read)."""
        if not messages:
            return
        index = piece.conversation.index
        rows: list[tuple[Any, ...]]
        if self.ids_only:
            rows = [(index, m.message_id, m.timestamp, hash((m.sender_id, m.content)), "", "", "")
                    for m in messages]
            insert = "INSERT INTO msgs (conv, mid, ts, fp, sender_id, role, content)"
        else:
            rows = [
                (index, m.message_id, m.timestamp, hash((m.sender_id, m.content)), m.sender_id,
                 m.sender_name, m.role, m.content, m.reply_to)
                for m in messages
            ]
            insert = "INSERT INTO msgs"
        last_ts = piece.last_ts
        for m in messages:
            if m.timestamp < last_ts:
                piece.in_order = False
            last_ts = m.timestamp
        piece.last_ts = last_ts
        with self._lock:
            self._db.execute("BEGIN")
            insert_rows(self._db, insert, rows)
            self._db.execute("COMMIT")
            last = self._db.execute("SELECT max(rowid) FROM msgs").fetchone()[0]
        if not piece.count:
            piece.first_rowid = last - len(rows) + 1
        piece.last_rowid = last
        piece.count += len(rows)

    def discard(self, piece: Piece) -> None:
        """Forget a piece (its conversation was rejected, or reading it failed)."""
        if piece.count:
            with self._lock:
                self._db.execute("DELETE FROM msgs WHERE rowid BETWEEN ? AND ?",
                                 (piece.first_rowid, piece.last_rowid))
        if piece.new:
            del self._conversations[piece.conversation.key]

    def settle_repeats(self, piece: Piece) -> Repeats:
        """Settle ids repeated inside the piece, in time order: an exact repeat (same time,
        sender and text) is dropped; a different message under a used id becomes ``id~2``
        (``~3`` …), numbered by the distinct messages seen under it."""
        repeats = Repeats()
        if piece.count < 2:
            return repeats
        span = (piece.first_rowid, piece.last_rowid)
        with self._lock:
            distinct = self._db.execute(
                "SELECT count(DISTINCT mid) FROM msgs WHERE rowid BETWEEN ? AND ?", span
            ).fetchone()[0]
            if distinct == piece.count:
                return repeats
            rows = self._db.execute(
                "SELECT rowid, mid, ts, fp FROM msgs WHERE rowid BETWEEN ?1 AND ?2 AND mid IN "
                "(SELECT mid FROM msgs WHERE rowid BETWEEN ?1 AND ?2 GROUP BY mid "
                "HAVING count(*) > 1) ORDER BY mid, ts, rowid",
                span,
            )
            dropped: list[tuple[int]] = []
            renamed: list[tuple[str, int]] = []
            current: str | None = None
            variants: list[tuple[int, int]] = []
            for rowid, mid, ts, fp in rows:
                if mid != current:
                    current, variants = mid, [(ts, fp)]
                    continue
                if (ts, fp) in variants:
                    dropped.append((rowid,))
                    if repeats.first_dropped is None:
                        repeats.first_dropped = mid
                    continue
                variants.append((ts, fp))
                new_id = f"{mid}~{len(variants)}"
                renamed.append((new_id, rowid))
                repeats.renamed.append((mid, len(variants), new_id))
            self._db.execute("BEGIN")
            self._db.executemany("DELETE FROM msgs WHERE rowid = ?", dropped)
            self._db.executemany("UPDATE msgs SET mid = ? WHERE rowid = ?", renamed)
            self._db.execute("COMMIT")
        repeats.dropped = len(dropped)
        piece.count -= len(dropped)
        return repeats

    def finish(self, piece: Piece, header: Conversation) -> SpooledConversation:
        """Keep the piece: its conversation now also holds what ``header`` says (participants
        and counts known only once its messages were read)."""
        spooled = piece.conversation
        if not piece.new:
            spooled.meta = spooled.meta.model_copy(update={
                "participants": {**spooled.meta.participants, **header.participants},
                "name": spooled.meta.name or header.name,
                "description": spooled.meta.description or header.description,
                # the same events may be in both inputs: the larger count is the honest one
                "skipped": max(spooled.meta.skipped, header.skipped),
            })
        elif not spooled.pieces:
            spooled.meta = header.model_copy(update={"messages": []})
        if header.origin and header.origin not in spooled.origins:
            spooled.origins.append(header.origin)
        if piece.count:
            spooled.pieces.append((piece.first_rowid, piece.last_rowid))
            spooled.count += piece.count
            spooled.in_order = spooled.in_order and piece.in_order
        return spooled

    def add(self, conversation: Conversation) -> SpooledConversation:
        """Append a whole conversation built in memory as one piece."""
        piece = self.begin(conversation)
        for start in range(0, len(conversation.messages), _PAGE):
            self.append(piece, conversation.messages[start : start + _PAGE])
        return self.finish(piece, conversation)

    def _merge(self) -> None:
        """Once, after reading: de-duplicate conversations read in pieces; index the time order
        of those and of any read out of order."""
        self.merging = True
        try:
            self._merge_once()
        finally:
            self.merging = False

    def _merge_once(self) -> None:
        with self._lock:
            if self._merged:
                return
            self._merged = True
            several = [s for s in self._conversations.values() if len(s.pieces) > 1]
            unordered = any(not s.in_order for s in self._conversations.values())
            if not several and not unordered:
                return
            self._db.execute("BEGIN")
            if several:
                marks = ",".join(str(s.index) for s in several)
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

    def release(self, keys: Iterable[str]) -> list[SpooledConversation]:
        """Of the conversations ``keys`` names (no input still unread holds more of them), those
        that may be sent while reading goes on, handed over and forgotten but for their key:
        those that arrived in one piece, in time order (anything else is ordered once reading
        is done: ``conversations``)."""
        with self._lock:
            found = (self._conversations.get(key) for key in dict.fromkeys(keys))
            ready = [s for s in found if s is not None and len(s.pieces) <= 1 and s.in_order]
            for spooled in ready:
                del self._conversations[spooled.key]
                self._released.add(spooled.key)
        return ready

    def conversations(self) -> list[SpooledConversation]:
        """Every merged conversation not released while reading, in the order first seen."""
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

    def take(self, piece: Piece) -> Conversation:
        """A finished piece as a whole conversation in time order, forgotten by the spool (how
        ``Converter.read`` hands conversations over one at a time, before reading is done)."""
        spooled = piece.conversation
        query = (f"SELECT rowid, {_COLUMNS} FROM msgs WHERE rowid BETWEEN ? AND ? "
                 + ("ORDER BY rowid" if piece.in_order else "ORDER BY ts, rowid"))
        with self._lock:
            rows = self._db.execute(query, (piece.first_rowid, piece.last_rowid)).fetchall()
            self._db.execute("DELETE FROM msgs WHERE rowid BETWEEN ? AND ?",
                             (piece.first_rowid, piece.last_rowid))
        del self._conversations[spooled.key]
        return spooled.meta.model_copy(update={"messages": [_message(row) for row in rows]})

    def _pages(self, spooled: SpooledConversation, page: int) -> Iterator[list[tuple[Any, ...]]]:
        if len(spooled.pieces) == 1 and spooled.in_order:
            # read as written: no merge needed, so it may be read while others are still written
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
            self._merge()
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
            if self._connection is not None:
                self._connection.close()
        self._scratch.remove()

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _message(row: tuple[Any, ...]) -> Message:
    _, mid, ts, sender_id, sender_name, role, content, reply_to = row
    # checked when the converter built it; stored and read back unchanged
    return Message.trusted(mid, ts, sender_id, sender_name, role, content, reply_to)
