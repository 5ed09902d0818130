"""Telegram Desktop JSON exports (``result.json``): one conversation per chat, streamed.

Telegram Desktop writes two shapes, told apart here by content, not by file name:

- "Export chat history" (one chat): ``{name, type, id, messages: [...]}``;
- "Export Telegram data" (the account): ``{about, personal_information?, contacts?, …,
  chats: {about, list: [chat, …]}, left_chats?: {about, list: [chat, …]}}``.

Both are parsed event by event (ijson), one message object at a time, so a multi-gigabyte
account export never sits in memory as a tree: only the converted messages of the chat being
read do.

How chats map:

- Every chat is a **group** conversation ``telegram-<chat id>``, personal chats included. A
  ``personal_chat`` is two people talking; the EverOS personal API files user↔assistant talk
  under one user and would fold both people into that user, while the group API keeps who said
  what (both people are the participants). A ``bot_chat`` is a group of you and the bot, the
  bot's messages having role ``assistant``; ``saved_messages`` is a group of one. One mapping
  for every chat type also keeps one id scheme and one API per export.
- Message ids are ``<chat id>-<message id>`` (Telegram numbers messages per chat). Where the
  numbering starts over (a group upgraded to a supergroup is exported with the old group's
  history first) the later ids are ``<chat id>-s1-<message id>``. Messages without an id
  (trimmed exports) get a deterministic id from chat, time, sender, text and repetition.
- Times: ``date_unixtime`` (exact seconds) when present, else ``date``, which is the exporting
  machine's local time without a zone: read in ``ConvertOptions.timezone``, by default in this
  machine's local zone. A message with neither is an error naming its place.
- Senders: ``from_id`` (``user123``, ``channel456``; old exports write a bare number); exports
  that only name the sender get an id derived from the name (``name-alice``).
- Text: formatted text is flattened (``text_link`` keeps its address: ``docs (https://…)``);
  media stand in as ``[photo]``, ``[sticker 😀]``, ``[file: a.pdf]`` … before any caption;
  forwards say ``[forwarded from X]``; replies quote what they answer.
- Service messages (joins, pins, calls, renames) are left out and counted in ``skipped``; with
  ``include_system_events`` they are kept as sentences ("Alice pinned a message") sent by
  their actor, or by ``system``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime, tzinfo
from pathlib import Path
from typing import IO, Any

import ijson  # type: ignore[import-untyped]  # ships no type information

from converters import register
from converters._common import resolve_timezone, to_millis
from converters.base import Converter, load_json, peek_json
from converters.discord_common import JSONError, json_problem
from converters.telegram_chat import ChatReader
from converters.telegram_shape import sniff
from importer.errors import InputError
from importer.models import Conversation

__all__ = ["TelegramConverter"]

_BOM = b"\xef\xbb\xbf"
_LISTS = {"chats.list.item": "chats.list", "left_chats.list.item": "left_chats.list"}
_HEADER = ("name", "type", "id")
_STARTS = frozenset({"start_map", "start_array"})
_ENDS = frozenset({"end_map", "end_array"})
_SCALARS = frozenset({"string", "number", "boolean", "null"})
# a broken file is parsed again with the standard parser to say the line, when that is cheap
_LINE_LOOKUP_LIMIT = 64 * 1024 * 1024


@register
class TelegramConverter(Converter):
    """Telegram Desktop "Export chat history" / "Export Telegram data" JSON (``result.json``)."""

    name = "telegram"
    description = "Telegram Desktop JSON export (result.json: one chat, or the whole account)"

    @classmethod
    def detect(cls, path: Path) -> bool:
        head = peek_json(path)
        return head is not None and sniff(head) is not None

    def conversations(self, path: Path) -> Iterator[Conversation]:
        reader = _ExportReader(self, path, self._zone(path))
        try:
            with _open(path) as stream:
                yield from reader.read(ijson.parse(stream))
        except JSONError as exc:
            yield from reader.broken(exc)
        except OSError as exc:
            raise InputError(str(path), f"cannot read file: {exc.strerror or exc}") from exc

    def _zone(self, path: Path) -> tzinfo | None:
        """The zone of zone-less ``date`` fields; None is this machine's local zone."""
        if self.options.timezone is None:
            return None
        try:
            return resolve_timezone(self.options.timezone)
        except ValueError as exc:
            raise InputError(str(path), str(exc), where="time zone option") from None


class _ExportReader:
    """Walks the parse events of one file and hands each chat's messages to a ``ChatReader``."""

    def __init__(self, converter: TelegramConverter, path: Path, zone: tzinfo | None) -> None:
        self.converter = converter
        self.path = path
        self.zone = zone
        #: top-level scalars: the header of a single-chat export
        self.top: dict[str, Any] = {}
        #: ``personal_information`` of an account export: the account owner
        self.owner: dict[str, Any] = {}
        self.chat: ChatReader | None = None
        self.chats_seen = 0
        self._list_counts: dict[str, int] = {}

    def read(self, events: Iterable[tuple[str, str, Any]]) -> Iterator[Conversation]:
        builder: Any = None  # ijson's ObjectBuilder for the message being parsed
        item = ""
        for prefix, event, value in events:
            chat = self.chat
            if builder is not None:
                builder.event(event, value)
                if prefix == item and event in _ENDS and chat is not None:
                    chat.add(builder.value)
                    builder = None
            elif chat is not None:
                if prefix == item:
                    if event in _STARTS:
                        builder = ijson.ObjectBuilder()
                        builder.event(event, value)
                    else:
                        chat.add(value)
                elif prefix == chat.prefix and event == "end_map":
                    self.chat = None
                    yield chat.finish()
                elif event in _SCALARS and prefix in chat.header_keys:
                    chat.header.setdefault(chat.header_keys[prefix], value)
            elif event == "start_map" and prefix in _LISTS:
                self.chat = self._open(prefix, _LISTS[prefix])
                item = f"{prefix}.messages.item"
            elif prefix == "messages" and event == "start_array":
                self.chat = self._open("", "")
                self.chat.header.update(self.top)
                item = "messages.item"
            elif event in _SCALARS:
                if prefix in _HEADER:
                    self.top[prefix] = value
                elif prefix.startswith("personal_information."):
                    self.owner[prefix.rpartition(".")[2]] = value
        if self.chats_seen == 0:
            self.converter.warning(
                self.path, None, "the export holds no chats (select chats when exporting)"
            )

    def _open(self, prefix: str, list_name: str) -> ChatReader:
        index = self._list_counts.get(list_name, 0)
        self._list_counts[list_name] = index + 1
        self.chats_seen += 1
        place = f"{list_name}[{index}]" if list_name else ""
        return ChatReader(
            self.converter, self.path, prefix, place, read_date=self.millis, owner=self.owner
        )

    def broken(self, exc: Exception) -> Iterator[Conversation]:
        """Report where the file stopped being JSON; the chat being read is rejected."""
        problem = json_problem(exc, _tail(self.path))
        position = _line_column(self.path)
        chat = self.chat
        if chat is None:
            raise InputError(str(self.path), problem, where=position or "top level") from exc
        context = chat.progress()
        where = f"{position} ({context})" if position else context
        self.chat = None
        self.converter.error(self.path, where, problem)
        yield chat.finish()

    def millis(self, text: str) -> int:
        """Unix ms of a ``date`` field; a zone-less time is read in the chosen zone."""
        moment = datetime.fromisoformat(text.strip())
        if moment.tzinfo is None:
            # astimezone() on a naive time applies this machine's rules, DST included
            moment = moment.replace(tzinfo=self.zone) if self.zone else moment.astimezone()
        return to_millis(moment)


def _open(path: Path) -> IO[bytes]:
    """Open a JSON file for streaming, past a UTF-8 byte order mark if there is one."""
    stream = path.open("rb")
    if stream.read(3) != _BOM:
        stream.seek(0)
    return stream


def _tail(path: Path) -> bytes | None:
    try:
        with path.open("rb") as stream:
            stream.seek(max(0, path.stat().st_size - 64))
            return stream.read()
    except OSError:
        return None


def _line_column(path: Path) -> str | None:
    """``line L column C`` of the first JSON error, when the file is small enough to re-parse."""
    try:
        if path.stat().st_size > _LINE_LOOKUP_LIMIT:
            return None
        load_json(path)
    except InputError as exc:
        return exc.where
    except OSError:
        return None
    return None
