"""The GoodMem target against the sandbox over real HTTP: the space, batches, per-item results."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest

from importer.errors import AuthError, RejectedError, RetriableTargetError, StopRunError
from importer.models import Chunk, Conversation, Message
from importer.sandbox import FaultConfig, SandboxServer
from importer.sandbox.goodmem_app import SANDBOX_EMBEDDER_ID
from importer.targets import GoodMemTarget

T0 = 1_738_404_000_000


def chat(n: int, conversation_id: str = "team") -> Conversation:
    messages = [
        Message(
            message_id=f"m{i:03d}",
            timestamp=T0 + i * 60_000,
            sender_id=f"u{i % 3}",
            content=f"message {i}",
        )
        for i in range(n)
    ]
    return Conversation(
        kind="group",
        conversation_id=conversation_id,
        name="Team Chat",
        participants={"u0": "Alice", "u1": "Bob", "u2": "Carol"},
        source="test",
        messages=messages,
    )


def whole(conv: Conversation) -> Chunk:
    return Chunk(conversation_key=conv.key, index=0, messages=conv.messages)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def target(server: SandboxServer, http: aiohttp.ClientSession, **kw: Any) -> GoodMemTarget:
    adapter = GoodMemTarget(server.url, **kw)
    adapter.bind(http)
    return adapter


async def test_prepare_creates_the_space_with_the_servers_only_embedder(
    sandbox: SandboxServer, http: aiohttp.ClientSession
) -> None:
    adapter = target(sandbox, http, space_name="imports")
    await adapter.prepare()

    (space,) = sandbox.store.goodmem.spaces()
    assert (adapter.space_id, space.name, space.labels) == (
        space.space_id, "imports", {"source": "chat-import"},
    )
    assert space.embedders == [{"embedderId": SANDBOX_EMBEDDER_ID, "defaultRetrievalWeight": 1.0}]
    assert space.chunking is not None and space.chunking["recursive"]["chunkSize"] == 512
    assert adapter.identity == f"goodmem:{sandbox.url}#space=imports"

    again = target(sandbox, http, space_name="imports")
    await again.prepare()  # found by name, not made twice
    assert again.space_id == adapter.space_id
    assert len(sandbox.store.goodmem.spaces()) == 1


async def test_prepare_uses_a_given_space_id_and_refuses_an_unknown_one(
    sandbox: SandboxServer, http: aiohttp.ClientSession
) -> None:
    made = target(sandbox, http)
    await made.prepare()
    assert made.space_id is not None
    given = target(sandbox, http, space_id=made.space_id)
    await given.prepare()
    assert given.space_id == made.space_id
    assert given.identity == f"goodmem:{sandbox.url}#space={made.space_id}"

    missing = target(sandbox, http, space_id="9b0e3a6c-3c59-4b8e-9a51-0d0f0a0b0c0d")
    with pytest.raises(RejectedError, match="space 9b0e3a6c-.* not found.*--space-id") as caught:
        await missing.prepare()
    assert isinstance(caught.value, StopRunError)  # no conversation could go anywhere


async def test_a_name_with_glob_characters_is_matched_exactly_across_pages(
    sandbox: SandboxServer, http: aiohttp.ClientSession
) -> None:
    wanted = target(sandbox, http, space_name="chats [2025]")
    await wanted.prepare()
    for i in range(105):  # newer spaces push it to the second page of 100
        await target(sandbox, http, space_name=f"other {i}").prepare()
    later = target(sandbox, http, space_name="chats [2025]")
    sandbox.reset_metrics()
    await later.prepare()

    assert later.space_id == wanted.space_id
    assert len(sandbox.store.goodmem.spaces()) == 106
    # no nameFilter for a name the glob would misread: every page is read
    assert sandbox.metrics()["requests"] == {
        "GET /v1/system/info": {"200": 1},  # the preflight
        "GET /v1/spaces": {"200": 2},
    }


async def test_a_409_on_create_means_another_run_made_it(
    sandbox: SandboxServer, http: aiohttp.ClientSession
) -> None:
    slow, fast = target(sandbox, http), target(sandbox, http)
    assert await slow._find_space() is None  # looked before the other run created it
    await fast.prepare()
    assert await slow._create_space() == fast.space_id
    assert sandbox.metrics()["requests"]["POST /v1/spaces"] == {"200": 1, "409": 1}

    racers = [target(sandbox, http, space_name="raced") for _ in range(5)]
    await asyncio.gather(*(r.prepare() for r in racers))
    assert len({r.space_id for r in racers}) == 1
    assert [s.name for s in sandbox.store.goodmem.spaces()].count("raced") == 1


async def test_a_chunk_becomes_memory_windows_in_batches(
    sandbox: SandboxServer, http: aiohttp.ClientSession
) -> None:
    adapter = target(sandbox, http, memory_messages=4, batch_size=2)
    assert adapter.max_chunk_messages == 8
    conv = chat(10)
    receipt = await adapter.add(conv, whole(conv))  # prepares the space itself

    assert receipt.task_id is None
    assert adapter.space_id is not None
    memories = sandbox.store.goodmem.memories(adapter.space_id)
    assert [m.metadata["message_count"] for m in memories if m.metadata] == [4, 4, 2]
    assert memories[0].content.decode().splitlines() == [
        "# Team Chat",
        "2025-02-01 10:00 Alice: message 0",
        "2025-02-01 10:01 Bob: message 1",
        "2025-02-01 10:02 Carol: message 2",
        "2025-02-01 10:03 Alice: message 3",
    ]
    assert sandbox.metrics()["requests"]["POST /v1/memories:batchCreate"] == {"200": 2}
    (space,) = sandbox.store.goodmem.summary()
    assert (space.memories, space.messages, space.duplicate_messages) == (3, 10, 0)


async def test_batches_stay_under_five_megabytes(
    sandbox: SandboxServer, http: aiohttp.ClientSession
) -> None:
    conv = chat(10)
    big = [m.model_copy(update={"content": "w" * 600_000}) for m in conv.messages]
    conv = conv.model_copy(update={"messages": big})
    await target(sandbox, http).add(conv, whole(conv))  # each long message is its own memory

    assert sandbox.metrics()["requests"]["POST /v1/memories:batchCreate"] == {"200": 2}
    assert sandbox.metrics()["batch_items"] == {"created": 10}


async def test_a_resent_chunk_is_already_there(
    sandbox: SandboxServer, http: aiohttp.ClientSession
) -> None:
    conv = chat(30)
    await target(sandbox, http, memory_messages=10).add(conv, whole(conv))
    # a new run (no memory of the first) sends the same chunk again: nothing is added
    await target(sandbox, http, memory_messages=10).add(conv, whole(conv))

    assert sandbox.metrics()["batch_items"] == {"created": 3, "already_exists": 3}
    (space,) = sandbox.store.goodmem.summary()
    assert (space.memories, space.messages, space.duplicate_messages) == (3, 30, 0)


async def test_failed_items_are_retried_alone(
    sandbox_factory: Callable[..., SandboxServer], http: aiohttp.ClientSession
) -> None:
    server = sandbox_factory(faults=FaultConfig(item_error_rate=0.5, seed=5))
    adapter = target(server, http, memory_messages=5, batch_size=4)
    conv = chat(40)  # 8 memories in 2 batches
    with pytest.raises(RetriableTargetError, match="of 8 memories .* not stored yet.*503"):
        await adapter.add(conv, whole(conv))
    first = server.metrics()["batch_items"]
    assert first["created"] + first["unavailable"] == 8 and first["unavailable"] > 0

    server.set_faults(item_error_rate=0)
    await adapter.add(conv, whole(conv))  # the sender's retry
    assert server.metrics()["batch_items"] == {"created": 8, "unavailable": first["unavailable"]}
    assert server.store.goodmem.summary()[0].messages == 40


async def test_an_item_the_server_refuses_fails_the_chunk_with_its_reason(
    sandbox: SandboxServer, http: aiohttp.ClientSession
) -> None:
    adapter = target(sandbox, http)
    await adapter.prepare()
    async with http.delete(f"{sandbox.url}/v1/spaces/{adapter.space_id}") as response:
        assert response.status == 204
    conv = chat(3)
    with pytest.raises(RejectedError, match=r"404 space .* not found"):
        await adapter.add(conv, whole(conv))


async def test_a_batch_the_server_fails_whole_is_retried(
    sandbox_factory: Callable[..., SandboxServer], http: aiohttp.ClientSession
) -> None:
    server = sandbox_factory()
    adapter = target(server, http)
    await adapter.prepare()
    conv = chat(5)
    for fault in ({"error_rate": 1.0}, {"drop_rate": 1.0}):
        server.set_faults(**fault)
        with pytest.raises(RetriableTargetError):
            await adapter.add(conv, whole(conv))
        server.set_faults(error_rate=0, drop_rate=0)
    assert server.store.goodmem.summary()[0].memories == 0
    await adapter.add(conv, whole(conv))
    assert server.store.goodmem.summary()[0].memories == 1


async def test_a_client_that_gives_up_waiting_finds_its_memories_on_resend(
    sandbox_factory: Callable[..., SandboxServer], http: aiohttp.ClientSession
) -> None:
    server = sandbox_factory()
    conv = chat(12)
    prepared = target(server, http, memory_messages=4)
    await prepared.prepare()
    server.set_faults(latency_ms=400)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=0.1)) as impatient:
        lost = target(server, impatient, memory_messages=4)
        with pytest.raises(RetriableTargetError, match="did not answer in time"):
            await lost.add(conv, whole(conv))
    await asyncio.sleep(0.5)
    server.set_faults(latency_ms=0)

    await target(server, http, memory_messages=4).add(conv, whole(conv))
    assert server.metrics()["batch_items"] == {"created": 3, "already_exists": 3}
    assert server.store.goodmem.summary()[0].duplicate_messages == 0


async def test_the_key_travels_as_x_api_key_and_a_wrong_one_stops_the_run(
    sandbox_factory: Callable[..., SandboxServer], http: aiohttp.ClientSession
) -> None:
    server = sandbox_factory(api_key="gm_sandbox")
    conv = chat(2)
    await target(server, http, api_key="gm_sandbox").add(conv, whole(conv))
    with pytest.raises(AuthError, match="HTTP 401.*--api-key"):
        await target(server, http, api_key="gm_wrong").prepare()
    with pytest.raises(AuthError):
        await target(server, http).prepare()


async def test_no_tasks_and_no_flush(sandbox: SandboxServer, http: aiohttp.ClientSession) -> None:
    adapter = target(sandbox, http)
    assert await adapter.task_status("anything") == "success"
    await adapter.setup(chat(1))
    await adapter.flush(chat(1))
    assert sandbox.metrics()["requests"] == {}


def test_bad_limits_are_refused() -> None:
    with pytest.raises(ValueError):
        GoodMemTarget("http://h", batch_size=0)
