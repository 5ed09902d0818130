"""The sandbox's GoodMem routes over raw HTTP: spaces, batchCreate results, reads, auth."""

from __future__ import annotations

import base64
import io
import json
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest

from importer.sandbox import FaultConfig, SandboxServer
from importer.sandbox.goodmem_app import SANDBOX_EMBEDDER_ID

CREATE = "/v1/memories:batchCreate"
EMBEDDERS = [{"embedderId": SANDBOX_EMBEDDER_ID}]


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def call(
    http: aiohttp.ClientSession, method: str, url: str, **kw: Any
) -> tuple[int, Any]:
    async with http.request(method, url, **kw) as response:
        return response.status, await response.json()


async def new_space(http: aiohttp.ClientSession, server: SandboxServer, name: str = "s") -> str:
    status, space = await call(
        http, "POST", server.url + "/v1/spaces", json={"name": name, "spaceEmbedders": EMBEDDERS}
    )
    assert status == 200
    return str(space["spaceId"])


def item(space_id: str, text: str = "hello", **fields: Any) -> dict[str, Any]:
    return {"spaceId": space_id, "originalContent": text, "contentType": "text/plain", **fields}


async def test_spaces_are_created_listed_by_glob_and_paginated(
    sandbox: SandboxServer, http: aiohttp.ClientSession
) -> None:
    for name in ("alpha", "beta", "alps"):
        await new_space(http, sandbox, name)
    status, page = await call(
        http, "GET", sandbox.url + "/v1/spaces", params={"nameFilter": "al*", "maxResults": "1"}
    )
    assert status == 200
    assert [s["name"] for s in page["spaces"]] == ["alps"]  # newest first
    token = page["nextToken"]
    status, rest = await call(
        http, "GET", sandbox.url + "/v1/spaces",
        params={"nameFilter": "al*", "maxResults": "1", "nextToken": token},
    )
    assert [s["name"] for s in rest["spaces"]] == ["alpha"]
    assert "nextToken" not in rest
    space = page["spaces"][0]
    assert space["spaceEmbedders"][0]["embedderId"] == SANDBOX_EMBEDDER_ID
    assert (await call(http, "GET", f"{sandbox.url}/v1/spaces/{space['spaceId']}"))[1] == space


@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [
        ({"spaceEmbedders": EMBEDDERS}, 400, "name is required"),
        ({"name": "x"}, 400, "at least one embedder"),
        ({"name": "x", "spaceEmbedders": [{"embedderId": str(uuid.uuid4())}]}, 404, "embedder"),
        ({"name": "x", "spaceEmbedders": [{"embedderId": "nope"}]}, 400, "not a valid UUID"),
        ({"name": "x", "spaceEmbedders": EMBEDDERS, "labels": {"a": 1}}, 400, "labels"),
        ({"name": "taken", "spaceEmbedders": EMBEDDERS}, 409, "already exists"),
    ],
)
async def test_bad_or_taken_spaces_are_refused(
    sandbox: SandboxServer,
    http: aiohttp.ClientSession,
    body: dict[str, Any],
    status: int,
    reason: str,
) -> None:
    await new_space(http, sandbox, "taken")
    got, answer = await call(http, "POST", sandbox.url + "/v1/spaces", json=body)
    assert got == status
    assert answer["error"]["code"] == status
    assert reason in answer["error"]["message"]
    assert len(sandbox.store.goodmem.spaces()) == 1


async def test_a_client_chosen_space_id_can_be_used_once(
    sandbox: SandboxServer, http: aiohttp.ClientSession
) -> None:
    space_id = str(uuid.uuid4())
    body = {"name": "a", "spaceEmbedders": EMBEDDERS, "spaceId": space_id}
    _, created = await call(http, "POST", sandbox.url + "/v1/spaces", json=body)
    assert created["spaceId"] == space_id
    again = {**body, "name": "b"}
    status, answer = await call(http, "POST", sandbox.url + "/v1/spaces", json=again)
    assert (status, answer["error"]["status"]) == (409, "ALREADY_EXISTS")


async def test_batch_create_answers_200_with_a_result_per_item(
    sandbox: SandboxServer, http: aiohttp.ClientSession
) -> None:
    space_id = await new_space(http, sandbox)
    chosen = str(uuid.uuid4())
    requests = [
        item(space_id, memoryId=chosen, metadata={"message_count": 2}),
        item(space_id, memoryId="not-a-uuid"),
        item(str(uuid.uuid4())),
        {"spaceId": space_id, "contentType": "text/plain"},
        {"spaceId": space_id, "originalContentB64": base64.b64encode(b"\x00\x01").decode(),
         "contentType": "application/octet-stream"},
        item(space_id, memoryId=chosen),  # the same id again in one batch
    ]
    status, answer = await call(http, "POST", sandbox.url + CREATE, json={"requests": requests})
    assert status == 200
    results = answer["results"]
    assert [r["success"] for r in results] == [True, False, False, False, True, False]
    assert results[0]["memory"]["memoryId"] == chosen
    assert results[0]["memory"]["processingStatus"] == "PENDING"
    assert [r.get("error", {}).get("code") for r in results] == [None, 400, 404, 400, None, 409]
    assert "not a valid UUID" in results[1]["error"]["message"]
    assert "exactly one of originalContent" in results[3]["error"]["message"]
    assert results[5]["error"]["message"].startswith("ALREADY_EXISTS")
    assert len(sandbox.store.goodmem.memories(space_id)) == 2
    assert sandbox.metrics()["batch_items"] == {"created": 2, "refused": 3, "already_exists": 1}


@pytest.mark.parametrize("body", [{"requests": []}, {"requests": "x"}, {}, []])
async def test_a_batch_without_requests_is_refused_whole(
    sandbox: SandboxServer, http: aiohttp.ClientSession, body: Any
) -> None:
    status, answer = await call(http, "POST", sandbox.url + CREATE, json=body)
    assert (status, answer["error"]["status"]) == (400, "INVALID_ARGUMENT")


async def test_item_faults_answer_unavailable_and_store_nothing_for_them(
    sandbox_factory: Callable[..., SandboxServer], http: aiohttp.ClientSession
) -> None:
    server = sandbox_factory(faults=FaultConfig(item_error_rate=1.0))
    space_id = await new_space(http, server)
    status, answer = await call(
        http, "POST", server.url + CREATE, json={"requests": [item(space_id), item(space_id)]}
    )
    assert status == 200
    assert {r["error"]["code"] for r in answer["results"]} == {503}
    assert server.store.goodmem.memories(space_id) == []


async def test_memories_read_back_with_their_content(
    sandbox: SandboxServer, http: aiohttp.ClientSession
) -> None:
    space_id = await new_space(http, sandbox)
    text = "# Chat\n2025-02-01 10:00 Alice: héllo"
    _, answer = await call(
        http, "POST", sandbox.url + CREATE, json={"requests": [item(space_id, text)]}
    )
    memory_id = answer["results"][0]["memoryId"]

    status, memory = await call(
        http, "GET", f"{sandbox.url}/v1/memories/{memory_id}", params={"includeContent": "true"}
    )
    assert status == 200
    assert base64.b64decode(memory["originalContent"]).decode() == text
    assert memory["processingStatus"] == "COMPLETED"
    missing = str(uuid.uuid4())
    status, got = await call(
        http, "POST", sandbox.url + "/v1/memories:batchGet",
        json={"memoryIds": [memory_id, missing]},
    )
    assert status == 200
    assert [r["success"] for r in got["results"]] == [True, False]
    assert "originalContent" not in got["results"][0]["memory"]
    assert got["results"][1] == {
        "success": False, "memoryId": missing,
        "error": {"code": 404, "message": f"memory {missing} not found"},
    }
    assert (await call(http, "GET", f"{sandbox.url}/v1/memories/{missing}"))[0] == 404


async def test_batches_up_to_five_megabytes_are_taken(
    sandbox: SandboxServer, http: aiohttp.ClientSession
) -> None:
    space_id = await new_space(http, sandbox)
    requests = [item(space_id, "z" * 240_000) for _ in range(20)]  # ~4.8 MB
    body = io.BytesIO(json.dumps({"requests": requests}).encode())
    headers = {"Content-Type": "application/json"}
    status, answer = await call(http, "POST", sandbox.url + CREATE, data=body, headers=headers)
    assert status == 200
    assert all(r["success"] for r in answer["results"])


async def test_x_api_key_guards_v1_routes_and_the_rate_limit_covers_them(
    sandbox_factory: Callable[..., SandboxServer], http: aiohttp.ClientSession
) -> None:
    server = sandbox_factory(api_key="gm_k", faults=FaultConfig(rate_limit_rate=1.0))
    url = server.url + "/v1/embedders"
    for headers in ({}, {"x-api-key": "gm_wrong"}, {"Authorization": "Bearer gm_k"}):
        status, answer = await call(http, "GET", url, headers=headers)
        assert status == 401
        assert "gm_k" not in answer["error"]["message"]
    status, _ = await call(http, "GET", url, headers={"x-api-key": "gm_k"})
    assert status == 429
    server.set_faults(rate_limit_rate=0)
    status, answer = await call(http, "GET", url, headers={"x-api-key": "gm_k"})
    assert (status, answer["embedders"][0]["embedderId"]) == (200, SANDBOX_EMBEDDER_ID)


async def test_deleting_a_space_removes_its_memories(
    sandbox: SandboxServer, http: aiohttp.ClientSession
) -> None:
    space_id = await new_space(http, sandbox)
    await call(http, "POST", sandbox.url + CREATE, json={"requests": [item(space_id)]})
    async with http.delete(f"{sandbox.url}/v1/spaces/{space_id}") as response:
        assert response.status == 204
    assert sandbox.store.goodmem.memories(space_id) == []
    assert (await call(http, "DELETE", f"{sandbox.url}/v1/spaces/{space_id}"))[0] == 404
