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

The file is streamed (``converters.json_stream``): ``session_meta`` is read first, before the
messages or from the end of the file after them (``converters.json_tail``), then the messages
one at a time, so a conversation of any length is read in bounded memory and in one pass; when
the end of the file is not plain enough, a first pass goes over the messages to find it. A solo
file that declares no ``role: user`` is filed under the person who writes most: their count
takes a quick pass of its own.

Places in problem messages count messages from 1, in file order (``message 1``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from datetime import UTC, tzinfo
from pathlib import Path
from typing import Any, Literal, NamedTuple

from converters import register
from converters._common import (
    has_json_key,
    resolve_timezone,
    show,
    slug,
)
from converters.base import RESERVED_ID_PREFIX, ConversationStream, Converter, peek_json
from converters.conversation_format_messages import (
    MessageReader,
    Users,
    declared_role,
    full_name,
    user_role,
)
from converters.json_stream import Events, JsonFile, Members
from converters.json_tail import Tail
from importer.errors import InputError
from importer.models import Conversation, Message

__all__ = ["ConversationFormatConverter"]

Scene = Literal["solo", "team"]

#: the members besides the messages; any other member is passed over unread
_FIELDS = frozenset({"version", "session_meta"})
_LIST = "conversation_list"


class _Guess(NamedTuple):
    """Members taken from the end of the file, and those read before the messages alone."""

    tail: Tail
    before: Members


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
            found, guess = self._members(file, leader)
            meta, users = _shape(path, found)
            zone = self._zone(path, meta)
            user = self._solo_user(file, users) if self._scene(path, meta) == "solo" else None
            header = self._header(path, meta, users, user)
            reader = MessageReader(self, path, header, users, zone, solo=user is not None)

            def messages() -> Iterator[Message]:
                nonlocal found
                with file.items(f"{_LIST}.item") as (items, position):
                    last_chunk = 0
                    for message in reader.read(items):
                        last_chunk = position.chunk_start
                        yield message
                if guess is not None and not guess.tail.follows(last_chunk):
                    # the big value at the end was not the messages: what lies between is read
                    # now (only 'version' may change; a second 'session_meta' is an error)
                    found = guess.before
                    leader.skip((_LIST, "start_array", None))
                    leader.members("", _LIST, _FIELDS, found, stop=False)
                    if found.repeated:
                        self.error(path, "top level", f"field '{found.repeated[0]}' appears twice")

            yield ConversationStream(header, messages(), lambda: self._complete(reader, found))

    def _members(self, file: JsonFile, leader: Events) -> tuple[Members, _Guess | None]:
        """Every member but the messages: those before them as parse events, those after from
        the end of the file (then also a ``_Guess``, for when the messages show it wrong), else
        by passing over the messages."""
        if leader.next()[1] != "start_map":
            raise InputError(
                str(file.path),
                "expected a JSON object with 'session_meta' and 'conversation_list'",
                where="top level",
            )
        found = Members()
        if not leader.members("", _LIST, _FIELDS, found, stop=True):
            return found, None
        tail = file.tail()
        merged = found.with_tail(tail, _LIST, _FIELDS) if tail else None
        if tail and merged and "session_meta" in merged.values and not merged.repeated:
            return merged, _Guess(tail, found)
        leader.skip((_LIST, "start_array", None))
        leader.members("", _LIST, _FIELDS, found, stop=False)
        return found, None

    def _complete(self, reader: MessageReader, found: Members) -> Conversation:
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
            participants={uid: full_name(details) or uid for uid, details in users.items()},
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
        declared = [uid for uid, details in users.items() if declared_role(details) == "user"]
        if declared:
            return declared[0]
        with file.items(f"{_LIST}.item.sender") as (senders, _):
            counts = Counter(sender for sender in senders if isinstance(sender, str))
        humans = Counter(
            {uid: n for uid, n in counts.items() if user_role(users.get(uid)) != "assistant"}
        )
        if humans:
            return humans.most_common(1)[0][0]
        others = [uid for uid, details in users.items() if user_role(details) != "assistant"]
        if not others:
            raise InputError(
                str(file.path),
                "scene solo needs a user, but every entry is an assistant",
                where="session_meta.user_details",
            )
        return others[0]


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
