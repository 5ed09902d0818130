"""The official EverOS SDK (everos 0.4.0) as a client of the sandbox: same paths and answers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from everos import (
    AsyncEverOS,
    AuthenticationError,
    EverOS,
    NotFoundError,
    RateLimitError,
    UnprocessableEntityError,
)
from everos.types.v1 import MessageItemParam
from everos.types.v1.memories import GroupMessageItemParam

from importer.sandbox import FaultConfig, SandboxServer

KEY = "sdk-key"


def group_messages(n: int, start: int = 0) -> list[GroupMessageItemParam]:
    return [
        {
            "message_id": f"m{i}",
            "role": "user" if i % 2 == 0 else "assistant",
            "sender_id": "alice" if i % 2 == 0 else "bot",
            "sender_name": "Alice" if i % 2 == 0 else "Bot",
            "timestamp": 1_700_000_000_000 + i,
            "content": f"message {i}",
        }
        for i in range(start, start + n)
    ]


@pytest.fixture
def server(sandbox_factory: Callable[..., SandboxServer]) -> SandboxServer:
    return sandbox_factory(api_key=KEY)


@pytest.fixture
def client(server: SandboxServer) -> Iterator[EverOS]:
    with EverOS(api_key=KEY, base_url=server.url, max_retries=0) as sdk:
        yield sdk


def test_groups_create_and_retrieve(client: EverOS) -> None:
    created = client.v1.groups.create(group_id="team", name="Team", description="the team")
    assert created.data is not None
    assert (created.data.group_id, created.data.name) == ("team", "Team")

    got = client.v1.groups.retrieve("team")
    assert got.data is not None
    assert got.data.description == "the team"
    assert got.data.created_at == created.data.created_at

    with pytest.raises(NotFoundError):
        client.v1.groups.retrieve("nobody")


def test_group_add_async_then_task_then_flush(client: EverOS, server: SandboxServer) -> None:
    added = client.v1.memories.group.add(
        group_id="team",
        group_meta={"name": "Team", "description": "d"},
        messages=group_messages(3),
        async_mode=True,
    )
    assert added.data is not None
    assert (added.data.status, added.data.message_count) == ("accumulated", 3)
    assert added.data.task_id is not None

    task = client.v1.tasks.retrieve(added.data.task_id)
    assert (task.data.task_id, task.data.status) == (added.data.task_id, "success")

    flushed = client.v1.memories.group.flush(group_id="team")
    assert flushed.data is not None
    assert flushed.data.status == "extracted"

    (stored,) = server.store.conversations()
    assert (stored.key, stored.name) == ("group:team", "Team")
    assert (stored.messages, stored.duplicates) == (3, 0)
    assert stored.chronological and stored.flushed_after_last
    names = [m["sender_name"] for m in server.store.messages("group", "team")]
    assert names == ["Alice", "Bot", "Alice"]


def test_group_add_sync_has_no_task(client: EverOS, server: SandboxServer) -> None:
    added = client.v1.memories.group.add(group_id="team", messages=group_messages(2))
    assert added.data is not None
    assert (added.data.status, added.data.message_count) == ("accumulated", 2)
    assert added.data.task_id is None
    assert server.store.conversations()[0].messages == 2


def test_personal_add_and_flush(client: EverOS, server: SandboxServer) -> None:
    messages: list[MessageItemParam] = [
        {"role": "user", "timestamp": 1_700_000_000_000, "content": "I like tea"},
        {
            "role": "assistant",
            "timestamp": 1_700_000_000_500,
            "content": [{"type": "text", "text": "Noted."}],
        },
    ]
    added = client.v1.memories.add(user_id="u1", session_id="s1", messages=messages)
    assert added.data is not None
    assert added.data.message_count == 2

    flushed = client.v1.memories.flush(user_id="u1", session_id="s1")
    assert flushed.data is not None
    assert flushed.data.status == "extracted"
    again = client.v1.memories.flush(user_id="u1", session_id="s1")
    assert again.data is not None
    assert again.data.status == "no_extraction"

    (stored,) = server.store.conversations()
    assert (stored.key, stored.messages, stored.flushes) == ("personal:u1/s1", 2, 2)
    stored_messages = server.store.messages("personal", "u1", "s1")
    assert [(m["sender_id"], m["content"]) for m in stored_messages] == [
        ("u1", "I like tea"),
        (None, "Noted."),
    ]


def test_sdk_sees_the_service_errors(client: EverOS, server: SandboxServer) -> None:
    bad: Any = {**group_messages(1)[0], "timestamp": "yesterday"}  # the SDK does not check types
    with pytest.raises(UnprocessableEntityError, match=r"messages\[0\]\.timestamp"):
        client.v1.memories.group.add(group_id="team", messages=[bad])
    with EverOS(api_key="wrong", base_url=server.url, max_retries=0) as intruder:
        with pytest.raises(AuthenticationError):
            intruder.v1.groups.create(group_id="team")
    server.set_faults(rate_limit_rps=1)
    client.v1.groups.create(group_id="team")
    with pytest.raises(RateLimitError):
        client.v1.groups.create(group_id="team")
    assert server.store.conversations()[0].messages == 0


async def test_async_sdk_round_trip(server: SandboxServer) -> None:
    server.set_faults(task_fail_rate=1.0)
    async with AsyncEverOS(api_key=KEY, base_url=server.url, max_retries=0) as sdk:
        added = await sdk.v1.memories.group.add(
            group_id="team", messages=group_messages(2), async_mode=True
        )
        assert added.data is not None and added.data.task_id is not None
        task = await sdk.v1.tasks.retrieve(added.data.task_id)
    assert task.data.status == "failed"
    assert server.store.conversations() == []
    assert server.metrics()["requests_without_bearer"] == 0


def test_sync_only_server_answers_the_sdk_without_a_task(
    sandbox_factory: Callable[..., SandboxServer],
) -> None:
    server = sandbox_factory(faults=FaultConfig(sync_only=True))
    with EverOS(api_key="unused", base_url=server.url, max_retries=0) as sdk:
        added = sdk.v1.memories.group.add(
            group_id="team", messages=group_messages(1), async_mode=True
        )
    assert added.data is not None
    assert added.data.task_id is None
    assert server.store.conversations()[0].messages == 1
