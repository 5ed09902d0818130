"""One chat of a Telegram export: its raw message objects in, a ``Conversation`` out.

See ``converters.telegram`` for how chats, senders, times and texts map.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from converters._common import IdDeriver, show, slug, snippet
from converters.base import Converter
from converters.telegram_render import (
    DELETED,
    flatten_text,
    media_text,
    name_of,
    service_text,
)
from converters.telegram_shape import BOT_CHAT, PERSONAL_TYPES
from importer.models import Conversation, Message, Role

__all__ = ["ChatReader"]

_HEADER = ("name", "type", "id")
_NAMES = {"saved_messages": "Saved Messages", "replies": "Replies"}


class ChatReader:
    """Turns the raw messages of one chat into ``Message`` objects and the conversation."""

    def __init__(
        self,
        converter: Converter,
        path: Path,
        prefix: str,
        place: str,
        *,
        read_date: Callable[[str], int],
        owner: Mapping[str, Any],
    ) -> None:
        self.converter = converter
        self.path = path
        self.include_system = converter.options.include_system_events
        #: turns a zone-less ``date`` into Unix ms (the zone is the export's business)
        self.read_date = read_date
        #: ``personal_information`` of an account export: the account owner
        self.owner = owner
        #: where the chat object sits in the parse events ("" for a single-chat export)
        self.prefix = prefix
        #: "chats.list[3]" in an account export, "" for a single-chat export
        self.place = place
        self.header_keys = {(f"{prefix}.{key}" if prefix else key): key for key in _HEADER}
        self.header: dict[str, Any] = {}
        self.messages: list[Message] = []
        self.participants: dict[str, str] = {}
        #: message id -> position in ``messages``, to quote what replies and pins refer to
        self.by_id: dict[str, int] = {}
        #: text of replies before their marker: a reply to a reply quotes words, not the marker
        self.reply_text: dict[str, str] = {}
        self.count = 0
        self.skipped = 0
        self.textless = 0
        self.unsupported = 0
        self.unknown_kinds: set[str] = set()
        self._key: str | None = None
        self._ids: IdDeriver | None = None
        #: numbering parts (see ``_ref``) and the last numeric id seen
        self._part = 0
        self._last_number: int | None = None

    # -- identity --------------------------------------------------------------------------

    @property
    def key(self) -> str:
        """The chat's id as used in conversation and message ids, fixed at first use."""
        if self._key is None:
            raw = self.header.get("id")
            if isinstance(raw, int) and not isinstance(raw, bool):
                self._key = str(raw)
            elif isinstance(raw, str) and raw.strip():
                self._key = raw.strip()
            else:
                basis = self.header.get("name") or self.place or self.path.stem
                self._key = slug(str(basis))
                self.converter.warning(
                    self.path,
                    self.label(),
                    f"the chat has no 'id'; its conversation id is derived: telegram-{self._key}",
                )
        return self._key

    @property
    def chat_type(self) -> str:
        kind = self.header.get("type")
        return kind if isinstance(kind, str) else ""

    def label(self) -> str | None:
        """Where this chat is in the file, for problem messages (None: the whole file)."""
        if not self.place:
            return None
        name = self.header.get("name")
        return f"{self.place} ({name!r})" if isinstance(name, str) and name else self.place

    def progress(self) -> str:
        """How far this chat was read, for a report of a file that breaks off."""
        label = self.label() or "chat"
        return f"{label}, after message {self.count - 1}" if self.count else label

    # -- messages --------------------------------------------------------------------------

    def add(self, raw: Any) -> None:
        """Convert one entry of ``messages``, or count/report why it is left out."""
        index = self.count
        self.count += 1
        if not isinstance(raw, dict):
            self._problem(index, None, f"expected an object, got {show(raw)}")
            return
        ref = self._ref(raw.get("id"))
        kind = raw.get("type", "message")
        service = kind == "service"
        if service and not self.include_system:
            self.skipped += 1
            return
        if kind == "unsupported":
            self.skipped += 1
            self.unsupported += 1
            return
        if not service and kind != "message":
            self.unknown_kinds.add(str(kind))
        timestamp = self._timestamp(raw)
        sender = self._sender(raw, service)
        if isinstance(timestamp, str) or isinstance(sender, str):
            for problem in (timestamp, sender):
                if isinstance(problem, str):
                    self._problem(index, raw.get("id"), problem)
            return
        content = self._content(raw, service, sender[1])
        if not content:
            self.skipped += 1
            self.textless += 1
            return
        reply_to = None
        target = self._target(raw.get("reply_to_message_id"))
        if target is not None and not service and "reply_to_peer_id" not in raw:
            reply_to = f"{self.key}-{target}"
            if ref is not None:
                self.reply_text[ref] = content
            content = self._marked(target, content)
        if ref is not None:
            message_id = f"{self.key}-{ref}"
            self.by_id[ref] = len(self.messages)
        else:
            if self._ids is None:
                self._ids = IdDeriver(f"telegram-{self.key}")
            message_id = self._ids.derive(timestamp, sender[0], content)
        # built without validation (every value is typed above): a large chat holds hundreds of
        # thousands of these
        role: Role = "assistant" if self._is_bot(sender[0]) else "user"
        self.messages.append(
            Message.trusted(message_id, timestamp, sender[0], sender[1], role, content, reply_to)
        )

    def _problem(self, index: int, raw_id: Any, problem: str) -> None:
        """Report a problem with message ``index`` (counted from 0 in the chat's list)."""
        local_id = _message_id(raw_id)
        mine = f"message {index}" + (f" (id {local_id})" if local_id else "")
        label = self.label()
        self.converter.error(self.path, f"{label}, {mine}" if label else mine, problem)

    def _ref(self, raw_id: Any) -> str | None:
        """The message's id within the chat; ids that start over get a part number.

        Telegram numbers messages per chat, in order. A group upgraded to a supergroup is
        exported with the old group's history first and the supergroup's numbering starting
        again after it: those later ids become ``s1-<id>`` so they cannot clash.
        """
        local_id = _message_id(raw_id)
        if local_id is None:
            return None
        if local_id.isdigit():
            number = int(local_id)
            if self._last_number is not None and number < self._last_number:
                self._part += 1
                self.converter.warning(
                    self.path,
                    self.label(),
                    f"message ids start over at id {number} (a group upgraded to a supergroup);"
                    f" from there on ids are {self.key}-s{self._part}-<id>",
                )
            self._last_number = number
        return f"s{self._part}-{local_id}" if self._part else local_id

    def _target(self, raw_id: Any) -> str | None:
        """The id a reply or pin refers to, in the numbering of the current part."""
        local_id = _message_id(raw_id)
        if local_id is None or not self._part:
            return local_id
        return f"s{self._part}-{local_id}"

    def _timestamp(self, raw: dict[str, Any]) -> int | str:
        """Unix ms, or what is wrong (the caller reports it, knowing where)."""
        unix = raw.get("date_unixtime")
        if unix is not None and unix != "":
            if isinstance(unix, int) and not isinstance(unix, bool):
                return unix * 1000
            if isinstance(unix, str) and unix.strip().lstrip("-").isdigit():
                return int(unix) * 1000
            return f"field 'date_unixtime' is not whole seconds: {show(unix)}"
        date = raw.get("date")
        if isinstance(date, str) and date.strip():
            try:
                return self.read_date(date)
            except ValueError:
                return f"field 'date' is not a date: {show(date)}"
        if date is None:
            return "no time: fields 'date_unixtime' and 'date' are missing"
        return f"field 'date' must be text, not {show(date)}"

    def _sender(self, raw: dict[str, Any], service: bool) -> tuple[str, str] | str:
        """(id, display name), or what is wrong."""
        id_field, name_field = ("actor_id", "actor") if service else ("from_id", "from")
        raw_id, raw_name = raw.get(id_field), raw.get(name_field)
        name = raw_name.strip() if isinstance(raw_name, str) and raw_name.strip() else None
        if isinstance(raw_id, str) and raw_id.strip():
            sender_id = raw_id.strip()
        elif isinstance(raw_id, int) and not isinstance(raw_id, bool):
            sender_id = self._numeric_sender(raw_id)
        elif name is not None:
            sender_id = f"name-{slug(name)}"  # trimmed exports name the sender, nothing more
        elif service:
            return ("system", "system")
        else:
            return "no sender: fields 'from_id' and 'from' are missing"
        display = name or (DELETED if name_field in raw else sender_id)
        if self.participants.get(sender_id) != display:
            self.participants[sender_id] = display
        return sender_id, display

    def _numeric_sender(self, number: int) -> str:
        """Old exports write ``from_id`` as a bare number; channel posts carry the channel's."""
        if self.chat_type.endswith("_channel") and str(number) == self.key:
            return f"channel{number}"
        return f"user{number}"

    def _is_bot(self, sender_id: str) -> bool:
        # in a bot chat the chat's id is the bot's user id
        return self.chat_type == BOT_CHAT and sender_id == f"user{self.key}"

    def _content(self, raw: dict[str, Any], service: bool, actor: str) -> str:
        if service:
            quote = None
            pinned = self._target(raw.get("message_id"))
            if raw.get("action") == "pin_message" and pinned in self.by_id:
                quote = snippet(self._plain_text(pinned))
            return service_text(raw, actor, quote)
        text = flatten_text(raw.get("text")).strip()
        if not text and "text_entities" in raw:
            text = flatten_text(raw["text_entities"]).strip()
        media = media_text(raw)
        body = f"{media} {text}".strip() if media else text
        if "forwarded_from" in raw and body:
            origin = raw["forwarded_from"]
            # null: the original sender hides their name
            source = f" from {name_of(origin)}" if origin is not None else ""
            body = f"[forwarded{source}] {body}"
        return body

    def _plain_text(self, message_id: str) -> str:
        """A message's text without its own reply marker."""
        if message_id in self.reply_text:
            return self.reply_text[message_id]
        return self.messages[self.by_id[message_id]].content

    def _marked(self, target: str, content: str) -> str:
        if target not in self.by_id:
            return content  # deleted or outside the export: reply_to still says what it answers
        answered = self.messages[self.by_id[target]]
        return f'[reply to {answered.sender_name}: "{snippet(self._plain_text(target))}"] {content}'

    # -- the conversation ------------------------------------------------------------------

    def finish(self) -> Conversation:
        """The conversation read so far, with a warning for what was left out and why."""
        path, label = self.path, self.label()
        if self.textless:
            self.converter.warning(
                path, label, f"messages without any text left out: {self.textless}"
            )
        if self.unsupported:
            self.converter.warning(
                path, label, f"messages Telegram could not export left out: {self.unsupported}"
            )
        if self.unknown_kinds:
            kinds = ", ".join(sorted(self.unknown_kinds))
            self.converter.warning(path, label, f"messages of unknown type read as text: {kinds}")
        chat_type = self.chat_type
        return Conversation(
            kind="group",
            conversation_id=f"telegram-{self.key}",
            name=self._name(),
            description=f"Telegram {chat_type.replace('_', ' ')}" if chat_type else "Telegram chat",
            participants=self._participants(),
            source=self.converter.name,
            origin=str(path),
            messages=self.messages,
            source_meta={"telegram_chat_type": chat_type, "telegram_chat_id": self.key},
            skipped=self.skipped,
        )

    def _name(self) -> str:
        name = self.header.get("name")
        if isinstance(name, str) and name.strip():
            return name.strip()
        return _NAMES.get(self.chat_type) or (DELETED if "name" in self.header else self.key)

    def _participants(self) -> dict[str, str]:
        """Who talks, plus both sides of a personal chat even when one of them never wrote."""
        people = dict(self.participants)
        if self.chat_type in PERSONAL_TYPES:
            owner = self.owner
            owner_id = owner.get("user_id")
            if isinstance(owner_id, int) and not isinstance(owner_id, bool):
                full = " ".join(
                    str(owner[k]).strip() for k in ("first_name", "last_name") if owner.get(k)
                )
                people.setdefault(f"user{owner_id}", full or f"user{owner_id}")
            if self.chat_type in {"personal_chat", BOT_CHAT} and self.key.isdigit():
                people.setdefault(f"user{self.key}", self._name())
        return people


def _message_id(value: Any) -> str | None:
    """A message id (``id``, ``reply_to_message_id``) as text; None when absent or unusable."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None
