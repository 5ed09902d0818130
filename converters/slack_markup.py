"""Turns Slack markup, blocks, attachments and file shares into text a person can read.

Slack escapes ``&``, ``<`` and ``>`` in message text and writes mentions and links as
``<…>`` tokens, so every ``<`` in a text is a token and entities are decoded only after the
tokens are gone. Emphasis (``*bold*``, ``_italic_``) and ``:emoji:`` codes are left alone:
people read them fine and stripping them would mangle names like ``snake_case``.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Mapping
from typing import Any

from converters.slack_blocks import (
    PLACEHOLDERS,
    BlockRenderer,
    as_str,
    date_text,
    decode_entities,
    dicts,
    link_text,
)

__all__ = ["SlackRenderer", "bot_name_fallback", "person_name"]

_TOKEN = re.compile(r"<([^<>]*)>")
_BROADCASTS = frozenset({"here", "channel", "everyone", "group"})
#: users that post in exports without being listed in users.json
_BUILTIN_USERS = {"USLACKBOT": "Slackbot"}


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


class SlackRenderer(BlockRenderer):
    """Renders messages of one export; knows its user, bot and channel names.

    ``users`` grows while reading: a user missing from users.json (deleted, from another
    workspace) is learned from the first ``user_profile`` that names them.
    """

    def __init__(
        self,
        users: Mapping[str, str] | None = None,
        channels: Mapping[str, str] | None = None,
        bots: Mapping[str, str] | None = None,
        apps: Mapping[str, str] | None = None,
    ) -> None:
        self.users: dict[str, str] = {**_BUILTIN_USERS, **(users or {})}
        self.channels: dict[str, str] = dict(channels or {})
        #: bot id (``B…``) -> name; grows with the ``bot_add`` messages read
        self.bots: dict[str, str] = dict(bots or {})
        #: app or service id (integration_logs.json) -> the app's name
        self.apps: dict[str, str] = dict(apps or {})
        self._senders: dict[str, tuple[str, str]] = {}

    @classmethod
    def from_lists(
        cls,
        users: Iterable[object],
        channels: Iterable[object],
        *,
        bots: Iterable[object] = (),
        integrations: Iterable[object] = (),
    ) -> SlackRenderer:
        """Build from the entries of an export's lists; malformed entries are skipped.

        ``users.json`` and the channel lists always; ``bots.json`` (some exports have one) and
        ``integration_logs.json`` name bots that post without a name of their own.
        """
        people: dict[str, str] = {}
        bot_names: dict[str, str] = {}
        for bot in bots:  # bots.info objects: {id, name, app_id, deleted, …}
            if isinstance(bot, dict) and isinstance(bot.get("id"), str) and as_str(bot.get("name")):
                bot_names[bot["id"]] = as_str(bot["name"]).strip()
        for user in users:
            name = person_name(user)
            if not name or not isinstance(user, dict) or not isinstance(user.get("id"), str):
                continue  # nameless: messages' own user_profile may still name them
            people[user["id"]] = name
            profile = user.get("profile")
            if isinstance(profile, dict) and isinstance(profile.get("bot_id"), str):
                bot_names[profile["bot_id"]] = name
        names = {
            item["id"]: item["name"]
            for item in channels
            if isinstance(item, dict)
            and isinstance(item.get("id"), str)
            and isinstance(item.get("name"), str)
        }
        return cls(people, names, bot_names, _app_names(integrations))

    # -- names -------------------------------------------------------------------------------

    def user_name(self, user_id: str) -> str:
        return self.users.get(user_id) or user_id

    def sender(self, raw: Mapping[str, Any]) -> tuple[str, str]:
        """Sender id and name: a person (users.json, else ``user_profile``) or a bot.

        Answers are cached per user, which also makes every message of a sender share one
        id string instead of holding its own copy from the JSON.
        """
        user = raw.get("user")
        comment = raw.get("comment")
        if not user and raw.get("subtype") == "file_comment" and isinstance(comment, dict):
            user = comment.get("user")  # a legacy file comment names its author only here
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
            return bot_id, name or bot_name_fallback(bot_id)
        return (name, name) if name else ("unknown", "Unknown")

    def _bot_name(self, raw: Mapping[str, Any], bot_id: str | None) -> str:
        """The name a bot posts under, or "" when the export does not say.

        Its own (``username``, ``bot_profile``) first, else what the export says elsewhere
        about its bot id or app: users, bots, ``bot_add`` links, the integration log.
        """
        profile = raw.get("bot_profile")
        profile = profile if isinstance(profile, dict) else {}
        named = as_str(raw.get("username")).strip() or as_str(profile.get("name")).strip()
        if named:
            return named
        if bot_id and bot_id in self.bots:
            return self.bots[bot_id]
        for app in (raw.get("app_id"), profile.get("app_id"), bot_id):
            if isinstance(app, str) and app in self.apps:
                return self.apps[app]
        return ""

    def bot_name(self, bot_id: str) -> str:
        """The name known for ``bot_id`` now (after more ``bot_add`` messages were read)."""
        return self.bots.get(bot_id) or self.apps.get(bot_id) or bot_name_fallback(bot_id)

    def learn_bot(self, raw: Mapping[str, Any]) -> None:
        """Take a bot's name from a ``bot_add`` message: the label of its link to the bot."""
        bot_id = raw.get("bot_id")
        if not isinstance(bot_id, str) or not bot_id or bot_id in self.bots:
            return
        for markup in (as_str(raw.get("bot_link")), as_str(raw.get("text"))):
            for token in _TOKEN.finditer(markup):
                target, _, label = token.group(1).partition("|")
                if label.strip() and target.rstrip("/").endswith(bot_id):
                    self.bots[bot_id] = decode_entities(label.strip())
                    return

    # -- text ----------------------------------------------------------------------------

    def text(self, markup: str) -> str:
        """Mrkdwn text with tokens resolved and entities decoded."""
        if "<" in markup:
            markup = _TOKEN.sub(self._token, markup)
        return decode_entities(markup)

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
        return link_text(target, label)

    def _special(self, keyword: str, label: str) -> str:
        if keyword in _BROADCASTS:
            return "@" + keyword
        if label:
            return label
        kind, _, rest = keyword.partition("^")
        if kind == "date":
            return date_text(keyword)
        return "@" + (rest or kind)

    def message(self, raw: Mapping[str, Any]) -> str:
        """All readable content of one message: text and blocks, attachments, files."""
        if raw.get("subtype") == "file_comment" and isinstance(raw.get("comment"), dict):
            return self._file_comment(raw)
        text = self.text(as_str(raw.get("text"))).strip()
        if text in PLACEHOLDERS:
            text = ""  # what clients show for a message whose content is all in blocks
        text = self.with_blocks(text, raw.get("blocks"))
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
        for attachment in dicts(attachments):
            shared = bool(attachment.get("is_share") or attachment.get("is_msg_unfurl"))
            preview = bool(attachment.get("from_url") or attachment.get("original_url"))
            if has_text and preview and not shared:
                continue  # the link is in the text already
            rendered = self._shared(attachment) if shared else self._attachment(attachment)
            if rendered:
                parts.append(rendered)
        return "\n".join(parts)

    def _attachment(self, attachment: Mapping[str, Any]) -> str:
        lines = [self.text(as_str(attachment.get("pretext")))]
        title = self.text(as_str(attachment.get("title")))
        link = as_str(attachment.get("title_link"))
        lines.append(link_text(link, title) if title else "")
        lines.append(self.text(as_str(attachment.get("text"))))
        for field in dicts(attachment.get("fields")):
            name = self.text(as_str(field.get("title")))
            value = self.text(as_str(field.get("value")))
            lines.append(f"{name}: {value}" if name and value else name or value)
        kept = [line.strip() for line in lines if line.strip()]
        if kept:
            return "\n".join(kept)
        # nothing structured: the blocks, then the plain-text summary Slack keeps for clients
        image = as_str(attachment.get("image_url"))
        return (
            self.blocks(attachment.get("blocks")).strip()
            or self.text(as_str(attachment.get("fallback"))).strip()
            or (f"[image: {image}]" if image else "")
        )

    def _shared(self, attachment: Mapping[str, Any]) -> str:
        author = as_str(attachment.get("author_name")) or as_str(attachment.get("author_subname"))
        if not author and isinstance(attachment.get("author_id"), str):
            author = self.user_name(attachment["author_id"])
        body = self.text(as_str(attachment.get("text"))).strip()
        body = body or self.text(as_str(attachment.get("fallback"))).strip()
        if not body:
            return ""
        return f"[shared message from {author}: {body}]" if author else f"[shared message: {body}]"

    def files(self, raw: Mapping[str, Any], text: str) -> str:
        """``[file: name]`` per file, unless the text names the file already (old file shares)."""
        items = list(dicts(raw.get("files")))
        if isinstance(raw.get("file"), dict):
            items.append(raw["file"])
        labels = []
        for item in items:
            name, title = as_str(item.get("name")), as_str(item.get("title"))
            if (name and name in text) or (title and f"{title} (" in text):
                continue  # "uploaded a file: <url|title>" became "title (url)"
            labels.append(_file_label(item, name))
        return " ".join(labels)

    def _file_comment(self, raw: Mapping[str, Any]) -> str:
        """A legacy comment on a file: the comment, and which file it is about."""
        comment = self.text(as_str(raw["comment"].get("comment"))).strip()
        file = raw.get("file")
        about = ""
        if isinstance(file, dict):
            about = _file_label(file, as_str(file.get("name"))).removeprefix("[").removesuffix("]")
        if about and comment:
            return f"[comment on {about}] {comment}"
        return comment or self.text(as_str(raw.get("text"))).strip()

    # -- blocks --------------------------------------------------------------------------


def bot_name_fallback(bot_id: str) -> str:
    """How a bot nothing in the export names is called: by its id, said to be a bot."""
    return f"bot {bot_id}"


def _app_names(entries: Iterable[object]) -> dict[str, str]:
    """App and service ids -> names from integration_logs.json entries; the latest entry wins.

    Entries pair ``app_id`` with ``app_type``, or ``service_id`` with ``service_type``
    (``service_name`` in some exports).
    """
    names: dict[str, str] = {}
    dated = [e for e in entries if isinstance(e, dict)]
    dated.sort(key=lambda e: int(e["date"]) if str(e.get("date")).isdigit() else 0)
    for entry in dated:
        name = (
            as_str(entry.get("app_type")) or as_str(entry.get("service_name"))
            or as_str(entry.get("service_type"))
        ).strip()  # fmt: skip
        for key in ("app_id", "service_id"):
            ident = entry.get(key)
            if name and isinstance(ident, (str, int)) and str(ident):
                names[str(ident)] = name
    return names


def _file_label(item: Mapping[str, Any], name: str) -> str:
    mode = item.get("mode")
    if mode == "tombstone":
        return "[deleted file]"
    title = as_str(item.get("title"))
    if title and name and title != name:
        return f"[file: {title} ({name})]"
    label = title or name
    return f"[file: {label}]" if label else "[file]"
