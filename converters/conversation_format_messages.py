"""The entries of a ConversationFormat ``conversation_list`` as ``Message`` objects, and what
``session_meta.user_details`` says of each sender.

Entries in their usual form take a short path; any other goes field by field, so that each
problem is named with its place (messages counted from 1).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import tzinfo
from pathlib import Path
from typing import Any

from converters._common import (
    IdDeriver,
    content_field,
    epoch_to_millis,
    iso_to_millis,
    message_id_field,
    optional_text_field,
    plain_message_id,
    show,
)
from converters.base import Converter
from importer.models import Conversation, Message, Role

__all__ = ["MessageReader", "Users", "declared_role", "full_name", "user_role"]

Users = Mapping[str, Mapping[str, Any]]


class MessageReader:
    """Turns the entries of ``conversation_list`` into ``Message`` objects."""

    def __init__(
        self,
        converter: Converter,
        path: Path,
        header: Conversation,
        users: Users,
        zone: tzinfo,
        *,
        solo: bool,
    ) -> None:
        self.converter = converter
        self.path = path
        self.header = header
        self.users = users
        self.zone = zone
        self.solo = solo
        #: the user a solo file is filed under
        self.user = header.conversation_id if solo else None
        self.ids = IdDeriver(header.conversation_id)
        self.display = {uid: full_name(details) or uid for uid, details in users.items()}
        self.roles = {uid: user_role(details) for uid, details in users.items()}
        #: who writes, not as an assistant (a solo file files them all under one user)
        self.humans: set[str] = set()

    def read(self, items: Iterable[Any]) -> Iterator[Message]:
        roles = self.roles
        for index, item in enumerate(items, 1):  # positions count from 1, as people do
            if type(item) is dict:
                if self.solo:
                    sender = item.get("sender")
                    if isinstance(sender, str) and roles.get(sender) != "assistant":
                        self.humans.add(sender)
                message = self._plain(item)
                if message is not None:
                    yield message
                    continue
            message = self._checked(index, item)
            if message is not None:
                yield message

    def _plain(self, item: dict[str, Any]) -> Message | None:
        """The message when every field is in its usual form; None sends it to ``_checked``."""
        get = item.get
        sender = get("sender")
        content = get("content")
        created = get("create_time")
        if (
            type(sender) is not str
            or sender not in self.roles
            or type(content) is not str
            or not content
            or content.isspace()
        ):
            return None
        try:
            if type(created) is str:
                timestamp = iso_to_millis(created, self.zone)
            elif type(created) is int or type(created) is float:
                timestamp = epoch_to_millis(created)
            else:
                return None
        except ValueError:
            return None
        name = get("sender_name")
        if name is not None:
            if type(name) is not str:
                return None
            name = name.strip() or None
        reply_to = None
        refer = get("refer_list")
        if refer is not None and refer != []:
            reply_to, problem = _refer(refer)
            if problem:
                return None
        message_id = plain_message_id(get("message_id"), self.ids, timestamp, sender, content)
        if message_id is None:
            return None
        # every field is checked and typed above: no validation needed
        return Message.trusted(message_id, timestamp, sender, name or self.display[sender],
                               self.roles[sender], content, reply_to)

    def _checked(self, index: int, item: Any) -> Message | None:
        """One entry field by field, or None after reporting what is wrong with it."""
        path, converter = self.path, self.converter
        if not isinstance(item, dict):
            converter.error(path, f"message {index}", f"expected an object, got {show(item)}")
            return None
        problems: list[str] = []
        message_id = message_id_field(item, problems)
        sender = _sender(item, self.users, problems)
        timestamp = _create_time(item, self.zone, problems)
        content = content_field(item, problems)
        sender_name = optional_text_field(item, "sender_name", problems)
        reply_to, refer_problem = _refer(item.get("refer_list"))
        where = f"message {index} (id {message_id})" if message_id else f"message {index}"
        if refer_problem:
            converter.warning(path, where, refer_problem)
        if problems or sender is None or timestamp is None or content is None:
            for problem in problems:
                converter.error(path, where, problem)
            return None
        return Message(
            message_id=message_id or self.ids.derive(timestamp, sender, content),
            timestamp=timestamp,
            sender_id=sender,
            sender_name=sender_name or self.display[sender],
            role=self.roles[sender],
            content=content,
            reply_to=reply_to,
        )


def declared_role(details: Mapping[str, Any] | None) -> str:
    """``role`` as written, lower case ("" when absent); free text like "Engineer" is allowed."""
    role = (details or {}).get("role")
    return role.strip().lower() if isinstance(role, str) else ""


def user_role(details: Mapping[str, Any] | None) -> Role:
    return "assistant" if declared_role(details) == "assistant" else "user"


def full_name(details: Mapping[str, Any]) -> str | None:
    name = details.get("full_name")
    return name if isinstance(name, str) and name.strip() else None


# -- message fields: each returns the value, or None and appends a one-line problem ----------


def _sender(item: Mapping[str, Any], users: Users, problems: list[str]) -> str | None:
    value = item.get("sender")
    if value is None:
        problems.append("field 'sender' is missing")
    elif not isinstance(value, str):
        problems.append(f"field 'sender' must be a user id string, not {show(value)}")
    elif value not in users:
        problems.append(f"field 'sender': {value!r} is not in session_meta.user_details")
    else:
        return value
    return None


def _create_time(item: Mapping[str, Any], zone: tzinfo, problems: list[str]) -> int | None:
    value = item.get("create_time")
    try:
        if value is None:
            problems.append("field 'create_time' is missing")
        elif isinstance(value, str):
            return iso_to_millis(value, zone)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            return epoch_to_millis(value)
        else:
            problems.append(f"field 'create_time' must be an ISO 8601 time, not {show(value)}")
    except ValueError as exc:
        problems.append(f"field 'create_time': {exc}")
    return None


def _refer(value: Any) -> tuple[str | None, str | None]:
    """``reply_to`` from ``refer_list``, and a warning when its shape is not understood."""
    if value is None or value == []:
        return None, None
    first = value[0] if isinstance(value, list) else None
    if isinstance(first, dict):
        first = first.get("message_id", first.get("id"))
    if isinstance(first, int) and not isinstance(first, bool):
        first = str(first)
    if isinstance(first, str) and first:
        return first, None
    return None, (
        f"field 'refer_list': no message id in {show(value)}; reply link ignored"
        " (expected a list of ids or of objects with 'message_id')"
    )
