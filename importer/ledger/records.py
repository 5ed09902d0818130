"""What the ledger remembers, as values: digests, in-flight and in-doubt chunks, states."""

from __future__ import annotations

import functools
import hashlib
import re
from array import array
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from importer.shard import Shard

__all__ = [
    "ConversationState",
    "InDoubt",
    "InFlight",
    "LedgerTotals",
    "LegacyCursor",
    "content_digest",
    "conversation_digest",
    "id_digest",
    "ledger_name",
    "ledger_stem",
    "now",
    "pack_entries",
    "unpack_entries",
]


def _digest(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "big",
                          signed=True)


def id_digest(message_id: str) -> int:
    """The 64-bit digest a message id is remembered by."""
    return _digest(message_id)


def content_digest(sender_id: str, content: str) -> int:
    """The 64-bit digest of what a message says, to notice edits of acknowledged messages."""
    return _digest(f"{sender_id}\x00{content}")


@functools.lru_cache(maxsize=4096)
def conversation_digest(key: str) -> int:
    """The 64-bit digest a conversation is filed under (asked for on every ledger call)."""
    return _digest(key)


def ledger_name(identity: str) -> str:
    """A readable, file-name-safe name for the ledger of ``identity``."""
    digest = hashlib.sha256(identity.encode("utf-8")).hexdigest()[:12]
    readable = re.sub(r"^[a-z]+:(sandbox:)?(https?://)?", "", identity)
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", readable).strip("-.")[-40:].strip("-.") or "target"
    protocol = identity.split(":", 1)[0]
    return f"{protocol}-{slug}-{digest}"


def ledger_stem(identity: str, shard: Shard | None = None) -> str:
    """The name the files of one ledger share: ``ledger_name``, plus ``.shard-I-of-N`` for a
    shard's own ledger."""
    return ledger_name(identity) + (shard.suffix if shard is not None else "")


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def pack_entries(entries: Iterable[tuple[int, int]]) -> bytes:
    flat = array("q")
    for hid, chash in entries:
        flat.append(hid)
        flat.append(chash)
    return flat.tobytes()


def unpack_entries(blob: bytes) -> list[tuple[int, int]]:
    flat = array("q")
    flat.frombytes(blob)
    return list(zip(flat[0::2], flat[1::2], strict=True))


@dataclass(frozen=True)
class InFlight:
    """A chunk whose send was journaled before the request: its messages (as digests), its
    bounds for reports, and the task id once the server accepted it."""

    first_id: str
    last_id: str
    count: int
    max_ts: int
    entries: list[tuple[int, int]]
    task_id: str | None


@dataclass(frozen=True)
class InDoubt:
    """A chunk whose fate cannot be known. ``kind``: ``expired`` (its task was gone on resume:
    assumed stored) or ``resent`` (sent before a crash with no answer recorded: sent again, so it
    may be stored twice)."""

    key: str
    kind: str
    first_id: str
    last_id: str
    count: int
    task_id: str | None

    def describe(self) -> str:
        span = f"messages {self.first_id}..{self.last_id}"
        if self.kind == "expired":
            task = f" (task {self.task_id})" if self.task_id else ""
            return (f"{self.key}: {self.count} messages in doubt, {span}{task}: the server forgot "
                    "the task before it was seen to finish; assumed stored")
        return (f"{self.key}: up to {self.count} messages may have been stored twice, {span}: "
                "sent before an interruption with no answer recorded, then sent again")


@dataclass(frozen=True)
class ConversationState:
    """What the ledger remembers about one conversation."""

    acked: int = 0
    max_ts: int | None = None
    group_ready: bool = False
    flushed_at: int | None = None
    failure: str | None = None
    origin: str = ""
    inflight: InFlight | None = None

    @property
    def complete(self) -> bool:
        return self.flushed_at is not None and self.flushed_at == self.acked and not self.inflight


@dataclass
class LedgerTotals:
    conversations: int = 0
    acked: int = 0
    complete: int = 0
    failed: int = 0
    inflight: int = 0
    in_doubt: list[InDoubt] = field(default_factory=list)


@dataclass
class LegacyCursor:
    """How far a 0.1.0 checkpoint says a conversation was acknowledged (and the cursor a chunk
    then in flight would move it to, once its task is asked)."""

    cursor_ts: int
    cursor_ids: frozenset[str]
    task_id: str | None
    task_cursor: tuple[int, frozenset[str]] | None

    def covers(self, timestamp: int, message_id: str) -> bool:
        """Messages were sent in time order: older than the cursor, or at it with an id sent."""
        return timestamp < self.cursor_ts or (
            timestamp == self.cursor_ts and message_id in self.cursor_ids
        )

