"""Split a conversation's message stream into request-sized chunks (pure, streaming, no I/O)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from importer.models import Chunk, Message

__all__ = ["DEFAULT_MAX_REQUEST_BYTES", "MAX_CHUNK_MESSAGES", "chunk_messages", "message_size"]

#: the EverOS API takes at most this many messages per request
MAX_CHUNK_MESSAGES = 500
#: keep request bodies well under what proxies and servers commonly accept
DEFAULT_MAX_REQUEST_BYTES = 1_000_000
# JSON keys, quotes and punctuation around one message's fields in a request body
_PER_MESSAGE_OVERHEAD = 120


def message_size(message: Message) -> int:
    """The approximate number of bytes ``message`` adds to a JSON request body."""
    size = _PER_MESSAGE_OVERHEAD + len(message.content.encode("utf-8"))
    size += len(message.message_id) + len(message.sender_id) + len(message.sender_name or "")
    return size


def chunk_messages(
    conversation_key: str,
    messages: Iterable[Message],
    *,
    max_messages: int,
    max_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
    size_of: Callable[[Message], int] = message_size,
) -> Iterator[Chunk]:
    """Yield consecutive chunks of at most ``max_messages`` messages and ``max_bytes`` bytes.

    A message is never split: one larger than ``max_bytes`` travels alone.
    """
    if not 1 <= max_messages <= MAX_CHUNK_MESSAGES:
        raise ValueError(f"max_messages must be between 1 and {MAX_CHUNK_MESSAGES}")
    batch: list[Message] = []
    batch_bytes = 0
    index = 0
    for message in messages:
        size = size_of(message)
        if batch and (len(batch) >= max_messages or batch_bytes + size > max_bytes):
            yield Chunk(conversation_key=conversation_key, index=index, messages=batch)
            index += 1
            batch, batch_bytes = [], 0
        batch.append(message)
        batch_bytes += size
    if batch:
        yield Chunk(conversation_key=conversation_key, index=index, messages=batch)
