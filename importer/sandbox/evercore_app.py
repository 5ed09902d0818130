"""The sandbox's EverCore single-message API (``/api/v0/memories``, older servers ``/api/v1``).

    POST /api/v0/memories                      one message → 200 {status: ok, message, result};
                                               202 {message, request_id} when "slow"
    POST /api/v{0,1}/memories/conversation-meta  full upsert by group_id
    GET  /api/v1/stats/request?request_id=R    {success, found, data: {status}}: status is
                                               start, then success or failed

Errors have the server's shape: ``{status: "failed", code, message, timestamp, path}``, 400 for a
missing or bad field. Messages are never de-duplicated, as on the real server.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from importer.sandbox.common import FAULTS, METRICS, STORE, drop, read_body
from importer.sandbox.store import TaskRecord
from importer.sandbox.store_evercore import EverCoreMessage

__all__ = ["add_message", "add_routes", "is_single_message", "parse_message", "parse_meta"]

_META_FIELDS = (
    "version", "scene", "scene_desc", "name", "description", "group_id", "created_at",
    "default_timezone",
)
_SCENES = ("solo", "team")


class BadField(Exception):
    """A body the server answers 400; the message is the server's ``message``."""


def _failed(request: web.Request, status: int, code: str, message: str) -> web.Response:
    body = {
        "status": "failed",
        "code": code,
        "message": message,
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "path": request.path,
    }
    return web.json_response(body, status=status)


def is_single_message(raw: bytes) -> bool:
    """Whether a ``POST /api/v1/memories`` body is EverCore's single message rather than an
    EverOS personal add (which carries a ``messages`` list)."""
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return False
    return (
        isinstance(body, dict)
        and not isinstance(body.get("messages"), list)
        and ("message_id" in body or "sender" in body)
    )


# -- validation --------------------------------------------------------------------------------


def _optional_text(body: dict[str, Any], field: str) -> str | None:
    value = body.get(field)
    if value is not None and not isinstance(value, str):
        raise BadField(f"Field {field} must be a string, got {type(value).__name__}")
    return value


def _required_text(body: dict[str, Any], field: str) -> str:
    value = _optional_text(body, field)
    if not value:
        raise BadField(f"Missing required field: {field}")
    return value


def _millis(text: str, field: str) -> int:
    try:
        moment = datetime.fromisoformat(text.strip().replace("z", "Z"))
    except ValueError:
        raise BadField(f"Invalid {field} {text!r}: expected ISO 8601") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # the server reads a time without offset as UTC
    return int(moment.timestamp() * 1000)


def _refer_list(value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise BadField(f"Field refer_list must be a list, got {type(value).__name__}")
    ids = []
    for item in value:
        ref = item.get("message_id") if isinstance(item, dict) else item
        if not isinstance(ref, str):
            raise BadField("Field refer_list must hold message ids or {message_id} objects")
        ids.append(ref)
    return ids


def parse_message(body: Any) -> EverCoreMessage:
    """A single-message add body, checked like the server does; raises ``BadField``."""
    if not isinstance(body, dict):
        raise BadField("Request body must be a JSON object")
    message_id = _required_text(body, "message_id")
    create_time = _required_text(body, "create_time")
    sender = _required_text(body, "sender")
    content = _required_text(body, "content")
    return EverCoreMessage(
        group_id=_optional_text(body, "group_id") or "",
        group_name=_optional_text(body, "group_name"),
        message_id=message_id,
        create_time=create_time,
        timestamp=_millis(create_time, "create_time"),
        sender=sender,
        sender_name=_optional_text(body, "sender_name") or sender,
        role=_optional_text(body, "role"),
        content=content,
        refer_list=_refer_list(body.get("refer_list")),
    )


def parse_meta(body: Any) -> dict[str, Any]:
    """A conversation-meta body: every field the server reads by key must be there."""
    if not isinstance(body, dict):
        raise BadField("Request body must be a JSON object")
    for field in _META_FIELDS:
        if field not in body:
            raise BadField(f"Missing required field: '{field}'")
    group_id = _required_text(body, "group_id")
    if body["scene"] not in _SCENES:
        raise BadField(f"Invalid scene {body['scene']!r}: expected one of {', '.join(_SCENES)}")
    if not isinstance(body["scene_desc"], dict):
        raise BadField("Field scene_desc must be an object")
    _millis(_required_text(body, "created_at"), "created_at")
    users = body.get("user_details") or {}
    if not isinstance(users, dict):
        raise BadField("Field user_details must be an object of user id -> details")
    for details in users.values():
        if not isinstance(details, dict):
            raise BadField("Each user_details entry must be an object")
        for field in ("full_name", "role"):
            if field not in details:
                raise BadField(f"Missing required field: '{field}'")
    tags = body.get("tags") or []
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise BadField("Field tags must be a list of strings")
    return {**body, "group_id": group_id, "user_details": users, "tags": tags}


# -- handlers ----------------------------------------------------------------------------------


async def add_message(request: web.Request) -> web.Response:
    raw = await read_body(request)  # before the latency: a client that gives up still lands
    faults = request.app[FAULTS]
    config = faults.config
    if faults.roll(config.drop_rate):
        await drop(request)
    if faults.roll(config.error_rate):
        return _failed(
            request, faults.error_status(), "SYSTEM_ERROR",
            "injected fault: Failed to store memory, please try again later",
        )
    if (latency := faults.add_latency_s()) > 0:
        await asyncio.sleep(latency)
    try:
        message = parse_message(json.loads(raw))
    except (ValueError, UnicodeDecodeError):
        return _failed(request, 400, "INVALID_PARAMETER", "Request body is not valid JSON")
    except BadField as exc:
        return _failed(request, 400, "INVALID_PARAMETER", str(exc))
    request.app[METRICS].saw_messages(1)
    store = request.app[STORE]
    if not faults.roll(config.background_rate):
        store.evercore.add_message(request.path, message, None)
        result = {"saved_memories": [], "count": 0, "status_info": "accumulated"}
        return web.json_response(
            {"status": "ok", "message": "Message queued, awaiting boundary detection",
             "result": result}
        )
    # the work outlasted the server's blocking wait: it goes on in the background
    now = time.time()
    outcome = "failed" if faults.roll(config.task_fail_rate) else "success"
    request_id = str(uuid.uuid4())
    store.add_task(TaskRecord(request_id, now, now + faults.task_delay_s(), outcome))
    if outcome == "success":
        store.evercore.add_message(request.path, message, request_id)
    return web.json_response(
        {"message": "Request accepted, processing in background", "request_id": request_id},
        status=202,
    )


async def _save_meta(request: web.Request) -> web.Response:
    try:
        meta = parse_meta(json.loads(await read_body(request)))
    except (ValueError, UnicodeDecodeError):
        return _failed(request, 400, "INVALID_PARAMETER", "Request body is not valid JSON")
    except BadField as exc:
        return _failed(request, 400, "INVALID_PARAMETER", str(exc))
    saved = request.app[STORE].evercore.upsert_meta(meta["group_id"], meta)
    result = {
        "id": saved["id"],
        "group_id": saved["group_id"],
        "scene": meta["scene"],
        "name": meta["name"],
        "version": meta["version"],
        "created_at": saved["created_at"],
        "updated_at": saved["updated_at"],
    }
    return web.json_response(
        {"status": "ok", "message": "Conversation metadata saved successfully", "result": result}
    )


async def _request_status(request: web.Request) -> web.Response:
    request_id = request.query.get("request_id") or request.headers.get("X-Request-Id")
    if not request_id:
        return _failed(
            request, 400, "INVALID_PARAMETER",
            "Missing required parameter: request_id (query param) or X-Request-Id (header)",
        )
    task = request.app[STORE].task(request_id)
    now = time.time()
    ttl = request.app[FAULTS].config.task_ttl_s
    if task is None or now - task.created_at > ttl:
        return web.json_response(
            {"success": True, "found": False, "data": None,
             "message": "Request status does not exist or has expired"}
        )
    finished = now >= task.ready_at
    status = task.outcome if finished else "start"
    data = {
        "request_id": task.task_id,
        "status": status,
        "url": "/api/v0/memories",
        "method": "POST",
        "http_code": (200 if status == "success" else 500) if finished else None,
        "time_ms": int((task.ready_at - task.created_at) * 1000) if finished else None,
        "start_time": int(task.created_at * 1000),
        "end_time": int(task.ready_at * 1000) if finished else None,
        "ttl_seconds": max(0, int(task.created_at + ttl - now)),
    }
    return web.json_response({"success": True, "found": True, "data": data, "message": None})


async def _stored(request: web.Request) -> web.Response:
    groups = request.app[STORE].evercore.groups()
    return web.json_response(
        [{"key": g.key, "group_id": g.group_id, "name": g.name, "scene": g.scene, "meta": g.meta,
          "messages": g.messages, "unique_ids": g.unique_ids, "duplicates": g.duplicates,
          "chronological": g.chronological} for g in groups]
    )


def add_routes(router: web.UrlDispatcher) -> None:
    """Everything but ``POST /api/v1/memories``, which the EverOS app shares by body shape."""
    router.add_post("/api/v0/memories", add_message)
    router.add_post("/api/v0/memories/conversation-meta", _save_meta)
    router.add_post("/api/v1/memories/conversation-meta", _save_meta)
    router.add_get("/api/v1/stats/request", _request_status)
    router.add_get("/_sandbox/stored/evercore", _stored)
