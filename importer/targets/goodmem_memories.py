"""How a chunk of messages becomes GoodMem memories (pure, no I/O).

GoodMem embeds what it is given and extracts nothing, so a memory is a readable window of a
conversation: a heading with the conversation's name, then one line per message. Windows are
consecutive messages, cut deterministically, and each memory's id is derived from where it sits
(space, conversation, first and last message id): a chunk sent again after a crash or a lost
answer produces the same ids, which the server answers with ALREADY_EXISTS instead of a copy.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from importer.models import Conversation, Message

__all__ = ["MEMORY_NAMESPACE", "PlannedMemory", "memory_id", "plan_memories", "render_line"]

#: namespace of the UUIDv5 memory ids (fixed forever: changing it would duplicate every import)
MEMORY_NAMESPACE = uuid.UUID("6f1c2a4e-9b1d-5c3e-8f7a-2d4b6e8a0c13")
CONTENT_TYPE = "text/plain"


@dataclass(frozen=True)
class PlannedMemory:
    """One memory to create: its id, text, metadata, and the request item for batchCreate."""

    memory_id: str
    text: str
    metadata: dict[str, Any]
    message_count: int

    def request(self, space_id: str) -> dict[str, Any]:
        return {
            "memoryId": self.memory_id,
            "spaceId": space_id,
            "originalContent": self.text,
            "contentType": CONTENT_TYPE,
            "metadata": self.metadata,
        }

    def request_size(self, space_id: str) -> int:
        """Bytes this item adds to a JSON request body."""
        return len(json.dumps(self.request(space_id), ensure_ascii=False).encode("utf-8")) + 1


def memory_id(space_id: str, conversation_key: str, first_id: str, last_id: str) -> str:
    return str(uuid.uuid5(MEMORY_NAMESPACE, f"{space_id}|{conversation_key}|{first_id}|{last_id}"))


def speaker(message: Message, conversation: Conversation) -> str:
    return message.sender_name or conversation.participants.get(message.sender_id) or (
        message.sender_id
    )


def render_line(message: Message, conversation: Conversation) -> str:
    """``2025-02-01 10:00 Alice: text`` (UTC); further lines of the text are indented."""
    when = datetime.fromtimestamp(message.timestamp / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M")
    text = message.content.strip("\n").replace("\n", "\n  ")
    return f"{when} {speaker(message, conversation)}: {text}"


def heading(conversation: Conversation) -> str:
    return f"# {conversation.name or conversation.key}"


def _windows(
    lines: Sequence[str], head: str, max_messages: int, max_chars: int
) -> Iterator[tuple[int, int]]:
    """``(start, end)`` index ranges of consecutive lines: at most ``max_messages`` lines and
    ``max_chars`` characters each with the heading; one longer line is a window of its own."""
    start, size = 0, len(head)
    for i, line in enumerate(lines):
        added = 1 + len(line)  # the newline before it
        if i > start and (i - start >= max_messages or size + added > max_chars):
            yield start, i
            start, size = i, len(head)
        size += added
    if start < len(lines):
        yield start, len(lines)


def plan_memories(
    conversation: Conversation,
    messages: Sequence[Message],
    *,
    space_id: str,
    max_messages: int,
    max_chars: int,
) -> list[PlannedMemory]:
    """The memories ``messages`` (consecutive, in order) become; the same input always gives
    the same memories and ids."""
    head = heading(conversation)
    lines = [render_line(m, conversation) for m in messages]
    planned = []
    for start, end in _windows(lines, head, max_messages, max_chars):
        window = messages[start:end]
        first, last = window[0], window[-1]
        names = list(dict.fromkeys(speaker(m, conversation) for m in window))
        metadata = {
            "source": conversation.source or "import",
            "conversation_id": conversation.key,
            "conversation_name": conversation.name or conversation.key,
            "kind": conversation.kind,
            "first_message_id": first.message_id,
            "last_message_id": last.message_id,
            "start_ms": first.timestamp,
            "end_ms": last.timestamp,
            "message_count": len(window),
            "participants": names,
        }
        planned.append(
            PlannedMemory(
                memory_id=memory_id(space_id, conversation.key, first.message_id, last.message_id),
                text="\n".join([head, *lines[start:end]]),
                metadata=metadata,
                message_count=len(window),
            )
        )
    return planned
