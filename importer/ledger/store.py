"""The ledger: what one target has acknowledged, per conversation and message id.

There is one ledger per *target identity* (protocol and server URL without credentials, the
sandbox database, or a GoodMem space), found by that identity in the checkpoint folder and never
by which input paths were given: the same conversation arriving from two inputs, in any order or
in later runs, is sent once and never skipped.

Files, for a target whose identity names ``N``:

    N.ledger.sqlite   digests of acknowledged message ids per conversation, conversation states,
                      chunks in flight (with their task ids) and chunks in doubt
    N.json            a human-readable summary, rewritten when a run ends (never read to decide)
    N.lock            held while a run uses the ledger

Under ``--shard I/K`` each shard has files of its own, ``N.shard-I-of-K.*``, so K processes
never contend for a lock; ``layout`` keeps one target from having ledgers of two layouts.

Why SQLite: id sets reach ten million entries per target. A B-tree keeps the cost of one
acknowledgement flat (O(log n)), membership is asked in batches without holding any set in
memory, and a transaction makes "these ids acknowledged, this chunk no longer in flight" one
atomic step. Changes from every lane that arrive while a commit runs are committed together
(group commit); ``synchronous=FULL`` makes a commit survive a power cut, and a change counts
only once its commit returned. Only 64-bit digests of ids and contents are stored, never text,
never secrets.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import sqlite3
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import filelock

from importer.errors import CheckpointError
from importer.ledger.layout import LayoutError, check_layout
from importer.ledger.records import (
    ConversationState,
    InDoubt,
    LedgerTotals,
    LegacyCursor,
    conversation_digest,
    ledger_stem,
    now,
    pack_entries,
    unpack_entries,
)
from importer.ledger.sql import (
    SCHEMA,
    SCHEMA_VERSION,
    copy_rows,
    ensure,
    has_conversations,
    known,
    legacy_cursors,
    state,
    summary_states,
    totals,
    transaction,
    write_atomically,
)
from importer.logs import get_logger
from importer.shard import UNSHARDED, Shard
from importer.sqlbatch import insert_rows

__all__ = ["Ledger"]

log = get_logger(__name__)
T = TypeVar("T")


class Ledger:
    """The ledger of one target (or of one shard of it). ``open`` (locks, migrates), the
    async operations, ``close``."""

    def __init__(
        self, directory: Path | str, identity: str, *, shard: Shard | None = None
    ) -> None:
        self.directory = Path(directory)
        self.identity = identity
        self.shard = shard
        self.name = ledger_stem(identity, shard)
        self.path = self.directory / f"{self.name}.ledger.sqlite"
        self.summary_path = self.directory / f"{self.name}.json"
        self._lock = filelock.FileLock(str(self.directory / f"{self.name}.lock"))
        self._db: sqlite3.Connection | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._pending: list[tuple[Callable[[sqlite3.Connection], None], asyncio.Future[None]]] = []
        self._committer: asyncio.Task[None] | None = None
        #: the waiter of the latest change asked for; the first write error, for good
        self._last: asyncio.Future[None] | None = None
        self._failed: CheckpointError | None = None
        self._legacy: dict[int, LegacyCursor] = {}
        #: the ledger held no conversation when opened: then only those this run asked to
        #: change (``_created``, when the change was asked for) have a state worth reading
        self._empty_at_open = False
        self._created: set[int] = set()
        self.migrated_from: list[str] = []

    # -- lifecycle ---------------------------------------------------------------------------

    def open(self) -> Ledger:
        """Create or open the ledger and take its lock; take over checkpoints of 0.1.0.
        Raises ``LayoutError`` when the target has ledger files of another layout."""
        check_layout(self.directory, self.identity, self.shard)  # before creating anything
        try:
            self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise CheckpointError(
                f"cannot create checkpoint folder {self.directory}: {exc.strerror or exc}"
            ) from exc
        if not os.access(self.directory, os.W_OK | os.X_OK):
            raise CheckpointError(
                f"checkpoint folder {self.directory} is not writable "
                "(choose another with --checkpoint-dir)"
            )
        try:
            self._lock.acquire(timeout=0)
        except filelock.Timeout:
            raise CheckpointError(
                f"another import into {self.identity} is already running (ledger {self.path}); "
                "wait for it to finish, or stop it first"
            ) from None
        except OSError as exc:
            raise CheckpointError(
                f"cannot lock {self.directory / (self.name + '.lock')}: {exc.strerror or exc}"
            ) from exc
        created = not self.path.exists()
        try:
            self._db = self._connect()
            # again now that this file exists: of two runs of different layouts started at the
            # same moment, the later check sees the other's file, so both never go on
            check_layout(self.directory, self.identity, self.shard)
            self._migrate_legacy()
            self._legacy = legacy_cursors(self._db)
            self._empty_at_open = not has_conversations(self._db)
        except BaseException:
            self._close_db()
            if created:
                self._discard()
            self._lock.release()
            raise
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ledger")
        return self

    def _discard(self) -> None:
        """Remove the ledger this open created (it holds nothing): a refused run leaves no file."""
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(str(self.path) + suffix).unlink(missing_ok=True)

    def repair(self) -> list[str]:
        """``--repair``: set a damaged ledger aside and copy every row that can still be read
        into a new one. Returns what was kept and what was lost, for the user. Call before
        ``open``; a ledger that opens cleanly is left alone."""
        if not self.path.exists():
            return []
        try:
            probe = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
            try:
                if probe.execute("PRAGMA quick_check").fetchone()[0] == "ok":
                    return [f"ledger {self.path} is sound; nothing to repair"]
            finally:
                probe.close()
        except sqlite3.DatabaseError:
            pass
        aside = self.path.with_name(f"{self.path.name}.damaged-{int(time.time())}")
        for suffix in ("", "-wal", "-shm"):
            source = Path(str(self.path) + suffix)
            if source.exists():
                source.replace(Path(str(aside) + suffix))
        notes = [f"damaged ledger set aside as {aside}"]
        fresh = self._connect()
        try:
            old = sqlite3.connect(f"file:{aside}?mode=ro", uri=True)
        except sqlite3.DatabaseError as exc:
            fresh.close()
            lost = f"nothing could be read from it ({exc}): every message may be sent again"
            return [*notes, lost]
        try:
            for table in ("conversations", "acked", "inflight", "in_doubt", "legacy"):
                kept, problem = copy_rows(old, fresh, table)
                notes.append(f"{table}: {kept} rows kept" + (f"; the rest is lost ({problem})"
                                                           if problem else ""))
        finally:
            old.close()
            fresh.close()
        return notes

    def _connect(self) -> sqlite3.Connection:
        new = not self.path.exists()
        try:
            db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            if new:
                os.chmod(self.path, 0o600)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            # 64 MB of pages: the upper levels of a ten-million-id B-tree stay in memory, so
            # an acknowledgement costs about the same at ten million as at a thousand
            db.execute("PRAGMA cache_size=-65536")
            # a chunk's acknowledgement dirties hundreds of pages of the id B-tree, the same
            # ones again and again: copying them to the database every 4 MB of log (the
            # default) wrote and synced each many times; every 40 MB writes each once
            db.execute("PRAGMA wal_autocheckpoint=10000")
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version not in (0, SCHEMA_VERSION):
                raise CheckpointError(
                    f"ledger {self.path} has schema version {version}; this importer reads "
                    f"version {SCHEMA_VERSION} (upgrade the importer)"
                )
            db.executescript(SCHEMA)
            db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            db.execute(
                "INSERT OR IGNORE INTO meta(name, value) VALUES ('identity', ?)", (self.identity,)
            )
            stored = db.execute("SELECT value FROM meta WHERE name='identity'").fetchone()[0]
            # ledgers written before sharding existed hold no layout: they are unsharded
            layout = self.shard.layout if self.shard is not None else UNSHARDED
            db.execute("INSERT OR IGNORE INTO meta(name, value) VALUES ('layout', ?)", (layout,))
            stored_layout = db.execute("SELECT value FROM meta WHERE name='layout'").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            raise CheckpointError(
                f"ledger {self.path} is damaged ({exc}); run again with --repair to keep what can "
                "still be read (what cannot may be sent again, and the server stores it twice)"
            ) from exc
        if stored != self.identity:
            db.close()
            raise CheckpointError(
                f"ledger {self.path} belongs to {stored}, not {self.identity}"
            )
        if stored_layout != layout:
            db.close()
            raise LayoutError(
                f"ledger {self.path} was written as {stored_layout!r}, not {layout!r} (renamed "
                "by hand, or written by an importer that assigned shards another way); put back "
                "the files as that run left them"
            )
        return db

    async def close(self) -> None:
        """Commit what is pending, write the readable summary and release the lock."""
        try:
            await self.flush()
            if self._db is not None:
                counts = await self._run(totals)
                summary = await self._run(summary_states)
                await asyncio.to_thread(self._write_summary, counts, summary)
        finally:
            if self._executor is not None:
                self._executor.shutdown(wait=True)
                self._executor = None
            self._close_db()
            if self._lock.is_locked:
                self._lock.release()

    def _close_db(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    # -- reading -------------------------------------------------------------------------------

    async def state(self, key: str) -> ConversationState:
        """The conversation's state, once every change made before this call is committed."""
        conv = conversation_digest(key)
        if self._empty_at_open and conv not in self._created:
            # new to the target: nothing to read, and no change to wait for (a lane starting
            # while others commit began its first request tens of milliseconds later). Only
            # in a ledger that started empty: knowing every conversation of a large one would
            # take memory that grows with it (a million digests: about 78 MB)
            return ConversationState()
        if self._last is not None:
            await asyncio.shield(self._last)
        return await self._run(lambda db: state(db, conv))

    async def known(self, key: str, hids: Sequence[int]) -> dict[int, int]:
        """Of the message digests ``hids``, those acknowledged, with their content digests."""
        conv = conversation_digest(key)
        return await self._run(lambda db: known(db, conv, hids))

    async def totals(self) -> LedgerTotals:
        return await self._run(totals)

    def legacy_covers(self, key: str, timestamp: int, message_id: str) -> bool:
        """Whether a 0.1.0 checkpoint taken over says this message was acknowledged."""
        if not self._legacy:
            return False
        legacy = self._legacy.get(conversation_digest(key))
        return legacy is not None and legacy.covers(timestamp, message_id)

    def legacy_task(self, key: str) -> str | None:
        legacy = self._legacy.get(conversation_digest(key))
        return legacy.task_id if legacy else None

    # -- writing (each returns once committed) ---------------------------------------------------

    async def begin(
        self, key: str, *, first_id: str, last_id: str, max_ts: int,
        entries: list[tuple[int, int]],
    ) -> None:
        """Journal the intent to send a chunk, before the request leaves (the conversation's
        setup call, which comes before its first chunk, is done by then)."""
        conv, blob, stamp = conversation_digest(key), pack_entries(entries), now()
        self._created.add(conv)

        def op(db: sqlite3.Connection) -> None:
            ensure(db, conv, key)
            db.execute(
                "INSERT OR REPLACE INTO inflight VALUES (?, ?, ?, ?, ?, ?, NULL, ?)",
                (conv, first_id, last_id, len(entries), max_ts, blob, stamp),
            )
            db.execute("UPDATE conversations SET group_ready = 1 WHERE conv = ?", (conv,))

        await self._commit(op)

    async def sent(self, key: str, task_id: str, *, wait: bool = True) -> None:
        """The server accepted the chunk in flight as ``task_id``: after a crash, ask it.
        ``wait=False``: committed in the background (see ``_commit``)."""
        conv = conversation_digest(key)
        await self._commit(
            lambda db: db.execute("UPDATE inflight SET task_id=? WHERE conv=?", (task_id, conv)),
            wait=wait,
        )

    async def acknowledge(
        self, key: str, entries: list[tuple[int, int]], max_ts: int, *,
        in_doubt: InDoubt | None = None, origin: str | None = None, count: bool = True,
        wait: bool = True,
    ) -> int:
        """Record ``entries`` as acknowledged and the chunk as no longer in flight; returns how
        many of them were new to the ledger (when waited for). ``count=False``: they are
        already counted (taken over from a 0.1.0 checkpoint). ``wait=False``: committed in the
        background (see ``_commit``)."""
        conv = conversation_digest(key)
        self._created.add(conv)
        added = 0

        def op(db: sqlite3.Connection) -> None:
            nonlocal added
            ensure(db, conv, key)
            before = db.total_changes
            insert_rows(db, "INSERT OR IGNORE INTO acked(conv, id, content)",
                        [(conv, hid, chash) for hid, chash in entries])
            added = db.total_changes - before
            db.execute(
                "UPDATE conversations SET acked = acked + ?, max_ts = MAX(COALESCE(max_ts, ?), ?),"
                " failure = NULL, origin = COALESCE(?, origin), updated_at = ? WHERE conv = ?",
                (added if count else 0, max_ts, max_ts, origin, now(), conv),
            )
            if count:
                db.execute("DELETE FROM inflight WHERE conv=?", (conv,))
            if in_doubt is not None:
                db.execute(
                    "INSERT INTO in_doubt VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (conv, in_doubt.kind, in_doubt.first_id, in_doubt.last_id, in_doubt.count,
                     in_doubt.task_id, pack_entries(entries), now()),
                )

        await self._commit(op, wait=wait)
        return added

    async def abandon(self, key: str, *, resent: InDoubt | None = None) -> None:
        """The chunk in flight will be sent again (its task failed, or its fate is unknown)."""
        conv = conversation_digest(key)

        def op(db: sqlite3.Connection) -> None:
            db.execute("DELETE FROM inflight WHERE conv=?", (conv,))
            if resent is not None:
                db.execute(
                    "INSERT INTO in_doubt VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (conv, resent.kind, resent.first_id, resent.last_id, resent.count,
                     resent.task_id, b"", now()),
                )

        await self._commit(op)

    async def update(
        self, key: str, *, group_ready: bool | None = None, flushed_at: int | None = None,
        failure: str | None = None, clear_failure: bool = False, origin: str | None = None,
    ) -> None:
        conv = conversation_digest(key)
        self._created.add(conv)

        def op(db: sqlite3.Connection) -> None:
            ensure(db, conv, key)
            sets: list[str] = ["updated_at = ?"]
            values: list[Any] = [now()]
            if group_ready is not None:
                sets.append("group_ready = ?")
                values.append(int(group_ready))
            if flushed_at is not None:
                sets.append("flushed_at = ?")
                values.append(flushed_at)
            if failure is not None or clear_failure:
                sets.append("failure = ?")
                values.append(failure)
            if origin is not None:
                sets.append("origin = ?")
                values.append(origin)
            db.execute(f"UPDATE conversations SET {', '.join(sets)} WHERE conv = ?",
                       (*values, conv))

        await self._commit(op)

    async def settle_legacy(self, key: str, cursor_from_task: bool) -> None:
        """A 0.1.0 chunk in flight was resolved: keep the cursor its outcome implies."""
        conv = conversation_digest(key)
        legacy = self._legacy.get(conv)
        if legacy is None or legacy.task_id is None:
            return
        if cursor_from_task and legacy.task_cursor is not None:
            legacy.cursor_ts, legacy.cursor_ids = legacy.task_cursor
        legacy.task_id, legacy.task_cursor = None, None
        ts, ids = legacy.cursor_ts, json.dumps(sorted(legacy.cursor_ids))
        await self._commit(lambda db: db.execute(
            "UPDATE legacy SET cursor_ts=?, cursor_ids=?, task_id=NULL, task_cursor_ts=NULL,"
            " task_cursor_ids=NULL WHERE conv=?", (ts, ids, conv)))

    async def take_in_doubt(self, key: str) -> list[tuple[int, int]]:
        """``--resend-in-doubt``: forget the acknowledgement of this conversation's chunks whose
        task expired, so they are sent again; returns their entries."""
        conv = conversation_digest(key)
        taken: list[tuple[int, int]] = []

        def op(db: sqlite3.Connection) -> None:
            rows = db.execute(
                "SELECT rowid, entries FROM in_doubt WHERE conv=? AND kind='expired'", (conv,)
            ).fetchall()
            for rowid, blob in rows:
                entries = unpack_entries(blob)
                taken.extend(entries)
                db.executemany("DELETE FROM acked WHERE conv=? AND id=?",
                               [(conv, hid) for hid, _ in entries])
                db.execute("DELETE FROM in_doubt WHERE rowid=?", (rowid,))
            if taken:
                db.execute("UPDATE conversations SET acked = (SELECT COUNT(*) FROM acked "
                           "WHERE conv=?), flushed_at = NULL WHERE conv=?", (conv, conv))

        await self._commit(op)
        return taken

    async def forget(self, key: str | None = None) -> None:
        """``--restart`` / ``--resend``: forget what the target acknowledged (all, or ``key``)."""
        which = ""  # every conversation
        params: tuple[int, ...] = ()
        if key is None:
            self._legacy.clear()
        else:
            conv = conversation_digest(key)
            self._legacy.pop(conv, None)
            which, params = " WHERE conv=?", (conv,)

        def op(db: sqlite3.Connection) -> None:
            for table in ("conversations", "acked", "inflight", "in_doubt", "legacy"):
                db.execute(f"DELETE FROM {table}{which}", params)

        await self._commit(op)

    async def flush(self) -> None:
        """Wait until every change made so far is committed."""
        while self._committer is not None and not self._committer.done():
            await asyncio.shield(self._committer)

    # -- group commit ------------------------------------------------------------------------------

    async def _commit(
        self, op: Callable[[sqlite3.Connection], object], *, wait: bool = True
    ) -> None:
        """Commit ``op`` with whatever else is pending, in the order asked, in one transaction.

        ``wait=False`` returns at once: the change is committed no later than the next change
        asked for, so a record that must be durable before a request (a chunk's intent) is
        waited for and carries the ones queued before it. A failed write fails every later one.
        """
        if self._db is None:
            raise CheckpointError("the ledger is not open")
        if self._failed is not None:
            raise self._failed
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((op, waiter))  # type: ignore[arg-type]
        self._last = waiter
        if self._committer is None or self._committer.done():
            self._committer = asyncio.create_task(self._commit_pending())
        if wait:
            await asyncio.shield(waiter)
        else:
            waiter.add_done_callback(_retrieve)

    async def _commit_pending(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            ops = [op for op, _ in batch]
            try:
                await self._run(functools.partial(transaction, ops=ops))
            except (sqlite3.Error, OSError) as exc:
                error = CheckpointError(f"cannot write the ledger {self.path}: {exc}")
                self._failed = error
                for _, waiter in batch:
                    if not waiter.done():
                        waiter.set_exception(error)
                continue
            for _, waiter in batch:
                if not waiter.done():
                    waiter.set_result(None)

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        db, executor = self._db, self._executor
        if db is None or executor is None:
            raise CheckpointError("the ledger is not open")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(executor, fn, db)

    # -- the summary and 0.1.0 checkpoints ------------------------------------------------------

    def _write_summary(self, totals: LedgerTotals, states: dict[str, dict[str, Any]]) -> None:
        summary = {
            "version": SCHEMA_VERSION,
            "target": self.identity,
            "ledger": self.path.name,
            "layout": self.shard.layout if self.shard is not None else UNSHARDED,
            "updated_at": now(),
            "conversations": len(states),
            "acknowledged_messages": totals.acked,
            "in_doubt": [d.describe() for d in totals.in_doubt],
            "states": states,
        }
        write_atomically(self.summary_path, json.dumps(summary, indent=1, ensure_ascii=False))

    def _migrate_legacy(self) -> None:
        from importer.ledger.legacy import find_legacy_checkpoints

        assert self._db is not None
        for found in find_legacy_checkpoints(self.directory, self.identity):
            with self._db:
                self._db.execute("BEGIN")
                for key, state in found.states.items():
                    conv = conversation_digest(key)
                    ensure(self._db, conv, key)
                    self._db.execute(
                        "UPDATE conversations SET acked = MAX(acked, ?), group_ready = MAX("
                        "group_ready, ?), flushed_at = COALESCE(flushed_at, ?), origin = ? "
                        "WHERE conv = ?",
                        (state.acked, int(state.group_ready), state.flushed_at, state.origin,
                         conv),
                    )
                    self._db.execute(
                        "INSERT OR REPLACE INTO legacy VALUES (?, ?, ?, ?, ?, ?)",
                        (conv, state.cursor_ts, json.dumps(sorted(state.cursor_ids)),
                         state.task_id, state.task_cursor_ts,
                         json.dumps(sorted(state.task_cursor_ids))
                         if state.task_cursor_ids is not None else None),
                    )
            found.retire()
            self.migrated_from.append(str(found.path))
            log.info("legacy_checkpoint_taken_over", checkpoint=str(found.path),
                     conversations=len(found.states))


def _retrieve(waiter: asyncio.Future[None]) -> None:
    """A change nobody waits for: its error is raised by the next change instead."""
    if not waiter.cancelled():
        waiter.exception()
