"""Claude data exports: one personal conversation per Claude conversation.

``conversations.json`` is a list of ``{uuid, name, created_at, updated_at, account: {uuid},
chat_messages: [...]}``; a message is ``{uuid, sender: human|assistant, text, content: [blocks],
created_at, attachments, files}`` and, in newer exports, ``parent_message_uuid``. One
conversation object (what browser exporters save from the API) is read too.

Choices where the export leaves room:

- Text comes from the ``text`` blocks of ``content``: the ``text`` field repeats them but puts
  "This block is not supported on your current device yet." where a tool call or a thinking
  block was, and may carry thinking text. ``text`` is used (without those stand-ins) only when
  ``content`` has no text blocks and no thinking. Thinking, tool calls and tool results are never
  imported. An attachment adds ``[attachment: name]`` (not its extracted text), a file
  ``[file: name]``. Messages left empty, ``null`` entries and unknown senders are skipped.
- Editing a message or retrying an answer keeps both versions in ``chat_messages``, linked by
  ``parent_message_uuid``. Then only one branch is imported: the one ending at
  ``current_leaf_message_uuid`` when the export has it, else at the newest message without
  replies. Without links, the list is the conversation.
- The user id is ``ConvertOptions.user_id``, else the conversation's ``account.uuid``, else the
  first user in ``users.json``, else ``claude-user``; the session id is the conversation uuid and a
  message id the message uuid. Times keep the order as for ChatGPT (see ``assistant_export``).
- A conversation with nothing to import produces nothing, and no error.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC
from pathlib import Path
from typing import Any

import converters
from converters import register
from converters._common import has_json_key, iso_to_millis, show
from converters.assistant_export import (
    ExportSource,
    Timeline,
    find_export,
    read_export,
    source_of,
    tidy,
)
from converters.base import RESERVED_ID_PREFIX, Converter
from importer.models import Conversation, Message, Role

__all__ = [
    "ASSISTANT_ID",
    "DEFAULT_USER_ID",
    "ClaudeConverter",
    "looks_like_claude",
    "message_text",
]

DEFAULT_USER_ID = "claude-user"
ASSISTANT_ID = "claude"
_ASSISTANT_NAME = "Claude"
#: files Claude puts next to conversations.json; one of them marks an unpacked export folder
_COMPANIONS = frozenset({"users.json", "projects.json", "memories.json"})
_CHAT_MESSAGES = re.compile(r'"chat_messages"\s*:\s*[\[n]')
_MAPPING = re.compile(r'"mapping"\s*:\s*\{')
_ROLES: dict[str, Role] = {"human": "user", "assistant": "assistant"}
#: what the ``text`` field shows where the app drew something else (tool calls, artifacts)
_STAND_IN = re.compile(
    r"```\n(?:This block is not supported on your current device yet\."
    r"|Viewing artifacts created via the Analysis Tool web feature preview isn.t yet supported"
    r" on mobile\.)\n```"
)


def looks_like_claude(head: str) -> bool:
    """Whether the start of a JSON file looks like Claude's conversations.json."""
    return (
        head[:1] in ("[", "{")
        and _CHAT_MESSAGES.search(head) is not None
        and has_json_key(head, "uuid", "sender")
        and _MAPPING.search(head) is None
    )


@register
class ClaudeConverter(Converter):
    """Claude's data export: ``conversations.json``, the unpacked export folder, or the zip."""

    name = "claude"
    description = "Claude data export (conversations.json, the export folder or its zip)"

    @classmethod
    def detect(cls, path: Path) -> bool:
        source = find_export(path, _COMPANIONS, _foreign)
        head = source.head() if source is not None else None
        return head is not None and looks_like_claude(head)

    def conversations(self, path: Path) -> Iterator[Conversation]:
        source = source_of(path, _COMPANIONS, _foreign)
        yield from read_export(self, source, "uuid", _Reader(self, source))


def _foreign(path: Path) -> bool:
    """Whether another format takes ``path`` (then the folder around it is no claude export)."""
    return any(
        cls.detect(path) for cls in converters.available().values() if cls is not ClaudeConverter
    )


class _Reader:
    """Turns the raw conversations of one file into ``Conversation`` objects."""

    def __init__(self, converter: ClaudeConverter, source: ExportSource) -> None:
        self.converter = converter
        self.source = source
        self.origin = source.origin
        self.timeline = Timeline()
        self.unreadable_times = 0
        self._export_user: str | None = None
        self._export_user_read = False

    def conversation(
        self, raw: Any, place: str, deferred: list[tuple[str | None, str]]
    ) -> Conversation | None:
        """One conversation; None when it has nothing to import or after noting a problem."""
        if not isinstance(raw, dict):
            deferred.append((place, f"expected a conversation object, got {show(raw)}"))
            return None
        uuid = raw.get("uuid")
        if not isinstance(uuid, str) or not uuid.strip():
            deferred.append((place, "field 'uuid' is missing"))
            return None
        place = f"{place} (uuid {uuid})"
        items = raw.get("chat_messages")
        if items is None:
            items = []
        if not isinstance(items, list):
            deferred.append((place, "field 'chat_messages' must be a list"))
            return None
        messages = [item for item in items if isinstance(item, dict)]
        branch = _branch(messages, raw.get("current_leaf_message_uuid"))
        kept = list(self._shown(branch))
        skipped = len(items) - len(kept) - (len(messages) - len(branch))
        if not kept:
            return None
        times = self.timeline.place(
            [self._time(m.get("created_at")) for _, m, _, _ in kept],
            self._time(raw.get("created_at")),
        )
        if times is None:
            deferred.append((place, "no message has a readable 'created_at', nor the conversation"))
            return None
        user_id = self._user_id(raw)
        name = raw.get("name")
        return Conversation(
            kind="personal",
            conversation_id=user_id,
            session_id=uuid,
            name=(name.strip() or None) if isinstance(name, str) else None,
            participants={user_id: user_id, ASSISTANT_ID: _ASSISTANT_NAME},
            source=self.converter.name,
            origin=self.origin,
            messages=[
                _message(m, f"{uuid}:{index}", role, text, time, user_id)
                for (index, m, role, text), time in zip(kept, times, strict=True)
            ],
            skipped=max(skipped, 0),
        )

    @staticmethod
    def _shown(
        branch: list[tuple[int, dict[str, Any]]],
    ) -> Iterator[tuple[int, dict[str, Any], Role, str]]:
        for index, message in branch:
            sender = message.get("sender")
            role = _ROLES.get(sender) if isinstance(sender, str) else None
            text = message_text(message) if role is not None else ""
            if role is not None and text:
                yield index, message, role, text

    def _time(self, value: Any) -> int | None:
        if not isinstance(value, str) or not value.strip():
            return None
        try:
            return iso_to_millis(value, UTC)
        except ValueError:
            self.unreadable_times += 1
            return None

    def _user_id(self, raw: dict[str, Any]) -> str:
        if self.converter.options.user_id:
            return self.converter.options.user_id
        account = raw.get("account")
        found = _usable_id(account.get("uuid") if isinstance(account, dict) else None)
        if found:
            return found
        if not self._export_user_read:
            users = self.source.companion("users.json")
            first = users[0] if isinstance(users, list) and users else None
            self._export_user = _usable_id(first.get("uuid") if isinstance(first, dict) else None)
            self._export_user_read = True
        return self._export_user or DEFAULT_USER_ID

    def finish(self) -> None:
        """Say once per file what was adjusted."""
        if self.timeline.moved:
            self.converter.warning(
                self.origin,
                None,
                "message times earlier than the message before them moved up to keep the"
                f" conversation's order: {self.timeline.moved}",
            )
        if self.unreadable_times:
            self.converter.warning(
                self.origin,
                None,
                "times that are not ISO 8601 replaced by the time of the message before:"
                f" {self.unreadable_times}",
            )


def _usable_id(value: Any) -> str | None:
    """``value`` stripped when it can serve as the user id, else None."""
    if not isinstance(value, str) or value.startswith(RESERVED_ID_PREFIX):
        return None
    return value.strip() or None


def _branch(messages: list[dict[str, Any]], leaf_hint: Any) -> list[tuple[int, dict[str, Any]]]:
    """``(position, message)`` of the branch to import, in conversation order."""
    by_uuid: dict[str, tuple[int, dict[str, Any]]] = {}
    for index, message in enumerate(messages):
        uuid = message.get("uuid")
        if isinstance(uuid, str):
            by_uuid[uuid] = (index, message)
    parents = {uuid: m.get("parent_message_uuid") for uuid, (_, m) in by_uuid.items()}
    if not any(isinstance(p, str) and p in by_uuid for p in parents.values()):
        return list(enumerate(messages))  # no links (older exports): the list is the conversation
    if isinstance(leaf_hint, str) and leaf_hint in by_uuid:
        leaf = leaf_hint
    else:
        answered = {p for p in parents.values() if isinstance(p, str)}
        leaves = [uuid for uuid in by_uuid if uuid not in answered]
        # the newest leaf is the version the user went on with (the list order breaks ties)
        leaf = max(leaves, key=lambda u: (_sort_time(by_uuid[u][1]), by_uuid[u][0]))
    chain: list[tuple[int, dict[str, Any]]] = []
    node: Any = leaf
    while isinstance(node, str) and node in by_uuid and len(chain) < len(by_uuid):
        chain.append(by_uuid[node])
        node = parents[node]
    chain.reverse()
    return chain


def _sort_time(message: dict[str, Any]) -> int:
    value = message.get("created_at")
    try:
        return iso_to_millis(value, UTC) if isinstance(value, str) else -1
    except ValueError:
        return -1


def message_text(message: dict[str, Any]) -> str:
    """What a Claude message shows: its text blocks, then stand-ins for attachments and files."""
    content = message.get("content")
    blocks = [b for b in content if isinstance(b, dict)] if isinstance(content, list) else []
    texts = [
        b["text"].strip()
        for b in blocks
        if b.get("type") == "text" and isinstance(b.get("text"), str) and b["text"].strip()
    ]
    text = "\n\n".join(texts)
    if not texts and not any(b.get("type") in ("thinking", "redacted_thinking") for b in blocks):
        raw = message.get("text")
        text = _STAND_IN.sub("", raw) if isinstance(raw, str) else ""
    extras = [f"[attachment: {name}]" for name in _names(message.get("attachments"))]
    files = _names(message.get("files")) or _names(message.get("files_v2"))
    extras.extend(f"[file: {name}]" for name in files)
    return tidy("\n".join([text, *extras]))


def _names(entries: Any) -> list[str]:
    """``file_name`` of each entry, each once, in order."""
    if not isinstance(entries, list):
        return []
    names = (e.get("file_name") for e in entries if isinstance(e, dict))
    return list(dict.fromkeys(n.strip() for n in names if isinstance(n, str) and n.strip()))


def _message(
    raw: dict[str, Any], fallback_id: str, role: Role, text: str, timestamp: int, user_id: str
) -> Message:
    uuid = raw.get("uuid")
    user = role == "user"
    return Message(
        message_id=uuid if isinstance(uuid, str) and uuid.strip() else fallback_id,
        timestamp=timestamp,
        sender_id=user_id if user else ASSISTANT_ID,
        sender_name=None if user else _ASSISTANT_NAME,
        role=role,
        content=text,
    )
