"""The target seam: one protocol adapter per memory-service API, doing only I/O and error mapping."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol
from urllib.parse import urlsplit, urlunsplit

import aiohttp

from importer.models import Chunk, Conversation

__all__ = ["Receipt", "Target", "TaskState", "public_url"]

TaskState = Literal["processing", "success", "failed", "expired"]


@dataclass(frozen=True)
class Receipt:
    """What the server said when it took a chunk: a task id to wait for, or none (stored already)."""

    task_id: str | None = None


class Target(Protocol):
    """One memory-service API. Each method makes one attempt; the sender owns retries and limits.

    Methods raise ``RetriableTargetError`` (try again), ``RejectedError`` (this request is
    refused) or ``AuthError`` (stop everything).
    """

    #: a short name for reports, e.g. ``everos``
    name: str
    #: which store the data lands in, without secrets: the protocol and the server's URL (and,
    #: where the API has them, the space). The ledger of what was acknowledged is kept per identity.
    identity: str
    #: the most messages one ``add`` may carry, and the byte budget of one request body
    max_chunk_messages: int
    max_request_bytes: int

    async def prepare(self) -> None:
        """Once per run, before any conversation: check the server answers as this API
        (preflight) and resolve what the run needs (e.g. GoodMem's space)."""

    def bind(self, session: aiohttp.ClientSession) -> None:
        """Use ``session`` for every request (the sender owns it)."""

    async def setup(self, conversation: Conversation) -> None:
        """Prepare the server for a conversation (e.g. group name and description)."""

    async def add(self, conversation: Conversation, chunk: Chunk) -> Receipt:
        """Send one chunk of messages."""

    async def task_status(self, task_id: str) -> TaskState:
        """The state of an accepted chunk's task; ``expired`` when the server forgot it."""

    async def flush(self, conversation: Conversation) -> None:
        """Ask the server to extract memories from what it has now."""


def public_url(url: str) -> str:
    """``url`` without user name, password, query or fragment, and without a trailing slash:
    safe to store, print and compare."""
    parts = urlsplit(url.strip())
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme.lower(), netloc.lower(), parts.path.rstrip("/"), "", ""))
