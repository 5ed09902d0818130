"""Reads and writes EverOS batch JSON: ``{group_id, group_meta?, messages}`` or ``{user_id, …}``.

A file holds one such object or a list of them. Accepted beyond the documented format:

- ``timestamp`` as an ISO 8601 string (read as UTC when it has no offset) besides Unix milliseconds;
  a whole-number float counts as an integer. Numbers below 1e11 (before March 1973) are refused:
  they are almost always seconds, and guessing would silently move every message.
- ``message_id`` missing or empty: a deterministic id is derived; an integer id becomes a string.
- ``reply_to`` (a message id), which ``to_everos_json`` writes when a message has one.

``to_everos_json`` is the inverse, used by the ``convert`` command.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC
from pathlib import Path
from typing import Any, Literal, cast

from converters import register
from converters._common import (
    MS_THRESHOLD,
    IdDeriver,
    content_field,
    has_json_key,
    iso_to_millis,
    message_id_field,
    optional_text_field,
    peek_tail,
    show,
)
from converters.base import RESERVED_ID_PREFIX, Converter, load_json, peek_json
from converters.telegram_shape import sniff as sniff_telegram
from importer.errors import InputError
from importer.models import Conversation, Message, Role

__all__ = ["EverOSConverter", "conversation_from_everos", "to_everos_json"]

#: keys of the other JSON format; a file showing them is never EverOS
_CONVERSATION_FORMAT_KEYS = ("conversation_list", "session_meta")


@register
class EverOSConverter(Converter):
    """EverOS batch JSON, the format of the EverOS import docs and of ``convert``'s output."""

    name = "everos"
    description = "EverOS batch JSON ({group_id | user_id, messages}, or a list of them)"

    @classmethod
    def detect(cls, path: Path) -> bool:
        head = peek_json(path)
        if not head or head[0] not in "{[" or has_json_key(head, *_CONVERSATION_FORMAT_KEYS):
            return False
        # Telegram exports have "messages" and a "user_id" (the account owner, mentions)
        if sniff_telegram(head) is not None:
            return False
        if not has_json_key(head, "messages"):
            return False
        # the id may be written after a long message list, so look at the end of the file too
        return has_json_key(head, "group_id", "user_id") or has_json_key(
            peek_tail(path), "group_id", "user_id"
        )

    def conversations(self, path: Path) -> Iterator[Conversation]:
        yield from self._conversations_in(load_json(path), path)

    def _conversations_in(self, data: Any, path: Path) -> Iterator[Conversation]:
        """The conversations of parsed EverOS JSON; ``path`` only names the place in messages."""
        if isinstance(data, dict):
            entries: list[tuple[str | None, Any]] = [(None, data)]
        elif isinstance(data, list):
            entries = [(f"conversation {i}", entry) for i, entry in enumerate(data, 1)]
            if not data:
                self.warning(path, "top level", "the list holds no conversations")
        else:
            raise InputError(
                str(path),
                "expected an EverOS conversation object or a list of them",
                where="top level",
            )
        # problems of entries that are not even a conversation are reported after the last one,
        # so that the base engine does not pin them on the conversation read next
        deferred: list[tuple[str | None, str]] = []
        seen: dict[str, str] = {}
        for where, entry in entries:
            try:
                header, raw_messages = self._header(path, entry, where)
            except InputError as exc:
                if where is None:
                    raise
                deferred.append((exc.where, exc.reason))
                continue
            if header.key in seen:
                again = (
                    f"{header.key} already appeared as {seen[header.key]}; merge the two entries"
                )
                deferred.append((where, again))
                continue
            seen[header.key] = where or "top level"
            yield self._with_messages(path, where, header, raw_messages)
        for where, reason in deferred:
            self.error(path, where, reason)

    def _header(self, path: Path, entry: Any, where: str | None) -> tuple[Conversation, list[Any]]:
        """The conversation without messages, and its raw message list; InputError if unusable."""
        place = where or "top level"
        if not isinstance(entry, dict):
            reason = f"expected a conversation object, got {show(entry)}"
            raise InputError(str(path), reason, where=place)
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
        raw_messages = entry.get("messages")
        if not isinstance(raw_messages, list):
            missing = raw_messages is None
            reason = "field 'messages' is missing" if missing else "field 'messages' must be a list"
            raise InputError(str(path), reason, where=place)
        if kind == "group" and "user_id" in entry:
            self.warning(path, where, "has both 'group_id' and 'user_id'; imported as a group")
        header = Conversation(
            kind=kind,
            conversation_id=conversation_id,
            session_id=session_id,
            name=name,
            description=description,
            source=self.name,
            origin=str(path),
        )
        return header, raw_messages

    def _with_messages(
        self, path: Path, where: str | None, header: Conversation, raw_messages: list[Any]
    ) -> Conversation:
        ids = IdDeriver(header.conversation_id)
        messages: list[Message] = []
        participants: dict[str, str] = {}
        for index, item in enumerate(raw_messages, 1):  # counted from 1, as people do
            place = f"{where}, message {index}" if where else f"message {index}"
            message = self._message(path, place, item, header, ids)
            if message is not None:
                messages.append(message)
                if message.sender_name and not participants.get(message.sender_id):
                    participants[message.sender_id] = message.sender_name
                else:
                    participants.setdefault(message.sender_id, "")
        names = {sender: name or sender for sender, name in participants.items()}
        return header.model_copy(update={"messages": messages, "participants": names})

    def _message(
        self, path: Path, place: str, item: Any, header: Conversation, ids: IdDeriver
    ) -> Message | None:
        """One message, or None after reporting what is wrong with it."""
        if not isinstance(item, dict):
            self.error(path, place, f"expected an object, got {show(item)}")
            return None
        problems: list[str] = []
        message_id = message_id_field(item, problems)
        role = _role(item, problems)
        sender_id = _sender_id(item, header, role, problems)
        timestamp = _timestamp(item, problems)
        content = content_field(item, problems)
        sender_name = optional_text_field(item, "sender_name", problems)
        reply_to = optional_text_field(item, "reply_to", problems)
        where = f"{place} (id {message_id})" if message_id else place
        if problems or role is None or sender_id is None or timestamp is None or content is None:
            for problem in problems:
                self.error(path, where, problem)
            return None
        return Message(
            message_id=message_id or ids.derive(timestamp, sender_id, content),
            timestamp=timestamp,
            sender_id=sender_id,
            sender_name=sender_name,
            role=role,
            content=content,
            reply_to=reply_to,
        )


class _InMemory(EverOSConverter):
    """Reads one already-parsed EverOS object instead of a file (not registered)."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        super().__init__()
        self._data = data

    def conversations(self, path: Path) -> Iterator[Conversation]:
        yield from self._conversations_in(dict(self._data), path)


def conversation_from_everos(data: Mapping[str, Any], *, origin: str = "<memory>") -> Conversation:
    """One conversation from an EverOS batch object built in code (``BatchImporter``'s input).

    It is checked, sorted and de-duplicated exactly like a file; ``origin`` stands in for the file
    name in messages. Raises ``InputError`` (every problem in ``problems``) when it is not valid.
    """
    if not isinstance(data, Mapping):
        raise InputError(origin, "expected an EverOS conversation object (a dict)")
    converter = _InMemory(data)
    conversations = list(converter.read(Path(origin)))
    if converter.rejected:
        raise converter.rejected[0]
    (conversation,) = conversations  # a single object is exactly one conversation, or rejected
    return conversation


def to_everos_json(conversation: Conversation) -> dict[str, Any]:
    """The EverOS batch JSON of one conversation; ``EverOSConverter`` reads it back unchanged.

    ``group_meta`` holds only the name/description that are set (and is left out when neither
    is); ``sender_name``, ``session_id`` and ``reply_to`` are written only when set.
    """
    out: dict[str, Any]
    if conversation.kind == "group":
        out = {"group_id": conversation.conversation_id}
        meta = {"name": conversation.name, "description": conversation.description}
        meta = {key: value for key, value in meta.items() if value is not None}
        if meta:
            out["group_meta"] = meta
    else:
        out = {"user_id": conversation.conversation_id}
        if conversation.session_id:
            out["session_id"] = conversation.session_id
    out["messages"] = [_message_json(message) for message in conversation.messages]
    return out


def _message_json(message: Message) -> dict[str, Any]:
    out: dict[str, Any] = {"role": message.role, "sender_id": message.sender_id}
    if message.sender_name is not None:
        out["sender_name"] = message.sender_name
    out["timestamp"] = message.timestamp
    out["content"] = message.content
    out["message_id"] = message.message_id
    if message.reply_to is not None:
        out["reply_to"] = message.reply_to
    return out


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
    item: Mapping[str, Any], header: Conversation, role: Role | None, problems: list[str]
) -> str | None:
    """``sender_id``; a personal message may leave it out (the user, or ``assistant``)."""
    value = item.get("sender_id")
    if value is None or value == "":
        if header.kind == "group":
            problems.append("field 'sender_id' is missing (group messages need it)")
            return None
        return header.conversation_id if role != "assistant" else "assistant"
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
