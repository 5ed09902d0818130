"""EverCore's single-message API (self-hosted): one message per request, background work by id.

    POST {api_url}/conversation-meta   the conversation's scene, participants and tags (an upsert)
    POST {api_url}                     one message → 200 stored, or 202 {request_id} when the
                                       server moved the work to the background (after ~5 s)
    GET  {origin}/api/v1/stats/request?request_id=R   start | success | failed; kept an hour

The server keeps no message ids: a message sent twice is stored twice, so messages go strictly
one at a time and the sender waits for each background request before the next.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import aiohttp

from importer.errors import RetriableTargetError
from importer.models import Chunk, Conversation, Message
from importer.targets._http import Answer, fail, json_object, preflight, request_json
from importer.targets.base import Receipt, TaskState, public_url

__all__ = ["EverCoreTarget"]

_AUTH_HINT = "check --api-key (self-hosted EverCore servers usually need none)"
#: ConversationFormat's version, sent when the source did not say
_META_VERSION = "1.0.0"
#: the biggest single-message body we send; one message travels alone whatever its size
_MAX_REQUEST_BYTES = 1_000_000
_OFFSET = re.compile(r"(?:UTC|GMT)?([+-])(\d{1,2}):?(\d{2})?", re.IGNORECASE)


class EverCoreTarget:
    """Adapter for ``POST {api_url}`` one message at a time (``/api/v0/memories`` and older
    ``/api/v1/memories`` servers), with conversation metadata and background-request polling."""

    name = "evercore"
    max_chunk_messages = 1
    max_request_bytes = _MAX_REQUEST_BYTES

    def __init__(
        self, api_url: str, api_key: str | None = None, *, identity: str | None = None
    ) -> None:
        # credentials in the URL are not how this API authenticates: never sent, never stored
        self.api_url = public_url(api_url)
        self.identity = identity or f"{self.name}:{self.api_url}"
        parts = urlsplit(self.api_url)
        self._origin = urlunsplit((parts.scheme, parts.netloc, "", "", ""))
        self._status_url = self._origin + "/api/v1/stats/request"
        self._headers = {"Content-Type": "application/json"}
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"
        self._session: aiohttp.ClientSession | None = None

    def bind(self, session: aiohttp.ClientSession) -> None:
        self._session = session

    async def prepare(self) -> None:
        """Preflight: a wrong URL fails in seconds, once, clearly (EverCore serves ``/health``)."""
        await preflight(self._session, self._origin + "/health", "EverCore")

    # -- the API -------------------------------------------------------------------------------

    async def setup(self, conversation: Conversation) -> None:
        """Save the conversation's metadata; a refusal is a ``RejectedError`` (worth a warning,
        not the messages)."""
        await self._post(f"{self.api_url}/conversation-meta", _meta_body(conversation), "meta")

    async def add(self, conversation: Conversation, chunk: Chunk) -> Receipt:
        if len(chunk.messages) != 1:
            # a resend of a many-message chunk would store its first messages twice
            raise ValueError(
                f"EverCore takes one message per request, got a chunk of {len(chunk.messages)}"
                f" (max_chunk_messages is {self.max_chunk_messages})"
            )
        body = _message_body(conversation, chunk.messages[0])
        answer = await self._post(self.api_url, body, f"message {chunk.messages[0].message_id}")
        if answer.status == 202:
            request_id = answer.body.get("request_id")
            if request_id:
                return Receipt(task_id=str(request_id))
        return Receipt(task_id=None)

    async def task_status(self, task_id: str) -> TaskState:
        assert self._session is not None, "bind() a session first"
        what = f"GET request status {task_id}"
        answer = await request_json(
            self._session,
            "GET",
            self._status_url,
            headers=self._headers,
            params={"request_id": task_id},
            what=what,
        )
        if not 200 <= answer.status < 300:
            raise fail(answer, what, auth_hint=_AUTH_HINT)
        body = json_object(answer, self._status_url)
        if body.get("success") is False:
            # the server could not look the status up (its store is down): ask again later
            raise RetriableTargetError(f"{what}: {body.get('message') or 'lookup failed'}")
        if not body.get("found"):
            return "expired"  # status is kept about an hour
        data = body.get("data")
        state = str(data.get("status", "")).lower() if isinstance(data, dict) else ""
        if state == "success":
            return "success"
        if state == "failed":
            return "failed"
        return "processing"  # "start", or anything newer we do not know

    async def flush(self, conversation: Conversation) -> None:
        # The single-message API has no flush: the server decides memory boundaries as messages
        # arrive (``status_info: extracted``), so there is nothing to trigger at the end.
        return None

    # -- one attempt ---------------------------------------------------------------------------

    async def _post(self, url: str, body: dict[str, Any], what: str) -> Answer:
        assert self._session is not None, "bind() a session first"
        label = f"POST {urlsplit(url).path} ({what})"
        answer = await request_json(
            self._session, "POST", url, body=body, headers=self._headers, what=label
        )
        if 200 <= answer.status < 300:
            json_object(answer, url)  # a success that is not the API's JSON proves nothing
            return answer
        raise fail(answer, label, auth_hint=_AUTH_HINT)


# -- bodies ------------------------------------------------------------------------------------


def group_id_of(conversation: Conversation) -> str:
    """The server's ``group_id``: the group id; for a personal conversation its session (a solo
    file's own ``session_meta.group_id``, as seed 000's script sends it), else the user id."""
    if conversation.kind == "group":
        return conversation.conversation_id
    return conversation.session_id or conversation.conversation_id


def _meta_body(conversation: Conversation) -> dict[str, Any]:
    meta = conversation.source_meta
    first = conversation.messages[0] if conversation.messages else None
    created_at = meta.get("created_at")
    if not isinstance(created_at, str) or not created_at:
        zone = _zone(meta)
        created_at = _iso(first.timestamp, zone) if first else datetime.now(UTC).isoformat()
    zone_name = meta.get("default_timezone")
    return {
        "version": str(meta.get("version") or _META_VERSION),
        # the kind already holds the scene the converter chose (and any --scene override);
        # the server only knows solo and team
        "scene": "team" if conversation.kind == "group" else "solo",
        "scene_desc": meta.get("scene_desc") if isinstance(meta.get("scene_desc"), dict) else {},
        "name": conversation.name or group_id_of(conversation),
        "description": conversation.description or "",
        "group_id": group_id_of(conversation),
        "created_at": created_at,
        "default_timezone": zone_name if isinstance(zone_name, str) and zone_name else "UTC",
        "user_details": _user_details(conversation),
        "tags": [t for t in meta.get("tags") or [] if isinstance(t, str)]
        if isinstance(meta.get("tags"), list)
        else [],
    }


def _user_details(conversation: Conversation) -> dict[str, dict[str, Any]]:
    """The source's user details where it has them; the server needs ``full_name`` and ``role``
    for each user, so those are filled in from the participants and the messages."""
    roles = {m.sender_id: m.role for m in conversation.messages}
    given = conversation.source_meta.get("user_details")
    details: dict[str, dict[str, Any]] = {}
    if isinstance(given, dict):
        details = {str(k): dict(v) for k, v in given.items() if isinstance(v, dict)}
    for uid in [*conversation.participants, *roles]:
        details.setdefault(uid, {})
    for uid, entry in details.items():
        name = entry.get("full_name")
        if not isinstance(name, str) or not name.strip():
            entry["full_name"] = conversation.participants.get(uid) or uid
        if not isinstance(entry.get("role"), str):
            entry["role"] = roles.get(uid, "user")
    return details


def _message_body(conversation: Conversation, message: Message) -> dict[str, Any]:
    body: dict[str, Any] = {
        "message_id": message.message_id,
        "create_time": _iso(message.timestamp, _zone(conversation.source_meta)),
        "sender": message.sender_id,
        "sender_name": message.sender_name
        or conversation.participants.get(message.sender_id)
        or message.sender_id,
        "content": message.content,
        "refer_list": [message.reply_to] if message.reply_to else [],
        "group_id": group_id_of(conversation),
        "role": message.role,
    }
    if conversation.name:
        body["group_name"] = conversation.name
    return body


def _zone(meta: dict[str, Any]) -> tzinfo:
    """The conversation's zone when the source names one (IANA name or ``+08:00``), else UTC."""
    name = meta.get("default_timezone")
    if not isinstance(name, str) or not name.strip() or name.strip().upper() in {"UTC", "Z"}:
        return UTC
    offset = _OFFSET.fullmatch(name.strip())
    if offset:
        sign, hours, minutes = offset.groups()
        delta = timedelta(hours=int(hours), minutes=int(minutes or 0))
        return timezone(-delta if sign == "-" else delta) if delta < timedelta(hours=24) else UTC
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def _iso(millis: int, zone: tzinfo) -> str:
    """ISO 8601 with the zone's offset, milliseconds only when there are some."""
    moment = datetime.fromtimestamp(millis / 1000, tz=UTC).astimezone(zone)
    spec = "milliseconds" if millis % 1000 else "seconds"
    return moment.isoformat(timespec=spec)
