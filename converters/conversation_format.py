"""Reads EverCore ConversationFormat files (``{version, session_meta, conversation_list}``).

Accepted beyond the published spec, because real files do it:

- ``create_time`` as ISO 8601 (``Z``, offsets, fractional seconds; a time without an offset is
  read in ``session_meta.timezone``, else ``session_meta.default_timezone``, else UTC), or as a Unix
  epoch number in seconds or milliseconds (told apart by magnitude: 1e11 and above is ms).
- ``refer_list``: a list of message ids, or of objects holding ``message_id`` (or ``id``); the first
  becomes ``reply_to``. An empty list means no reply; any other shape is ignored with a warning.
- A message without ``message_id`` gets a deterministic derived id (see ``IdDeriver``).
- ``scene`` other than ``solo``/``team`` (files use descriptors like ``work``) is read as team.

Places in problem messages count messages from 0, in file order (``conversation_list[0]``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from datetime import UTC, tzinfo
from pathlib import Path
from typing import Any, Literal

from converters import register
from converters._common import (
    IdDeriver,
    content_field,
    epoch_to_millis,
    has_json_key,
    iso_to_millis,
    message_id_field,
    optional_text_field,
    resolve_timezone,
    show,
    slug,
)
from converters.base import RESERVED_ID_PREFIX, Converter, load_json, peek_json
from importer.errors import InputError
from importer.models import Conversation, Message, Role

__all__ = ["ConversationFormatConverter"]

Scene = Literal["solo", "team"]
Users = Mapping[str, Mapping[str, Any]]


@register
class ConversationFormatConverter(Converter):
    """EverCore ConversationFormat: one conversation per file; ``scene`` picks group or personal."""

    name = "conversation-format"
    description = "EverCore ConversationFormat JSON (session_meta + conversation_list)"

    @classmethod
    def detect(cls, path: Path) -> bool:
        head = peek_json(path)
        return (
            head is not None
            and head.startswith("{")
            and has_json_key(head, "conversation_list", "session_meta")
        )

    def conversations(self, path: Path) -> Iterator[Conversation]:
        data = load_json(path)
        meta, users, items = _shape(path, data)
        zone = self._zone(path, meta)
        header = self._header(path, meta, users, items)
        ids = IdDeriver(header.conversation_id)
        messages = [
            message
            for index, item in enumerate(items, 1)  # positions count from 1, as people do
            if (message := self._message(path, index, item, users, zone, ids)) is not None
        ]
        source_meta = _source_meta(data, meta)
        yield header.model_copy(update={"messages": messages, "source_meta": source_meta})

    # -- session_meta ----------------------------------------------------------------------

    def _zone(self, path: Path, meta: Mapping[str, Any]) -> tzinfo:
        """Zone of times without offset: ``timezone``, else ``default_timezone``, else UTC."""
        for field in ("timezone", "default_timezone"):
            value = meta.get(field)
            if value is None or value == "":
                continue
            if not isinstance(value, str):
                self.error(path, "session_meta", f"field '{field}' must be a time zone name")
                break
            try:
                return resolve_timezone(value)
            except ValueError as exc:
                self.error(path, "session_meta", f"field '{field}': {exc}")
                break
        return UTC

    def _scene(self, path: Path, meta: Mapping[str, Any]) -> Scene:
        if self.options.scene is not None:
            return self.options.scene
        raw = meta.get("scene")
        if raw is None:
            return "team"
        if isinstance(raw, str) and raw.strip().lower() == "solo":
            return "solo"
        if not (isinstance(raw, str) and raw.strip().lower() == "team"):
            self.warning(
                path,
                "session_meta",
                f"field 'scene' is {show(raw)}, not 'solo' or 'team'; imported as team"
                " (choose with --scene)",
            )
        return "team"

    def _header(
        self, path: Path, meta: Mapping[str, Any], users: Users, items: list[Any]
    ) -> Conversation:
        """The conversation without its messages: kind, id, name, participants."""
        group_id = self._text(path, meta, "group_id")
        if self._scene(path, meta) == "team":
            kind: Literal["group", "personal"] = "group"
            conversation_id, session_id = group_id or slug(path.stem), None
        else:
            kind = "personal"
            conversation_id, session_id = self._solo_user(path, users, items), group_id
        if conversation_id.startswith(RESERVED_ID_PREFIX):
            self.error(
                path,
                "session_meta",
                f"conversation id {conversation_id!r} starts with '{RESERVED_ID_PREFIX}',"
                " which the server reserves",
            )
        return Conversation(
            kind=kind,
            conversation_id=conversation_id,
            session_id=session_id,
            name=self._text(path, meta, "name"),
            description=self._text(path, meta, "description"),
            participants={uid: _full_name(details) or uid for uid, details in users.items()},
            source=self.name,
            origin=str(path),
        )

    def _text(self, path: Path, meta: Mapping[str, Any], field: str) -> str | None:
        value = meta.get(field)
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        if isinstance(value, str):
            return value
        self.error(path, "session_meta", f"field '{field}' must be a string, not {show(value)}")
        return None

    def _solo_user(self, path: Path, users: Users, items: list[Any]) -> str:
        """The user of a personal conversation: the first ``role: user``, else who talks most."""
        humans = Counter(
            item["sender"]
            for item in items
            if isinstance(item, dict)
            and isinstance(item.get("sender"), str)
            and _role(users.get(item["sender"])) != "assistant"
        )
        declared = [uid for uid, details in users.items() if _declared_role(details) == "user"]
        if declared:
            user = declared[0]
        elif humans:
            user = humans.most_common(1)[0][0]
        else:
            others = [uid for uid, details in users.items() if _role(details) != "assistant"]
            if not others:
                raise InputError(
                    str(path),
                    "scene solo needs a user, but every entry is an assistant",
                    where="session_meta.user_details",
                )
            user = others[0]
        if len(humans) > 1:
            names = ", ".join(sorted(humans))
            self.warning(
                path,
                "session_meta",
                f"scene solo but {len(humans)} people write ({names}); the personal API files"
                f" every user message under {user!r} (use --scene team to keep them apart)",
            )
        return user

    # -- conversation_list -----------------------------------------------------------------

    def _message(
        self,
        path: Path,
        index: int,
        item: Any,
        users: Users,
        zone: tzinfo,
        ids: IdDeriver,
    ) -> Message | None:
        """One entry of ``conversation_list``, or None after reporting what is wrong with it."""
        if not isinstance(item, dict):
            self.error(path, f"message {index}", f"expected an object, got {show(item)}")
            return None
        problems: list[str] = []
        message_id = message_id_field(item, problems)
        sender = _sender(item, users, problems)
        timestamp = _create_time(item, zone, problems)
        content = content_field(item, problems)
        sender_name = optional_text_field(item, "sender_name", problems)
        reply_to, refer_problem = _refer(item.get("refer_list"))
        where = f"message {index} (id {message_id})" if message_id else f"message {index}"
        if refer_problem:
            self.warning(path, where, refer_problem)
        if problems or sender is None or timestamp is None or content is None:
            for problem in problems:
                self.error(path, where, problem)
            return None
        details = users[sender]
        return Message(
            message_id=message_id or ids.derive(timestamp, sender, content),
            timestamp=timestamp,
            sender_id=sender,
            sender_name=sender_name or _full_name(details) or sender,
            role=_role(details),
            content=content,
            reply_to=reply_to,
        )


# -- file shape ----------------------------------------------------------------------------


#: session_meta fields passed on as they are, for targets that take them (EverCore's
#: conversation-meta); message text never goes here
_PASSED_ON = ("scene", "scene_desc", "default_timezone", "user_details", "tags", "created_at")


def _source_meta(data: Mapping[str, Any], meta: Mapping[str, Any]) -> dict[str, Any]:
    """What the file says about the conversation beyond the canonical fields."""
    kept = {field: meta[field] for field in _PASSED_ON if meta.get(field) is not None}
    zone = meta.get("timezone")
    if "default_timezone" not in kept and isinstance(zone, str) and zone:
        kept["default_timezone"] = zone  # the batch guide's examples spell it ``timezone``
    if isinstance(data.get("version"), str):
        kept["version"] = data["version"]
    return kept


def _shape(path: Path, data: Any) -> tuple[Mapping[str, Any], Users, list[Any]]:
    """The three parts every file needs, or an ``InputError`` naming the missing field."""

    def fail(where: str, reason: str) -> InputError:
        return InputError(str(path), reason, where=where)

    if not isinstance(data, dict):
        raise fail(
            "top level", "expected a JSON object with 'session_meta' and 'conversation_list'"
        )
    meta = data.get("session_meta")
    if meta is None:
        raise fail("top level", "field 'session_meta' is missing")
    if not isinstance(meta, dict):
        raise fail("top level", "field 'session_meta' must be an object")
    users = meta.get("user_details")
    if users is None:
        raise fail("session_meta", "field 'user_details' is missing")
    if not isinstance(users, dict):
        raise fail("session_meta", "field 'user_details' must be an object of user id -> details")
    for uid, details in users.items():
        if not isinstance(details, dict):
            raise fail(
                f"session_meta.user_details.{uid}",
                'expected an object such as {"full_name": "Alice"}',
            )
    items = data.get("conversation_list")
    if items is None:
        raise fail("top level", "field 'conversation_list' is missing")
    if not isinstance(items, list):
        raise fail("top level", "field 'conversation_list' must be a list of messages")
    return meta, users, items


def _declared_role(details: Mapping[str, Any] | None) -> str:
    """``role`` as written, lower case ("" when absent); free text like "Engineer" is allowed."""
    role = (details or {}).get("role")
    return role.strip().lower() if isinstance(role, str) else ""


def _role(details: Mapping[str, Any] | None) -> Role:
    return "assistant" if _declared_role(details) == "assistant" else "user"


def _full_name(details: Mapping[str, Any]) -> str | None:
    name = details.get("full_name")
    return name if isinstance(name, str) and name.strip() else None


# -- message fields: each returns the value, or None and appends a one-line problem ----------


def _sender(item: Mapping[str, Any], users: Users, problems: list[str]) -> str | None:
    value = item.get("sender")
    if value is None:
        problems.append("field 'sender' is missing")
    elif not isinstance(value, str):
        problems.append(f"field 'sender' must be a user id string, not {show(value)}")
    elif value not in users:
        problems.append(f"field 'sender': {value!r} is not in session_meta.user_details")
    else:
        return value
    return None


def _create_time(item: Mapping[str, Any], zone: tzinfo, problems: list[str]) -> int | None:
    value = item.get("create_time")
    try:
        if value is None:
            problems.append("field 'create_time' is missing")
        elif isinstance(value, str):
            return iso_to_millis(value, zone)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            return epoch_to_millis(value)
        else:
            problems.append(f"field 'create_time' must be an ISO 8601 time, not {show(value)}")
    except ValueError as exc:
        problems.append(f"field 'create_time': {exc}")
    return None


def _refer(value: Any) -> tuple[str | None, str | None]:
    """``reply_to`` from ``refer_list``, and a warning when its shape is not understood."""
    if value is None or value == []:
        return None, None
    first = value[0] if isinstance(value, list) else None
    if isinstance(first, dict):
        first = first.get("message_id", first.get("id"))
    if isinstance(first, int) and not isinstance(first, bool):
        first = str(first)
    if isinstance(first, str) and first:
        return first, None
    return None, (
        f"field 'refer_list': no message id in {show(value)}; reply link ignored"
        " (expected a list of ids or of objects with 'message_id')"
    )
