"""Walking an EverOS file: one conversation object, or a list of them, streamed.

Each conversation's members are read as parse events, its messages built one at a time. When
the members that name a conversation come before its messages and nothing after them could
change it, one pass reads the file: for a single object the end of the file is searched for the
names of those members; in a list, a conversation named by its ``group_id`` is read where it
stands. Otherwise a first pass passes over the messages to collect the members, and the
messages are read again: a single object from the top, a list's entry from a second parser that
follows the first. A list that breaks off keeps the conversations read whole before the break.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack

from converters._common import show
from converters.base import ConversationStream, Converter
from converters.everos_fields import FIELDS, MessageReader, final_header, header_of
from converters.json_stream import (
    TAIL_BYTES,
    BrokenJSON,
    Event,
    Events,
    JsonFile,
    LateMembers,
    Members,
)
from importer.errors import InputError
from importer.models import Conversation, Message

__all__ = ["read_file"]

#: members that, written after the messages, would change what the messages were read as
_LATE = LateMembers("group_id", "user_id", "session_id", "group_meta", "messages")


def read_file(converter: Converter, file: JsonFile) -> Iterator[ConversationStream]:
    """The conversations of an EverOS file, as streams."""
    with file.events() as leader:
        event = leader.next()[1]
        if event == "start_map":
            yield _single(converter, file, leader)
        elif event == "start_array":
            yield from _ListReader(converter, file, leader).conversations()
        else:
            raise InputError(
                str(file.path),
                "expected an EverOS conversation object or a list of them",
                where="top level",
            )


def _single(converter: Converter, file: JsonFile, leader: Events) -> ConversationStream:
    """The file's one conversation, its fields read first (``leader`` is inside it)."""
    found = Members()
    inside = leader.members("", "messages", FIELDS, found, stop=True)
    one_pass = inside and _named(found) and _LATE.none_in_tail(file, leader.position.offset)
    if inside and not one_pass:
        _rest(leader, "", found)
    header = header_of(converter.name, file.path, found, None)
    early = set(found.values)
    reader = MessageReader(converter, file.path, None, header)
    late = False

    def messages() -> Iterator[Message]:
        nonlocal late
        with file.items("messages.item") as (items, position):
            last_chunk = 0
            for message in reader.read(items):
                last_chunk = position.chunk_start
                yield message
        if one_pass and not _LATE.none_after(file, last_chunk):
            _rest(leader, "", found)  # a member after the messages, too far from the end
            late = True

    def complete() -> Conversation:
        final = final_header(converter, file.path, found, header, None) if late else header
        if final.key != header.key:
            moved = ", ".join(f"'{k}'" for k in sorted(FIELDS & set(found.values) - early))
            converter.error(
                file.path,
                "top level",
                f"the conversation's fields ({moved}) follow the message list and more than"
                f" {TAIL_BYTES >> 20} MB of other data; write them before 'messages'",
            )
        return reader.finish(final, found)

    return ConversationStream(header, messages(), complete)


class _ListReader:
    """The conversations of a file holding a list of them, one after another.

    Problems of entries that are not even a conversation are reported after the last one, so
    that the base engine does not pin them on the conversation read next.
    """

    def __init__(self, converter: Converter, file: JsonFile, leader: Events) -> None:
        self.converter = converter
        self.file = file
        self.path = file.path
        self.leader = leader
        self.deferred: list[tuple[str | None, str]] = []
        self.seen: dict[str, str] = {}
        self.broken = False
        self._stack = ExitStack()
        self._follower: Events | None = None

    def conversations(self) -> Iterator[ConversationStream]:
        count = 0
        with ExitStack() as stack:
            self._stack = stack  # closes the second parser, if one was needed
            while not self.broken:
                where = f"conversation {count + 1}"
                try:
                    event = self.leader.next()
                    if event[1] == "end_array":
                        break
                    count += 1
                    stream = self._entry(event, where)
                except BrokenJSON as exc:
                    self.deferred.append((_within(where, exc.where), exc.reason))
                    break
                if stream is not None:
                    yield stream
        if count == 0 and not self.deferred:
            self.converter.warning(self.path, "top level", "the list holds no conversations")
        for place, reason in self.deferred:
            self.converter.error(self.path, place, reason)

    def _entry(self, event: Event, where: str) -> ConversationStream | None:
        """Entry ``where`` (its first event read), or None after noting what is wrong."""
        leader = self.leader
        if event[1] != "start_map":
            shown = "a list" if event[1] == "start_array" else show(event[2])
            leader.skip(event)
            self.deferred.append((where, f"expected a conversation object, got {shown}"))
            return None
        found = Members()
        inside = leader.members("item", "messages", FIELDS, found, stop=True)
        # a group's id settles what its messages are read as; a user's may yet get a session
        here = inside and _named(found) and "group_id" in found.values
        if inside and not here:
            _rest(leader, "item", found)
        try:
            header = header_of(self.converter.name, self.path, found, where)
            if header.key in self.seen:
                raise InputError(
                    str(self.path),
                    f"{header.key} already appeared as {self.seen[header.key]};"
                    " merge the two entries",
                    where=where,
                )
        except InputError as exc:
            self.deferred.append((exc.where, exc.reason))
            if here:
                _rest(leader, "item", found)
            return None
        self.seen[header.key] = where
        return self._stream(header, found, where, here)

    def _stream(
        self, header: Conversation, found: Members, where: str, here: bool
    ) -> ConversationStream:
        converter = self.converter
        reader = MessageReader(converter, self.path, where, header)

        def messages() -> Iterator[Message]:
            try:
                events = self.leader if here else self._following(found.list_ordinal)
                yield from reader.read(events.items("item.messages"))
                if here:
                    self.leader.members("item", "messages", FIELDS, found, stop=False)
            except BrokenJSON as exc:
                converter.error(self.path, _within(where, exc.where), exc.reason)
                self.broken = True

        def complete() -> Conversation:
            final = final_header(converter, self.path, found, header, where) if here else header
            return reader.finish(final, found)

        return ConversationStream(header, messages(), complete)

    def _following(self, ordinal: int) -> Events:
        """The second parser, moved on to the ``ordinal``-th message list."""
        if self._follower is None:
            self._follower = self._stack.enter_context(self.file.events())
        self._follower.to_list("item.messages", ordinal)
        return self._follower


def _named(found: Members) -> bool:
    """Whether the members before the messages name a conversation (none of them twice)."""
    return not found.repeated and ("group_id" in found.values or "user_id" in found.values)


def _rest(events: Events, prefix: str, found: Members) -> None:
    """Pass over the message list ``events`` is inside and read the members after it."""
    events.skip((f"{prefix}.messages" if prefix else "messages", "start_array", None))
    events.members(prefix, "messages", FIELDS, found, stop=False)


def _within(place: str, where: str | None) -> str:
    return f"{place}, {where}" if where else place
