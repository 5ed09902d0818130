"""How chunks become GoodMem memories, and what per-item error codes mean (pure parts)."""

from __future__ import annotations

import uuid

import pytest

from importer.models import Conversation, Message
from importer.targets.goodmem import classify_item_error
from importer.targets.goodmem_memories import (
    MEMORY_NAMESPACE,
    PlannedMemory,
    memory_id,
    plan_memories,
    render_line,
)

T0 = 1_738_404_000_000  # 2025-02-01 10:00 UTC
SPACE = "5f0e3a6c-3c59-4b8e-9a51-0d0f0a0b0c0d"


def chat(n: int, content: str = "hello", name: str | None = "Team Chat") -> Conversation:
    messages = [
        Message(
            message_id=f"m{i}",
            timestamp=T0 + i * 60_000,
            sender_id=f"u{i % 2}",
            content=f"{content} {i}",
        )
        for i in range(n)
    ]
    return Conversation(
        kind="group",
        conversation_id="team",
        name=name,
        participants={"u0": "Alice", "u1": "Bob"},
        source="slack",
        messages=messages,
    )


def plan(conv: Conversation, **limits: int) -> list[PlannedMemory]:
    limits.setdefault("max_messages", 50)
    limits.setdefault("max_chars", 4000)
    return plan_memories(conv, conv.messages, space_id=SPACE, **limits)


def test_a_memory_is_a_heading_and_one_line_per_message() -> None:
    (memory,) = plan(chat(2))
    assert memory.text == (
        "# Team Chat\n2025-02-01 10:00 Alice: hello 0\n2025-02-01 10:01 Bob: hello 1"
    )
    assert memory.metadata == {
        "source": "slack",
        "conversation_id": "group:team",
        "conversation_name": "Team Chat",
        "kind": "group",
        "first_message_id": "m0",
        "last_message_id": "m1",
        "start_ms": T0,
        "end_ms": T0 + 60_000,
        "message_count": 2,
        "participants": ["Alice", "Bob"],
    }
    request = memory.request(SPACE)
    assert (request["contentType"], request["spaceId"], request["memoryId"]) == (
        "text/plain", SPACE, memory.memory_id,
    )


def test_windows_hold_at_most_n_messages_and_ids_are_stable() -> None:
    conv = chat(7)
    memories = plan(conv, max_messages=3)
    assert [m.message_count for m in memories] == [3, 3, 1]
    assert [m.metadata["first_message_id"] for m in memories] == ["m0", "m3", "m6"]
    assert [m.memory_id for m in memories] == [m.memory_id for m in plan(conv, max_messages=3)]
    expected = uuid.uuid5(MEMORY_NAMESPACE, f"{SPACE}|group:team|m0|m2")
    assert memories[0].memory_id == str(expected) == memory_id(SPACE, "group:team", "m0", "m2")
    assert len({m.memory_id for m in memories}) == 3


def test_windows_hold_at_most_n_characters_and_a_long_message_travels_alone() -> None:
    conv = chat(4, content="x" * 40)
    line = len(render_line(conv.messages[0], conv))
    limit = len("# Team Chat") + 2 * (line + 1)  # heading and exactly two lines
    assert [m.message_count for m in plan(conv, max_chars=limit)] == [2, 2]
    assert all(len(m.text) <= limit for m in plan(conv, max_chars=limit))

    long = conv.messages[1].model_copy(update={"content": "y" * 500})
    conv = conv.model_copy(update={"messages": [conv.messages[0], long, *conv.messages[2:]]})
    counts = [m.message_count for m in plan(conv, max_chars=limit)]
    assert counts == [1, 1, 2]


def test_lines_are_utc_and_continuations_indented() -> None:
    conv = chat(1, name=None)
    message = conv.messages[0].model_copy(
        update={"content": "first\nsecond\n", "sender_name": "Al"}
    )
    assert render_line(message, conv) == "2025-02-01 10:00 Al: first\n  second"
    (memory,) = plan_memories(conv, [message], space_id=SPACE, max_messages=5, max_chars=100)
    assert memory.text.startswith("# group:team\n")  # no name: the key


@pytest.mark.parametrize(
    ("error", "outcome"),
    [
        ({"code": 6, "message": "memory exists"}, "done"),
        ({"code": 409, "message": "conflict"}, "done"),
        ({"code": "409", "message": "conflict"}, "done"),
        ({"code": "ALREADY_EXISTS", "message": ""}, "done"),
        ({"code": 0, "message": "ALREADY_EXISTS: memory x"}, "done"),
        ({"code": 14, "message": "unavailable"}, "retry"),
        ({"code": 8, "message": "quota"}, "retry"),
        ({"code": 13, "message": "internal"}, "retry"),
        ({"code": 4, "message": "deadline"}, "retry"),
        ({"code": 503, "message": "busy"}, "retry"),
        ({"code": 429, "message": "slow down"}, "retry"),
        ({"code": "UNAVAILABLE", "message": ""}, "retry"),
        ({"code": 3, "message": "bad"}, "reject"),
        ({"code": 5, "message": "no space"}, "reject"),
        ({"code": 400, "message": "bad"}, "reject"),
        ({"code": 404, "message": "no space"}, "reject"),
        ({"code": 7, "message": "denied"}, "auth"),
        ({"code": "403", "message": "Forbidden - insufficient permissions"}, "auth"),
        (None, "reject"),
    ],
)
def test_item_error_codes(error: object, outcome: str) -> None:
    assert classify_item_error(error) == outcome
