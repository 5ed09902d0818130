"""Reads WhatsApp chat exports (the ``.txt``, or the ``.zip`` with ``_chat.txt`` and media).

One export is one conversation, read in two streamed passes over its text: the first settles
what the lines alone cannot say (which header style is the export's own, whether dates are
day/month or month/day, the chat's name, whether it is a group), the second builds the messages.

Choices where WhatsApp leaves room:

- Day/month order: a first field above 12 settles day-first, a second one month-first. Else the
  export's conventions decide (``AM``/``PM`` with slashes is a US phone: month-first; anything
  else day-first) and a warning says so.
- Times have no zone: ``ConvertOptions.timezone``, else the machine's local zone (a warning
  names it).
- System events (group created, X added Y, the encryption notice, security codes) are left out,
  and counted in ``skipped``, unless ``include_system_events``; then they come from ``system``.
  iOS files some under a sender (the contact, or the group itself): those are recognised by text.
- Media placeholders (``<attached: …>``, ``image omitted``, ``<Media omitted>``) and "This
  message was deleted" are kept as text: they are what the people in the chat saw.
- The conversation id comes from the chat's name (``WhatsApp Chat with X``, the iOS encryption
  notice's sender, or the group's subject), else from its participants; message ids hash the
  conversation, the minute as written, sender, text and the count of identical messages before,
  so a re-export of the grown chat gives the old messages their old ids.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from pathlib import Path

from converters import register
from converters._common import resolve_timezone, to_millis
from converters.base import Converter
from converters.whatsapp_archive import ChatText, is_chat_export, open_chat
from converters.whatsapp_lines import (
    DateOrder,
    Header,
    created_by,
    group_subject,
    is_group_event,
    is_secure_notice,
    parse_header,
    split_sender,
    strip_marks,
)
from importer.errors import InputError
from importer.models import Conversation, Message

__all__ = ["WhatsAppConverter"]

#: id prefix of every WhatsApp message (never the server's reserved ``gen_``)
ID_PREFIX = "wa-"
SYSTEM_SENDER = "system"
_LRM_TEXT = ": \u200e"  # iOS marks media and system texts after the sender with U+200E
_ORDER_WORDS = {"dmy": "day/month/year", "mdy": "month/day/year"}

Style = tuple[bool, str, bool, str]


@dataclass
class _StyleStats:
    """Evidence from the headers of one style."""

    count: int = 0
    day_first: int = 0
    month_first: int = 0
    first_day_first: int = 0
    first_month_first: int = 0
    marker: str = ""
    senders: set[str] = field(default_factory=set)


@dataclass
class _Survey:
    """What the first pass learned about the whole export."""

    styles: dict[Style, _StyleStats] = field(default_factory=dict)
    notice_sender: str | None = None
    subject: str | None = None
    group_event: bool = False

    def add(self, number: int, header: Header, rest: str, marked: bool) -> None:
        stats = self.styles.setdefault(header.style, _StyleStats())
        stats.count += 1
        stats.marker = stats.marker or header.marker
        if not header.year_first:
            if header.d1 > 12 >= header.d2:
                stats.day_first += 1
                stats.first_day_first = stats.first_day_first or number
            elif header.d2 > 12 >= header.d1:
                stats.month_first += 1
                stats.first_month_first = stats.first_month_first or number
        sender, text = split_sender(rest)
        if sender is None:
            self.subject = self.subject or group_subject(text)
            self.group_event = self.group_event or is_group_event(text)
            return
        stats.senders.add(sender)
        # only iOS (brackets) files the notice under a sender
        if self.notice_sender is None and header.style[0] and is_secure_notice(text):
            self.notice_sender = sender
        if (marked and is_group_event(text)) or created_by(sender, text):
            self.group_event = True
            self.subject = self.subject or group_subject(text)

    @property
    def style(self) -> Style:
        return max(self.styles, key=lambda style: self.styles[style].count)

    @property
    def senders(self) -> set[str]:
        """Everyone who wrote in the export's own style (a header typed into a message is not)."""
        return self.styles[self.style].senders

    @property
    def is_group(self) -> bool:
        return self.group_event or len(self.senders) > 2


@dataclass
class _Pending:
    """A message whose continuation lines are still being read."""

    number: int
    header: Header
    #: the header as written, for problem messages
    written: str
    rest: str
    marked: bool
    more: list[str] = field(default_factory=list)


@register
class WhatsAppConverter(Converter):
    """WhatsApp chat exports from iOS and Android, in any locale WhatsApp writes."""

    name = "whatsapp"
    description = "WhatsApp chat export (.txt, or the .zip with _chat.txt and media)"

    @classmethod
    def detect(cls, path: Path) -> bool:
        return is_chat_export(path)

    def conversations(self, path: Path) -> Iterator[Conversation]:
        zone = self._zone(path)
        with open_chat(path) as chat:
            survey = _Survey()
            for number, raw in chat.lines():
                line = strip_marks(raw)
                header = parse_header(line)
                if header is not None:
                    survey.add(number, header, line[header.end :], _LRM_TEXT in raw)
            if not survey.styles:
                raise InputError(chat.origin, "no WhatsApp message lines found")
            order = self._order(chat, survey)
            conversation = _Reader(self, chat, survey, order, zone).read()
        if conversation is not None:
            yield conversation

    # -- whole-file decisions --------------------------------------------------------------

    def _zone(self, path: Path) -> tzinfo | None:
        """The zone times are read in; None for the machine's own (named in a warning)."""
        if self.options.timezone is None:
            return None
        try:
            return resolve_timezone(self.options.timezone)
        except ValueError as exc:
            raise InputError(str(path), str(exc)) from None

    def _order(self, chat: ChatText, survey: _Survey) -> DateOrder:
        stats = survey.styles[survey.style]
        bracketed, separator, year_first, _ = survey.style
        if year_first:
            return "dmy"  # unused: year/month/day needs no decision
        if stats.day_first and stats.month_first:
            order: DateOrder = "dmy" if stats.day_first >= stats.month_first else "mdy"
            self.warning(
                chat.origin,
                None,
                f"dates disagree on the day/month order (line {stats.first_day_first} is"
                f" day-first, line {stats.first_month_first} month-first); read as"
                f" {_ORDER_WORDS[order]}, which most dates need",
            )
            return order
        if stats.day_first:
            return "dmy"
        if stats.month_first:
            return "mdy"
        us_style = separator == "/" and stats.marker in ("AM", "PM")
        order = "mdy" if us_style else "dmy"
        reason = (
            "AM/PM times with slashed dates are how US phones write them"
            if us_style
            else "dotted iOS dates are day-first"
            if bracketed and separator == "."
            else "most locales write the day first"
        )
        self.warning(
            chat.origin,
            None,
            f"no date settles the day/month order (none has a field above 12); assumed"
            f" {_ORDER_WORDS[order]} because {reason}",
        )
        return order


class _Reader:
    """The second pass: header lines start messages, other lines continue them."""

    def __init__(
        self,
        converter: WhatsAppConverter,
        chat: ChatText,
        survey: _Survey,
        order: DateOrder,
        zone: tzinfo | None,
    ) -> None:
        self.converter = converter
        self.chat = chat
        self.style = survey.style
        self.order = order
        self.zone = zone
        self.include_system = converter.options.include_system_events
        self.known = frozenset(survey.senders)
        self.title = chat.title or (survey.notice_sender if self.style[0] else None)
        self.title = self.title or survey.subject
        # iOS files a group's own events under the group's name; nobody else carries it
        self.group_sender = self.title if self.style[0] and survey.is_group else None
        #: who iOS files the encryption notice under: the chat itself (contact or group)
        self.chat_senders = {name for name in (self.title, survey.notice_sender) if name}
        # a chat without a name is known by its people (all of them: the first pass saw them)
        people = sorted(survey.senders - {self.group_sender or ""})
        self.name = self.title or ", ".join(people)
        self.conversation_id = _conversation_id(self.title or "\n".join(people))
        self.messages: list[Message] = []
        self.participants: dict[str, str] = {}
        self.skipped = 0
        self.errors = 0
        #: how often each (minute, sender, text) came so far, by its hash
        self._seen: Counter[str] = Counter()
        self._sender_ids: dict[str, str] = {}

    def read(self) -> Conversation | None:
        origin = self.chat.origin
        pending: _Pending | None = None
        before: list[int] = []
        for number, raw in self.chat.lines():
            line = strip_marks(raw)
            header = parse_header(line)
            if header is not None and header.style == self.style:
                if pending is not None:
                    self._finish(pending)
                written, rest = line[: header.end].strip(), line[header.end :]
                pending = _Pending(number, header, written, rest, _LRM_TEXT in raw)
            elif pending is not None:
                pending.more.append(line)
            elif line.strip():
                before.append(number)
        if pending is not None:
            self._finish(pending)
        if before:
            self.converter.warning(
                origin, f"line {before[0]}", f"{len(before)} lines before the first message ignored"
            )
        return self._conversation()

    def _finish(self, pending: _Pending) -> None:
        origin, where = self.chat.origin, f"line {pending.number}"
        try:
            moment = pending.header.moment(self.order)
        except ValueError:
            self.converter.error(
                origin,
                where,
                f"impossible date or time {pending.written!r} in a message header"
                f" (dates in this file read as {_ORDER_WORDS[self.order]})",
            )
            self.errors += 1
            return
        sender, first = split_sender(pending.rest, self.known)
        content = "\n".join([first, *pending.more]).strip()
        system = sender is None or self._system(sender, first, content, pending.marked)
        if system:
            if not self.include_system:
                self.skipped += 1
                return
            sender = SYSTEM_SENDER
        if not content or sender is None:
            self.converter.warning(origin, where, f"message from {sender!r} has no text; left out")
            self.skipped += 1
            return
        self.messages.append(self._message(moment, sender, content, system=system))

    def _system(self, sender: str, first: str, content: str, marked: bool) -> bool:
        """Whether a line with a sender is a system event iOS filed under someone's name."""
        if not self.style[0]:
            return False  # Android writes system events without a sender
        if sender == self.group_sender:
            return True
        notice = "\n" not in content and is_secure_notice(content)
        if notice and (marked or sender in self.chat_senders):
            return True  # a person writing about encryption is still a person
        return (marked and is_group_event(first)) or created_by(sender, first)

    def _conversation(self) -> Conversation | None:
        origin = self.chat.origin
        if not self.messages and not self.errors:
            self.converter.warning(
                origin, None, f"nothing to import ({self.skipped} system events or empty messages)"
            )
            return None
        if self.converter.options.timezone is None and self.messages:
            self.converter.warning(
                origin,
                None,
                f"times in WhatsApp exports carry no time zone; read as the machine's local time"
                f" ({_local_zone_name()}); set a time zone to read them in another",
            )
        return Conversation(
            kind="group",
            conversation_id=self.conversation_id,
            name=self.name or None,
            participants=self.participants,
            source=self.converter.name,
            origin=origin,
            messages=self.messages,
            skipped=self.skipped,
        )

    def _message(self, moment: datetime, sender: str, content: str, *, system: bool) -> Message:
        sender_id = SYSTEM_SENDER if system else self._sender_ids.get(sender)
        if sender_id is None:
            sender_id = self._sender_ids[sender] = _sender_id(sender)
        self.participants[sender_id] = sender
        # the minute as written: ids stay the same whatever zone the times are read in
        minute = moment.isoformat(timespec="minutes")
        base = _hash(f"{self.conversation_id}\x00{minute}\x00{sender}\x00{content}")
        occurrence = self._seen[base]
        self._seen[base] += 1
        digest = base if occurrence == 0 else _hash(f"{base}~{occurrence}")
        aware = moment.astimezone() if self.zone is None else moment.replace(tzinfo=self.zone)
        return Message(
            message_id=f"{ID_PREFIX}{digest[:24]}",
            timestamp=to_millis(aware),
            sender_id=sender_id,
            sender_name=sender,
            role="user",
            content=content,
        )


def _conversation_id(name: str) -> str:
    """``whatsapp-<readable>[-<hash>]`` of the chat's name (or of its participants, one a line)."""
    if "\n" in name:
        return f"whatsapp-{_digest(name)}"
    readable = _readable(name, 40)
    if name.isascii() and readable and len(readable) == len(name.strip()):
        return f"whatsapp-{readable}"
    # the name lost characters on the way: a hash keeps two such names apart
    return f"whatsapp-{readable}-{_digest(name)}" if readable else f"whatsapp-{_digest(name)}"


def _sender_id(name: str) -> str:
    """A stable id for a sender: a readable part and a hash of the name exactly as written."""
    readable = _readable(name, 32)
    return f"{readable}-{_digest(name)}" if readable else f"wa-{_digest(name)}"


def _readable(text: str, limit: int) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:limit].rstrip("_")


def _digest(text: str) -> str:
    return _hash(text)[:8]


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _local_zone_name() -> str:
    """The machine's zone as a user knows it: ``TZ``, the ``/etc/localtime`` link, or its abbreviation."""
    configured = os.environ.get("TZ")
    if configured:
        return configured.lstrip(":")
    try:
        target = os.readlink("/etc/localtime")
    except OSError:
        target = ""
    if "zoneinfo/" in target:
        return target.split("zoneinfo/", 1)[1]
    return datetime.now().astimezone().tzname() or "unknown"
