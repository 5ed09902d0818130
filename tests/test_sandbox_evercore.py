"""The sandbox's EverCore single-message routes over raw HTTP: validation, shapes, status."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest

from importer.sandbox import FaultConfig, SandboxServer

ADD = "/api/v0/memories"
META = "/api/v0/memories/conversation-meta"
STATUS = "/api/v1/stats/request"


def message(**fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "message_id": "m1",
        "create_time": "2025-02-01T10:00:00+00:00",
        "sender": "alice",
        "sender_name": "Alice",
        "content": "hello",
        "refer_list": [],
        "group_id": "team",
        "group_name": "Team",
        "role": "user",
    }
    body.update(fields)
    return {k: v for k, v in body.items() if v is not ...}


def meta(**fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "version": "1.0.0",
        "scene": "team",
        "scene_desc": {},
        "name": "Team",
        "description": "",
        "group_id": "team",
        "created_at": "2025-02-01T10:00:00+00:00",
        "default_timezone": "UTC",
        "user_details": {"alice": {"full_name": "Alice", "role": "user"}},
        "tags": ["work"],
    }
    body.update(fields)
    return {k: v for k, v in body.items() if v is not ...}


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def call(
    http: aiohttp.ClientSession, method: str, url: str, **kw: Any
) -> tuple[int, Any]:
    async with http.request(method, url, **kw) as response:
        return response.status, await response.json()


async def test_a_message_is_stored_and_answered_like_the_server(
    sandbox: SandboxServer, http: aiohttp.ClientSession
) -> None:
    status, answer = await call(http, "POST", sandbox.url + ADD, json=message())
    assert status == 200
    assert answer == {
        "status": "ok",
        "message": "Message queued, awaiting boundary detection",
        "result": {"saved_memories": [], "count": 0, "status_info": "accumulated"},
    }
    (stored,) = sandbox.store.evercore.messages("team")
    assert (stored["message_id"], stored["sender_name"]) == ("m1", "Alice")
    assert stored["content"] == "hello"


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"message_id": ...}, "Missing required field: message_id"),
        ({"create_time": ""}, "Missing required field: create_time"),
        ({"sender": None}, "Missing required field: sender"),
        ({"content": ""}, "Missing required field: content"),
        ({"content": 5}, "Field content must be a string, got int"),
        ({"create_time": "yesterday"}, "Invalid create_time 'yesterday': expected ISO 8601"),
        ({"refer_list": "m0"}, "Field refer_list must be a list"),
        ({"refer_list": [3]}, "Field refer_list must hold message ids"),
        ({"group_id": 7}, "Field group_id must be a string"),
    ],
)
async def test_a_bad_message_field_is_answered_400_with_the_servers_shape(
    sandbox: SandboxServer, http: aiohttp.ClientSession, fields: dict[str, Any], reason: str
) -> None:
    status, answer = await call(http, "POST", sandbox.url + ADD, json=message(**fields))
    assert status == 400
    assert (answer["status"], answer["code"], answer["path"]) == (
        "failed", "INVALID_PARAMETER", ADD,
    )
    assert answer["message"].startswith(reason)
    assert sandbox.store.evercore.groups() == []


async def test_refer_list_objects_and_a_time_without_offset_are_accepted(
    sandbox: SandboxServer, http: aiohttp.ClientSession
) -> None:
    body = message(refer_list=[{"message_id": "m0"}], create_time="2025-02-01T10:00:00")
    assert (await call(http, "POST", sandbox.url + ADD, json=body))[0] == 200
    (stored,) = sandbox.store.evercore.messages("team")
    assert (stored["refer_list"], stored["timestamp"]) == (["m0"], 1_738_404_000_000)


async def test_every_message_is_kept_even_the_same_one_twice_and_order_is_checked(
    sandbox: SandboxServer, http: aiohttp.ClientSession
) -> None:
    for body in (
        message(),
        message(message_id="m2", create_time="2025-02-01T10:05:00Z"),
        message(),  # a resend: older than the one before it
    ):
        assert (await call(http, "POST", sandbox.url + ADD, json=body))[0] == 200
    (group,) = sandbox.store.evercore.groups()
    assert (group.messages, group.unique_ids, group.duplicates, group.chronological) == (
        3, 2, 1, False,
    )
    status, stored = await call(http, "GET", sandbox.url + "/_sandbox/stored/evercore")
    assert status == 200
    assert [(s["key"], s["messages"], s["duplicates"]) for s in stored] == [("evercore:team", 3, 1)]


async def test_conversation_meta_is_an_upsert_on_both_paths(
    sandbox: SandboxServer, http: aiohttp.ClientSession
) -> None:
    status, first = await call(http, "POST", sandbox.url + META, json=meta())
    assert status == 200
    assert first["status"] == "ok"
    assert (first["result"]["group_id"], first["result"]["scene"]) == ("team", "team")
    v1 = "/api/v1/memories/conversation-meta"
    status, second = await call(http, "POST", sandbox.url + v1, json=meta(name="Renamed"))
    assert status == 200
    assert second["result"]["id"] == first["result"]["id"]
    saved = sandbox.store.evercore.meta("team")
    assert saved is not None and saved["body"]["name"] == "Renamed"


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"version": ...}, "Missing required field: 'version'"),
        ({"default_timezone": ...}, "Missing required field: 'default_timezone'"),
        ({"scene": "work"}, "Invalid scene 'work'"),
        ({"scene_desc": "x"}, "Field scene_desc must be an object"),
        ({"user_details": {"a": {"full_name": "A"}}}, "Missing required field: 'role'"),
        ({"tags": "work"}, "Field tags must be a list of strings"),
        ({"created_at": "soon"}, "Invalid created_at 'soon'"),
    ],
)
async def test_a_bad_meta_field_is_answered_400(
    sandbox: SandboxServer, http: aiohttp.ClientSession, fields: dict[str, Any], reason: str
) -> None:
    status, answer = await call(http, "POST", sandbox.url + META, json=meta(**fields))
    assert (status, answer["status"]) == (400, "failed")
    assert answer["message"].startswith(reason)


async def test_background_requests_answer_202_and_report_start(
    sandbox_factory: Callable[..., SandboxServer], http: aiohttp.ClientSession
) -> None:
    server = sandbox_factory(faults=FaultConfig(background_rate=1.0, task_delay_ms=60_000))
    status, accepted = await call(http, "POST", server.url + ADD, json=message())
    assert status == 202
    assert accepted["message"] == "Request accepted, processing in background"
    request_id = accepted["request_id"]

    status, answer = await call(http, "GET", server.url + STATUS, params={"request_id": request_id})
    assert (status, answer["success"], answer["found"]) == (200, True, True)
    assert (answer["data"]["status"], answer["data"]["http_code"]) == ("start", None)

    headers = {"X-Request-Id": request_id}  # the older way to ask
    status, answer = await call(http, "GET", server.url + STATUS, headers=headers)
    assert (status, answer["data"]["request_id"]) == (200, request_id)
    assert server.store.evercore.messages("team")[0]["message_id"] == "m1"


async def test_status_of_unknown_requests_and_without_an_id(
    sandbox: SandboxServer, http: aiohttp.ClientSession
) -> None:
    status, answer = await call(http, "GET", sandbox.url + STATUS, params={"request_id": "nope"})
    assert (status, answer["success"], answer["found"], answer["data"]) == (200, True, False, None)
    status, answer = await call(http, "GET", sandbox.url + STATUS)
    assert status == 400
    assert "request_id" in answer["message"]


async def test_only_a_single_message_body_reaches_evercore_on_the_shared_v1_path(
    sandbox: SandboxServer, http: aiohttp.ClientSession
) -> None:
    url = sandbox.url + "/api/v1/memories"
    assert (await call(http, "POST", url, json=message(content="")))[1]["code"] == (
        "INVALID_PARAMETER"
    )
    status, answer = await call(http, "POST", url, json={"user_id": "u1"})
    assert (status, answer["error"]["message"]) == (422, "messages: field required")
    assert (await call(http, "POST", url, json=message()))[0] == 200
    assert [g.group_id for g in sandbox.store.evercore.groups()] == ["team"]


async def test_the_api_key_guards_evercore_routes_too(
    sandbox_factory: Callable[..., SandboxServer], http: aiohttp.ClientSession
) -> None:
    server = sandbox_factory(api_key="k1")
    assert (await call(http, "POST", server.url + ADD, json=message()))[0] == 401
    headers = {"Authorization": "Bearer k1"}
    assert (await call(http, "POST", server.url + ADD, json=message(), headers=headers))[0] == 200
