"""What the members of an EverOS conversation mean: its header, and each message, checked.

Shared by files read as streams (``converters.everos_file``) and objects built in code
(``conversation_from_everos``). Messages in their usual form take a short path; any other goes
field by field, so that each problem is named with its place.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC
from pathlib import Path
from typing import Any, Literal, cast

from converters._common import (
    MS_THRESHOLD,
    IdDeriver,
    content_field,
    iso_to_millis,
    message_id_field,
    optional_text_field,
    plain_message_id,
    show,
)
from converters.base import RESERVED_ID_PREFIX, Converter
from converters.json_stream import Members
from importer.errors import InputError
from importer.models import Conversation, Message, Role

__all__ = ["FIELDS", "MessageReader", "final_header", "header_of"]

#: the members a conversation's header is made of; any other member is passed over unread
FIELDS = frozenset({"group_id", "user_id", "session_id", "group_meta"})


def header_of(source: str, path: Path, found: Members, where: str | None) -> Conversation:
    """The conversation without messages, from its members; InputError if the entry cannot be
    read (``where`` names it in a list; ``source`` is the converter's name)."""
    place = where or "top level"
    entry = found.values
    if found.repeated:
        raise InputError(str(path), f"field '{found.repeated[0]}' appears twice", where=place)
    kind: Literal["group", "personal"] = "group" if "group_id" in entry else "personal"
    if kind == "group":
        conversation_id = _id_field(path, entry, "group_id", place)
        name, description = _group_meta(path, entry, place)
        session_id = None
    elif "user_id" in entry:
        conversation_id = _id_field(path, entry, "user_id", place)
        session_id = _optional_str(path, entry, "session_id", place)
        name = description = None
    else:
        raise InputError(
            str(path),
            "needs 'group_id' (group conversation) or 'user_id' (personal conversation)",
            where=place,
        )
    if found.list_event != "start_array":
        missing = found.list_event in (None, "null")
        reason = "field 'messages' is missing" if missing else "field 'messages' must be a list"
        raise InputError(str(path), reason, where=place)
    return Conversation(
        kind=kind,
        conversation_id=conversation_id,
        session_id=session_id,
        name=name,
        description=description,
        source=source,
        origin=str(path),
    )


def final_header(
    converter: Converter, path: Path, found: Members, header: Conversation, where: str | None
) -> Conversation:
    """The header again once members after the messages were read too; what is wrong with
    them rejects the conversation."""
    try:
        return header_of(converter.name, path, found, where)
    except InputError as exc:
        converter.error(path, exc.where, exc.reason)
        return header


class MessageReader:
    """Turns one conversation's raw messages into ``Message`` objects, noting who speaks."""

    def __init__(
        self, converter: Converter, path: Path, where: str | None, header: Conversation
    ) -> None:
        self.converter = converter
        self.path = path
        self.where = where
        self.group = header.kind == "group"
        self.user = header.conversation_id
        self.ids = IdDeriver(header.conversation_id)
        #: sender id -> the first name given for them ("" while none)
        self.names: dict[str, str] = {}
        #: items read that were no objects (a list file hands out messages by counting them)
        self.non_objects = 0

    def read(self, items: Iterable[Any]) -> Iterator[Message]:
        names = self.names
        for index, item in enumerate(items, 1):  # counted from 1, as people do
            if type(item) is dict:
                message = self._plain(item)
            else:
                message = None
                self.non_objects += 1
            if message is None:
                message = self._checked(index, item)
                if message is None:
                    continue
            sender = message.sender_id
            if message.sender_name and not names.get(sender):
                names[sender] = message.sender_name
            elif sender not in names:
                names[sender] = ""
            yield message

    def finish(self, header: Conversation, found: Members) -> Conversation:
        """The header with the participants seen; warns of an entry that is two things."""
        if header.kind == "group" and "user_id" in found.values:
            self.converter.warning(
                self.path, self.where, "has both 'group_id' and 'user_id'; imported as a group"
            )
        names = {sender: name or sender for sender, name in self.names.items()}
        return header.model_copy(update={"participants": names})

    def _plain(self, item: dict[str, Any]) -> Message | None:
        """The message when every field is in its usual form; None sends it to ``_checked``."""
        get = item.get
        role = get("role")
        content = get("content")
        timestamp = get("timestamp")
        if (
            (role != "user" and role != "assistant")
            or type(content) is not str
            or not content
            or content.isspace()
        ):
            return None
        if type(timestamp) is not int:
            if type(timestamp) is not str:
                return None
            try:
                timestamp = iso_to_millis(timestamp, UTC)
            except ValueError:
                return None
        elif timestamp < MS_THRESHOLD:
            return None
        sender = get("sender_id")
        if type(sender) is not str or not sender:
            if self.group or not (sender is None or sender == ""):
                return None
            sender = self.user if role == "user" else "assistant"
        name = get("sender_name")
        if name is not None:
            if type(name) is not str:
                return None
            name = name.strip() or None
        reply_to = get("reply_to")
        if reply_to is not None:
            if type(reply_to) is not str:
                return None
            reply_to = reply_to.strip() or None
        message_id = plain_message_id(get("message_id"), self.ids, timestamp, sender, content)
        if message_id is None:
            return None
        # every field is checked and typed above: no validation needed
        return Message.trusted(message_id, timestamp, sender, name, role, content, reply_to)

    def _checked(self, index: int, item: Any) -> Message | None:
        """One message field by field, or None after reporting what is wrong with it."""
        path = self.path
        place = f"{self.where}, message {index}" if self.where else f"message {index}"
        if not isinstance(item, dict):
            self.converter.error(path, place, f"expected an object, got {show(item)}")
            return None
        problems: list[str] = []
        message_id = message_id_field(item, problems)
        role = _role(item, problems)
        sender_id = _sender_id(item, self.group, self.user, role, problems)
        timestamp = _timestamp(item, problems)
        content = content_field(item, problems)
        sender_name = optional_text_field(item, "sender_name", problems)
        reply_to = optional_text_field(item, "reply_to", problems)
        where = f"{place} (id {message_id})" if message_id else place
        if problems or role is None or sender_id is None or timestamp is None or content is None:
            for problem in problems:
                self.converter.error(path, where, problem)
            return None
        return Message(
            message_id=message_id or self.ids.derive(timestamp, sender_id, content),
            timestamp=timestamp,
            sender_id=sender_id,
            sender_name=sender_name,
            role=role,
            content=content,
            reply_to=reply_to,
        )


# -- conversation fields: raise InputError (the entry cannot be read at all) ---------------


def _id_field(path: Path, entry: Mapping[str, Any], field: str, place: str) -> str:
    value = entry.get(field)
    if not isinstance(value, str) or not value.strip():
        raise InputError(str(path), f"field '{field}' must be a non-empty string", where=place)
    if value.startswith(RESERVED_ID_PREFIX):
        raise InputError(
            str(path),
            f"field '{field}': {value!r} starts with '{RESERVED_ID_PREFIX}', which the server"
            " reserves",
            where=place,
        )
    return value


def _optional_str(path: Path, entry: Mapping[str, Any], field: str, place: str) -> str | None:
    value = entry.get(field)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InputError(str(path), f"field '{field}' must be a string", where=place)
    return value


def _group_meta(path: Path, entry: Mapping[str, Any], place: str) -> tuple[str | None, str | None]:
    meta = entry.get("group_meta")
    if meta is None:
        return None, None
    if not isinstance(meta, dict):
        raise InputError(str(path), "field 'group_meta' must be an object", where=place)
    where = f"{place}, group_meta"
    return (
        _optional_str(path, meta, "name", where),
        _optional_str(path, meta, "description", where),
    )


# -- message fields: return the value, or None after appending a one-line problem ----------


def _role(item: Mapping[str, Any], problems: list[str]) -> Role | None:
    value = item.get("role")
    if value in ("user", "assistant"):
        return cast(Role, value)
    if value is None:
        problems.append("field 'role' is missing")
    else:
        problems.append(f"field 'role' must be 'user' or 'assistant', not {show(value)}")
    return None


def _sender_id(
    item: Mapping[str, Any], group: bool, user: str, role: Role | None, problems: list[str]
) -> str | None:
    """``sender_id``; a personal message may leave it out (the user, or ``assistant``)."""
    value = item.get("sender_id")
    if value is None or value == "":
        if group:
            problems.append("field 'sender_id' is missing (group messages need it)")
            return None
        return user if role != "assistant" else "assistant"
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        problems.append(f"field 'sender_id' must be a string, not {show(value)}")
        return None
    return value


def _timestamp(item: Mapping[str, Any], problems: list[str]) -> int | None:
    """Unix milliseconds: an integer (or whole float), or an ISO 8601 string."""
    value = item.get("timestamp")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if value is None:
        problems.append("field 'timestamp' is missing")
    elif isinstance(value, bool | float):
        problems.append(f"field 'timestamp' must be whole Unix milliseconds, not {show(value)}")
    elif isinstance(value, int):
        if value >= MS_THRESHOLD:
            return value
        problems.append(
            f"field 'timestamp': {value} is not Unix milliseconds (that would be before 1973;"
            " if it is seconds, multiply by 1000)"
        )
    elif isinstance(value, str):
        try:
            return iso_to_millis(value, UTC)
        except ValueError:
            problems.append(
                f"field 'timestamp': cannot parse {show(value)} as Unix milliseconds or ISO 8601"
            )
    else:
        problems.append(f"field 'timestamp' must be Unix milliseconds, not {show(value)}")
    return None
