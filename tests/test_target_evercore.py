"""The EverCore single-message target against the sandbox over real HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest

from converters.conversation_format import ConversationFormatConverter
from importer.errors import AuthError, RejectedError, RetriableTargetError
from importer.models import Chunk, Conversation, Message
from importer.sandbox import FaultConfig, SandboxServer
from importer.targets import EverCoreTarget
from tests.support import DATA

T0 = 1_738_404_000_000  # 2025-02-01 10:00 UTC


def conversation(kind: str = "group", n: int = 3, **fields: Any) -> Conversation:
    messages = [
        Message(
            message_id=f"m{i}",
            timestamp=T0 + i * 60_000,
            sender_id="alice" if i % 2 == 0 else "bot",
            sender_name=None,
            role="user" if i % 2 == 0 else "assistant",
            content=f"message {i}",
            reply_to="m0" if i == 2 else None,
        )
        for i in range(n)
    ]
    base: dict[str, Any] = {
        "kind": kind,
        "conversation_id": "team" if kind == "group" else "alice",
        "name": "The Team",
        "participants": {"alice": "Alice", "bot": "Helper"},
        "source": "test",
        "messages": messages,
    }
    return Conversation(**{**base, **fields})


def one(conv: Conversation, index: int) -> Chunk:
    return Chunk(conversation_key=conv.key, index=index, messages=[conv.messages[index]])


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def target(
    server: SandboxServer, http: aiohttp.ClientSession, path: str = "/api/v0/memories", **kw: Any
) -> EverCoreTarget:
    adapter = EverCoreTarget(server.url + path, **kw)
    adapter.bind(http)
    return adapter


async def test_setup_sends_the_files_session_meta(
    sandbox: SandboxServer, http: aiohttp.ClientSession
) -> None:
    (solo,) = ConversationFormatConverter().read(DATA / "evercore" / "solo_chat_en.json")
    await target(sandbox, http).setup(solo)

    group_id = "chat_user_001_assistant"  # the personal conversation's session
    meta = sandbox.store.evercore.meta(group_id)
    assert meta is not None
    body = meta["body"]
    assert (body["scene"], body["version"], body["group_id"]) == ("solo", "1.0.0", group_id)
    assert body["created_at"] == "2025-06-26T00:00:00Z"
    assert body["scene_desc"] == {"description": "Project discussion group chat"}
    assert body["tags"][0] == "Health Consultation"
    assert body["user_details"]["robot_001"]["role"] == "assistant"
    assert body["user_details"]["user_001"]["extra"]["origin"] == "Sichuan"  # kept as it was
    assert body["name"] == "User health consultation dialogue"


async def test_setup_without_source_meta_builds_it_from_the_conversation(
    sandbox: SandboxServer, http: aiohttp.ClientSession
) -> None:
    await target(sandbox, http).setup(conversation())

    meta = sandbox.store.evercore.meta("team")
    assert meta is not None
    body = meta["body"]
    assert (body["scene"], body["created_at"], body["default_timezone"]) == (
        "team", "2025-02-01T10:00:00+00:00", "UTC",
    )
    assert body["user_details"] == {
        "alice": {"full_name": "Alice", "role": "user"},
        "bot": {"full_name": "Helper", "role": "assistant"},
    }
    (group,) = sandbox.store.evercore.groups()
    assert (group.group_id, group.name, group.meta, group.messages) == ("team", "The Team", True, 0)


async def test_a_refused_setup_is_a_rejection_with_the_servers_reason(
    sandbox: SandboxServer, http: aiohttp.ClientSession
) -> None:
    broken = conversation(source_meta={"created_at": "last tuesday"})
    with pytest.raises(RejectedError, match="Invalid created_at 'last tuesday'") as caught:
        await target(sandbox, http).setup(broken)
    assert caught.value.status == 400
    assert sandbox.store.evercore.meta("team") is None


async def test_messages_go_one_per_request_with_the_servers_fields(
    sandbox: SandboxServer, http: aiohttp.ClientSession
) -> None:
    conv = conversation(source_meta={"default_timezone": "Asia/Shanghai"})
    adapter = target(sandbox, http)
    receipts = [await adapter.add(conv, one(conv, i)) for i in range(3)]

    assert [r.task_id for r in receipts] == [None, None, None]
    stored = sandbox.store.evercore.messages("team")
    assert [m["message_id"] for m in stored] == ["m0", "m1", "m2"]
    first, second, third = stored
    assert first["create_time"] == "2025-02-01T18:00:00+08:00"  # the conversation's zone
    assert (first["sender"], first["sender_name"], first["role"]) == ("alice", "Alice", "user")
    assert (second["sender_name"], second["role"]) == ("Helper", "assistant")
    assert (third["refer_list"], first["refer_list"]) == (["m0"], [])
    assert (first["group_name"], first["path"]) == ("The Team", "/api/v0/memories")
    assert sandbox.metrics()["max_messages_per_request"] == 1


@pytest.mark.parametrize(
    ("zone", "create_time"),
    [
        ("+08:00", "2025-02-01T18:00:00+08:00"),
        ("UTC-5", "2025-02-01T05:00:00-05:00"),
        ("Asia/Tokyo", "2025-02-01T19:00:00+09:00"),
        ("Nowhere/City", "2025-02-01T10:00:00+00:00"),
        (None, "2025-02-01T10:00:00+00:00"),
    ],
)
async def test_create_time_is_in_the_named_zone_or_utc(
    sandbox: SandboxServer, http: aiohttp.ClientSession, zone: str | None, create_time: str
) -> None:
    conv = conversation(source_meta={"default_timezone": zone} if zone else {})
    await target(sandbox, http).add(conv, one(conv, 0))
    assert sandbox.store.evercore.messages("team")[0]["create_time"] == create_time


async def test_personal_conversations_use_their_session_else_the_user_as_group(
    sandbox: SandboxServer, http: aiohttp.ClientSession
) -> None:
    """As seed 000's script sends a solo file: its session_meta.group_id is the group."""
    with_session = conversation(kind="personal", session_id="s1")
    without = conversation(kind="personal")
    await target(sandbox, http).add(with_session, one(with_session, 0))
    await target(sandbox, http).add(without, one(without, 0))
    assert sorted(g.group_id for g in sandbox.store.evercore.groups()) == ["alice", "s1"]


async def test_slow_requests_answer_202_and_their_status_moves_to_success(
    sandbox_factory: Callable[..., SandboxServer], http: aiohttp.ClientSession
) -> None:
    server = sandbox_factory(faults=FaultConfig(background_rate=1.0, task_delay_ms=150))
    conv = conversation()
    adapter = target(server, http)
    receipt = await adapter.add(conv, one(conv, 0))

    assert receipt.task_id is not None
    assert await adapter.task_status(receipt.task_id) == "processing"
    await asyncio.sleep(0.2)
    assert await adapter.task_status(receipt.task_id) == "success"
    assert [m["message_id"] for m in server.store.evercore.messages("team")] == ["m0"]
    assert await adapter.task_status("00000000-unknown") == "expired"


async def test_a_failed_background_request_stores_nothing(
    sandbox_factory: Callable[..., SandboxServer], http: aiohttp.ClientSession
) -> None:
    server = sandbox_factory(faults=FaultConfig(background_rate=1.0, task_fail_rate=1.0))
    conv = conversation()
    adapter = target(server, http)
    receipt = await adapter.add(conv, one(conv, 0))
    assert receipt.task_id is not None
    assert await adapter.task_status(receipt.task_id) == "failed"
    assert server.store.evercore.messages("team") == []

    server.set_faults(task_ttl_s=0)
    assert await adapter.task_status(receipt.task_id) == "expired"


async def test_a_bad_field_is_rejected_with_the_servers_message(
    sandbox: SandboxServer, http: aiohttp.ClientSession
) -> None:
    conv = conversation()
    empty = conv.messages[0].model_copy(update={"content": ""})
    chunk = Chunk(conversation_key=conv.key, index=0, messages=[empty])
    with pytest.raises(RejectedError, match="Missing required field: content") as caught:
        await target(sandbox, http).add(conv, chunk)
    assert caught.value.status == 400


@pytest.mark.parametrize("fault", [{"error_rate": 1.0}, {"drop_rate": 1.0}])
async def test_server_errors_and_drops_are_retriable_and_store_nothing(
    sandbox_factory: Callable[..., SandboxServer],
    http: aiohttp.ClientSession,
    fault: dict[str, float],
) -> None:
    server = sandbox_factory(faults=FaultConfig.model_validate(fault))
    conv = conversation()
    with pytest.raises(RetriableTargetError):
        await target(server, http).add(conv, one(conv, 0))
    assert server.store.evercore.groups() == []


async def test_a_message_sent_twice_is_stored_twice(
    sandbox: SandboxServer, http: aiohttp.ClientSession
) -> None:
    conv = conversation()
    adapter = target(sandbox, http)
    await adapter.add(conv, one(conv, 0))
    await adapter.add(conv, one(conv, 0))
    (group,) = sandbox.store.evercore.groups()
    assert (group.messages, group.unique_ids, group.duplicates) == (2, 1, 1)


async def test_a_client_that_gives_up_waiting_still_has_its_message_stored(
    sandbox_factory: Callable[..., SandboxServer],
) -> None:
    server = sandbox_factory(faults=FaultConfig(latency_ms=400))
    conv = conversation()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=0.1)) as impatient:
        with pytest.raises(RetriableTargetError, match="did not answer in time"):
            await target(server, impatient).add(conv, one(conv, 0))
    await asyncio.sleep(0.5)
    assert [m["message_id"] for m in server.store.evercore.messages("team")] == ["m0"]


async def test_older_servers_v1_path_shares_the_route_with_the_everos_personal_add(
    sandbox: SandboxServer, http: aiohttp.ClientSession
) -> None:
    conv = conversation()
    adapter = target(sandbox, http, path="/api/v1/memories")
    await adapter.setup(conv)
    await adapter.add(conv, one(conv, 0))
    assert [m["path"] for m in sandbox.store.evercore.messages("team")] == ["/api/v1/memories"]

    personal = {
        "user_id": "u1",
        "messages": [{"role": "user", "timestamp": T0, "content": "hi", "message_id": "p0"}],
    }
    async with http.post(sandbox.url + "/api/v1/memories", json=personal) as response:
        assert response.status == 200
    assert [c.key for c in sandbox.store.conversations()] == ["personal:u1"]


async def test_the_key_travels_as_bearer_and_a_wrong_one_stops_the_run(
    sandbox_factory: Callable[..., SandboxServer], http: aiohttp.ClientSession
) -> None:
    server = sandbox_factory(api_key="core-key")
    conv = conversation()
    await target(server, http, api_key="core-key").add(conv, one(conv, 0))
    with pytest.raises(AuthError, match="HTTP 401"):
        await target(server, http, api_key="wrong").add(conv, one(conv, 1))
    assert server.metrics()["requests_without_bearer"] == 0


async def test_flush_is_a_no_op_and_chunks_must_hold_one_message(
    sandbox: SandboxServer, http: aiohttp.ClientSession
) -> None:
    conv = conversation()
    adapter = target(sandbox, http)
    await adapter.flush(conv)
    assert sandbox.metrics()["requests"] == {}
    two = Chunk(conversation_key=conv.key, index=0, messages=conv.messages[:2])
    with pytest.raises(ValueError, match="one message per request"):
        await adapter.add(conv, two)


def test_identity_and_limits() -> None:
    adapter = EverCoreTarget("HTTP://user:pw@Core.local:1995/api/v0/memories/?x=1")
    assert adapter.identity == "evercore:http://core.local:1995/api/v0/memories"
    assert (adapter.name, adapter.max_chunk_messages) == ("evercore", 1)
    assert EverCoreTarget("http://h/api/v0/memories", identity="mine").identity == "mine"


def test_source_meta_holds_session_meta_but_no_text() -> None:
    (team,) = ConversationFormatConverter().read(DATA / "evercore" / "team_chat_en.json")
    assert set(team.source_meta) == {
        "scene", "scene_desc", "default_timezone", "user_details", "tags", "created_at", "version",
    }
    texts = {m.content for m in team.messages}
    assert not any(text in repr(team.source_meta) for text in texts)
