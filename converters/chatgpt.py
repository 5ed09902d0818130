"""ChatGPT data exports: one personal conversation per ChatGPT conversation, as last seen.

``conversations.json`` (a list of conversations, or one conversation object) stores each
conversation as a tree: ``mapping`` is node id -> ``{message, parent, children}``; editing a
question or regenerating an answer adds a sibling branch, and ``current_node`` is the leaf that
was on screen. Only that branch is imported, root to leaf.

Left out, as the ChatGPT page does not show them as conversation: system and tool messages,
messages marked ``is_visually_hidden_from_conversation`` (custom instructions, memory context),
reasoning (``thoughts``, ``reasoning_recap``, the ``analysis`` channel), browsing results and
quotes, code sent to a tool and its output, and anything addressed to a recipient other than
``all``. Every left-out message on the branch, and every one left empty, counts as skipped.

Choices where the export leaves room:

- The user id is ``ConvertOptions.user_id``, else the ``id`` in the export's ``user.json`` (next
  to ``conversations.json``, or in the zip), else ``chatgpt-user``. The session id is the
  conversation's ``id``; a message id is ``<conversation id>:<node id>``, since node ids repeat
  across conversations.
- All parts of a message are joined; an image is ``[image]``, a voice message its transcription
  (``[audio]`` without one), an uploaded file ``[attachment: name]``. Citation and entity markers
  (private-use characters) become what the page shows in their place.
- Times are the messages' ``create_time`` to the exact millisecond, in branch order: a missing
  time takes the one before it, and a time earlier than the one before it (browser and server
  clocks differ) is moved up to it, with one warning per file.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import converters
from converters import register
from converters._common import has_json_key, show
from converters.assistant_export import (
    ExportSource,
    Timeline,
    find_export,
    read_export,
    seconds_to_millis,
    source_of,
    tidy,
)
from converters.base import RESERVED_ID_PREFIX, Converter
from importer.models import Conversation, Message, Role

__all__ = ["ASSISTANT_ID", "DEFAULT_USER_ID", "ChatGPTConverter", "looks_like_chatgpt"]

DEFAULT_USER_ID = "chatgpt-user"
ASSISTANT_ID = "chatgpt"
_ASSISTANT_NAME = "ChatGPT"
#: files ChatGPT puts next to conversations.json; one of them marks an unpacked export folder
_COMPANIONS = frozenset(
    {
        "user.json",
        "chat.html",
        "message_feedback.json",
        "shared_conversations.json",
        "model_comparisons.json",
    }
)
_MAPPING = re.compile(r'"mapping"\s*:\s*\{')

_AUDIO_PARTS = frozenset({"audio_asset_pointer", "real_time_user_audio_video_asset_pointer"})
_VIDEO_PARTS = frozenset({"video_container_asset_pointer"})
#: a citation/entity marker: U+E200 … U+E201 with U+E202 between its fields
_MARKER = re.compile("\ue200[^\ue200\ue201]*\ue201")
_MARKER_CHARS = re.compile("[\ue200-\ue203]")
#: the older browsing tool's citations, e.g. 【11†source】
_OLD_CITATION = re.compile(r"【\d+(?::\d+)?†[^】\n]{0,80}】")


def looks_like_chatgpt(head: str) -> bool:
    """Whether the start of a JSON file looks like ChatGPT's conversations.json."""
    return (
        head[:1] in ("[", "{")
        and _MAPPING.search(head) is not None
        and has_json_key(head, "current_node", "children")
        and not has_json_key(head, "chat_messages")
    )


@register
class ChatGPTConverter(Converter):
    """ChatGPT's data export: ``conversations.json``, the unpacked export folder, or the zip."""

    name = "chatgpt"
    description = "ChatGPT data export (conversations.json, the export folder or its zip)"

    @classmethod
    def detect(cls, path: Path) -> bool:
        source = find_export(path, _COMPANIONS, _foreign)
        head = source.head() if source is not None else None
        return head is not None and looks_like_chatgpt(head)

    def conversations(self, path: Path) -> Iterator[Conversation]:
        source = source_of(path, _COMPANIONS, _foreign)
        yield from read_export(self, source, "id", _Reader(self, source, self._user_id(source)))

    def _user_id(self, source: ExportSource) -> str:
        if self.options.user_id:
            return self.options.user_id
        account = source.companion("user.json")
        found = account.get("id") if isinstance(account, dict) else None
        if isinstance(found, str) and found.strip() and not found.startswith(RESERVED_ID_PREFIX):
            return found.strip()
        return DEFAULT_USER_ID


def _foreign(path: Path) -> bool:
    """Whether another format takes ``path`` (then the folder around it is no chatgpt export)."""
    return any(
        cls.detect(path) for cls in converters.available().values() if cls is not ChatGPTConverter
    )


class _Reader:
    """Turns the raw conversations of one file into ``Conversation`` objects."""

    def __init__(self, converter: ChatGPTConverter, source: ExportSource, user_id: str) -> None:
        self.converter = converter
        self.origin = source.origin
        self.user_id = user_id
        self.timeline = Timeline()
        self.empty = 0

    def conversation(
        self, raw: Any, place: str, deferred: list[tuple[str | None, str]]
    ) -> Conversation | None:
        """One conversation; None after noting why there is none (empty, or a problem)."""
        if not isinstance(raw, dict):
            deferred.append((place, f"expected a conversation object, got {show(raw)}"))
            return None
        conversation_id = raw.get("id") or raw.get("conversation_id")
        if not isinstance(conversation_id, str) or not conversation_id.strip():
            deferred.append((place, "field 'id' is missing"))
            return None
        place = f"{place} (id {conversation_id})"
        mapping = raw.get("mapping")
        if not isinstance(mapping, dict):
            deferred.append((place, "field 'mapping' must be an object of message nodes"))
            return None
        kept, skipped = self._visible(self._branch(mapping, raw.get("current_node"), place))
        if not kept:
            self.empty += 1
            return None
        start = seconds_to_millis(raw.get("create_time"))
        if start is None:
            start = seconds_to_millis(raw.get("update_time"))
        times = self.timeline.place([time for _, _, _, time in kept], start)
        if times is None:
            deferred.append((place, "no message has a 'create_time', nor the conversation"))
            return None
        messages = [
            self._message(f"{conversation_id}:{node_id}", role, text, time)
            for (node_id, role, text, _), time in zip(kept, times, strict=True)
        ]
        title = raw.get("title")
        return Conversation(
            kind="personal",
            conversation_id=self.user_id,
            session_id=conversation_id,
            name=(title.strip() or None) if isinstance(title, str) else None,
            participants={self.user_id: self.user_id, ASSISTANT_ID: _ASSISTANT_NAME},
            source=self.converter.name,
            origin=self.origin,
            messages=messages,
            skipped=skipped,
        )

    def _branch(
        self, mapping: Mapping[str, Any], current: Any, place: str
    ) -> list[tuple[str, Any]]:
        """``(node id, message)`` from the root to the leaf on screen."""
        leaf = (
            current if isinstance(current, str) and isinstance(mapping.get(current), dict) else None
        )
        if leaf is None:
            leaf = _latest_leaf(mapping)
            if leaf is not None:
                self.converter.warning(
                    self.origin, place, "'current_node' is missing; the latest branch is imported"
                )
        chain: list[tuple[str, Any]] = []
        seen: set[str] = set()
        node_id: Any = leaf
        while isinstance(node_id, str) and node_id not in seen:
            node = mapping.get(node_id)
            if not isinstance(node, dict):
                self.converter.warning(
                    self.origin, place, f"node {node_id} is missing; the branch starts after it"
                )
                break
            seen.add(node_id)
            chain.append((node_id, node.get("message")))
            node_id = node.get("parent")
        chain.reverse()
        return chain

    @staticmethod
    def _visible(
        branch: list[tuple[str, Any]],
    ) -> tuple[list[tuple[str, Role, str, int | None]], int]:
        """What the page shows of the branch: (node id, role, text, time), and how many were not."""
        kept: list[tuple[str, Role, str, int | None]] = []
        skipped = 0
        for node_id, message in branch:
            if message is None:
                continue  # the root node and other placeholders hold no message
            shown = visible_text(message)
            if shown is None:
                skipped += 1
                continue
            role, text = shown
            time = seconds_to_millis(message.get("create_time"))
            kept.append((node_id, role, text, time))
        return kept, skipped

    def _message(self, message_id: str, role: Role, text: str, timestamp: int) -> Message:
        user = role == "user"
        return Message(
            message_id=message_id,
            timestamp=timestamp,
            sender_id=self.user_id if user else ASSISTANT_ID,
            sender_name=None if user else _ASSISTANT_NAME,
            role=role,
            content=text,
        )

    def finish(self) -> None:
        """Say once per file what was adjusted or left out as a whole."""
        if self.timeline.moved:
            self.converter.warning(
                self.origin,
                None,
                "message times earlier than the message before them (browser and server clocks"
                f" differ) moved up to keep the conversation's order: {self.timeline.moved}",
            )
        if self.empty:
            self.converter.warning(
                self.origin,
                None,
                "conversations with nothing to import (empty, or only hidden and tool messages)"
                f" left out: {self.empty}",
            )


def _latest_leaf(mapping: Mapping[str, Any]) -> str | None:
    """The node without children whose message is newest (the last such node on a tie)."""
    best: tuple[int, int, str] | None = None
    for index, (node_id, node) in enumerate(mapping.items()):
        if not isinstance(node, dict) or node.get("children"):
            continue
        message = node.get("message")
        time = seconds_to_millis(message.get("create_time")) if isinstance(message, dict) else None
        key = (time if time is not None else -(2**63), index, node_id)
        if best is None or key > best:
            best = key
    return best[2] if best else None


def visible_text(message: Any) -> tuple[Role, str] | None:
    """The role and text a message shows in the conversation, or None when it shows nothing."""
    if not isinstance(message, dict):
        return None
    author = message.get("author")
    role = author.get("role") if isinstance(author, dict) else None
    if role not in ("user", "assistant"):
        return None  # system, tool, and anything newer
    metadata = message.get("metadata")
    metadata = metadata if isinstance(metadata, dict) else {}
    if metadata.get("is_visually_hidden_from_conversation"):
        return None
    if message.get("recipient") not in (None, "all") or message.get("channel") == "analysis":
        return None  # addressed to a tool (code, searches, memory), or hidden reasoning
    content = message.get("content")
    content = content if isinstance(content, dict) else {}
    kind = content.get("content_type")
    if kind in ("text", "multimodal_text"):
        text = _parts_text(content.get("parts"))
    elif kind == "code":
        code = content.get("text")
        text = code if isinstance(code, str) else ""
    else:
        return None  # thoughts, browsing displays, execution output, user context, …
    text = _resolve_markers(text, metadata.get("content_references"))
    if role == "user":
        text = _with_attachments(text, metadata.get("attachments"))
    text = tidy(text)
    return (role, text) if text else None


def _parts_text(parts: Any) -> str:
    """Every part of a message: strings as they are, images and audio as short stand-ins."""
    if not isinstance(parts, list):
        return ""
    pieces: list[str] = []
    audio = heard = False
    for part in parts:
        if isinstance(part, str):
            pieces.append(part)
            continue
        if not isinstance(part, dict):
            continue
        kind = part.get("content_type")
        if kind == "audio_transcription":
            said = part.get("text")
            if isinstance(said, str) and said.strip():
                pieces.append(said)
                heard = True
        elif kind == "image_asset_pointer":
            pieces.append("[image]")
        elif kind in _AUDIO_PARTS:
            audio = True
        elif kind in _VIDEO_PARTS:
            pieces.append("[video]")
    if audio and not heard:
        pieces.append("[audio]")
    return "\n".join(piece for piece in pieces if piece.strip())


def _resolve_markers(text: str, references: Any) -> str:
    """Citation and entity markers replaced by what the page shows for them (often nothing)."""
    if isinstance(references, list):
        for reference in references:
            if not isinstance(reference, dict):
                continue
            matched = reference.get("matched_text")
            # only markers: some references match plain text (a space) that must stay
            if not isinstance(matched, str) or not ("\ue200" in matched or matched[:1] == "【"):
                continue
            alt = reference.get("alt")
            text = text.replace(matched, alt if isinstance(alt, str) else "")
    text = _OLD_CITATION.sub("", _MARKER.sub("", text))
    return _MARKER_CHARS.sub("", text)


def _with_attachments(text: str, attachments: Any) -> str:
    """Uploaded files named after the text; images already stand in the parts as [image]."""
    if not isinstance(attachments, list):
        return text
    names: list[str] = []
    for attachment in attachments:
        if not isinstance(attachment, dict):
            continue
        name = attachment.get("name")
        mime = attachment.get("mime_type")
        image = (isinstance(mime, str) and mime.startswith("image/")) or "width" in attachment
        if isinstance(name, str) and name.strip() and not image:
            names.append(f"[attachment: {name.strip()}]")
    return "\n".join([text, *names]) if names else text
