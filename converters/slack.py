"""Reads Slack workspace exports (the ``.zip`` Slack gives, or the unpacked folder) as conversations.

One conversation per channel, private channel, DM and group DM, each read on its own, day file
by day file, so memory holds one conversation at a time. The parts: ``slack_archive`` (reading
the zip or folder safely), ``slack_markup`` (readable text) and ``slack_threads`` (order, threads,
what is skipped).

Choices where Slack leaves room:

- ``conversation_id`` is ``slack_<Slack id>``; ``message_id`` is the message's ``ts``.
- Channels are named ``#name`` and described by purpose and topic; DMs and group DMs are named
  after their members (``DM: Alice, Bob``, ``Group DM: …``), since their Slack names are ids.
- A conversation with nothing left to import (only joins, say) is not yielded; a warning says so.
- Every sender, bots included, has role ``user``: a Slack bot is not the memory's assistant.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Any

from converters import register
from converters.archive import ArchiveLimitError
from converters.base import Converter
from converters.slack_archive import SlackExport, is_slack_export, open_export
from converters.slack_markup import SlackRenderer
from converters.slack_threads import ChannelAssembler
from importer.errors import InputError
from importer.models import Conversation

__all__ = ["SlackConverter"]

#: conversation lists, in the order their conversations are yielded
_LISTS = (
    ("channel", "channels.json"),
    ("private", "groups.json"),
    ("mpim", "mpims.json"),
    ("dm", "dms.json"),
)


@dataclass(frozen=True)
class _Spec:
    """What the lists say about one conversation, and the folder that holds its days."""

    slack_id: str
    folder: str
    kind: str
    name: str
    members: tuple[str, ...] = ()
    purpose: str = ""
    topic: str = ""

    def title(self, renderer: SlackRenderer) -> tuple[str, str | None]:
        """Name and description; asked after reading, when the most user names are known."""
        if self.kind in ("dm", "mpim"):
            names = dict.fromkeys(renderer.user_name(member) for member in self.members)
            people = ", ".join(names) or self.name or self.slack_id
            label, what = (
                ("DM", "direct messages") if self.kind == "dm" else ("Group DM", "group DM")
            )
            return f"{label}: {people}", f"Slack {what} between {people}"
        purpose, topic = renderer.text(self.purpose), renderer.text(self.topic)
        description = purpose
        if topic and topic != purpose:
            description = f"{purpose} (topic: {topic})" if purpose else f"Topic: {topic}"
        return f"#{self.name or self.slack_id}", description or None


def _text(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


def _value(item: Mapping[str, Any], field: str) -> str:
    """``purpose``/``topic`` are ``{"value": …}`` objects; tolerate a bare string too."""
    raw = item.get(field)
    return _text(raw.get("value") if isinstance(raw, dict) else raw)


@register
class SlackConverter(Converter):
    """Slack standard export: ``users.json``, the conversation lists, one folder per conversation."""

    name = "slack"
    description = "Slack workspace export (.zip or unpacked folder)"
    repeats_expected = True  # a reply sent to the channel too is listed twice
    reads_folders = True

    @classmethod
    def detect(cls, path: Path) -> bool:
        return is_slack_export(path)

    def conversations(self, path: Path) -> Iterator[Conversation]:
        with open_export(path) as export:
            for place, message in export.warnings:
                self.warning(place, None, message)
            lists = {kind: _load_list(export, file) for kind, file in _LISTS}
            users = _load_list(export, "users.json") or _load_list(export, "org_users.json")
            if not export.folders:
                raise _not_an_export(export, bool(users or any(lists.values())))
            renderer = SlackRenderer.from_lists(
                users,
                chain(lists["channel"], lists["private"], lists["mpim"]),
                bots=self._optional_list(export, "bots.json", "bots"),
                integrations=self._optional_list(export, "integration_logs.json", "logs"),
            )
            for spec in self._specs(export, lists):
                conversation = self._conversation(export, spec, renderer)
                if conversation is not None:
                    yield conversation

    def _optional_list(self, export: SlackExport, name: str, key: str) -> list[Any]:
        """A list only used to name bots: a broken one is a warning, not a stopped import.

        The API's own shape (``{"ok": true, "<key>": [...]}``) is taken too.
        """
        try:
            data = export.load(name)
        except ArchiveLimitError:
            raise  # the whole archive is refused, not this list
        except InputError as exc:
            self.warning(exc.path, exc.where, f"{exc.reason}; bots may be named by their id")
            return []
        if isinstance(data, dict) and isinstance(data.get(key), list):
            data = data[key]
        if data is None or isinstance(data, list):
            return data or []
        found = type(data).__name__
        self.warning(export.origin(name), None, f"expected a list, found {found}; ignored")
        return []

    # -- which conversations ---------------------------------------------------------------

    def _specs(self, export: SlackExport, lists: Mapping[str, list[Any]]) -> list[_Spec]:
        specs: list[_Spec] = []
        used: set[str] = set()
        for kind, file in _LISTS:
            for index, item in enumerate(lists[kind]):
                if not isinstance(item, dict) or not _text(item.get("id")):
                    self.warning(export.origin(file), f"entry {index}", "no 'id'; ignored")
                    continue
                spec = _spec(kind, item, export.folders)
                if spec is not None and spec.folder not in used:
                    used.add(spec.folder)
                    specs.append(spec)
        for folder in export.folders:
            if folder not in used:
                self.warning(
                    export.origin(folder), None,
                    f"folder not in any conversation list; imported as channel #{folder}",
                )  # fmt: skip
                specs.append(_Spec(folder, folder, "channel", folder))
        return specs

    # -- one conversation ------------------------------------------------------------------

    def _conversation(
        self, export: SlackExport, spec: _Spec, renderer: SlackRenderer
    ) -> Conversation | None:
        assembler = ChannelAssembler(
            renderer, include_system_events=self.options.include_system_events
        )
        errors = 0
        for day in export.folders.get(spec.folder, ()):
            try:
                records = export.day(spec.folder, day)
            except ArchiveLimitError:
                raise  # one line for the archive, not one per day file after it
            except InputError as exc:
                self.error(exc.path, exc.where, exc.reason)
                errors += 1
                continue
            assembler.feed(records, export.origin(f"{spec.folder}/{day}.json"), day)
            del records  # one day file in memory at a time
        messages = assembler.finish()
        for problem in assembler.problems:
            report = self.error if problem.severity == "error" else self.warning
            report(problem.path, problem.where, problem.message)
            errors += problem.severity == "error"
        origin = export.origin(spec.folder)
        if assembler.empty:
            what = f"{assembler.empty} messages with no text, attachment or file"
            self.warning(origin, None, f"{what}; skipped")
        if not messages and not errors:
            # an errored conversation is still yielded, so that read() rejects it, not the next
            what = f"{assembler.skipped} system events or deleted messages skipped"
            self.warning(origin, None, f"nothing to import ({what})")
            return None
        name, description = spec.title(renderer)
        participants = {member: renderer.user_name(member) for member in spec.members}
        participants.update(assembler.senders)
        return Conversation(
            kind="group",
            conversation_id=f"slack_{spec.slack_id}",
            name=name,
            description=description,
            participants=participants,
            source="slack",
            origin=origin,
            messages=messages,
            skipped=assembler.skipped,
        )


def _not_an_export(export: SlackExport, has_lists: bool) -> InputError:
    """Why ``export`` holds nothing to import, naming what a Slack export has and it lacks."""
    days = "no channel folders with day files (<channel>/YYYY-MM-DD.json)"
    if has_lists:
        return InputError(str(export.path), f"Slack export without messages: {days}")
    return InputError(
        str(export.path),
        f"not a Slack export: no channels.json or users.json at the top, and {days};"
        " give the export's .zip or the folder it unpacks to",
    )


def _load_list(export: SlackExport, name: str) -> list[Any]:
    data = export.load(name)
    if data is None:
        return []
    if not isinstance(data, list):
        raise InputError(export.origin(name), f"expected a list, found {type(data).__name__}")
    return data


def _spec(kind: str, item: Mapping[str, Any], folders: Mapping[str, list[str]]) -> _Spec | None:
    """The spec of a listed conversation, or None when the export has no messages for it."""
    slack_id = _text(item.get("id"))
    name = _text(item.get("name"))
    # channels are filed under their name, DMs under their id; Enterprise Grid varies
    folder = name if name in folders else slack_id if slack_id in folders else None
    if folder is None:
        return None
    members = item.get("members")
    ids = tuple(m for m in members if isinstance(m, str)) if isinstance(members, list) else ()
    purpose, topic = _value(item, "purpose"), _value(item, "topic")
    return _Spec(slack_id, folder, kind, name, ids, purpose, topic)
