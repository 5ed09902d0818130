"""The sandbox over real loopback HTTP: EverOS v1 routes, validation, auth and what it stores."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest

from importer.sandbox import FaultConfig, SandboxServer

GROUP = "/api/v1/memories/group"
PERSONAL = "/api/v1/memories"
PERSONAL_MSG = {"role": "user", "timestamp": 1, "content": "x"}


def group_msg(i: int, **fields: Any) -> dict[str, Any]:
    message = {
        "message_id": f"m{i}",
        "role": "user",
        "sender_id": "alice",
        "sender_name": "Alice",
        "timestamp": 1_700_000_000_000 + i * 1000,
        "content": f"message {i}",
    }
    return {**message, **fields}


def group_body(messages: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    return {"group_id": "team", "messages": messages, **fields}


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def call(
    http: aiohttp.ClientSession, method: str, url: str, **kwargs: Any
) -> tuple[int, Any]:
    async with http.request(method, url, **kwargs) as response:
        return response.status, await response.json()


async def test_health(sandbox: SandboxServer, http: aiohttp.ClientSession) -> None:
    assert await call(http, "GET", sandbox.url + "/health") == (200, {"status": "ok"})


async def test_sync_group_add_stores_at_once(
    sandbox: SandboxServer, http: aiohttp.ClientSession
) -> None:
    body = group_body([group_msg(0), group_msg(1, role="assistant", sender_id="bot")])
    status, answer = await call(http, "POST", sandbox.url + GROUP, json=body)

    assert status == 200
    assert answer == {
        "data": {"status": "accumulated", "message_count": 2, "message": "Messages stored"}
    }
    stored = sandbox.store.messages("group", "team")
    assert [m["message_id"] for m in stored] == ["m0", "m1"]
    assert stored[1] == {
        "message_id": "m1",
        "timestamp": 1_700_000_001_000,
        "sender_id": "bot",
        "sender_name": "Alice",
        "role": "assistant",
        "content": "message 1",
    }


async def test_async_add_task_goes_processing_success_then_expires(
    sandbox: SandboxServer, http: aiohttp.ClientSession
) -> None:
    sandbox.set_faults(task_delay_ms=80)
    status, answer = await call(
        http, "POST", sandbox.url + GROUP, json=group_body([group_msg(0)], async_mode=True)
    )
    assert status == 202
    task_id = answer["data"]["task_id"]
    assert answer["data"]["status"] == "accumulated"
    assert answer["data"]["message_count"] == 1
    assert task_id and not task_id.startswith("gen_")

    task_url = f"{sandbox.url}/api/v1/tasks/{task_id}"
    processing = await call(http, "GET", task_url)
    assert processing == (200, {"data": {"task_id": task_id, "status": "processing"}})
    await asyncio.sleep(0.1)
    assert await call(http, "GET", task_url) == (
        200,
        {"data": {"task_id": task_id, "status": "success"}},
    )
    assert len(sandbox.store.messages("group", "team")) == 1

    sandbox.set_faults(task_ttl_s=0)  # every task is now older than its time to live
    status, answer = await call(http, "GET", task_url)
    assert status == 404
    assert answer["error"]["status"] == 404


async def test_unknown_task_is_404(sandbox: SandboxServer, http: aiohttp.ClientSession) -> None:
    status, answer = await call(http, "GET", sandbox.url + "/api/v1/tasks/task_nope")
    assert status == 404
    assert "task_nope" in answer["error"]["message"]


async def test_personal_add_files_user_messages_under_the_user(
    sandbox: SandboxServer, http: aiohttp.ClientSession
) -> None:
    body = {
        "user_id": "u1",
        "session_id": "s1",
        "messages": [
            {"role": "user", "timestamp": 1, "content": "hello", "message_id": "p0"},
            {
                "role": "assistant",
                "timestamp": 2,
                "content": [{"type": "text", "text": "hi"}, {"type": "text", "text": "there"}],
            },
        ],
    }
    status, answer = await call(http, "POST", sandbox.url + PERSONAL, json=body)

    assert status == 200
    assert answer["data"]["message_count"] == 2
    stored = sandbox.store.messages("personal", "u1", "s1")
    assert [(m["sender_id"], m["role"], m["content"]) for m in stored] == [
        ("u1", "user", "hello"),
        (None, "assistant", "hi\nthere"),
    ]
    assert sandbox.store.messages("personal", "u1") == []  # sessions are separate
    assert [c.key for c in sandbox.store.conversations()] == ["personal:u1/s1"]


def one(**fields: Any) -> dict[str, Any]:
    """A group body whose only message has ``fields`` changed."""
    return group_body([group_msg(0, **fields)])


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"messages": [group_msg(0)]}, "group_id: field required"),
        ({**one(), "group_id": "gen_team"}, "group_id: must not start with 'gen_'"),
        (group_body([]), "messages: must contain at least 1 message"),
        (group_body([group_msg(i) for i in range(501)]), "messages: at most 500 messages, got 501"),
        ({"group_id": "team", "messages": "nope"}, "messages: must be a list"),
        ({"group_id": "team", "messages": ["text"]}, "messages[0]: must be a JSON object"),
        (group_body([group_msg(0), group_msg(1, sender_id=None)]), "messages[1].sender_id: field"),
        (one(sender_id="gen_x"), "messages[0].sender_id: must not start with 'gen_'"),
        (one(timestamp=1.7e12), "messages[0].timestamp: must be an integer"),
        (one(timestamp="1700000000000"), "messages[0].timestamp: must be an integer"),
        (one(timestamp=True), "messages[0].timestamp: must be an integer"),
        (one(timestamp=None), "messages[0].timestamp: field required"),
        (one(timestamp=-1), "messages[0].timestamp: must not be negative"),
        (one(content=""), "messages[0].content: must not be empty"),
        (one(content=None), "messages[0].content: field required"),
        (one(content=[{"type": "image"}]), "messages[0].content[0].type: only 'text'"),
        (one(content=[{"type": "text"}]), "messages[0].content[0].text: field required"),
        (one(content=7), "messages[0].content: must be a string or a list"),
        (one(role="system"), "messages[0].role: must be 'user' or 'assistant'"),
        (one(role=None), "messages[0].role: field required"),
        (one(message_id="gen_1"), "messages[0].message_id: must not start with 'gen_'"),
        (one(message_id=5), "messages[0].message_id: must be a string"),
        ({**one(), "async_mode": "yes"}, "async_mode: must be a boolean"),
        ({**one(), "group_meta": "Team"}, "group_meta: must be a JSON object"),
        ([one()], "body: must be a JSON object"),
    ],
)
async def test_group_add_validation(
    sandbox: SandboxServer, http: aiohttp.ClientSession, body: Any, reason: str
) -> None:
    status, answer = await call(http, "POST", sandbox.url + GROUP, json=body)

    assert status == 422
    assert answer["error"]["status"] == 422
    assert reason in answer["error"]["message"]
    assert sandbox.store.conversations() == []


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"messages": [PERSONAL_MSG]}, "user_id: field required"),
        ({"user_id": "gen_u", "messages": [PERSONAL_MSG]}, "user_id: must not start with 'gen_'"),
        ({"user_id": "u", "session_id": 3, "messages": [PERSONAL_MSG]}, "session_id: must be a"),
        ({"user_id": "u", "messages": [{**PERSONAL_MSG, "timestamp": None}]}, "].timestamp: field"),
        ({"user_id": "u", "messages": [{**PERSONAL_MSG, "role": None}]}, "[0].role: field"),
    ],
)
async def test_personal_add_validation(
    sandbox: SandboxServer, http: aiohttp.ClientSession, body: dict[str, Any], reason: str
) -> None:
    status, answer = await call(http, "POST", sandbox.url + PERSONAL, json=body)
    assert status == 422
    assert reason in answer["error"]["message"]


async def test_invalid_json_and_unknown_fields(
    sandbox: SandboxServer, http: aiohttp.ClientSession
) -> None:
    status, answer = await call(http, "POST", sandbox.url + GROUP, data=b"{not json")
    assert status == 422
    assert answer["error"]["message"].startswith("body: not valid JSON")

    body = group_body([group_msg(0, reply_to="m9")], trace="x")
    status, _ = await call(http, "POST", sandbox.url + GROUP, json=body)
    assert status == 200


async def test_groups_create_update_get(
    sandbox: SandboxServer, http: aiohttp.ClientSession
) -> None:
    url = sandbox.url + "/api/v1/groups"
    status, created = await call(http, "POST", url, json={"group_id": "team", "name": "Team"})
    assert status == 200
    assert created["data"]["group_id"] == "team"
    assert created["data"]["name"] == "Team"
    assert created["data"]["created_at"].endswith("Z")

    await call(http, "POST", url, json={"group_id": "team", "description": "the team"})
    status, got = await call(http, "GET", url + "/team")
    assert status == 200
    assert (got["data"]["name"], got["data"]["description"]) == ("Team", "the team")

    status, missing = await call(http, "GET", url + "/other")
    assert status == 404
    assert "other" in missing["error"]["message"]

    status, bad = await call(http, "POST", url, json={"group_id": "gen_1"})
    assert status == 422
    assert bad["error"]["message"].startswith("group_id: must not start with 'gen_'")


async def test_group_meta_creates_the_group(
    sandbox: SandboxServer, http: aiohttp.ClientSession
) -> None:
    meta = {"name": "Team", "description": "d"}
    await call(http, "POST", sandbox.url + GROUP, json=group_body([group_msg(0)], group_meta=meta))

    (conversation,) = sandbox.store.conversations()
    assert conversation.key == "group:team"
    assert (conversation.name, conversation.description) == ("Team", "d")


async def test_flushes_are_recorded(sandbox: SandboxServer, http: aiohttp.ClientSession) -> None:
    flush = sandbox.url + GROUP + "/flush"
    _, nothing_yet = await call(http, "POST", flush, json={"group_id": "team"})
    assert nothing_yet["data"]["status"] == "no_extraction"
    await call(http, "POST", sandbox.url + GROUP, json=group_body([group_msg(0)]))
    (before,) = sandbox.store.conversations()
    assert (before.flushes, before.flushed_after_last) == (1, False)

    status, answer = await call(http, "POST", flush, json={"group_id": "team"})
    assert (status, answer["data"]["status"]) == (200, "extracted")
    (after,) = sandbox.store.conversations()
    assert (after.flushes, after.flushed_after_last) == (2, True)

    personal = sandbox.url + PERSONAL + "/flush"
    status, answer = await call(http, "POST", personal, json={"user_id": "u1", "session_id": "s"})
    assert (status, answer["data"]["status"]) == (200, "no_extraction")
    assert [c.key for c in sandbox.store.conversations()] == ["group:team", "personal:u1/s"]
    status, answer = await call(http, "POST", personal, json={})
    assert (status, answer["error"]["message"]) == (422, "user_id: field required")


async def test_duplicates_and_order_are_reported(
    sandbox: SandboxServer, http: aiohttp.ClientSession
) -> None:
    chunk = group_body([group_msg(i) for i in range(3)])
    await call(http, "POST", sandbox.url + GROUP, json=chunk)
    await call(http, "POST", sandbox.url + GROUP, json=chunk)  # the server does not de-duplicate
    other = {"group_id": "late", "messages": [group_msg(2), group_msg(1)]}
    await call(http, "POST", sandbox.url + GROUP, json=other)

    late, team = sandbox.store.conversations()
    assert (team.messages, team.unique_ids, team.duplicates) == (6, 3, 3)
    assert not team.chronological  # the resend starts over at an older timestamp
    assert (late.messages, late.duplicates, late.chronological) == (2, 0, False)

    status, stored = await call(http, "GET", sandbox.url + "/_sandbox/stored")
    assert status == 200
    assert [(s["key"], s["messages"], s["duplicates"]) for s in stored] == [
        ("group:late", 2, 0),
        ("group:team", 6, 3),
    ]


async def test_auth_is_required_when_a_key_is_set(
    sandbox_factory: Callable[..., SandboxServer], http: aiohttp.ClientSession
) -> None:
    server = sandbox_factory(api_key="s3cret")
    url = server.url + GROUP
    body = group_body([group_msg(0)])

    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret"}):
        status, answer = await call(http, "POST", url, json=body, headers=headers)
        assert status == 401
        assert "s3cret" not in answer["error"]["message"]
    status, _ = await call(http, "POST", url, json=body, headers={"Authorization": "Bearer s3cret"})
    assert status == 200
    assert (await call(http, "GET", server.url + "/health"))[0] == 200
    stats = server.metrics()
    assert stats["requests_without_bearer"] == 2
    assert stats["requests"]["POST /api/v1/memories/group"] == {"401": 3, "200": 1}
    assert server.store.messages("group", "team")[0]["message_id"] == "m0"


async def test_metrics_count_concurrency_and_batch_size(
    sandbox_factory: Callable[..., SandboxServer], http: aiohttp.ClientSession
) -> None:
    server = sandbox_factory(faults=FaultConfig(latency_ms=150))
    bodies = [
        {"group_id": f"g{n}", "messages": [group_msg(i) for i in range(n)]} for n in range(1, 6)
    ]
    results = await asyncio.gather(
        *(call(http, "POST", server.url + GROUP, json=body) for body in bodies)
    )

    assert [status for status, _ in results] == [200] * 5
    stats = server.metrics()
    assert stats["max_in_flight"] == 5
    assert stats["in_flight"] == 0
    assert stats["max_messages_per_request"] == 5
    assert stats["requests"] == {"POST /api/v1/memories/group": {"200": 5}}

    status, after_reset = await call(http, "POST", server.url + "/_sandbox/reset-metrics")
    assert status == 200
    assert (after_reset["max_in_flight"], after_reset["requests"]) == (0, {})
    assert (await call(http, "GET", server.url + "/_sandbox/stats"))[1] == after_reset


async def test_unknown_route_answers_in_the_error_shape(
    sandbox: SandboxServer, http: aiohttp.ClientSession
) -> None:
    status, answer = await call(http, "GET", sandbox.url + "/api/v1/nothing")
    assert (status, answer["error"]["status"]) == (404, 404)
    status, answer = await call(http, "GET", sandbox.url + GROUP)
    assert (status, answer["error"]["status"]) == (405, 405)
