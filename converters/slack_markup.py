"""Turns Slack markup, rich-text blocks, attachments and file shares into text a person can read.

Slack escapes ``&``, ``<`` and ``>`` in message text and writes mentions and links as
``<…>`` tokens, so every ``<`` in a text is a token and entities are decoded only after the
tokens are gone. Emphasis (``*bold*``, ``_italic_``) and ``:emoji:`` codes are left alone:
people read them fine and stripping them would mangle names like ``snake_case``.
"""

from __future__ import annotations

import html
import re
import sys
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

__all__ = ["SlackRenderer", "person_name"]

_TOKEN = re.compile(r"<([^<>]*)>")
#: entities need their ';' here: html.unescape alone would turn "?a=1&copy=2" into "?a=1©=2"
_ENTITY = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")
_BROADCASTS = frozenset({"here", "channel", "everyone", "group"})
#: users that post in exports without being listed in users.json
_BUILTIN_USERS = {"USLACKBOT": "Slackbot"}


def _str(value: object) -> str:
    return value if isinstance(value, str) else ""


def _dicts(value: object) -> Iterator[Mapping[str, Any]]:
    if isinstance(value, list):
        for item in value:
            if isinstance(item, dict):
                yield item


def _unescape(match: re.Match[str]) -> str:
    return html.unescape(match.group(0))


def _decode(text: str) -> str:
    # integrations often escape twice (GitHub's "&amp;lt;"): decode until nothing changes; a
    # literal "&lt;" someone typed becomes "<", which reads the same
    for _ in range(3):
        if "&" not in text:
            break
        decoded = _ENTITY.sub(_unescape, text)
        if decoded == text:
            break
        text = decoded
    return text


def person_name(record: object) -> str:
    """The best human name in a users.json entry or a ``user_profile``: real, display, user name."""
    if not isinstance(record, dict):
        return ""
    profile = record.get("profile")
    profile = profile if isinstance(profile, dict) else {}
    for value in (
        record.get("real_name"),
        profile.get("real_name"),
        record.get("display_name"),
        profile.get("display_name"),
        record.get("name"),
    ):
        if isinstance(value, str) and value.strip():
            return value.strip()
    return ""


def _link(url: str, label: str) -> str:
    """``label (url)``, or just one of them when the other adds nothing."""
    url = _decode(url)
    label = label.strip()
    if not label or label == url:
        return url
    if not url:
        return label
    if url.startswith("mailto:") and label == url[7:]:
        return label
    if url.partition("://")[2].rstrip("/") == label.rstrip("/"):
        return url
    return f"{label} ({url})"


def _emoji(element: Mapping[str, Any]) -> str:
    code = _str(element.get("unicode"))
    if code:
        try:
            return "".join(chr(int(part, 16)) for part in code.split("-"))
        except (ValueError, OverflowError):
            pass
    name = _str(element.get("name"))
    return f":{name}:" if name else ""


def _date(keyword: str) -> str:
    """``date^1392734382^{date_num}`` without its fallback label: the moment in UTC."""
    parts = keyword.split("^")
    try:
        moment = datetime.fromtimestamp(int(parts[1]), UTC)
    except (IndexError, ValueError, OverflowError, OSError):
        return keyword
    return moment.strftime("%Y-%m-%d %H:%M UTC")


class SlackRenderer:
    """Renders messages of one export; knows its user, bot and channel names.

    ``users`` grows while reading: a user missing from users.json (deleted, from another
    workspace) is learned from the first ``user_profile`` that names them.
    """

    def __init__(
        self,
        users: Mapping[str, str] | None = None,
        channels: Mapping[str, str] | None = None,
        bots: Mapping[str, str] | None = None,
    ) -> None:
        self.users: dict[str, str] = {**_BUILTIN_USERS, **(users or {})}
        self.channels: dict[str, str] = dict(channels or {})
        self.bots: dict[str, str] = dict(bots or {})
        self._senders: dict[str, tuple[str, str]] = {}

    @classmethod
    def from_lists(cls, users: Iterable[object], channels: Iterable[object]) -> SlackRenderer:
        """Build from the entries of users.json and of the channel lists (malformed ones skipped)."""
        people: dict[str, str] = {}
        bots: dict[str, str] = {}
        for user in users:
            name = person_name(user)
            if not name or not isinstance(user, dict) or not isinstance(user.get("id"), str):
                continue  # nameless: messages' own user_profile may still name them
            people[user["id"]] = name
            profile = user.get("profile")
            if isinstance(profile, dict) and isinstance(profile.get("bot_id"), str):
                bots[profile["bot_id"]] = name
        names = {
            item["id"]: item["name"]
            for item in channels
            if isinstance(item, dict)
            and isinstance(item.get("id"), str)
            and isinstance(item.get("name"), str)
        }
        return cls(people, names, bots)

    # -- names -------------------------------------------------------------------------------

    def user_name(self, user_id: str) -> str:
        return self.users.get(user_id) or user_id

    def sender(self, raw: Mapping[str, Any]) -> tuple[str, str]:
        """Sender id and name: a person (users.json, else ``user_profile``) or a bot.

        Answers are cached per user, which also makes every message of a sender share one
        id string instead of holding its own copy from the JSON.
        """
        user = raw.get("user")
        if isinstance(user, str) and user:
            known = self._senders.get(user)
            if known is not None:
                return known
            name = self.users.get(user)
            if name is None:
                name = person_name(raw.get("user_profile")) or self._bot_name(raw, None)
                if not name:
                    return user, user  # not cached: a later message may carry a profile
                self.users[user] = name
            known = self._senders[user] = (user, name)
            return known
        bot = raw.get("bot_id")
        bot_id = sys.intern(bot) if isinstance(bot, str) and bot else None
        name = sys.intern(self._bot_name(raw, bot_id))
        if bot_id:
            return bot_id, name or bot_id
        return (name, name) if name else ("unknown", "Unknown")

    def _bot_name(self, raw: Mapping[str, Any], bot_id: str | None) -> str:
        profile = raw.get("bot_profile")
        profile_name = _str(profile.get("name")) if isinstance(profile, dict) else ""
        known = self.bots.get(bot_id, "") if bot_id else ""
        return (_str(raw.get("username")) or profile_name or known).strip()

    # -- text ----------------------------------------------------------------------------

    def text(self, markup: str) -> str:
        """Mrkdwn text with tokens resolved and entities decoded."""
        if "<" in markup:
            markup = _TOKEN.sub(self._token, markup)
        return _decode(markup)

    def _token(self, match: re.Match[str]) -> str:
        body = match.group(1)
        if "&#124;" in body:  # some exporters escape the separator
            body = body.replace("&#124;", "|")
        target, _, label = body.partition("|")
        if not target:
            return label
        head, rest = target[0], target[1:]
        if head == "@":
            return "@" + (self.users.get(rest) or label.lstrip("@") or rest)
        if head == "#":
            return "#" + (label or self.channels.get(rest) or rest)
        if head == "!":
            return self._special(rest, label)
        return _link(target, label)

    def _special(self, keyword: str, label: str) -> str:
        if keyword in _BROADCASTS:
            return "@" + keyword
        if label:
            return label
        kind, _, rest = keyword.partition("^")
        if kind == "date":
            return _date(keyword)
        return "@" + (rest or kind)

    def message(self, raw: Mapping[str, Any]) -> str:
        """All readable content of one message: text (or blocks), attachments, files."""
        text = self.text(_str(raw.get("text"))).strip()
        if not text:
            text = self.blocks(raw.get("blocks")).strip()
        parts = [text] if text else []
        if raw.get("attachments"):
            extra = self.attachments(raw["attachments"], has_text=bool(text))
            if extra:
                parts.append(extra)
        if raw.get("files") or raw.get("file"):
            files = self.files(raw, text)
            if files:
                parts.append(files)
        return "\n".join(parts).strip()

    # -- attachments and files -----------------------------------------------------------

    def attachments(self, attachments: object, *, has_text: bool) -> str:
        """Attachment text; link previews only when the message says nothing else."""
        parts = []
        for attachment in _dicts(attachments):
            shared = bool(attachment.get("is_share") or attachment.get("is_msg_unfurl"))
            preview = bool(attachment.get("from_url") or attachment.get("original_url"))
            if has_text and preview and not shared:
                continue  # the link is in the text already
            rendered = self._shared(attachment) if shared else self._attachment(attachment)
            if rendered:
                parts.append(rendered)
        return "\n".join(parts)

    def _attachment(self, attachment: Mapping[str, Any]) -> str:
        lines = [self.text(_str(attachment.get("pretext")))]
        title = self.text(_str(attachment.get("title")))
        link = _str(attachment.get("title_link"))
        lines.append(_link(link, title) if title else "")
        lines.append(self.text(_str(attachment.get("text"))))
        for field in _dicts(attachment.get("fields")):
            name = self.text(_str(field.get("title")))
            value = self.text(_str(field.get("value")))
            lines.append(f"{name}: {value}" if name and value else name or value)
        kept = [line.strip() for line in lines if line.strip()]
        if kept:
            return "\n".join(kept)
        # nothing structured: the blocks, then the plain-text summary Slack keeps for clients
        image = _str(attachment.get("image_url"))
        return (
            self.blocks(attachment.get("blocks")).strip()
            or self.text(_str(attachment.get("fallback"))).strip()
            or (f"[image: {image}]" if image else "")
        )

    def _shared(self, attachment: Mapping[str, Any]) -> str:
        author = _str(attachment.get("author_name")) or _str(attachment.get("author_subname"))
        if not author and isinstance(attachment.get("author_id"), str):
            author = self.user_name(attachment["author_id"])
        body = self.text(_str(attachment.get("text"))).strip()
        body = body or self.text(_str(attachment.get("fallback"))).strip()
        if not body:
            return ""
        return f"[shared message from {author}: {body}]" if author else f"[shared message: {body}]"

    def files(self, raw: Mapping[str, Any], text: str) -> str:
        """``[file: name]`` per file, unless the text names the file already (old file shares)."""
        items = list(_dicts(raw.get("files")))
        if isinstance(raw.get("file"), dict):
            items.append(raw["file"])
        labels = []
        for item in items:
            name, title = _str(item.get("name")), _str(item.get("title"))
            if (name and name in text) or (title and f"{title} (" in text):
                continue  # "uploaded a file: <url|title>" became "title (url)"
            labels.append(_file_label(item, name))
        return " ".join(labels)

    # -- blocks --------------------------------------------------------------------------

    def blocks(self, blocks: object) -> str:
        """Rich-text and layout blocks as plain lines; interactive parts are left out."""
        parts = (self._block(block) for block in _dicts(blocks))
        return "\n".join(part for part in parts if part)

    def _block(self, block: Mapping[str, Any]) -> str:
        kind = block.get("type")
        if kind == "rich_text":
            return self._rich(block.get("elements"))
        if kind in ("section", "header", "context"):
            objects = [block.get("text"), *_dicts(block.get("fields"))]
            objects.extend(_dicts(block.get("elements")))
            return "\n".join(text for item in objects if (text := self._text_object(item)))
        if kind in ("image", "video"):
            return self._text_object(block.get("title")) or _str(block.get("alt_text"))
        if kind == "table":
            rows = block.get("rows")
            lines = (
                " | ".join(self._block(cell) for cell in _dicts(row))
                for row in (rows if isinstance(rows, list) else ())
            )
            return "\n".join(lines)
        if kind == "raw_text":
            return _str(block.get("text"))
        return ""

    def _text_object(self, item: object) -> str:
        if not isinstance(item, dict):
            return ""
        text = _str(item.get("text"))
        if item.get("type") == "mrkdwn":
            return self.text(text)
        return text or _str(item.get("alt_text"))

    def _rich(self, elements: object) -> str:
        lines = []
        for element in _dicts(elements):
            kind = element.get("type")
            if kind == "rich_text_list":
                lines.append(self._list(element))
                continue
            inline = self._inline(element.get("elements")).strip("\n")
            if kind == "rich_text_preformatted":
                inline = f"```\n{inline}\n```"
            elif kind == "rich_text_quote":
                inline = "\n".join("> " + line for line in inline.split("\n"))
            lines.append(inline)
        return "\n".join(line.rstrip() for line in lines if line.strip())

    def _list(self, element: Mapping[str, Any]) -> str:
        indent = element.get("indent")
        offset = element.get("offset")
        pad = "    " * (indent if isinstance(indent, int) else 0)
        start = offset if isinstance(offset, int) else 0
        ordered = element.get("style") == "ordered"
        lines = []
        for number, item in enumerate(_dicts(element.get("elements")), start + 1):
            bullet = f"{number}." if ordered else "•"
            lines.append(f"{pad}{bullet} {self._inline(item.get('elements')).strip()}")
        return "\n".join(lines)

    def _inline(self, elements: object) -> str:
        return "".join(self._element(element) for element in _dicts(elements))

    def _element(self, element: Mapping[str, Any]) -> str:
        kind = element.get("type")
        if kind == "text":
            return _str(element.get("text"))
        if kind == "link":
            return _link(_str(element.get("url")), _str(element.get("text")))
        if kind == "user":
            return "@" + self.user_name(_str(element.get("user_id")))
        if kind == "channel":
            channel = _str(element.get("channel_id"))
            return "#" + self.channels.get(channel, channel)
        if kind == "broadcast":
            return "@" + _str(element.get("range"))
        if kind == "usergroup":
            return "@" + _str(element.get("usergroup_id"))
        if kind == "emoji":
            return _emoji(element)
        if kind == "date":
            return _str(element.get("fallback")) or _date(f"date^{element.get('timestamp')}")
        return _str(element.get("text")) or _str(element.get("value"))


def _file_label(item: Mapping[str, Any], name: str) -> str:
    mode = item.get("mode")
    if mode == "tombstone":
        return "[deleted file]"
    title = _str(item.get("title"))
    if title and name and title != name:
        return f"[file: {title} ({name})]"
    label = title or name
    return f"[file: {label}]" if label else "[file]"
