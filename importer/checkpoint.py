"""The durable checkpoint: what the server acknowledged, per conversation, surviving any crash.

Layout, for a job named ``N`` in the checkpoint directory:

    N.json                snapshot: every conversation's state as of journal sequence ``journal_seq``
    N.journal.jsonl       one line per change since the snapshot, each holding the conversation's
                          whole new state, so replaying a line twice is harmless
    N.journal.old.jsonl   the previous journal while it is being folded into the snapshot
    N.lock                held while a run uses the checkpoint

Each change is written to the journal at once (so it survives the process being killed the
moment after) and counts only once it is fsynced (so it survives a power cut); changes arriving
while a sync is in progress are synced together (group commit). When the journal holds about as
many lines as there are conversations, it is set aside and folded into a new snapshot, written
atomically (temp file, fsync, rename, directory fsync), so the cost per acknowledgement stays
flat however many conversations a job has.
No message text and no secrets are stored: only ids, timestamps and counts.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import filelock
import structlog
from pydantic import BaseModel, ConfigDict, ValidationError

from importer.errors import CheckpointError
from importer.models import Message

__all__ = [
    "SCHEMA_VERSION",
    "CheckpointStore",
    "ConversationState",
    "Cursor",
    "InFlight",
    "job_name",
    "read_checkpoint",
]

log = structlog.get_logger()

SCHEMA_VERSION = 1
_MIN_FOLD_LINES = 1000


class Cursor(BaseModel):
    """How far a conversation is acknowledged: the last timestamp and the ids sent at it.

    Messages are sent in timestamp order, so a message is covered when it is older than the
    cursor, or at the cursor's timestamp with an acknowledged id. A grown export therefore sends
    only its new messages.
    """

    model_config = ConfigDict(frozen=True)

    timestamp: int
    ids: tuple[str, ...] = ()

    def covers(self, message: Message) -> bool:
        return message.timestamp < self.timestamp or (
            message.timestamp == self.timestamp and message.message_id in self.ids
        )

    def advance(self, messages: Iterable[Message]) -> Cursor:
        """The cursor after ``messages`` (chronological) are acknowledged too."""
        timestamp, ids = self.timestamp, list(self.ids)
        for message in messages:
            if message.timestamp != timestamp:
                timestamp, ids = message.timestamp, []
            ids.append(message.message_id)
        return Cursor(timestamp=timestamp, ids=tuple(ids))


START = Cursor(timestamp=-(2**62))


class InFlight(BaseModel):
    """A chunk the server accepted (202) whose task had not been seen to finish."""

    model_config = ConfigDict(frozen=True)

    task_id: str
    #: the cursor and count once this chunk counts as acknowledged
    cursor: Cursor
    acked: int


class ConversationState(BaseModel):
    """Everything the importer remembers about one conversation. Immutable: replace, don't edit."""

    model_config = ConfigDict(frozen=True)

    origin: str = ""
    acked: int = 0
    cursor: Cursor | None = None
    inflight: InFlight | None = None
    group_ready: bool = False
    #: the acknowledged count at the last successful flush
    flushed_at: int | None = None
    failure: str | None = None

    @property
    def resume_cursor(self) -> Cursor:
        return self.cursor or START

    @property
    def complete(self) -> bool:
        return self.flushed_at is not None and self.flushed_at == self.acked and not self.inflight


class _Snapshot(BaseModel):
    version: int
    job: dict[str, Any]
    journal_seq: int = 0
    updated_at: str = ""
    conversations: dict[str, ConversationState] = {}


def job_name(inputs: Iterable[str], target: str) -> str:
    """A file-name-safe checkpoint name for "these inputs into this target"."""
    resolved = sorted(str(Path(p).resolve()) for p in inputs)
    digest = hashlib.sha256(json.dumps([resolved, target]).encode()).hexdigest()[:12]
    first = Path(resolved[0]).name if resolved else "import"
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", first).strip("-.")[:40] or "import"
    return f"{slug}-{digest}"


class CheckpointStore:
    """The checkpoint of one job. ``open`` (locks, loads), ``record`` (durable), ``close``."""

    def __init__(self, directory: Path | str, name: str, *, job: Mapping[str, Any]) -> None:
        self.directory = Path(directory)
        self.name = name
        self.job = dict(job)
        self.path = self.directory / f"{name}.json"
        self.journal_path = self.directory / f"{name}.journal.jsonl"
        self.old_journal_path = self.directory / f"{name}.journal.old.jsonl"
        self._lock = filelock.FileLock(str(self.directory / f"{name}.lock"))
        self._states: dict[str, ConversationState] = {}
        self._seq = 0
        self._journal_lines = 0
        self._journal: IO[str] | None = None
        self._waiters: list[asyncio.Future[None]] = []
        self._syncer: asyncio.Task[None] | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def open(self, *, restart: bool = False) -> CheckpointStore:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CheckpointError(f"cannot create checkpoint directory {self.directory}: {exc}") from exc
        try:
            self._lock.acquire(timeout=0)
        except filelock.Timeout:
            raise CheckpointError(
                f"another import is already running with checkpoint {self.path} "
                "(wait for it to finish, or stop it first)"
            ) from None
        try:
            if restart:
                for path in (self.path, self.journal_path, self.old_journal_path):
                    path.unlink(missing_ok=True)
            else:
                self._load()
            self._fold(dict(self._states), self._seq)  # start compact, with an empty journal
            self.journal_path.unlink(missing_ok=True)
            self._journal = open(self.journal_path, "a", encoding="utf-8")  # noqa: SIM115
        except BaseException:
            self._lock.release()
            raise
        return self

    async def close(self) -> None:
        """Sync what is pending, fold the journal into the snapshot and release the lock."""
        await self.flush()
        if self._journal is not None:
            self._journal.close()
            self._journal = None
            self._fold(dict(self._states), self._seq)
            self.journal_path.unlink(missing_ok=True)
        if self._lock.is_locked:
            self._lock.release()

    # -- reading -----------------------------------------------------------------------------

    def get(self, key: str) -> ConversationState:
        return self._states.get(key) or ConversationState()

    # -- writing -----------------------------------------------------------------------------

    async def record(self, key: str, state: ConversationState) -> None:
        """Store ``state`` for ``key``; returns once it is on disk."""
        if self._journal is None:
            raise CheckpointError("checkpoint is not open")
        self._states[key] = state
        self._seq += 1
        entry = {"seq": self._seq, "key": key, "state": state.model_dump(exclude_defaults=True)}
        try:
            # into the OS right away: from here on a killed process loses nothing
            self._journal.write(json.dumps(entry, separators=(",", ":")) + "\n")
            self._journal.flush()
        except OSError as exc:
            raise CheckpointError(f"cannot write checkpoint {self.journal_path}: {exc}") from exc
        self._journal_lines += 1
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        if self._syncer is None or self._syncer.done():
            self._syncer = asyncio.create_task(self._sync())
        await asyncio.shield(waiter)

    async def flush(self) -> None:
        """Wait until everything recorded so far is synced."""
        while self._syncer is not None and not self._syncer.done():
            await asyncio.shield(self._syncer)

    async def _sync(self) -> None:
        """Group commit: one fsync for every line written since the last one."""
        while self._waiters:
            waiters, self._waiters = self._waiters, []
            try:
                assert self._journal is not None
                await asyncio.to_thread(os.fsync, self._journal.fileno())
                if self._journal_lines >= max(_MIN_FOLD_LINES, len(self._states)):
                    await self._rotate_and_fold()
            except OSError as exc:
                error = CheckpointError(f"cannot write checkpoint {self.journal_path}: {exc}")
                for waiter in waiters:
                    if not waiter.done():
                        waiter.set_exception(error)
                continue
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)

    async def _rotate_and_fold(self) -> None:
        # no await between setting the journal aside and copying the states: both describe
        # exactly the changes up to ``seq``
        assert self._journal is not None
        old = self._journal
        os.replace(self.journal_path, self.old_journal_path)
        self._journal = open(self.journal_path, "a", encoding="utf-8")  # noqa: SIM115
        self._journal_lines = 0
        states, seq = dict(self._states), self._seq

        def fold() -> None:
            os.fsync(old.fileno())  # lines written after the last group sync
            old.close()
            self._fold(states, seq)  # removes the old journal once the snapshot holds it

        await asyncio.to_thread(fold)

    def _fold(self, states: dict[str, ConversationState], seq: int) -> None:
        snapshot = _Snapshot(
            version=SCHEMA_VERSION,
            job=self.job,
            journal_seq=seq,
            updated_at=datetime.now(UTC).isoformat(timespec="seconds"),
            conversations=states,
        )
        _write_atomically(self.path, snapshot.model_dump_json(indent=1, exclude_defaults=True))
        self.old_journal_path.unlink(missing_ok=True)

    def _load(self) -> None:
        _, self._states, self._seq = read_checkpoint(self.path)


def read_checkpoint(path: Path) -> tuple[dict[str, Any], dict[str, ConversationState], int]:
    """The job, every conversation's state and the last sequence number of the checkpoint at
    ``path``: its snapshot with the journals replayed. Takes no lock (``status`` reads a
    checkpoint a run may be using)."""
    job: dict[str, Any] = {}
    states: dict[str, ConversationState] = {}
    seq = 0
    if path.exists():
        try:
            snapshot = _Snapshot.model_validate_json(path.read_bytes())
        except (ValidationError, ValueError) as exc:
            raise CheckpointError(
                f"checkpoint {path} is unreadable ({_first_line(exc)}); start over with --restart"
            ) from exc
        if snapshot.version != SCHEMA_VERSION:
            raise CheckpointError(
                f"checkpoint {path} has version {snapshot.version}, this importer "
                f"reads version {SCHEMA_VERSION}; start over with --restart"
            )
        job, states, seq = snapshot.job, dict(snapshot.conversations), snapshot.journal_seq
    stem = path.name.removesuffix(".json")
    replayed = 0
    for journal in (f"{stem}.journal.old.jsonl", f"{stem}.journal.jsonl"):
        for entry in _journal_entries(path.with_name(journal)):
            if entry["seq"] > seq:
                states[entry["key"]] = ConversationState.model_validate(entry["state"])
                seq = entry["seq"]
                replayed += 1
    if replayed:
        log.info("checkpoint_journal_replayed", entries=replayed, checkpoint=str(path))
    return job, states, seq


def _journal_entries(path: Path) -> Iterable[dict[str, Any]]:
    try:
        handle = open(path, encoding="utf-8")  # noqa: SIM115
    except FileNotFoundError:
        return
    with handle:
        for line in handle:
            try:
                entry = json.loads(line)
            except ValueError:
                entry = None
            if not isinstance(entry, dict) or not {"seq", "key", "state"} <= entry.keys():
                # a line torn by a crash mid-write: it was never acknowledged as durable
                continue
            yield entry


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    try:
        fd = os.open(path.parent, os.O_RDONLY)
    except OSError:  # platforms without directory handles
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
