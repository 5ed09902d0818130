"""The target seam: one protocol adapter per memory-service API, doing only I/O and error mapping."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

import aiohttp

from importer.models import Chunk, Conversation

__all__ = ["Receipt", "Target", "TaskState"]

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
    #: where the data goes, without secrets (for the checkpoint's job identity and messages)
    identity: str

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
