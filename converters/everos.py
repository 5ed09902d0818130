"""Reads and writes EverOS batch JSON: ``{group_id, group_meta?, messages}`` or ``{user_id, …}``.

A file holds one such object or a list of them. Accepted beyond the documented format:

- ``timestamp`` as an ISO 8601 string (read as UTC when it has no offset) besides Unix milliseconds;
  a whole-number float counts as an integer. Numbers below 1e11 (before March 1973) are refused:
  they are almost always seconds, and guessing would silently move every message.
- ``message_id`` missing or empty: a deterministic id is derived; an integer id becomes a string.
- ``reply_to`` (a message id), which ``to_everos_json`` writes when a message has one.
- the conversation's fields in any order, also after ``messages``.

Files are streamed (``converters.everos_file``), so a conversation of any length is read in
bounded memory, in one pass when its fields come before its messages.

``to_everos_json`` is the inverse, used by the ``convert`` command.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, cast

from converters import register
from converters._common import has_json_key, peek_tail
from converters.base import ConversationStream, Converter, peek_json
from converters.everos_fields import FIELDS, MessageReader, header_of
from converters.everos_file import read_file, single_key
from converters.json_stream import BrokenJSON, JsonFile, Members
from converters.telegram_shape import sniff as sniff_telegram
from importer.errors import InputError
from importer.models import Conversation, Message, conversation_key

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

    def conversations(self, path: Path) -> Iterator[ConversationStream]:
        small = _small_object(path)
        if small is not None:
            # a small file holding one conversation (one per group, as bench and convert write
            # them): parsed whole in C, which costs less than finding its members by streaming
            yield _object_stream(self, path, small)
            return
        yield from read_file(self, JsonFile(path))

    def keys(self, path: Path) -> frozenset[str] | None:
        try:
            group = _leading_group_id(path)
            if group is not None:
                return frozenset({conversation_key("group", group)})
            small = _small_object(path, checked=False)
            if small is not None:
                key: str | None = header_of(self.name, path, _members(small), None).key
            else:  # a large file: its members before and after the messages, or a list
                key = single_key(self, JsonFile(path))
        except (InputError, BrokenJSON):
            return None  # reading it says what is wrong
        return None if key is None else frozenset({key})


#: a file that opens with its group id, as the EverOS docs and ``convert`` write them: a group id
#: makes the conversation a group whatever follows (a second one, or a bad value, rejects it)
_LEADING_GROUP = re.compile(
    rb'\A(?:\xef\xbb\xbf)?[ \t\r\n]*\{[ \t\r\n]*"group_id"[ \t\r\n]*:[ \t\r\n]*"([^"\\]+)"'
)


def _leading_group_id(path: Path) -> str | None:
    """The group id a file opens with, from its first bytes; None if it opens otherwise."""
    try:
        with path.open("rb") as stream:
            found = _LEADING_GROUP.match(stream.read(4096))
        return None if found is None else found[1].decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return None


#: files up to this size holding one object are parsed whole (a few MB of Python objects)
_WHOLE_BYTES = 1 << 20


def _small_object(path: Path, *, checked: bool = True) -> Mapping[str, Any] | None:
    """The parsed object of a small, well-formed file holding one; else None (streamed).
    Not ``checked``: members given twice and NaN pass (enough to learn its key)."""
    try:
        if path.stat().st_size > _WHOLE_BYTES:
            return None
        text = path.read_bytes().decode("utf-8-sig")
        data = (json.loads(text, parse_constant=_no_constant, object_pairs_hook=_unique)
                if checked else json.loads(text))  # fmt: skip
    except (OSError, ValueError):
        return None  # the streaming reader says what is wrong, and where
    return data if isinstance(data, dict) else None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object; a member given twice sends the file to the streaming reader, which names it."""
    found = dict(pairs)
    if len(found) != len(pairs):
        raise ValueError("a member given twice")
    return found


def _object_stream(
    converter: Converter, path: Path, data: Mapping[str, Any]
) -> ConversationStream:
    """The conversation of one parsed EverOS object."""
    found = _members(data)
    header = header_of(converter.name, path, found, None)
    reader = MessageReader(converter, path, None, header)
    return ConversationStream(
        header, reader.read(cast(list[Any], data["messages"])),
        lambda: reader.finish(header, found),
    )


def _members(data: Mapping[str, Any]) -> Members:
    """What the streaming reader would have found of the object's header members."""
    found = Members(values={key: data[key] for key in FIELDS if key in data})
    if "messages" in data:
        messages = data["messages"]
        found.list_event = "start_array" if isinstance(messages, list) else "value"
        if messages is None:
            found.list_event = "null"
    return found


class _InMemory(EverOSConverter):
    """Reads one already-parsed EverOS object instead of a file (not registered)."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        super().__init__()
        self._data = data

    def conversations(self, path: Path) -> Iterator[ConversationStream]:
        yield _object_stream(self, path, self._data)


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
