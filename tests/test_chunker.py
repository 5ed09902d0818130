from __future__ import annotations

import pytest

from importer.chunker import MAX_CHUNK_MESSAGES, chunk_messages, message_size
from importer.models import Message


def _messages(n: int, content: str = "hello") -> list[Message]:
    return [
        Message(message_id=f"m{i}", timestamp=i, sender_id="u", content=content) for i in range(n)
    ]


def test_chunks_hold_at_most_max_messages_in_order() -> None:
    chunks = list(chunk_messages("group:g", iter(_messages(120)), max_messages=50))
    assert [len(c.messages) for c in chunks] == [50, 50, 20]
    assert [c.index for c in chunks] == [0, 1, 2]
    flat = [m.message_id for c in chunks for m in c.messages]
    assert flat == [f"m{i}" for i in range(120)]


def test_byte_budget_splits_before_the_message_that_would_overflow() -> None:
    messages = _messages(10, content="x" * 1000)
    per_message = message_size(messages[0])
    chunks = list(chunk_messages("k", messages, max_messages=500, max_bytes=per_message * 3))
    assert [len(c.messages) for c in chunks] == [3, 3, 3, 1]


def test_a_message_larger_than_the_budget_travels_alone() -> None:
    big = Message(message_id="big", timestamp=5, sender_id="u", content="y" * 5000)
    messages = [*_messages(2), big, *_messages(1)]
    chunks = list(chunk_messages("k", messages, max_messages=10, max_bytes=2000))
    assert [[m.message_id for m in c.messages] for c in chunks] == [["m0", "m1"], ["big"], ["m0"]]


def test_no_messages_no_chunks() -> None:
    assert list(chunk_messages("k", [], max_messages=5)) == []


@pytest.mark.parametrize("size", [0, MAX_CHUNK_MESSAGES + 1])
def test_chunk_size_outside_the_api_limit_is_refused(size: int) -> None:
    with pytest.raises(ValueError):
        list(chunk_messages("k", _messages(1), max_messages=size))
