"""Turns the raw message records of one Slack conversation into chronological ``Message``s.

Records arrive one day file at a time. A thread reply sits in the day file of its own ``ts``,
often days after its parent, so replies are tied to their parents only when the whole
conversation has been read: ``finish`` sorts by the exact ``ts`` and puts a short marker naming
the parent in front of each reply, so the memory still knows what a reply answers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from converters._common import SNIPPET_CHARS, snippet
from converters.slack_markup import SlackRenderer, bot_name_fallback
from importer.models import Message

__all__ = [
    "DROPPED_SUBTYPES",
    "SNIPPET_CHARS",
    "SYSTEM_SUBTYPES",
    "ChannelAssembler",
    "Problem",
    "snippet",
    "ts_micros",
    "ts_millis",
]

#: events about the conversation rather than messages in it: skipped unless asked for
SYSTEM_SUBTYPES = frozenset(
    {
        "channel_join", "channel_leave", "group_join", "group_leave", "bot_add", "bot_remove",
        "bot_enable", "bot_disable", "channel_topic", "channel_purpose", "channel_name",
        "group_topic", "group_purpose", "group_name", "channel_archive", "channel_unarchive",
        "group_archive", "group_unarchive", "channel_convert_to_private",
        "channel_convert_to_public", "channel_posting_permissions", "channel_canvas_updated",
        "pinned_item", "unpinned_item", "reminder_add", "reminder_delete", "sh_room_created",
        "sh_room_shared", "huddle_thread", "app_conversation_join", "app_conversation_leave",
        "joiner_notification", "joiner_notification_for_inviter", "service_add",
        "service_remove", "ekm_access_denied",
    }
)  # fmt: skip
#: never imported: deleted messages, their placeholders, edit and reply notifications
DROPPED_SUBTYPES = frozenset({"tombstone", "message_deleted", "message_changed", "message_replied"})

_EPOCH_DAY = date(1970, 1, 1).toordinal()
_DAY_MICROS = 86_400_000_000

Severity = Literal["error", "warning"]



@dataclass(frozen=True)
class Problem:
    """Something wrong in the input, for the converter to report."""

    severity: Severity
    path: str
    where: str | None
    message: str


def ts_micros(ts: object) -> int | None:
    """Unix microseconds of a Slack ``ts`` (``"1504000000.000200"``), read as decimal text.

    Never goes through float, which cannot hold 16 significant digits exactly.
    Returns None when ``ts`` is not such a string.
    """
    if not isinstance(ts, str):
        return None
    seconds, _, fraction = ts.partition(".")
    if not (seconds.isascii() and seconds.isdigit()):
        return None
    if fraction and not (fraction.isascii() and fraction.isdigit()):
        return None
    return int(seconds) * 1_000_000 + int((fraction + "000000")[:6])


def ts_millis(ts: str) -> int | None:
    """Exact Unix milliseconds of a Slack ``ts``; None when it is not one."""
    micros = ts_micros(ts)
    return None if micros is None else micros // 1000


@dataclass(slots=True)
class _Entry:
    micros: int
    message_id: str
    sender_id: str
    sender_name: str
    content: str
    parent_ts: str | None
    parent_user: str | None
    quoted: str | None = None


def _micros(entry: _Entry) -> int:
    return entry.micros


class ChannelAssembler:
    """Collects the records of one conversation (``feed``), then builds its messages (``finish``).

    ``skipped`` counts records left out on purpose (system events, deleted messages, messages
    with nothing to read); ``problems`` holds what the converter should report.
    """

    def __init__(self, renderer: SlackRenderer, *, include_system_events: bool = False) -> None:
        self._renderer = renderer
        self._system = include_system_events
        self._entries: list[_Entry] = []
        self._by_id: dict[str, _Entry] = {}
        #: later entries of a ts listed more than once
        self._copies: dict[str, list[_Entry]] = {}
        self._deleted: set[str] = set()
        self.skipped = 0
        #: of ``skipped``: messages with no text, attachment, block or file to import
        self.empty = 0
        self.problems: list[Problem] = []
        #: sender id -> name of everyone whose messages were kept
        self.senders: dict[str, str] = {}

    def feed(self, records: object, origin: str, day: str) -> None:
        """Take the parsed content of one day file (``day`` is its ``YYYY-MM-DD``)."""
        if not isinstance(records, list):
            found = type(records).__name__ if records is not None else "null"
            self._problem("error", origin, None, f"expected a list of messages, found {found}")
            return
        previous: int | None = None  # placement for a message without a usable ts
        for index, raw in enumerate(records):
            if not isinstance(raw, dict):
                self._problem("error", origin, f"message {index}", "not a JSON object")
                continue
            taken = self._take(raw, origin, day, index, previous)
            if taken is not None:
                previous = taken

    def _take(
        self, raw: Mapping[str, Any], origin: str, day: str, index: int, previous: int | None
    ) -> int | None:
        subtype = raw.get("subtype")
        if subtype == "bot_add":
            self._renderer.learn_bot(raw)  # names the bot even when the event itself is skipped
        if (subtype is not None and self._leave_out(raw, subtype)) or raw.get("hidden"):
            self.skipped += 1
            return None
        ts = raw.get("ts")
        micros = ts_micros(ts)
        if micros is None or not isinstance(ts, str):
            micros, message_id = self._untimed(raw, origin, day, index, previous)
        else:
            message_id = ts  # unique within a conversation, and stable across exports
        content = self._renderer.message(raw)
        if not content:
            self.skipped += 1
            self.empty += 1
            return None
        sender_id, sender_name = self._renderer.sender(raw)
        thread_ts = raw.get("thread_ts")
        parent = thread_ts if isinstance(thread_ts, str) and thread_ts != ts else None
        parent_user = raw.get("parent_user_id") if parent else None
        entry = _Entry(
            micros, message_id, sender_id, sender_name, content, parent,
            parent_user if isinstance(parent_user, str) else None,
        )  # fmt: skip
        self._entries.append(entry)
        # a ts listed twice (a broadcast reply is also in its thread) is kept twice here: the
        # converter base drops the exact repeat; edits must reach every copy so they stay exact
        earlier = self._by_id.setdefault(message_id, entry)
        if earlier is not entry:
            self._copies.setdefault(message_id, []).append(entry)
        return micros

    def _leave_out(self, raw: Mapping[str, Any], subtype: object) -> bool:
        if subtype in DROPPED_SUBTYPES:
            if subtype == "tombstone" and isinstance(raw.get("ts"), str):
                self._deleted.add(raw["ts"])  # its replies say they answer a deleted message
            elif subtype == "message_deleted" and isinstance(raw.get("deleted_ts"), str):
                self._deleted.add(raw["deleted_ts"])
            elif subtype == "message_changed":
                self._edit(raw.get("message"))
            return True
        return subtype in SYSTEM_SUBTYPES and not self._system

    def _edit(self, edited: object) -> None:
        """Apply an edit event to the message it edits, so the final text is what is kept."""
        if isinstance(edited, dict) and isinstance(edited.get("ts"), str):
            entry = self._by_id.get(edited["ts"])
            content = self._renderer.message(edited) if entry else ""
            if entry and content:
                entry.content = content
                for copy in self._copies.get(edited["ts"], ()):
                    copy.content = content

    def _untimed(
        self, raw: Mapping[str, Any], origin: str, day: str, index: int, previous: int | None
    ) -> tuple[int, str]:
        client = raw.get("client_msg_id")
        message_id = client if isinstance(client, str) and client else f"{day}#{index}"
        if previous is None:
            try:
                previous = (date.fromisoformat(day).toordinal() - _EPOCH_DAY) * _DAY_MICROS
            except ValueError:
                previous = 0
        self._problem(
            "warning", origin, f"message {index}",
            f"no usable 'ts' ({raw.get('ts')!r}); placed after the message before it,"
            f" id {message_id}",
        )  # fmt: skip
        return previous, message_id

    def _problem(self, severity: Severity, path: str, where: str | None, message: str) -> None:
        self.problems.append(Problem(severity, path, where, message))

    def finish(self) -> list[Message]:
        """The kept messages in chronological order, thread replies marked. Call once."""
        entries, self._entries = self._entries, []
        entries.sort(key=_micros)  # stable: records with the same ts keep file order
        deleted, users, senders = self._deleted, self._renderer.users, self.senders
        messages = []
        for entry in entries:
            if deleted and entry.message_id in deleted:
                self.skipped += 1
                continue
            if entry.sender_name == entry.sender_id:
                # a user unknown when read (a join before their first profile-carrying message)
                entry.sender_name = users.get(entry.sender_id, entry.sender_name)
            elif entry.sender_name[:4] == "bot " and entry.sender_name == bot_name_fallback(
                entry.sender_id
            ):
                # a bot posting before the bot_add that names it was read
                entry.sender_name = self._renderer.bot_name(entry.sender_id)
            senders[entry.sender_id] = entry.sender_name
            content, reply_to = entry.content, None
            if entry.parent_ts is not None:
                marker, reply_to = self._marker(entry)
                content = marker + content
            messages.append(
                # values checked as they were read (ts_micros, non-empty content, str ids);
                # bots are "user" too: a Slack bot is not the memory's assistant
                Message.trusted(entry.message_id, entry.micros // 1000, entry.sender_id,
                                entry.sender_name, "user", content, reply_to)
            )
        self._by_id, self._copies = {}, {}
        return messages

    def _marker(self, entry: _Entry) -> tuple[str, str | None]:
        """``[reply to Alice: "first words…"] `` and the parent's id when the parent is kept."""
        parent_ts = entry.parent_ts
        parent = self._by_id.get(parent_ts) if parent_ts is not None else None
        if parent is not None and parent is not entry and parent.message_id not in self._deleted:
            if parent.quoted is None:
                parent.quoted = snippet(parent.content)
            return f'[reply to {parent.sender_name}: "{parent.quoted}"] ', parent.message_id
        if parent_ts in self._deleted:
            return "[reply to a deleted message] ", None
        if entry.parent_user:
            return f"[reply to {self._renderer.user_name(entry.parent_user)}] ", None
        return "[reply in a thread] ", None
