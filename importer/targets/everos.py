"""The EverOS v1 memory API (cloud, and self-hosted EverCore servers that answer synchronously)."""

from __future__ import annotations

from typing import Any

import aiohttp

from importer.chunker import DEFAULT_MAX_REQUEST_BYTES, MAX_CHUNK_MESSAGES
from importer.models import Chunk, Conversation, Message
from importer.targets._http import fail, json_object, preflight, request_json
from importer.targets.base import Receipt, TaskState, public_url

__all__ = ["EverOSTarget"]



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
        what = f"{method} {path}"
        answer = await request_json(
            self._session, method, url, body=body, headers=self._headers, what=what
        )
        if 200 <= answer.status < 300:
            if not answer.raw.strip():
                return answer.status, {}  # servers that store synchronously may answer empty
            data = json_object(answer, url)
            return answer.status, (data["data"] or {}) if "data" in data else data
        if answer.status == 404 and missing_ok:
            return answer.status, None
        raise fail(answer, what, auth_hint="check --api-key or EVEROS_API_KEY")


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


