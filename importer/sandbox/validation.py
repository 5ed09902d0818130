"""Request-body validation for the sandbox, with the EverOS v1 service's rules and 422 reasons."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from importer.sandbox.store import MessageRow

__all__ = [
    "MAX_MESSAGES",
    "AddRequest",
    "FlushRequest",
    "GroupRequest",
    "InvalidRequest",
    "parse_add",
    "parse_flush",
    "parse_group",
]

MAX_MESSAGES = 500
_RESERVED_PREFIX = "gen_"
_ROLES = ("user", "assistant")


class InvalidRequest(Exception):
    """A body the service would answer with 422; the message names the field (and message index)."""


@dataclass(frozen=True, slots=True)
class GroupRequest:
    group_id: str
    name: str | None
    description: str | None


@dataclass(frozen=True, slots=True)
class AddRequest:
    kind: Literal["group", "personal"]
    conversation_id: str
    session_id: str | None
    async_mode: bool
    group_meta: GroupRequest | None
    rows: list[MessageRow]


@dataclass(frozen=True, slots=True)
class FlushRequest:
    kind: Literal["group", "personal"]
    conversation_id: str
    session_id: str | None


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _object(body: Any, where: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise InvalidRequest(f"{where}: must be a JSON object, got {_type_name(body)}")
    return body


def _string(obj: dict[str, Any], field: str, where: str, *, required: bool) -> str | None:
    value = obj.get(field)
    if value is None:
        if required:
            raise InvalidRequest(f"{where}{field}: field required")
        return None
    if not isinstance(value, str):
        raise InvalidRequest(f"{where}{field}: must be a string, got {_type_name(value)}")
    return value


def _identifier(obj: dict[str, Any], field: str, where: str, *, required: bool) -> str | None:
    value = _string(obj, field, where, required=required)
    if value is None:
        return None
    if not value:
        raise InvalidRequest(f"{where}{field}: must not be empty")
    if value.startswith(_RESERVED_PREFIX):
        raise InvalidRequest(
            f"{where}{field}: must not start with {_RESERVED_PREFIX!r} (reserved by the server)"
        )
    return value


def _required_id(obj: dict[str, Any], field: str, where: str = "") -> str:
    value = _identifier(obj, field, where, required=True)
    assert value is not None
    return value


def _content(value: Any, where: str) -> str:
    if isinstance(value, str):
        text = value
    elif isinstance(value, list):
        parts = []
        for i, item in enumerate(value):
            item = _object(item, f"{where}content[{i}]")
            if item.get("type") != "text":
                raise InvalidRequest(
                    f"{where}content[{i}].type: only 'text' is supported, got {item.get('type')!r}"
                )
            parts.append(_string(item, "text", f"{where}content[{i}].", required=True) or "")
        text = "\n".join(parts)
    elif value is None:
        raise InvalidRequest(f"{where}content: field required")
    else:
        raise InvalidRequest(
            f"{where}content: must be a string or a list of content items,"
            f" got {_type_name(value)}"
        )
    if not text:
        raise InvalidRequest(f"{where}content: must not be empty")
    return text


def _timestamp(value: Any, where: str) -> int:
    if value is None:
        raise InvalidRequest(f"{where}timestamp: field required")
    # bool is an int subclass, and 1.7e12 or "1700000000000" are not what the API takes
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidRequest(
            f"{where}timestamp: must be an integer (Unix milliseconds), got {_type_name(value)}"
        )
    if value < 0:
        raise InvalidRequest(f"{where}timestamp: must not be negative, got {value}")
    return value


def _message(raw: Any, index: int, kind: str, user_id: str) -> MessageRow:
    where = f"messages[{index}]."
    msg = _object(raw, f"messages[{index}]")
    role = msg.get("role")
    if role is None:
        raise InvalidRequest(f"{where}role: field required")
    if role not in _ROLES:
        raise InvalidRequest(f"{where}role: must be 'user' or 'assistant', got {role!r}")
    timestamp = _timestamp(msg.get("timestamp"), where)
    content = _content(msg.get("content"), where)
    sender_id = _identifier(msg, "sender_id", where, required=kind == "group")
    if kind == "personal" and role == "user":
        sender_id = user_id  # the service files a personal user message under the owner
    return MessageRow(
        message_id=_identifier(msg, "message_id", where, required=False),
        timestamp=timestamp,
        sender_id=sender_id,
        sender_name=_string(msg, "sender_name", where, required=False),
        role=role,
        content=content,
    )


def _messages(body: dict[str, Any], kind: str, owner: str) -> list[MessageRow]:
    raw = body.get("messages")
    if raw is None:
        raise InvalidRequest("messages: field required")
    if not isinstance(raw, list):
        raise InvalidRequest(f"messages: must be a list, got {_type_name(raw)}")
    if not raw:
        raise InvalidRequest("messages: must contain at least 1 message")
    if len(raw) > MAX_MESSAGES:
        raise InvalidRequest(f"messages: at most {MAX_MESSAGES} messages, got {len(raw)}")
    return [_message(item, i, kind, owner) for i, item in enumerate(raw)]


def parse_group(body: Any, where: str = "") -> GroupRequest:
    """``POST /api/v1/groups`` body, or an add request's ``group_meta`` (with ``group_id``)."""
    obj = _object(body, where.rstrip(".") or "body")
    return GroupRequest(
        group_id=_required_id(obj, "group_id", where),
        name=_string(obj, "name", where, required=False),
        description=_string(obj, "description", where, required=False),
    )


def parse_add(body: Any, kind: Literal["group", "personal"]) -> AddRequest:
    """A memories add body (group or personal); raises ``InvalidRequest``."""
    obj = _object(body, "body")
    owner_field = "group_id" if kind == "group" else "user_id"
    owner = _required_id(obj, owner_field)
    session_id = _string(obj, "session_id", "", required=False) if kind == "personal" else None
    async_mode = obj.get("async_mode", False)
    if async_mode is None:
        async_mode = False
    if not isinstance(async_mode, bool):
        raise InvalidRequest(f"async_mode: must be a boolean, got {_type_name(async_mode)}")
    meta = None
    if kind == "group" and obj.get("group_meta") is not None:
        raw_meta = _object(obj["group_meta"], "group_meta")
        meta = parse_group({**raw_meta, "group_id": owner}, "group_meta.")
    rows = _messages(obj, kind, owner)
    return AddRequest(kind, owner, session_id or None, async_mode, meta, rows)


def parse_flush(body: Any, kind: Literal["group", "personal"]) -> FlushRequest:
    obj = _object(body, "body")
    owner = _required_id(obj, "group_id" if kind == "group" else "user_id")
    session_id = _string(obj, "session_id", "", required=False) if kind == "personal" else None
    return FlushRequest(kind, owner, session_id or None)
