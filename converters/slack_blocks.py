"""Renders Slack's Block Kit blocks (rich text and layout) as plain lines.

Also home of the small text helpers that markup and blocks share: entities, links, dates, emoji.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "PLACEHOLDERS",
    "BlockRenderer",
    "as_str",
    "date_text",
    "decode_entities",
    "dicts",
    "link_text",
]

#: entities need their ';' here: html.unescape alone would turn "?a=1&copy=2" into "?a=1©=2"
_ENTITY = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")
#: the ``text`` Slack gives a message whose content is all in Block Kit blocks
PLACEHOLDERS = frozenset(
    {"This content can't be displayed.", "This content can\u2019t be displayed."}
)
_WORD = re.compile(r"\w+")


def as_str(value: object) -> str:
    return value if isinstance(value, str) else ""


def dicts(value: object) -> Iterator[Mapping[str, Any]]:
    if isinstance(value, list):
        for item in value:
            if isinstance(item, dict):
                yield item


def _unescape(match: re.Match[str]) -> str:
    return html.unescape(match.group(0))


def decode_entities(text: str) -> str:
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


def link_text(url: str, label: str) -> str:
    """``label (url)``, or just one of them when the other adds nothing."""
    url = decode_entities(url)
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


def emoji_text(element: Mapping[str, Any]) -> str:
    code = as_str(element.get("unicode"))
    if code:
        try:
            return "".join(chr(int(part, 16)) for part in code.split("-"))
        except (ValueError, OverflowError):
            pass
    name = as_str(element.get("name"))
    return f":{name}:" if name else ""


def date_text(keyword: str) -> str:
    """``date^1392734382^{date_num}`` without its fallback label: the moment in UTC."""
    parts = keyword.split("^")
    try:
        moment = datetime.fromtimestamp(int(parts[1]), UTC)
    except (IndexError, ValueError, OverflowError, OSError):
        return keyword
    return moment.strftime("%Y-%m-%d %H:%M UTC")


class BlockRenderer:
    """Renders blocks, with names and mrkdwn from the class that builds on it.

    That class (``SlackRenderer``) supplies ``channels``, ``user_name`` and ``text``.
    """

    channels: dict[str, str]

    def user_name(self, user_id: str) -> str:
        raise NotImplementedError  # supplied by the renderer that knows the export's users

    def text(self, markup: str) -> str:
        raise NotImplementedError  # supplied by the renderer that resolves mrkdwn tokens

    def blocks(self, blocks: object) -> str:
        """Rich-text and layout blocks as plain lines; interactive parts are left out."""
        parts = (self._block(block) for block in dicts(blocks))
        return "\n".join(part for part in parts if part)

    def with_blocks(self, text: str, blocks: object) -> str:
        """``text``, or the blocks where they say more than it.

        Rich-text blocks repeat a person's text in structured form: they stand in only for a
        missing text. Layout blocks (section, header, context, fields, …) are what an app
        really posted, ``text`` being the notification's summary: when they hold every word of
        the text they replace it, else the lines with words the text lacks follow it.
        """
        if not text:
            return self.blocks(blocks).strip()
        layout = [
            line
            for block in dicts(blocks)
            if block.get("type") != "rich_text"
            for line in self._block(block).splitlines()
            if line.strip()
        ]
        if not layout:
            return text
        said = _words(text)
        new = [line for line in layout if not _words(line) <= said]
        if not new:
            return text
        everything = self.blocks(blocks).strip()
        return everything if said <= _words(everything) else "\n".join([text, *new])

    def _block(self, block: Mapping[str, Any]) -> str:
        kind = block.get("type")
        if kind == "rich_text":
            return self._rich(block.get("elements"))
        if kind in ("section", "header", "context"):
            objects = [block.get("text"), *dicts(block.get("fields"))]
            objects.extend(dicts(block.get("elements")))
            return "\n".join(text for item in objects if (text := self._text_object(item)))
        if kind in ("image", "video"):
            return self._text_object(block.get("title")) or as_str(block.get("alt_text"))
        if kind == "table":
            rows = block.get("rows")
            lines = (
                " | ".join(self._block(cell) for cell in dicts(row))
                for row in (rows if isinstance(rows, list) else ())
            )
            return "\n".join(lines)
        if kind == "raw_text":
            return as_str(block.get("text"))
        return ""

    def _text_object(self, item: object) -> str:
        if not isinstance(item, dict):
            return ""
        text = as_str(item.get("text"))
        if item.get("type") == "mrkdwn":
            return self.text(text)
        return text or as_str(item.get("alt_text"))

    def _rich(self, elements: object) -> str:
        lines = []
        for element in dicts(elements):
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
        for number, item in enumerate(dicts(element.get("elements")), start + 1):
            bullet = f"{number}." if ordered else "•"
            lines.append(f"{pad}{bullet} {self._inline(item.get('elements')).strip()}")
        return "\n".join(lines)

    def _inline(self, elements: object) -> str:
        return "".join(self._element(element) for element in dicts(elements))

    def _element(self, element: Mapping[str, Any]) -> str:
        kind = element.get("type")
        if kind == "text":
            return as_str(element.get("text"))
        if kind == "link":
            return link_text(as_str(element.get("url")), as_str(element.get("text")))
        if kind == "user":
            return "@" + self.user_name(as_str(element.get("user_id")))
        if kind == "channel":
            channel = as_str(element.get("channel_id"))
            return "#" + self.channels.get(channel, channel)
        if kind == "broadcast":
            return "@" + as_str(element.get("range"))
        if kind == "usergroup":
            return "@" + as_str(element.get("usergroup_id"))
        if kind == "emoji":
            return emoji_text(element)
        if kind == "date":
            return as_str(element.get("fallback")) or date_text(f"date^{element.get('timestamp')}")
        return as_str(element.get("text")) or as_str(element.get("value"))


def _words(text: str) -> set[str]:
    return set(_WORD.findall(text.casefold()))
