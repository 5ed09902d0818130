"""The EverOS v1 memory API (cloud, and self-hosted EverCore servers that answer synchronously)."""

from __future__ import annotations

import json
from typing import Any

import aiohttp

from importer.chunker import DEFAULT_MAX_REQUEST_BYTES, MAX_CHUNK_MESSAGES
from importer.errors import AuthError, RejectedError, RetriableTargetError, UnreachableError
from importer.models import Chunk, Conversation, Message
from importer.retry import parse_retry_after
from importer.targets.base import Receipt, TaskState, public_url

__all__ = ["EverOSTarget"]

_RETRIABLE = {408, 425, 429, 500, 502, 503, 504}
#: "not implemented" answers come from servers that do not speak the API: retrying cannot help
_NOT_THE_API = {501, 505}


class EverOSTarget:
    """Adapter for ``/api/v1``: group and personal adds with ``async_mode``, tasks, flushes, groups."""

    name = "everos"

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        async_mode: bool = True,
        identity: str | None = None,
        chunk_size: int = MAX_CHUNK_MESSAGES,
        max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
    ) -> None:
        # credentials in the URL are not how this API authenticates (and must never be stored
        # or printed): requests go to the URL without them
        self.base_url = public_url(base_url)
        self.identity = identity or f"{self.name}:{public_url(base_url)}"
        self.max_chunk_messages = min(chunk_size, MAX_CHUNK_MESSAGES)
        self.max_request_bytes = max_request_bytes
        self.async_mode = async_mode
        self._headers = {"Content-Type": "application/json"}
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"
        self._session: aiohttp.ClientSession | None = None

    def bind(self, session: aiohttp.ClientSession) -> None:
        self._session = session

    # -- the API -------------------------------------------------------------------------------

    async def prepare(self) -> None:
        """Preflight: one quick request, so that a wrong URL fails in seconds, once, clearly."""
        await preflight(self._session, self.base_url + "/health", self.name)

    async def setup(self, conversation: Conversation) -> None:
        if conversation.kind != "group":
            return
        body = {"group_id": conversation.conversation_id, **_group_meta(conversation)}
        await self._request("POST", "/api/v1/groups", body)

    async def add(self, conversation: Conversation, chunk: Chunk) -> Receipt:
        if conversation.kind == "group":
            path = "/api/v1/memories/group"
            body: dict[str, Any] = {"group_id": conversation.conversation_id}
            meta = _group_meta(conversation)
            if meta and chunk.index == 0:
                body["group_meta"] = meta
            messages = [_group_message(m) for m in chunk.messages]
        else:
            path = "/api/v1/memories"
            body = {"user_id": conversation.conversation_id}
            if conversation.session_id:
                body["session_id"] = conversation.session_id
            messages = [_personal_message(m, conversation.conversation_id) for m in chunk.messages]
        if self.async_mode:
            body["async_mode"] = True
        body["messages"] = messages
        _, data = await self._request("POST", path, body)
        task_id = data.get("task_id") if isinstance(data, dict) else None
        return Receipt(task_id=str(task_id) if task_id else None)

    async def task_status(self, task_id: str) -> TaskState:
        status, data = await self._request("GET", f"/api/v1/tasks/{task_id}", None, missing_ok=True)
        if status == 404:
            # the server keeps task status about an hour: a forgotten task finished long ago
            return "expired"
        state = str(data.get("status", "")).lower() if isinstance(data, dict) else ""
        if state in {"success", "completed", "done"}:
            return "success"
        if state == "failed":
            return "failed"
        return "processing"

    async def flush(self, conversation: Conversation) -> None:
        if conversation.kind == "group":
            await self._request(
                "POST", "/api/v1/memories/group/flush", {"group_id": conversation.conversation_id}
            )
            return
        body: dict[str, Any] = {"user_id": conversation.conversation_id}
        if conversation.session_id:
            body["session_id"] = conversation.session_id
        await self._request("POST", "/api/v1/memories/flush", body)

    # -- one attempt, errors translated once ---------------------------------------------------

    async def _request(
        self, method: str, path: str, body: dict[str, Any] | None, *, missing_ok: bool = False
    ) -> tuple[int, Any]:
        assert self._session is not None, "bind() a session first"
        url = self.base_url + path
        payload = None if body is None else json.dumps(body, ensure_ascii=False).encode("utf-8")
        try:
            async with self._session.request(
                method, url, data=payload, headers=self._headers
            ) as response:
                raw = await response.read()
                status = response.status
                headers = response.headers
        except (aiohttp.ClientSSLError, aiohttp.InvalidURL) as exc:
            raise UnreachableError(describe_connection_error(self.base_url, exc)) from exc
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise RetriableTargetError(
                f"{method} {path}: {describe_connection_error(self.base_url, exc)}"
            ) from exc
        if 200 <= status < 300:
            return status, _envelope(raw, headers.get("Content-Type", ""), url)
        if status == 404 and missing_ok:
            return status, None
        reason = _error_message(raw) or f"HTTP {status}"
        if status in (401, 403):
            raise AuthError(
                f"authentication failed (HTTP {status}) at {self.base_url}: {reason}; "
                "check --api-key or EVEROS_API_KEY",
                status=status,
            )
        if status in _RETRIABLE or (status >= 500 and status not in _NOT_THE_API):
            raise RetriableTargetError(
                f"{method} {path}: HTTP {status}: {reason}",
                status=status,
                retry_after=parse_retry_after(headers),
            )
        raise RejectedError(f"{method} {path}: HTTP {status}: {reason}", status=status)


def _group_meta(conversation: Conversation) -> dict[str, str]:
    meta = {"name": conversation.name, "description": conversation.description}
    return {k: v for k, v in meta.items() if v}


def _group_message(m: Message) -> dict[str, Any]:
    return {
        "role": m.role,
        "sender_id": m.sender_id,
        # the batch-import guide lists sender_name as required for group messages
        "sender_name": m.sender_name or m.sender_id,
        "timestamp": m.timestamp,
        "content": m.content,
        "message_id": m.message_id,
    }


def _personal_message(m: Message, user_id: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "role": m.role,
        "timestamp": m.timestamp,
        "content": m.content,
        "message_id": m.message_id,
    }
    # the API takes a user message's sender to be the user; name the speaker only otherwise
    if m.role != "user" or m.sender_id != user_id:
        out["sender_id"] = m.sender_id
    return out


def _envelope(raw: bytes, content_type: str, url: str) -> Any:
    """The ``data`` of a success answer. A success whose body is not the API's JSON (a login
    page, a proxy's HTML) is not proof of anything: the request is refused, never counted."""
    if not raw.strip():
        return {}  # servers that store synchronously may answer with an empty 200
    try:
        parsed = json.loads(raw)
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict):
        kind = content_type.split(";")[0].strip() or "no content type"
        raise RejectedError(
            f"{url} answered with success but not with the API's JSON ({kind}); "
            "is --api-url the memory service, not a web page or proxy login?"
        )
    if "data" in parsed:
        return parsed["data"] or {}
    return parsed


def _error_message(raw: bytes) -> str:
    """The server's own explanation, from the usual envelope shapes, cut to one line."""
    try:
        parsed = json.loads(raw)
    except ValueError:
        text = raw.decode("utf-8", errors="replace").strip()
        return " ".join(text.split())[:300]
    for candidate in (
        parsed.get("error") if isinstance(parsed, dict) else None,
        parsed,
    ):
        if isinstance(candidate, dict):
            for key in ("message", "detail", "msg"):
                value = candidate.get(key)
                if value:
                    return " ".join(str(value).split())[:300]
        elif isinstance(candidate, str) and candidate:
            return candidate[:300]
    return ""


def describe_connection_error(base_url: str, exc: BaseException) -> str:
    """One readable line for a failure to talk to ``base_url`` (no aiohttp internals)."""
    host = base_url.split("://", 1)[-1].split("/", 1)[0]
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return f"TLS certificate of {host} is not trusted ({exc.certificate_error})"
    if isinstance(exc, aiohttp.ClientSSLError):
        return f"TLS connection to {host} failed"
    if isinstance(exc, aiohttp.InvalidURL):
        return f"{base_url} is not a valid http(s) URL"
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return f"host {host.rsplit(':', 1)[0]} not found (DNS)"
    if isinstance(exc, aiohttp.ClientConnectorError):
        reason = exc.os_error.strerror if exc.os_error and exc.os_error.strerror else "refused"
        return f"cannot connect to {host} ({reason.lower()})"
    if isinstance(exc, TimeoutError | aiohttp.ServerTimeoutError):
        return f"{host} did not answer in time"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return f"{host} closed the connection"
    return f"connection problem with {host} ({type(exc).__name__})"


async def preflight(session: aiohttp.ClientSession | None, url: str, api: str) -> None:
    """One short request to ``url`` before anything else: connection refused, an unknown host, a
    TLS failure, or an HTML page where the API should answer stops the run at once."""
    assert session is not None, "bind() a session first"
    base = url.rsplit("/", 1)[0]
    try:
        async with session.get(url, timeout=aiohttp.ClientTimeout(total=10)) as response:
            content_type = response.headers.get("Content-Type", "")
            status = response.status
    except (TimeoutError, aiohttp.ClientError) as exc:
        raise UnreachableError(describe_connection_error(base, exc)) from exc
    if 200 <= status < 300 and "html" in content_type.lower():
        raise UnreachableError(
            f"{base} answers with a web page, not the {api} API; check --api-url"
        )
