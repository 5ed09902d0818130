"""The sandbox's aiohttp application: EverOS v1 routes, fault injection and request metrics.

The EverCore single-message routes live in ``evercore_app`` and GoodMem's in ``goodmem_app``;
this module builds the one application that serves all three from one store.

Auth: when an api key is set, every ``/api`` route needs ``Authorization: Bearer <key>`` and every
``/v1`` (GoodMem) route ``x-api-key: <key>``. A missing, malformed or wrong key is answered 401
(never 403), so one status means "check your key". The key is compared in constant time and never
logged. ``/health`` needs no auth; ``/_sandbox/*`` needs the key when one is set.

Order of faults in an add handler: auth → rate limit (429) → drop → 5xx → latency → validate →
store. The rate limit covers every ``/api`` and ``/v1`` route; drops and 5xx happen before anything
is stored, so a client that resends never creates duplicates because of them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hmac
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Literal

import pydantic
from aiohttp import web

from importer.logs import get_logger
from importer.sandbox import evercore_app, goodmem_app
from importer.sandbox.common import (
    API_KEY,
    FAULTS,
    METRICS,
    STORE,
    Dropped,
    Metrics,
    drop,
    read_body,
)
from importer.sandbox.faults import FaultConfig, FaultInjector
from importer.sandbox.store import SandboxStore, TaskRecord
from importer.sandbox.validation import (
    InvalidRequest,
    parse_add,
    parse_flush,
    parse_group,
)

__all__ = ["FAULTS", "METRICS", "STORE", "Metrics", "create_app"]

log = get_logger(__name__)

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
#: GoodMem batches run up to 5 MB; aiohttp's default limit is 1 MB
_MAX_BODY_BYTES = 16 * 1024 * 1024


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    body = {"error": {"status": status, "message": message}}
    return web.json_response(body, status=status, headers=headers)


def _data(payload: dict[str, Any], status: int = 200) -> web.Response:
    return web.json_response({"data": payload}, status=status)


def _route_name(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return f"{request.method} {resource.canonical if resource else 'unmatched'}"


# -- middlewares (outermost first) ------------------------------------------------------------


@web.middleware
async def _errors(request: web.Request, handler: _Handler) -> web.StreamResponse:
    """Answer aiohttp's own errors (unknown route, wrong method) in the service's error shape."""
    try:
        return await handler(request)
    except Dropped:
        # the transport is closed: aiohttp's attempt to write this fails quietly, nothing is sent
        return web.Response(status=500)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return _error(exc.status, exc.reason)


@web.middleware
async def _metrics(request: web.Request, handler: _Handler) -> web.StreamResponse:
    if not request.path.startswith(("/api/", "/v1/")):
        return await handler(request)
    metrics = request.app[METRICS]
    metrics.in_flight += 1
    metrics.max_in_flight = max(metrics.max_in_flight, metrics.in_flight)
    status = "500"
    try:
        response = await handler(request)
        status = str(response.status)
        return response
    except web.HTTPException as exc:
        status = str(exc.status)
        raise
    except Dropped:
        status = "dropped"
        raise
    finally:
        metrics.in_flight -= 1
        metrics.count(_route_name(request), status)


@web.middleware
async def _gate(request: web.Request, handler: _Handler) -> web.StreamResponse:
    """Auth, then the rate limit, for every /api (EverOS, EverCore) and /v1 (GoodMem) route."""
    if request.path.startswith("/api/"):
        refused = _check_bearer(request)
    elif request.path.startswith("/v1/"):
        refused = _check_x_api_key(request)
    elif request.path.startswith("/_sandbox/"):
        # the control routes change faults and show stored text: the key guards them too
        if request.app.get(API_KEY) is None:
            return await handler(request)
        refused = _check_x_api_key(request) if "x-api-key" in request.headers else (
            _check_bearer(request)
        )
        return refused if refused is not None else await handler(request)
    else:
        return await handler(request)
    if refused is not None:
        return refused
    faults = request.app[FAULTS]
    wait_s = faults.throttle()
    if wait_s is not None:
        headers = faults.retry_after_headers(wait_s)
        return _error(429, "rate limit exceeded, retry later", headers)
    return await handler(request)


def _check_bearer(request: web.Request) -> web.Response | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    has_bearer = scheme.lower() == "bearer" and bool(token.strip())
    if not has_bearer:
        request.app[METRICS].requests_without_bearer += 1
    api_key = request.app.get(API_KEY)
    if api_key is None:
        return None
    if not has_bearer:
        return _error(401, "missing or malformed Authorization header (want: Bearer <key>)")
    if not hmac.compare_digest(token.strip().encode(), api_key.encode()):
        return _error(401, "invalid API key")
    return None


def _check_x_api_key(request: web.Request) -> web.Response | None:
    api_key = request.app.get(API_KEY)
    if api_key is None or request.path in goodmem_app.OPEN_PATHS:
        return None
    given = request.headers.get("x-api-key", "").strip()
    if not given:
        return _error(401, "missing x-api-key header")
    if not hmac.compare_digest(given.encode(), api_key.encode()):
        return _error(401, "invalid API key")
    return None


# -- /api handlers ----------------------------------------------------------------------------


async def _json_body(request: web.Request) -> Any:
    raw = await read_body(request)
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidRequest(f"body: not valid JSON ({exc})") from None


async def _health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def _create_group(request: web.Request) -> web.Response:
    try:
        group = parse_group(await _json_body(request))
    except InvalidRequest as exc:
        return _error(422, str(exc))
    stored = request.app[STORE].upsert_group(
        group.group_id, name=group.name, description=group.description
    )
    return _data(stored)


async def _get_group(request: web.Request) -> web.Response:
    group_id = request.match_info["group_id"]
    group = request.app[STORE].group(group_id)
    if group is None:
        return _error(404, f"group {group_id!r} not found")
    return _data(group)


async def _add(request: web.Request, kind: Literal["group", "personal"]) -> web.Response:
    faults = request.app[FAULTS]
    config = faults.config
    if faults.roll(config.drop_rate):
        await drop(request)
    if faults.roll(config.error_rate):
        return _error(faults.error_status(), "injected fault: temporary server error")
    if (latency := faults.add_latency_s()) > 0:
        await asyncio.sleep(latency)
    try:
        body = await _json_body(request)
        messages = body.get("messages") if isinstance(body, dict) else None
        if isinstance(messages, list):
            request.app[METRICS].saw_messages(len(messages))
        add = parse_add(body, kind)
    except InvalidRequest as exc:
        return _error(422, str(exc))
    store = request.app[STORE]
    if add.group_meta is not None:
        meta = add.group_meta
        store.upsert_group(meta.group_id, name=meta.name, description=meta.description)
    count = len(add.rows)
    if not add.async_mode or config.sync_only:
        store.add_messages(kind, add.conversation_id, add.session_id, add.rows)
        payload = {"status": "accumulated", "message_count": count, "message": "Messages stored"}
        return _data(payload)
    now = time.time()
    outcome = "failed" if faults.roll(config.task_fail_rate) else "success"
    ready_at = now + faults.task_delay_s()
    task = TaskRecord(f"task_{uuid.uuid4().hex}", now, ready_at, outcome)
    store.add_task(task)
    if outcome == "success":
        rows = add.rows
        store.add_messages(kind, add.conversation_id, add.session_id, rows, task_id=task.task_id)
    payload = {
        "task_id": task.task_id,
        "status": "accumulated",
        "message_count": count,
        "message": "Messages queued for processing",
    }
    return _data(payload, status=202)


async def _add_group(request: web.Request) -> web.Response:
    return await _add(request, "group")


async def _add_personal(request: web.Request) -> web.Response:
    """``POST /api/v1/memories``: EverOS's personal add (a ``messages`` list), or on older
    EverCore servers the single-message add (``message_id``, ``sender``…): told by the body."""
    if evercore_app.is_single_message(await read_body(request)):
        return await evercore_app.add_message(request)
    return await _add(request, "personal")


async def _get_task(request: web.Request) -> web.Response:
    task_id = request.match_info["task_id"]
    task = request.app[STORE].task(task_id)
    now = time.time()
    config = request.app[FAULTS].config
    lagging = task is not None and now - task.created_at < config.task_visible_after_ms / 1000
    if task is None or lagging or now - task.created_at > config.task_ttl_s:
        return _error(404, f"task {task_id!r} not found (unknown or expired)")
    status = "processing" if now < task.ready_at else task.outcome
    return _data({"task_id": task.task_id, "status": status})


async def _flush(request: web.Request, kind: Literal["group", "personal"]) -> web.Response:
    try:
        flush = parse_flush(await _json_body(request), kind)
    except InvalidRequest as exc:
        return _error(422, str(exc))
    store = request.app[STORE]
    extracted = store.record_flush(kind, flush.conversation_id, flush.session_id, at=time.time())
    if extracted:
        return _data({"status": "extracted", "message": "Memory extraction triggered"})
    return _data({"status": "no_extraction", "message": "No new messages to extract"})


async def _flush_group(request: web.Request) -> web.Response:
    return await _flush(request, "group")


async def _flush_personal(request: web.Request) -> web.Response:
    return await _flush(request, "personal")


# -- /_sandbox handlers (the key, when set) -------------------------------------------------------------


async def _stored(request: web.Request) -> web.Response:
    conversations = request.app[STORE].conversations()
    return web.json_response([{**dataclasses.asdict(c), "key": c.key} for c in conversations])


async def _stats(request: web.Request) -> web.Response:
    return web.json_response(request.app[METRICS].snapshot())


async def _reset_metrics(request: web.Request) -> web.Response:
    request.app[METRICS].reset()
    return web.json_response(request.app[METRICS].snapshot())


async def _get_faults(request: web.Request) -> web.Response:
    return web.json_response(request.app[FAULTS].config.model_dump())


async def _set_faults(request: web.Request) -> web.Response:
    try:
        fields = await _json_body(request)
        if not isinstance(fields, dict):
            raise InvalidRequest("body: must be a JSON object of FaultConfig fields")
        config = request.app[FAULTS].update(fields)
    except InvalidRequest as exc:
        return _error(422, str(exc))
    except pydantic.ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()
        )
        return _error(422, problems)
    log.info("sandbox_faults_changed", **config.model_dump())
    return web.json_response(config.model_dump())


def create_app(
    store: SandboxStore, *, api_key: str | None = None, faults: FaultConfig | None = None
) -> web.Application:
    """The sandbox app over ``store``; ``api_key`` turns auth on; ``faults`` are injected faults."""
    app = web.Application(
        middlewares=[_errors, _metrics, _gate, goodmem_app.refusals],
        client_max_size=_MAX_BODY_BYTES,
    )
    app[STORE] = store
    app[FAULTS] = FaultInjector(faults)
    app[METRICS] = Metrics()
    if api_key is not None:
        app[API_KEY] = api_key
    app.router.add_get("/health", _health)
    app.router.add_post("/api/v1/groups", _create_group)
    app.router.add_get("/api/v1/groups/{group_id}", _get_group)
    app.router.add_post("/api/v1/memories/group", _add_group)
    app.router.add_post("/api/v1/memories", _add_personal)
    app.router.add_get("/api/v1/tasks/{task_id}", _get_task)
    app.router.add_post("/api/v1/memories/group/flush", _flush_group)
    app.router.add_post("/api/v1/memories/flush", _flush_personal)
    evercore_app.add_routes(app.router)
    goodmem_app.add_routes(app.router)
    app.router.add_get("/_sandbox/stored", _stored)
    app.router.add_get("/_sandbox/stats", _stats)
    app.router.add_post("/_sandbox/reset-metrics", _reset_metrics)
    app.router.add_get("/_sandbox/faults", _get_faults)
    app.router.add_post("/_sandbox/faults", _set_faults)
    return app
