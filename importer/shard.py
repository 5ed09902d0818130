"""``--shard I/N``: which conversations one of N processes imports, decided by a stable hash.

Every process reads every input; a conversation belongs to shard ``blake2b(key) % N``. The
hash is computed from the conversation key alone, so every process, on any machine and in any
Python version, agrees on the split without talking to the others. Changing the hash would move
conversations between shards whose ledgers already hold them (and send them twice): the
ledger's meta records ``SCHEME`` and a ledger of another scheme is refused.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from importer.errors import ConfigError

__all__ = ["SCHEME", "UNSHARDED", "Shard", "ShardShare", "parse_shard", "shard_of"]

#: how conversations are assigned; written into each shard's ledger and checked on open
SCHEME = "blake2b-64"
#: the layout recorded by a ledger written without --shard
UNSHARDED = "unsharded"

_SHAPE = re.compile(r"\s*(\d+)\s*/\s*(\d+)\s*")
#: more shards than this is a typo, not a plan (and keeps file names short)
MAX_SHARDS = 10_000


class _Keyed(Protocol):
    @property
    def key(self) -> str: ...


K = TypeVar("K", bound=_Keyed)


def shard_of(key: str, count: int) -> int:
    """The shard (0..count-1) the conversation ``key`` belongs to."""
    digest = hashlib.blake2b(key.encode("utf-8"), digest_size=8, person=b"importer-shard")
    return int.from_bytes(digest.digest(), "big") % count


@dataclass(frozen=True)
class ShardShare:
    """What one shard's run took: its conversations, and how many it left to the others."""

    index: int
    count: int
    conversations: int
    others: int

    def describe(self) -> str:
        return (f"Shard {self.index} of {self.count} (--shard {self.index}/{self.count}): "
                f"{self.conversations:,} of {self.conversations + self.others:,} conversations "
                f"are this shard's; {self.others:,} are left to the other shards.")


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` (0-based, as Kubernetes' ``JOB_COMPLETION_INDEX``) of ``count``."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if not 0 <= self.index < self.count <= MAX_SHARDS:
            raise ValueError(f"shard {self.index}/{self.count}: need 0 ≤ I < N ≤ {MAX_SHARDS}")

    def owns(self, key: str) -> bool:
        return shard_of(key, self.count) == self.index

    def take(self, items: Iterable[K]) -> tuple[list[K], ShardShare]:
        """The items (conversations, results) that are this shard's, and the tally."""
        mine: list[K] = []
        others = 0
        for item in items:
            if self.owns(item.key):
                mine.append(item)
            else:
                others += 1
        return mine, ShardShare(self.index, self.count, len(mine), others)

    @property
    def suffix(self) -> str:
        """Part of this shard's ledger file names: ``.shard-0-of-4``."""
        return f".shard-{self.index}-of-{self.count}"

    @property
    def layout(self) -> str:
        """What the ledger's meta records, compared on every open."""
        return f"shard {self.index} of {self.count} by {SCHEME}"

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def parse_shard(text: str, *, source: str = "--shard") -> Shard | None:
    """``"I/N"`` as a ``Shard``; ``N == 1`` is the same as no sharding (None). Raises
    ``ConfigError`` with one line naming ``source`` for anything else."""
    match = _SHAPE.fullmatch(text)
    if match is None:
        raise ConfigError(f"{source} expects I/N (shard I of N, I counted from 0, e.g. 0/4), "
                          f"got {text!r}")
    index, count = int(match[1]), int(match[2])
    if count < 1 or count > MAX_SHARDS:
        raise ConfigError(f"{source} {text.strip()}: N must be between 1 and {MAX_SHARDS:,}")
    if index >= count:
        raise ConfigError(f"{source} {text.strip()}: I counts from 0, so it must be below N "
                          f"(0..{count - 1})")
    return None if count == 1 else Shard(index, count)
