"""Reads EverCore ConversationFormat files (``{version, session_meta, conversation_list}``).

Accepted beyond the published spec, because real files do it:

- ``create_time`` as ISO 8601 (``Z``, offsets, fractional seconds; a time without an offset is
  read in ``session_meta.timezone``, else ``session_meta.default_timezone``, else UTC), or as a Unix
  epoch number in seconds or milliseconds (told apart by magnitude: 1e11 and above is ms).
- ``refer_list``: a list of message ids, or of objects holding ``message_id`` (or ``id``); the first
  becomes ``reply_to``. An empty list means no reply; any other shape is ignored with a warning.
- A message without ``message_id`` gets a deterministic derived id (see ``IdDeriver``).
- ``scene`` other than ``solo``/``team`` (files use descriptors like ``work``) is read as team.
- ``session_meta`` after ``conversation_list``.

The file is streamed (``converters.json_stream``): ``session_meta`` is read first, then the
messages one at a time, so a conversation of any length is read in bounded memory. One pass
does it when ``session_meta`` comes first and the end of the file shows nothing that could
change it; otherwise a first pass passes over the messages to find it. A solo file that declares
no ``role: user`` is filed under the person who writes most: their count takes a quick pass of
its own.

Places in problem messages count messages from 1, in file order (``message 1``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
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
from converters.base import RESERVED_ID_PREFIX, ConversationStream, Converter, peek_json
from converters.json_stream import Events, JsonFile, LateMembers, Members
from importer.errors import InputError
from importer.models import Conversation, Message, Role

__all__ = ["ConversationFormatConverter"]

Scene = Literal["solo", "team"]
Users = Mapping[str, Mapping[str, Any]]

#: the members besides the messages; any other member is passed over unread
_FIELDS = frozenset({"version", "session_meta"})
#: members that, written after the messages, would change what the messages were read as
_LATE = LateMembers("session_meta", "conversation_list", "version")
_LIST = "conversation_list"


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

    def conversations(self, path: Path) -> Iterator[ConversationStream]:
        file = JsonFile(path)
        with file.events() as leader:
            found = Members()
            one_pass = self._members(file, leader, found)
            meta, users = _shape(path, found)
            zone = self._zone(path, meta)
            user = self._solo_user(file, users) if self._scene(path, meta) == "solo" else None
            header = self._header(path, meta, users, user)
            reader = _Messages(self, path, header, users, zone, solo=user is not None)

            def messages() -> Iterator[Message]:
                with file.items(f"{_LIST}.item") as (items, position):
                    last_chunk = 0
                    for message in reader.read(items):
                        last_chunk = position.chunk_start
                        yield message
                if one_pass and not _LATE.none_after(file, last_chunk):
                    # a member after the messages, too far from the end to be searched first
                    leader.skip((_LIST, "start_array", None))
                    leader.members("", _LIST, _FIELDS, found, stop=False)
                    if found.repeated:
                        self.error(path, "top level", f"field '{found.repeated[0]}' appears twice")

            yield ConversationStream(header, messages(), lambda: self._complete(reader, found))

    def _members(self, file: JsonFile, leader: Events, found: Members) -> bool:
        """Read every member but the messages into ``found``: before them when nothing after
        them can change how they are read (True: the messages are next), else by passing over
        them."""
        if leader.next()[1] != "start_map":
            raise InputError(
                str(file.path),
                "expected a JSON object with 'session_meta' and 'conversation_list'",
                where="top level",
            )
        if not leader.members("", _LIST, _FIELDS, found, stop=True):
            return False
        if (
            "session_meta" in found.values
            and not found.repeated
            and _LATE.none_in_tail(file, leader.position.offset)
        ):
            return True
        leader.skip((_LIST, "start_array", None))
        leader.members("", _LIST, _FIELDS, found, stop=False)
        return False

    def _complete(self, reader: _Messages, found: Members) -> Conversation:
        """The header once every message was read: what the file says beyond the canonical
        fields, and a warning when a solo file has several people writing."""
        if reader.user is not None and len(reader.humans) > 1:
            names = ", ".join(sorted(reader.humans))
            self.warning(
                reader.path,
                "session_meta",
                f"scene solo but {len(reader.humans)} people write ({names}); the personal API"
                f" files every user message under {reader.user!r} (use --scene team to keep"
                " them apart)",
            )
        meta = found.values["session_meta"]
        return reader.header.model_copy(update={"source_meta": _source_meta(found.values, meta)})

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
        self, path: Path, meta: Mapping[str, Any], users: Users, user: str | None
    ) -> Conversation:
        """The conversation without its messages: kind, id, name, participants."""
        group_id = self._text(path, meta, "group_id")
        if user is None:
            kind: Literal["group", "personal"] = "group"
            conversation_id, session_id = group_id or slug(path.stem), None
        else:
            kind = "personal"
            conversation_id, session_id = user, group_id
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

    def _solo_user(self, file: JsonFile, users: Users) -> str:
        """The user of a personal conversation: the first ``role: user``, else who talks most
        (counted in a pass of its own), else the first who is not an assistant."""
        declared = [uid for uid, details in users.items() if _declared_role(details) == "user"]
        if declared:
            return declared[0]
        with file.items(f"{_LIST}.item.sender") as (senders, _):
            counts = Counter(sender for sender in senders if isinstance(sender, str))
        humans = Counter(
            {uid: n for uid, n in counts.items() if _role(users.get(uid)) != "assistant"}
        )
        if humans:
            return humans.most_common(1)[0][0]
        others = [uid for uid, details in users.items() if _role(details) != "assistant"]
        if not others:
            raise InputError(
                str(file.path),
                "scene solo needs a user, but every entry is an assistant",
                where="session_meta.user_details",
            )
        return others[0]


class _Messages:
    """Turns the entries of ``conversation_list`` into ``Message`` objects."""

    def __init__(
        self,
        converter: ConversationFormatConverter,
        path: Path,
        header: Conversation,
        users: Users,
        zone: tzinfo,
        *,
        solo: bool,
    ) -> None:
        self.converter = converter
        self.path = path
        self.header = header
        self.users = users
        self.zone = zone
        self.solo = solo
        #: the user a solo file is filed under
        self.user = header.conversation_id if solo else None
        self.ids = IdDeriver(header.conversation_id)
        self.display = {uid: _full_name(details) or uid for uid, details in users.items()}
        self.roles = {uid: _role(details) for uid, details in users.items()}
        #: who writes, not as an assistant (a solo file files them all under one user)
        self.humans: set[str] = set()

    def read(self, items: Iterable[Any]) -> Iterator[Message]:
        roles = self.roles
        for index, item in enumerate(items, 1):  # positions count from 1, as people do
            if type(item) is dict:
                if self.solo:
                    sender = item.get("sender")
                    if isinstance(sender, str) and roles.get(sender) != "assistant":
                        self.humans.add(sender)
                message = self._plain(item)
                if message is not None:
                    yield message
                    continue
            message = self._checked(index, item)
            if message is not None:
                yield message

    def _plain(self, item: dict[str, Any]) -> Message | None:
        """The message when every field is in its usual form; None sends it to ``_checked``."""
        get = item.get
        sender = get("sender")
        content = get("content")
        created = get("create_time")
        if (
            type(sender) is not str
            or sender not in self.roles
            or type(content) is not str
            or not content
            or content.isspace()
        ):
            return None
        try:
            if type(created) is str:
                timestamp = iso_to_millis(created, self.zone)
            elif type(created) is int or type(created) is float:
                timestamp = epoch_to_millis(created)
            else:
                return None
        except ValueError:
            return None
        name = get("sender_name")
        if name is not None:
            if type(name) is not str:
                return None
            name = name.strip() or None
        reply_to = None
        refer = get("refer_list")
        if refer is not None and refer != []:
            reply_to, problem = _refer(refer)
            if problem:
                return None
        message_id = get("message_id")
        if type(message_id) is str and message_id:
            if message_id.startswith(RESERVED_ID_PREFIX):
                return None
        elif message_id is None or message_id == "":
            message_id = self.ids.derive(timestamp, sender, content)
        else:
            return None
        # from a dict: pydantic then skips the keyword-argument layer, half the cost
        return Message.model_validate(
            {
                "message_id": message_id,
                "timestamp": timestamp,
                "sender_id": sender,
                "sender_name": name or self.display[sender],
                "role": self.roles[sender],
                "content": content,
                "reply_to": reply_to,
            }
        )

    def _checked(self, index: int, item: Any) -> Message | None:
        """One entry field by field, or None after reporting what is wrong with it."""
        path, converter = self.path, self.converter
        if not isinstance(item, dict):
            converter.error(path, f"message {index}", f"expected an object, got {show(item)}")
            return None
        problems: list[str] = []
        message_id = message_id_field(item, problems)
        sender = _sender(item, self.users, problems)
        timestamp = _create_time(item, self.zone, problems)
        content = content_field(item, problems)
        sender_name = optional_text_field(item, "sender_name", problems)
        reply_to, refer_problem = _refer(item.get("refer_list"))
        where = f"message {index} (id {message_id})" if message_id else f"message {index}"
        if refer_problem:
            converter.warning(path, where, refer_problem)
        if problems or sender is None or timestamp is None or content is None:
            for problem in problems:
                converter.error(path, where, problem)
            return None
        return Message(
            message_id=message_id or self.ids.derive(timestamp, sender, content),
            timestamp=timestamp,
            sender_id=sender,
            sender_name=sender_name or self.display[sender],
            role=self.roles[sender],
            content=content,
            reply_to=reply_to,
        )


# -- file shape ----------------------------------------------------------------------------


#: session_meta fields passed on as they are, for targets that take them (EverCore's
#: conversation-meta); message text never goes here
_PASSED_ON = ("scene", "scene_desc", "default_timezone", "user_details", "tags", "created_at")


def _source_meta(top: Mapping[str, Any], meta: Mapping[str, Any]) -> dict[str, Any]:
    """What the file says about the conversation beyond the canonical fields."""
    kept = {field: meta[field] for field in _PASSED_ON if meta.get(field) is not None}
    zone = meta.get("timezone")
    if "default_timezone" not in kept and isinstance(zone, str) and zone:
        kept["default_timezone"] = zone  # the batch guide's examples spell it ``timezone``
    if isinstance(top.get("version"), str):
        kept["version"] = top["version"]
    return kept


def _shape(path: Path, found: Members) -> tuple[Mapping[str, Any], Users]:
    """``session_meta`` and its users, or an ``InputError`` naming what is missing; the
    messages must be a list."""

    def fail(where: str, reason: str) -> InputError:
        return InputError(str(path), reason, where=where)

    if found.repeated:
        raise fail("top level", f"field '{found.repeated[0]}' appears twice")
    meta = found.values.get("session_meta")
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
    if found.list_event in (None, "null"):
        raise fail("top level", "field 'conversation_list' is missing")
    if found.list_event != "start_array":
        raise fail("top level", "field 'conversation_list' must be a list of messages")
    return meta, users


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
