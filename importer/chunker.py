"""Split a conversation's message stream into request-sized chunks (pure, streaming, no I/O)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from json.encoder import encode_basestring as _quoted  # C: JSON-quotes one string

from importer.models import Chunk, Message

__all__ = [
    "DEFAULT_MAX_REQUEST_BYTES",
    "MAX_CHUNK_MESSAGES",
    "ChunkBuilder",
    "chunk_messages",
    "message_size",
]

#: the EverOS API takes at most this many messages per request
MAX_CHUNK_MESSAGES = 500
#: keep request bodies well under what proxies and servers commonly accept
DEFAULT_MAX_REQUEST_BYTES = 1_000_000
# JSON keys and punctuation around one message's fields in a request body (role, timestamp,
# the key names): the values themselves are measured as serialised
_PER_MESSAGE_OVERHEAD = 115


def message_size(message: Message) -> int:
    """The bytes ``message`` adds to a JSON request body, measured on its serialised values
    (quotes, backslashes and newlines take two bytes on the wire, not one)."""
    return (
        _PER_MESSAGE_OVERHEAD
        + len(_quoted(message.content).encode("utf-8"))
        + len(_quoted(message.message_id).encode("utf-8"))
        + len(_quoted(message.sender_id).encode("utf-8"))
        + len(_quoted(message.sender_name or "").encode("utf-8"))
    )


class ChunkBuilder:
    """Collects messages one at a time and hands out full chunks: at most ``max_messages``
    messages and ``max_bytes`` bytes. A message is never split: one larger than ``max_bytes``
    travels alone (``oversized`` says whether a chunk is such a message)."""

    def __init__(
        self,
        conversation_key: str,
        *,
        max_messages: int,
        max_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
        size_of: Callable[[Message], int] = message_size,
    ) -> None:
        if max_messages < 1:
            raise ValueError("max_messages must be at least 1")
        self.key = conversation_key
        self.max_messages = max_messages
        self.max_bytes = max_bytes
        self._size_of = size_of
        self._batch: list[Message] = []
        self._bytes = 0
        self._index = 0

    def add(self, message: Message) -> Chunk | None:
        """Add ``message``; returns the chunk it closed, if any."""
        size = self._size_of(message)
        full = None
        if self._batch and (
            len(self._batch) >= self.max_messages or self._bytes + size > self.max_bytes
        ):
            full = self._emit()
        self._batch.append(message)
        self._bytes += size
        return full

    def finish(self) -> Chunk | None:
        """The last, partly filled chunk."""
        return self._emit() if self._batch else None

    def oversized(self, chunk: Chunk) -> bool:
        return len(chunk.messages) == 1 and self._size_of(chunk.messages[0]) > self.max_bytes

    def _emit(self) -> Chunk:
        chunk = Chunk(conversation_key=self.key, index=self._index, messages=self._batch)
        self._index += 1
        self._batch, self._bytes = [], 0
        return chunk


def chunk_messages(
    conversation_key: str,
    messages: Iterable[Message],
    *,
    max_messages: int,
    max_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
    size_of: Callable[[Message], int] = message_size,
) -> Iterator[Chunk]:
    """Yield consecutive chunks of at most ``max_messages`` messages and ``max_bytes`` bytes."""
    if not 1 <= max_messages <= MAX_CHUNK_MESSAGES:
        raise ValueError(f"max_messages must be between 1 and {MAX_CHUNK_MESSAGES}")
    builder = ChunkBuilder(
        conversation_key, max_messages=max_messages, max_bytes=max_bytes, size_of=size_of
    )
    for message in messages:
        chunk = builder.add(message)
        if chunk is not None:
            yield chunk
    last = builder.finish()
    if last is not None:
        yield last
