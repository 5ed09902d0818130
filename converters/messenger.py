"""Facebook Messenger and Instagram exports ("Download your information", JSON) as conversations.

Inputs, detected by content, not by name:

- a **thread folder** (``messages/inbox/<thread>/``) holding ``message_1.json``, ``message_2.json``,
  …: its parts are read as one conversation;
- a **messages folder** (the one holding ``inbox/``, ``archived_threads/``, ``filtered_threads/``,
  ``message_requests/``, ``e2ee_cutover/``): every thread in it, one conversation each; a thread
  found in two of those folders is one conversation;
- a single ``message_N.json``: read alone (give the folder to join the parts of a split thread);
- a file of the end-to-end encrypted Messenger download (``{participants: [names], threadName,
  messages: [{senderName, text, timestamp, type, isUnsent, media, reactions}]}``).

Folders that only hold thread folders (``inbox/``) are walked by discovery: each thread folder is
then one input.

Choices:

- ``conversation_id`` is ``messenger_<thread id>``, the id being the part of the thread folder's
  name after its last ``_`` (``johndoe_abc123XYZ9`` -> ``abc123XYZ9``): the part before it follows
  the thread's title, which changes when a group is renamed. Ids of the encrypted download are
  ``messenger_e2ee_<slug of threadName>``.
- Every conversation is a group (DMs too); sender ids are slugs of display names ("Jörg Müller" ->
  ``jorg_muller``), the only identity the export has. Message ids are derived from the thread,
  time, sender and text (a counter tells exact repeats apart).
- Messages are sorted oldest first (files are written newest first). Text is repaired of
  Facebook's mojibake. Media become ``[photo]``, ``[2 photos]``, ``[video]``, ``[audio]``,
  ``[file: name]``, ``[gif]``, ``[sticker]``, ``[shared link: url]``. Reactions are left out.
- Left out unless ``include_system_events``: unsent messages, calls, members joining or leaving,
  and the export's own event lines (see ``messenger_text``); ``Conversation.skipped`` counts them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from converters import register
from converters._common import IdDeriver, epoch_to_millis, has_json_key, peek_tail, show
from converters.base import Converter, load_json, peek_json
from converters.messenger_text import (
    e2ee_media_placeholders,
    is_attachment_stand_in,
    is_system_line,
    media_placeholders,
    person_id,
    repair,
)
from importer.errors import InputError
from importer.models import Conversation, Message

__all__ = ["MessengerConverter"]

#: the folders of ``messages/`` that hold thread folders
BOXES = ("inbox", "archived_threads", "filtered_threads", "message_requests", "e2ee_cutover")
_PART = re.compile(r"message_(\d+)\.json")
_E2EE_SUFFIX = re.compile(r"_\d+$")
_UNKNOWN_SENDER = "Unknown sender"

Kind = Literal["classic", "e2ee"]


def _file_kind(path: Path) -> Kind | None:
    """Which export a JSON file is from, by its keys (cheap: the head, and the tail if needed)."""
    head = peek_json(path)
    if head is None or not head.startswith("{") or not has_json_key(head, "messages"):
        return None
    if has_json_key(head, "threadName", "senderName", "isUnsent"):
        return "e2ee"
    if has_json_key(head, "sender_name") and has_json_key(head, "timestamp_ms"):
        return "classic"
    # no message in the head (an empty thread, or a long participant list): keys written last
    tail = peek_tail(path, 4096)
    if has_json_key(tail, "threadName"):
        return "e2ee"
    if has_json_key(tail, "thread_path", "is_still_participant", "magic_words"):
        return "classic"
    return None


def _thread_files(folder: Path) -> list[Path]:
    """The classic-export JSON files of a thread folder, oldest part first ([] if none)."""
    try:
        names = [e.name for e in os.scandir(folder) if e.is_file() and e.name.endswith(".json")]
    except OSError:
        return []
    numbered = sorted((int(m[1]), name) for name in names if (m := _PART.fullmatch(name)))
    # one readable part is enough: a broken message_1.json is then reported with its thread
    if not any(_file_kind(folder / name) == "classic" for _, name in numbered[:3]):
        return []
    # message_1.json holds the newest messages; others (a name cut short) are checked by content
    others = [n for n in sorted(names) if not _PART.fullmatch(n)]
    ordered = [name for _, name in reversed(numbered)]
    ordered += [n for n in others if _file_kind(folder / n) == "classic"]
    return [folder / name for name in ordered]


def _thread_folders(root: Path) -> Iterator[Path]:
    """Thread folders under the boxes of a messages folder, box by box, sorted by name."""
    for box in BOXES:
        try:
            entries = sorted(os.scandir(root / box), key=lambda e: e.name)
        except OSError:
            continue
        for entry in entries:
            if entry.is_dir() and not entry.name.startswith("."):
                yield Path(entry.path)


def _is_messages_root(path: Path) -> bool:
    return any(_thread_files(folder) for folder in _first_each_box(path))


def _first_each_box(root: Path) -> Iterator[Path]:
    # a few folders per box are enough to tell; keeps detection cheap on big exports
    for box in BOXES:
        try:
            with os.scandir(root / box) as entries:
                folders = [Path(e.path) for e in entries if e.is_dir()][:3]
        except OSError:
            continue
        yield from folders


def thread_id(folder_name: str) -> str:
    """The stable part of a thread folder's name: what follows the last ``_``, if id-like."""
    head, _, tail = folder_name.rpartition("_")
    if head and len(tail) >= 6 and re.fullmatch(r"[A-Za-z0-9-]+", tail):
        return tail
    return re.sub(r"[^A-Za-z0-9_-]+", "_", folder_name).strip("_") or "thread"


@dataclass
class _Raw:
    """A message as read, before ids: oldest first once sorted."""

    timestamp: int
    sender: str
    content: str


@dataclass
class _Thread:
    """What the files of one thread hold, gathered file by file."""

    folder_name: str
    origin: str
    title: str = ""
    thread_path: str = ""
    participants: dict[str, str] = field(default_factory=dict)
    messages: list[_Raw] = field(default_factory=list)
    skipped: int = 0
    textless: int = 0


@register
class MessengerConverter(Converter):
    """Messenger / Instagram JSON exports: thread folders, messages folders, single files."""

    name = "messenger"
    description = "Facebook Messenger or Instagram export (JSON): messages folder, thread or file"

    @classmethod
    def detect(cls, path: Path) -> bool:
        if path.is_dir():
            return bool(_thread_files(path)) or _is_messages_root(path)
        return _file_kind(path) is not None

    def conversations(self, path: Path) -> Iterator[Conversation]:
        if path.is_file():
            if _file_kind(path) == "e2ee":
                yield from self._e2ee(path)
                return
            name = path.parent.name if _PART.fullmatch(path.name) else path.stem
            yield self._thread([[path]], name, str(path))
        elif files := _thread_files(path):
            yield self._thread([files], path.name, str(path))
        else:
            yield from self._messages_root(path)

    # -- classic export ----------------------------------------------------------------------

    def _messages_root(self, root: Path) -> Iterator[Conversation]:
        by_id: dict[str, list[Path]] = {}
        for folder in _thread_folders(root):
            files = _thread_files(folder)
            if files:
                by_id.setdefault(thread_id(folder.name), []).append(folder)
        for folders in by_id.values():
            parts = [_thread_files(folder) for folder in folders]
            yield self._thread(parts, folders[0].name, str(folders[0]))

    def _thread(self, folders: list[list[Path]], folder_name: str, origin: str) -> Conversation:
        """One conversation from the part files of one or more folders of the same thread."""
        thread = _Thread(folder_name, origin)
        seen: set[tuple[int, str, str]] = set()
        for files in folders:
            before = len(thread.messages)
            for file in files:
                self._read_file(file, thread)
            if len(folders) > 1:  # the same thread in two boxes: what the first had is kept once
                fresh = [m for m in thread.messages[before:] if _key(m) not in seen]
                thread.messages[before:] = fresh
                seen.update(_key(m) for m in fresh)
        return self._conversation(thread)

    def _read_file(self, path: Path, thread: _Thread) -> None:
        try:
            data = load_json(path)
        except InputError as exc:
            self.error(path, exc.where, exc.reason)
            return
        if not isinstance(data, dict) or not isinstance(data.get("messages"), list):
            self.error(path, "top level", "expected an object with a 'messages' list")
            return
        self._thread_fields(path, data, thread)
        items = data["messages"]
        order = range(len(items))
        if _newest_first(items, "timestamp_ms"):
            order = range(len(items) - 1, -1, -1)
        others = list(thread.participants.values())
        for index in order:
            self._classic_message(path, index, items[index], thread, others)

    def _thread_fields(self, path: Path, data: Mapping[str, Any], thread: _Thread) -> None:
        for key in ("title", "thread_path"):
            value = _text(data.get(key)).strip()
            if value and not getattr(thread, key):
                setattr(thread, key, value)
        people = data.get("participants")
        if people is not None and not isinstance(people, list):
            self.warning(path, "participants", f"expected a list, not {show(people)}; ignored")
            return
        for person in people or ():
            name = _text(person.get("name") if isinstance(person, dict) else person).strip()
            if name:
                thread.participants[person_id(name)] = name

    def _classic_message(
        self, path: Path, index: int, raw: Any, thread: _Thread, others: list[str]
    ) -> None:
        where = f"message {index}"
        if not isinstance(raw, dict):
            self.error(path, where, f"expected an object, not {show(raw)}")
            return
        timestamp = self._timestamp(path, where, raw.get("timestamp_ms"), "timestamp_ms")
        if timestamp is None:
            return
        sender = self._sender(path, where, raw.get("sender_name"), "sender_name")
        text = _text(raw.get("content"))
        media = media_placeholders(raw, text)
        event = _classic_event(raw, text, sender, others, bool(media))
        self._add(thread, timestamp, sender, _body(text, media, sender, event), event)

    # -- end-to-end encrypted download ----------------------------------------------------------

    def _e2ee(self, path: Path) -> Iterator[Conversation]:
        data = load_json(path)
        if not isinstance(data, dict) or not isinstance(data.get("messages"), list):
            raise InputError(
                str(path), "expected an object with a 'messages' list", where="top level"
            )
        name = _text(data.get("threadName")).strip() or path.stem
        thread = _Thread(name, str(path), title=_E2EE_SUFFIX.sub("", name) or name)
        self._thread_fields(path, data, thread)
        items = data["messages"]
        newest_first = _newest_first(items, "timestamp")
        order = range(len(items) - 1, -1, -1) if newest_first else range(len(items))
        others = list(thread.participants.values())
        for index in order:
            raw = items[index]
            where = f"message {index}"
            if not isinstance(raw, dict):
                self.error(path, where, f"expected an object, not {show(raw)}")
                continue
            timestamp = self._timestamp(path, where, raw.get("timestamp"), "timestamp")
            if timestamp is None:
                continue
            sender = self._sender(path, where, raw.get("senderName"), "senderName")
            text = _text(raw.get("text"))
            media = e2ee_media_placeholders(raw.get("media") or ())
            event: str | None = None
            if raw.get("isUnsent") is True or raw.get("type") == "placeholder":
                event = text.strip() or "[unsent message]"
            else:
                event = _text_event(text, sender, others, bool(media))
            self._add(thread, timestamp, sender, _body(text, media, sender, event), event)
        yield self._conversation(thread, conversation_id=f"messenger_e2ee_{person_id(name)}")

    # -- shared --------------------------------------------------------------------------------

    def _timestamp(self, path: Path, where: str, value: Any, field_name: str) -> int | None:
        if isinstance(value, int | float) and not isinstance(value, bool):
            try:
                millis = epoch_to_millis(value)
            except ValueError:
                millis = -1
            if millis >= 0:
                return millis
        problem = "is missing" if value is None else f"is not a Unix time: {show(value)}"
        self.error(path, where, f"field '{field_name}' {problem}")
        return None

    def _sender(self, path: Path, where: str, value: Any, field_name: str) -> str:
        if isinstance(value, str) and value.strip():
            return repair(value.strip())
        self.warning(
            path, where, f"field '{field_name}' is missing; sender set to '{_UNKNOWN_SENDER}'"
        )
        return _UNKNOWN_SENDER

    def _add(
        self, thread: _Thread, timestamp: int, sender: str, body: str, event: str | None
    ) -> None:
        if event is not None:
            if not self.options.include_system_events:
                thread.skipped += 1
                return
            body = body if body.strip() else event
        if not body.strip():
            thread.skipped += 1
            thread.textless += 1
            return
        thread.messages.append(_Raw(timestamp, sender, body))

    def _conversation(self, thread: _Thread, *, conversation_id: str | None = None) -> Conversation:
        if thread.textless:
            self.warning(
                thread.origin, None, f"messages with no text or media left out: {thread.textless}"
            )
        folder = thread.thread_path.rstrip("/").rsplit("/", 1)[-1] or thread.folder_name
        conversation_id = conversation_id or f"messenger_{thread_id(folder)}"
        thread.messages.sort(key=lambda m: m.timestamp)  # stable: ties keep the export's order
        ids = IdDeriver(conversation_id)
        participants = dict(thread.participants)
        messages: list[Message] = []
        for raw in thread.messages:
            sender_id = person_id(raw.sender)
            participants.setdefault(sender_id, raw.sender)
            messages.append(
                Message(
                    message_id=ids.derive(raw.timestamp, sender_id, raw.content),
                    timestamp=raw.timestamp,
                    sender_id=sender_id,
                    sender_name=raw.sender,
                    content=raw.content,
                )
            )
        names = ", ".join(participants.values())
        return Conversation(
            kind="group",
            conversation_id=conversation_id,
            name=thread.title or names or folder,
            description=f"Messenger conversation between {names}" if names else None,
            participants=participants,
            source=self.name,
            origin=thread.origin,
            messages=messages,
            source_meta={"thread_path": thread.thread_path} if thread.thread_path else {},
            skipped=thread.skipped,
        )


def _classic_event(
    raw: Mapping[str, Any], text: str, sender: str, others: list[str], has_media: bool
) -> str | None:
    """The text a system event shows when kept, or None for an ordinary message."""
    kind = raw.get("type")
    if raw.get("is_unsent") is True:
        return "[unsent message]"
    if kind == "Call" or "call_duration" in raw:
        seconds = raw.get("call_duration")
        length = f", {_duration(seconds)}" if isinstance(seconds, int) and seconds > 0 else ""
        return text.strip() or f"[call{length}]"
    if kind in ("Subscribe", "Unsubscribe"):
        users = [_text(u.get("name")) for u in raw.get("users") or () if isinstance(u, dict)]
        who = ", ".join(u for u in users if u) or "someone"
        what = "added" if kind == "Subscribe" else "removed"
        return text.strip() or f"[{sender} {what} {who}]"
    return _text_event(text, sender, others, has_media)


def _body(text: str, media: list[str], sender: str, event: str | None) -> str:
    """A message's text followed by its media placeholders."""
    if event is None and media and is_attachment_stand_in(text, sender):
        text = ""  # "You sent an attachment." written next to the attachment itself
    return "\n".join(part for part in (text if text.strip() else "", " ".join(media)) if part)


def _text_event(text: str, sender: str, others: list[str], has_media: bool) -> str | None:
    """The line itself when ``text`` is one of the export's event lines, else None."""
    if not text.strip():
        return None
    if is_attachment_stand_in(text, sender):
        # "You sent an attachment." is an event only when the attachment is not in the export
        return None if has_media else text.strip()
    return text.strip() if is_system_line(text, sender, others) else None


def _duration(seconds: int) -> str:
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes}m {secs}s" if hours else f"{minutes}m {secs}s"


def _text(value: Any) -> str:
    """A string field, repaired of mojibake; "" when absent or not a string."""
    return repair(value) if isinstance(value, str) else ""


def _newest_first(items: list[Any], key: str) -> bool:
    """Whether a message list runs newest first (the classic export) rather than oldest first."""
    stamps: list[int | float] = [
        m[key]
        for m in items
        if isinstance(m, dict)
        and isinstance(m.get(key), int | float)
        and m[key] is not True
        and m[key] is not False
    ]
    return len(stamps) > 1 and stamps[0] > stamps[-1]


def _key(message: _Raw) -> tuple[int, str, str]:
    return (message.timestamp, message.sender, message.content)
