"""DiscordChatExporter JSON: one conversation per channel, thread or DM, streamed message-wise.

DiscordChatExporter (DCE) writes one file per channel::

    {"guild": {id, name, iconUrl}, "channel": {id, type, categoryId, category, name, topic},
     "dateRange": {...}, "exportedAt": ..., "messages": [...], "messageCount": N}

With a partition limit it writes ``Name [id].json``, ``Name [id] [part 2].json``, …; those parts
are read as one conversation when the first of them is converted. ``messages`` is parsed
incrementally (ijson), so a file of hundreds of MB never sits in memory as a tree: only the
converted messages do.
"""

from __future__ import annotations

import glob
import re
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import IO, Any, Generic, TypeVar

from converters import register
from converters.base import ConversationStream, Converter, peek_json
from converters.discord_common import (
    JSONError,
    attachment_name,
    iter_json_items,
    json_problem,
    make_message,
    parse_timestamp_ms,
    snippet,
)
from importer.errors import InputError
from importer.logs import get_logger
from importer.models import Conversation, Message, conversation_key

__all__ = ["DiscordConverter"]

log = get_logger(__name__)

_BOM = b"\xef\xbb\xbf"
_PART = re.compile(r"^(?P<base>.*) \[part (?P<number>\d+)\]$")
# keys with the kind of value DCE writes, so a word in some other file's text does not match
_HEAD_KEYS = tuple(
    re.compile(rf'"{key}"\s*:\s*\{opener}')
    for key, opener in (("guild", "{"), ("channel", "{"), ("messages", "["))
)

# DCE writes MessageKind.ToString(): a name for the kinds it knows, the number for the others.
# Speech: 0 default, 19 reply, 20 slash-command answer, 23 context-menu-command answer.
_SPEECH_TYPES = frozenset(
    {"Default", "Reply", "ChatInputCommand", "ContextMenuCommand", "0", "19", "20", "23"}
)
#: ``reference.type`` of a forward (DCE writes the kind's name; a number in case it is unknown)
_FORWARD_KINDS = frozenset({"Forward", "1"})
_KNOWN_SYSTEM_TYPES = frozenset(
    {
        "RecipientAdd",
        "RecipientRemove",
        "Call",
        "ChannelNameChange",
        "ChannelIconChange",
        "ChannelPinnedMessage",
        "GuildMemberJoin",
        "ThreadCreated",
        "ThreadStarterMessage",
    }
)


#: messages remembered for naming what a reply answers (a few MB; replies are mostly recent)
_RECENT_MESSAGES = 50_000

V = TypeVar("V")


class _Recent(Generic[V]):
    """At least the latest ``size`` entries put, by id: older ones are forgotten (in bulk, so
    that remembering one costs a dict insertion)."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._entries: dict[str, V] = {}
        self._evicted = False

    def put(self, key: str, value: V) -> None:
        entries = self._entries
        entries[key] = value
        if len(entries) >= 2 * self._size:
            self._entries = dict(islice(entries.items(), len(entries) - self._size, None))
            self._evicted = True

    def get(self, key: str) -> V | None:
        return self._entries.get(key)

    def forgot(self, key: str) -> bool:
        """Whether ``key`` may have been put and forgotten (anything was forgotten yet)."""
        return self._evicted and key not in self._entries


@dataclass(frozen=True)
class _Header:
    """What a DCE file says about its channel, plus when its first message was sent."""

    guild_id: str
    guild_name: str
    channel_id: str
    channel_type: str
    channel_name: str
    parent_name: str
    topic: str
    first_timestamp: int | None

    @property
    def conversation_name(self) -> str:
        # threads name their parent channel in "category" (DCE's original schema had no threads)
        parts = [self.guild_name]
        if "Thread" in self.channel_type and self.parent_name:
            parts.append(self.parent_name)
        parts.append(self.channel_name or self.channel_id)
        return " / ".join(p for p in parts if p)


@register
class DiscordConverter(Converter):
    """DiscordChatExporter JSON exports (channels, threads, DMs, group DMs; split parts merged)."""

    name = "discord"
    description = "DiscordChatExporter JSON export (one file per channel, thread or DM)"

    @classmethod
    def detect(cls, path: Path) -> bool:
        head = peek_json(path, 16384)
        if head is None or not head.startswith("{"):
            return False
        return all(pattern.search(head) for pattern in _HEAD_KEYS)

    def conversations(self, path: Path) -> Iterator[ConversationStream]:
        parts = self._parts(path)
        if not parts:
            return
        headers = [(_read_header(part), part) for part in parts]
        # order parts by their messages, not by their names; empty parts go last
        headers.sort(key=lambda hp: (hp[0].first_timestamp is None, hp[0].first_timestamp or 0))
        first, origin = headers[0][0], str(parts[0])
        reader = _ChannelReader(self, first.channel_id)

        def messages() -> Iterator[Message]:
            for _, part in headers:
                yield from reader.read_file(part)

        yield ConversationStream(
            reader.conversation(first, origin=origin),
            messages(),
            complete=lambda: reader.conversation(first, origin=origin, last=True),
        )

    def keys(self, path: Path) -> frozenset[str] | None:
        try:
            if not self._parts(path):
                return frozenset()  # a later part: its first part's input reads it
            channel = _read_header(path, ("channel",)).channel_id
        except InputError:
            return None  # reading it says what is wrong
        return frozenset({conversation_key("group", _conversation_id(channel))})

    def _parts(self, path: Path) -> list[Path]:
        """The files of ``path``'s channel in part order; [] when ``path`` is read with another."""
        match = _PART.match(path.stem)
        base = match["base"] if match else path.stem
        if not match and not path.with_name(f"{base} [part 2]{path.suffix}").is_file():
            return [path]  # the common case: an unsplit export, no directory listing needed
        numbered: dict[int, Path] = {}
        first = path.with_name(base + path.suffix)
        if first.is_file():
            numbered[1] = first
        pattern = glob.escape(f"{base} [part ") + "*]" + glob.escape(path.suffix)
        for sibling in path.parent.glob(pattern):
            found = _PART.match(sibling.stem)
            if found and found["base"] == base:
                numbered[int(found["number"])] = sibling
        ordered = [numbered[n] for n in sorted(numbered)] or [path]
        channel = _read_header(path).channel_id
        same = [p for p in ordered if p == path or _read_header(p).channel_id == channel]
        if same[0] != path:
            log.debug("discord_part_deferred", path=str(path), read_with=str(same[0]))
            return []
        return same


class _ChannelReader:
    """Turns the raw messages of one channel (all its parts) into ``Message`` objects."""

    def __init__(self, converter: DiscordConverter, channel_id: str) -> None:
        self.converter = converter
        self.channel_id = channel_id
        self.include_system = converter.options.include_system_events
        #: the latest messages' ids -> (author, text before any reply marker), to name what a
        #: reply answers (a reply to a reply quotes words, not the marker); bounded, so a
        #: channel of any length fits in memory
        self.recent: _Recent[tuple[str, str]] = _Recent(_RECENT_MESSAGES)
        #: id -> author of the latest messages left out (system events, nothing to say)
        self.left_out: _Recent[str] = _Recent(_RECENT_MESSAGES)
        #: author id -> (id, display name) shared by all their messages
        self.senders: dict[str, tuple[str, str]] = {}
        self.participants: dict[str, str] = {}
        self.skipped = 0
        self.textless = 0
        self.unknown_types: set[str] = set()

    def read_file(self, path: Path) -> Iterator[Message]:
        """The messages of one DCE file, converted while ``messages[]`` is parsed."""
        count = 0
        try:
            with _open(path) as stream:
                for count, raw in enumerate(iter_json_items(stream, "messages.item"), start=1):
                    if isinstance(raw, dict):
                        message = self._message(raw, count - 1, path)
                        if message is not None:
                            yield message
                    else:
                        self.converter.error(path, f"message {count - 1}", "not a JSON object")
        except JSONError as exc:
            self.converter.error(path, f"after message {count}", json_problem(exc, _tail(path)))
        except OSError as exc:
            raise InputError(str(path), f"cannot read file: {exc.strerror or exc}") from exc

    def _message(self, raw: dict[str, Any], index: int, path: Path) -> Message | None:
        kind = str(raw.get("type", "Default"))
        system = kind not in _SPEECH_TYPES
        if system and not self.include_system:
            self.skipped += 1
            self._left_out(raw)
            if kind not in _KNOWN_SYSTEM_TYPES and not kind.isdigit():
                self.unknown_types.add(kind)
            return None
        message_id = str(raw.get("id") or "")
        timestamp = self._timestamp(raw.get("timestamp"))
        sender = self._sender(raw.get("author"))
        if not message_id or isinstance(timestamp, str) or sender is None:
            where = f"message {index} (id {message_id or '?'})"
            if not message_id:
                self.converter.error(path, where, "field 'id' is missing")
            if isinstance(timestamp, str):
                self.converter.error(path, where, timestamp)
            if sender is None:
                self.converter.error(path, where, "field 'author.id' is missing")
            return None
        content = _content(raw) or (f"[{kind}]" if system else "")
        if not content:
            self.skipped += 1
            self.textless += 1
            self._left_out(raw)
            return None
        # a reply is any message of speech that references a message (older exports and
        # some clients give replies type Default); a pin or thread start references one too
        reply_to = None if system else self._reply_target(raw)
        self.recent.put(message_id, (sender[1], content))
        if reply_to is not None:
            content = self._marked(reply_to, content)
        return make_message(message_id, timestamp, sender[0], sender[1], content, reply_to)

    @staticmethod
    def _timestamp(value: Any) -> int | str:
        """Unix ms, or what is wrong with the field (reported by the caller, which knows where)."""
        if not isinstance(value, str) or not value:
            return "field 'timestamp' is missing"
        try:
            return parse_timestamp_ms(value)
        except ValueError:
            return f"field 'timestamp' is not a date: {value!r}"

    def _sender(self, author: Any) -> tuple[str, str] | None:
        if not isinstance(author, dict) or not author.get("id"):
            return None
        author_id = str(author["id"])
        display = author.get("nickname") or author.get("name") or author_id
        known = self.senders.get(author_id)
        if known is not None and known[1] == display:
            return known
        # first message of this author, or their nickname changed from here on
        sender = (author_id, str(display))
        self.senders[author_id] = sender
        self.participants[author_id] = sender[1]
        return sender

    def _reply_target(self, raw: dict[str, Any]) -> str | None:
        reference = raw.get("reference")
        if not isinstance(reference, dict) or not reference.get("messageId"):
            return None
        if str(reference.get("type") or "") in _FORWARD_KINDS:
            return None  # a forward carries its own copy of the message, it answers nothing
        channel = reference.get("channelId")
        if channel and str(channel) != self.channel_id:
            return None  # a message elsewhere: its id would mean nothing in this conversation
        return str(reference["messageId"])

    def _left_out(self, raw: dict[str, Any]) -> None:
        """Remember who wrote a message left out, for replies to it."""
        author = raw.get("author")
        if raw.get("id") and isinstance(author, dict):
            name = author.get("nickname") or author.get("name") or author.get("id")
            self.left_out.put(str(raw["id"]), str(name or "someone"))

    def _marked(self, reply_to: str, content: str) -> str:
        target = self.recent.get(reply_to)
        if target is None:
            author = self.left_out.get(reply_to)
            if author is not None:
                return f"[reply to {author}] {content}"
            if self.recent.forgot(reply_to):
                return f"[reply to an earlier message] {content}"
            # deleted, or before the exported range: reply_to still says what it answers
            return f"[reply to a deleted message] {content}"
        author, text = target
        return f'[reply to {author}: "{snippet(text)}"] {content}'

    def conversation(self, header: _Header, *, origin: str, last: bool = False) -> Conversation:
        """The conversation read so far (``last``: all of it, with a warning for what was left
        out and why)."""
        converter = self.converter
        if last and self.textless:
            converter.warning(origin, None, f"messages without any text left out: {self.textless}")
        if last and self.unknown_types:
            kinds = ", ".join(sorted(self.unknown_types))
            converter.warning(origin, None, f"messages of unknown type left out: {kinds}")
        return Conversation(
            kind="group",
            conversation_id=_conversation_id(header.channel_id),
            name=header.conversation_name,
            description=header.topic or None,
            participants=self.participants,
            source=converter.name,
            origin=origin,
            skipped=self.skipped,
        )


def _content(raw: dict[str, Any]) -> str:
    """The text of a message, then what it carries: files, stickers, a forwarded message.

    Embeds stand in only for a message without text: next to text they are mostly previews
    of the links in it.
    """
    text = raw.get("content")
    text = text if isinstance(text, str) and text.strip() else ""
    if text and not raw.get("attachments") and not raw.get("stickers") and not raw.get(
        "forwardedMessage"
    ):
        return text  # most messages: nothing else to add (and a million of them to read)
    lines = [text] if text else []
    lines.extend(_media(raw))
    if not text:
        lines.extend(_embeds(raw))
    forwarded = raw.get("forwardedMessage")
    if isinstance(forwarded, dict):
        lines.extend(_forwarded(forwarded))
    return "\n".join(lines)


def _media(raw: dict[str, Any]) -> Iterator[str]:
    for attachment in _objects(raw.get("attachments")):
        name = attachment.get("fileName") or attachment_name(str(attachment.get("url") or ""))
        if name:
            yield f"[attachment: {name}]"
    for sticker in _objects(raw.get("stickers")):
        yield f"[sticker: {sticker.get('name') or 'sticker'}]"


def _embeds(raw: dict[str, Any]) -> Iterator[str]:
    for embed in _objects(raw.get("embeds")):
        title = str(embed.get("title") or "").strip()
        description = str(embed.get("description") or "").strip()
        if title:
            yield f"[embed: {title}] {description}".rstrip()
        elif description:
            yield f"[embed] {description}"
        elif embed.get("url"):
            yield f"[embed: {embed['url']}]"


def _forwarded(forwarded: dict[str, Any]) -> Iterator[str]:
    """A forwarded message (newer exports copy it into ``forwardedMessage``), marked as such."""
    text = forwarded.get("content")
    text = text.strip() if isinstance(text, str) else ""
    rest = list(_media(forwarded)) + ([] if text else list(_embeds(forwarded)))
    if text or rest:
        yield f"[forwarded message] {text}".rstrip()
        yield from rest


def _objects(value: Any) -> Iterator[dict[str, Any]]:
    if isinstance(value, list):
        yield from (item for item in value if isinstance(item, dict))


def _open(path: Path) -> IO[bytes]:
    """Open a JSON file for streaming, past a UTF-8 byte order mark if there is one."""
    stream = path.open("rb")
    if stream.read(3) != _BOM:
        stream.seek(0)
    return stream


def _read_header(
    path: Path, members: tuple[str, ...] = ("guild", "channel", "messages.item")
) -> _Header:
    """Guild, channel and first timestamp of a DCE file (they come first, so this is cheap);
    of ``members`` alone when fewer are asked for."""
    try:
        with _open(path) as stream:
            start = stream.tell()
            found: dict[str, Any] = {}
            for key in members:
                stream.seek(start)
                found[key] = next(iter_json_items(stream, key), None)
    except OSError as exc:
        raise InputError(str(path), f"cannot read file: {exc.strerror or exc}") from exc
    except JSONError as exc:
        raise InputError(str(path), json_problem(exc, _tail(path))) from exc
    return _header_from(path, found)


def _conversation_id(channel_id: str) -> str:
    return f"discord_{channel_id}"


def _header_from(path: Path, found: dict[str, Any]) -> _Header:
    guild, channel, first = found.get("guild"), found["channel"], found.get("messages.item")
    if not isinstance(channel, dict) or not channel.get("id"):
        raise InputError(str(path), "not a DiscordChatExporter export", where="field 'channel.id'")
    guild = guild if isinstance(guild, dict) else {}
    first_timestamp = None
    if isinstance(first, dict) and isinstance(first.get("timestamp"), str):
        try:
            first_timestamp = parse_timestamp_ms(first["timestamp"])
        except ValueError:
            pass  # reported with the message itself when the file is read
    return _Header(
        guild_id=str(guild.get("id") or ""),
        guild_name=str(guild.get("name") or ""),
        channel_id=str(channel["id"]),
        channel_type=str(channel.get("type") or ""),
        channel_name=str(channel.get("name") or ""),
        parent_name=str(channel.get("category") or ""),
        topic=str(channel.get("topic") or "").strip(),
        first_timestamp=first_timestamp,
    )


def _tail(path: Path) -> bytes | None:
    try:
        with path.open("rb") as stream:
            stream.seek(max(0, path.stat().st_size - 64))
            return stream.read()
    except OSError:
        return None
