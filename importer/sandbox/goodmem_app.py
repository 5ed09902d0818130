"""The sandbox's GoodMem REST API: embedders (one built in), spaces, and memories.

    GET  /v1/system/info                  build metadata, without a key (the preflight)
    GET  /v1/embedders                    the sandbox's one embedder
    GET  /v1/spaces?nameFilter=GLOB&maxResults=&nextToken=    newest first, paginated
    POST /v1/spaces                       409 ALREADY_EXISTS for a taken name or id
    GET  /v1/spaces/{id}, DELETE /v1/spaces/{id} (with its memories)
    POST /v1/memories:batchCreate         HTTP 200 with one result per item, in request order;
                                          a taken memoryId is ALREADY_EXISTS (409), never a copy
    POST /v1/memories:batchGet, GET /v1/memories/{id}, GET /v1/spaces/{id}/memories

Per-item error codes are HTTP-style numbers (409, 503, 400, 404), as GoodMem's REST docs show.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import fnmatch
import hashlib
import json
import re
import time
import uuid
from typing import Any

from aiohttp import web

from importer.sandbox.common import FAULTS, METRICS, STORE, drop, read_body
from importer.sandbox.store_goodmem import MemoryRecord, SpaceRecord

__all__ = ["OPEN_PATHS", "SANDBOX_EMBEDDER_ID", "add_routes"]

SANDBOX_EMBEDDER_ID = "5a4db0c5-e0b1-4e6b-9d3a-000000000001"
#: answered without a key, as on GoodMem (bootstrap tooling calls them before keys exist)
OPEN_PATHS = frozenset({"/v1/system/info"})
_OWNER = "5a4db0c5-e0b1-4e6b-9d3a-0000000000aa"
_STATUS_NAMES = {
    400: "INVALID_ARGUMENT", 404: "NOT_FOUND", 409: "ALREADY_EXISTS", 500: "INTERNAL",
    503: "UNAVAILABLE",
}


class Refused(Exception):
    """A request or item the server refuses: HTTP-style ``code`` and a message."""

    def __init__(self, code: int, message: str) -> None:
        self.code = code
        super().__init__(message)


def _error(code: int, message: str) -> web.Response:
    status = _STATUS_NAMES.get(code, "UNKNOWN")
    body = {"error": {"code": code, "status": status, "message": message}}
    return web.json_response(body, status=code)


def _now_ms() -> int:
    return int(time.time() * 1000)


def _uuid(value: Any, field: str) -> str:
    if not isinstance(value, str):
        raise Refused(400, f"{field} must be a UUID string")
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise Refused(400, f"{field} is not a valid UUID: {value!r}") from None


async def _json(request: web.Request) -> Any:
    try:
        return json.loads(await read_body(request))
    except (ValueError, UnicodeDecodeError):
        raise Refused(400, "request body is not valid JSON") from None


# -- shapes ------------------------------------------------------------------------------------


def _embedder() -> dict[str, Any]:
    return {
        "embedderId": SANDBOX_EMBEDDER_ID, "displayName": "sandbox embedder",
        "providerType": "OPENAI", "endpointUrl": "http://sandbox.invalid", "apiPath": "/embeddings",
        "modelIdentifier": "sandbox-embedding", "dimensionality": 8, "distributionType": "DENSE",
        "supportedModalities": ["TEXT"], "labels": {}, "ownerId": _OWNER, "createdAt": 0,
        "updatedAt": 0, "createdById": _OWNER, "updatedById": _OWNER,
    }


def _space_json(space: SpaceRecord) -> dict[str, Any]:
    embedders = [
        {
            "spaceId": space.space_id, "embedderId": e["embedderId"],
            "defaultRetrievalWeight": e.get("defaultRetrievalWeight", 1.0),
            "createdAt": space.created_at, "updatedAt": space.created_at,
            "createdById": _OWNER, "updatedById": _OWNER,
        }
        for e in space.embedders
    ]
    body: dict[str, Any] = {
        "spaceId": space.space_id, "name": space.name, "labels": space.labels,
        "spaceEmbedders": embedders, "createdAt": space.created_at,
        "updatedAt": space.created_at, "ownerId": _OWNER, "createdById": _OWNER,
        "updatedById": _OWNER,
    }
    if space.chunking is not None:
        body["defaultChunkingConfig"] = space.chunking
    return body


def _memory_json(
    memory: MemoryRecord, *, status: str, include_content: bool = False
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "memoryId": memory.memory_id, "spaceId": memory.space_id,
        "originalContentLength": len(memory.content),
        "originalContentSha256": hashlib.sha256(memory.content).hexdigest(),
        "contentType": memory.content_type, "processingStatus": status,
        "pageImageStatus": "UNSPECIFIED", "pageImageCount": 0, "metadata": memory.metadata,
        "createdAt": memory.created_at, "updatedAt": memory.created_at,
        "createdById": _OWNER, "updatedById": _OWNER,
    }
    if include_content:
        body["originalContent"] = base64.b64encode(memory.content).decode("ascii")
    return body


def _status(request: web.Request, memory: MemoryRecord) -> str:
    """New memories are embedded in the background: PROCESSING for ``task_delay_ms``."""
    delay = request.app[FAULTS].config.task_delay_ms
    return "COMPLETED" if _now_ms() >= memory.created_at + delay else "PROCESSING"


# -- spaces ------------------------------------------------------------------------------------


async def _system_info(request: web.Request) -> web.Response:
    info = {"version": "0.0.0-sandbox", "major": 0, "minor": 0, "patch": 0, "dirty": False,
            "capabilities": {"sandbox": "true"}}
    return web.json_response(info)


async def _list_embedders(request: web.Request) -> web.Response:
    return web.json_response({"embedders": [_embedder()]})


def _parse_space(body: Any) -> SpaceRecord:
    if not isinstance(body, dict):
        raise Refused(400, "request body must be a JSON object")
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        raise Refused(400, "name is required")
    labels = body.get("labels") or {}
    if not isinstance(labels, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in labels.items()
    ):
        raise Refused(400, "labels must be an object of strings")
    embedders = body.get("spaceEmbedders")
    if not isinstance(embedders, list) or not embedders:
        raise Refused(400, "at least one embedder configuration (spaceEmbedders) is required")
    configs = []
    for i, item in enumerate(embedders):
        if not isinstance(item, dict):
            raise Refused(400, f"spaceEmbedders[{i}] must be an object")
        embedder_id = _uuid(item.get("embedderId"), f"spaceEmbedders[{i}].embedderId")
        if embedder_id != SANDBOX_EMBEDDER_ID:
            raise Refused(404, f"embedder {embedder_id} not found")
        weight = item.get("defaultRetrievalWeight", 1.0)
        if isinstance(weight, bool) or not isinstance(weight, int | float):
            raise Refused(400, f"spaceEmbedders[{i}].defaultRetrievalWeight must be a number")
        configs.append({"embedderId": embedder_id, "defaultRetrievalWeight": float(weight)})
    chunking = body.get("defaultChunkingConfig")
    if chunking is not None and not isinstance(chunking, dict):
        raise Refused(400, "defaultChunkingConfig must be an object")
    space_id = body.get("spaceId")
    return SpaceRecord(
        space_id=_uuid(space_id, "spaceId") if space_id is not None else str(uuid.uuid4()),
        name=name, labels=labels, embedders=configs, chunking=chunking, created_at=_now_ms(),
    )


async def _create_space(request: web.Request) -> web.Response:
    space = _parse_space(await _json(request))
    outcome = request.app[STORE].goodmem.create_space(space)
    if outcome == "name taken":
        raise Refused(409, f"a space named {space.name!r} already exists")
    if outcome == "id taken":
        raise Refused(409, f"space id {space.space_id} is already in use")
    return web.json_response(_space_json(space))


def _param(request: web.Request, name: str) -> str | None:
    """A query parameter by its camelCase name or, as GoodMem also accepts, snake_case."""
    snake = re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()
    return request.query.get(name, request.query.get(snake))


def _flag(request: web.Request, name: str) -> bool:
    return (_param(request, name) or "false").lower() in ("true", "1")


def _int_param(request: web.Request, name: str, default: int) -> int:
    raw = _param(request, name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise Refused(400, f"{name} must be an integer, got {raw!r}") from None


def _page(request: web.Request, total: int, largest: int) -> tuple[int, int, str | None]:
    """``(offset, end, next token)`` from ``maxResults`` (50, clamped) and ``nextToken``."""
    size = min(largest, max(1, _int_param(request, "maxResults", 50)))
    token = _param(request, "nextToken")
    try:
        offset = int(base64.urlsafe_b64decode(token + "==").decode()) if token else 0
    except (ValueError, binascii.Error):
        raise Refused(400, "nextToken is not a token this server gave") from None
    end = offset + size
    following = base64.urlsafe_b64encode(str(end).encode()).decode().rstrip("=")
    return offset, end, following if end < total else None


async def _list_spaces(request: web.Request) -> web.Response:
    pattern = _param(request, "nameFilter")
    spaces = request.app[STORE].goodmem.spaces()
    if pattern:
        spaces = [s for s in spaces if fnmatch.fnmatchcase(s.name, pattern)]
    offset, end, following = _page(request, len(spaces), 1000)
    body: dict[str, Any] = {"spaces": [_space_json(s) for s in spaces[offset:end]]}
    if following:
        body["nextToken"] = following
    return web.json_response(body)


async def _delete_space(request: web.Request) -> web.Response:
    """Cascades to the space's memories, as GoodMem's does."""
    if not request.app[STORE].goodmem.delete_space(request.match_info["space_id"]):
        raise Refused(404, f"space {request.match_info['space_id']} not found")
    return web.Response(status=204)


async def _get_space(request: web.Request) -> web.Response:
    space = request.app[STORE].goodmem.space(request.match_info["space_id"])
    if space is None:
        raise Refused(404, f"space {request.match_info['space_id']} not found")
    return web.json_response(_space_json(space))


# -- memories ----------------------------------------------------------------------------------


def _parse_memory(item: Any, index: int, request: web.Request) -> MemoryRecord:
    """One batchCreate item; raises ``Refused`` for that item alone."""
    where = f"requests[{index}]"
    if not isinstance(item, dict):
        raise Refused(400, f"{where} must be an object")
    space_id = _uuid(item.get("spaceId"), f"{where}.spaceId")
    if request.app[STORE].goodmem.space(space_id) is None:
        raise Refused(404, f"space {space_id} not found")
    text, b64 = item.get("originalContent"), item.get("originalContentB64")
    if (text is None) == (b64 is None):
        raise Refused(400, f"{where}: exactly one of originalContent or originalContentB64")
    content_type = item.get("contentType")
    if text is not None:
        if not isinstance(text, str):
            raise Refused(400, f"{where}.originalContent must be a string")
        content = text.encode("utf-8")
        content_type = content_type or "text/plain"
    else:
        try:
            content = base64.b64decode(str(b64), validate=True)
        except (ValueError, binascii.Error):
            raise Refused(400, f"{where}.originalContentB64 is not base64") from None
    if not isinstance(content_type, str) or not content_type:
        raise Refused(400, f"{where}.contentType is required")
    metadata = item.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise Refused(400, f"{where}.metadata must be an object")
    memory_id = item.get("memoryId")
    return MemoryRecord(
        memory_id=_uuid(memory_id, f"{where}.memoryId") if memory_id else str(uuid.uuid4()),
        space_id=space_id, content=content, content_type=content_type, metadata=metadata,
        created_at=_now_ms(),
    )


def _failure(code: int, message: str, memory_id: str | None = None) -> dict[str, Any]:
    result: dict[str, Any] = {"success": False, "error": {"code": code, "message": message}}
    if memory_id:
        result["memoryId"] = memory_id
    return result


async def _batch_create(request: web.Request) -> web.Response:
    raw = await read_body(request)  # before the latency: a client that gives up still lands
    faults = request.app[FAULTS]
    config = faults.config
    if faults.roll(config.drop_rate):
        await drop(request)
    if faults.roll(config.error_rate):
        status = faults.error_status()
        return _error(status, "injected fault: temporary server error")
    if (latency := faults.add_latency_s()) > 0:
        await asyncio.sleep(latency)
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise Refused(400, "request body is not valid JSON") from None
    items = body.get("requests") if isinstance(body, dict) else None
    if not isinstance(items, list) or not items:
        raise Refused(400, "requests must be a non-empty list of memory creation requests")
    results: list[dict[str, Any] | None] = [None] * len(items)
    accepted: list[tuple[int, MemoryRecord]] = []
    outcomes = request.app[METRICS].batch_items
    for index, item in enumerate(items):
        try:
            record = _parse_memory(item, index, request)
        except Refused as exc:
            results[index] = _failure(exc.code, str(exc))
            outcomes["refused"] += 1
            continue
        if faults.roll(config.item_error_rate):
            results[index] = _failure(503, "UNAVAILABLE: injected fault, try again")
            outcomes["unavailable"] += 1
            continue
        accepted.append((index, record))
    created = request.app[STORE].goodmem.create_memories([record for _, record in accepted])
    for (index, record), fresh in zip(accepted, created, strict=True):
        if fresh:
            memory = _memory_json(record, status="PENDING")
            results[index] = {"success": True, "memoryId": record.memory_id, "memory": memory}
            outcomes["created"] += 1
        else:
            message = f"ALREADY_EXISTS: memory {record.memory_id} already exists"
            results[index] = _failure(409, message, record.memory_id)
            outcomes["already_exists"] += 1
    return web.json_response({"results": results})


async def _batch_get(request: web.Request) -> web.Response:
    body = await _json(request)
    ids = body.get("memoryIds") if isinstance(body, dict) else None
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise Refused(400, "memoryIds must be a list of memory ids")
    include = bool(body.get("includeContent"))
    results = []
    for memory_id in ids:
        memory = request.app[STORE].goodmem.memory(memory_id)
        if memory is None:
            results.append(_failure(404, f"memory {memory_id} not found", memory_id))
            continue
        shape = _memory_json(memory, status=_status(request, memory), include_content=include)
        results.append({"success": True, "memoryId": memory_id, "memory": shape})
    return web.json_response({"results": results})


async def _list_memories(request: web.Request) -> web.Response:
    space_id = request.match_info["space_id"]
    if request.app[STORE].goodmem.space(space_id) is None:
        raise Refused(404, f"space {space_id} not found")
    memories = request.app[STORE].goodmem.memories(space_id)
    offset, end, following = _page(request, len(memories), 500)
    include = _flag(request, "includeContent")
    shapes = [
        _memory_json(m, status=_status(request, m), include_content=include)
        for m in memories[offset:end]
    ]
    body: dict[str, Any] = {"memories": shapes}
    if following:
        body["nextToken"] = following
    return web.json_response(body)


async def _get_memory(request: web.Request) -> web.Response:
    memory_id = request.match_info["memory_id"]
    memory = request.app[STORE].goodmem.memory(memory_id)
    if memory is None:
        raise Refused(404, f"memory {memory_id} not found")
    include = _flag(request, "includeContent")
    return web.json_response(
        _memory_json(memory, status=_status(request, memory), include_content=include)
    )


async def _stored(request: web.Request) -> web.Response:
    spaces = request.app[STORE].goodmem.summary()
    return web.json_response(
        [{"key": s.key, "space_id": s.space_id, "name": s.name, "memories": s.memories,
          "messages": s.messages, "duplicate_messages": s.duplicate_messages,
          "conversations": s.conversations} for s in spaces]
    )


@web.middleware
async def refusals(request: web.Request, handler: Any) -> web.StreamResponse:
    """Turn ``Refused`` from any GoodMem handler into GoodMem's error shape."""
    try:
        response: web.StreamResponse = await handler(request)
        return response
    except Refused as exc:
        return _error(exc.code, str(exc))


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/v1/system/info", _system_info)
    router.add_get("/v1/embedders", _list_embedders)
    router.add_get("/v1/spaces", _list_spaces)
    router.add_post("/v1/spaces", _create_space)
    router.add_get("/v1/spaces/{space_id}", _get_space)
    router.add_delete("/v1/spaces/{space_id}", _delete_space)
    router.add_get("/v1/spaces/{space_id}/memories", _list_memories)
    router.add_post("/v1/memories:batchCreate", _batch_create)
    router.add_post("/v1/memories:batchGet", _batch_get)
    router.add_get("/v1/memories/{memory_id}", _get_memory)
    router.add_get("/_sandbox/stored/goodmem", _stored)
