"""Walking an EverOS file: one conversation object, or a list of them, streamed.

A single object: its members before the messages are read as parse events, those after them
from the end of the file (``converters.json_tail``), and the messages are built in C one at a
time: one pass, whatever the order of the members. When the end of the file is not plain enough
for that, a first pass goes over the messages (in C) to collect the members. A list: a first parser
reads each entry whole, passing over its messages in C and counting them; a second, following
behind, builds them. A list that breaks off keeps the conversations read whole before the break.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from contextlib import ExitStack
from itertools import chain, islice
from typing import Any, Protocol

from converters._common import show
from converters.base import ConversationStream, Converter
from converters.everos_fields import FIELDS, MessageReader, final_header, header_of
from converters.json_stream import BrokenJSON, Event, Events, JsonFile, Members
from converters.json_tail import BIG_BYTES
from importer.errors import InputError
from importer.models import Conversation, Message

__all__ = ["read_file", "single_key"]


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


def single_key(converter: Converter, file: JsonFile) -> str | None:
    """The key of the file's conversation, from its members (its messages are not read); None
    when the file is a list (telling every entry's key means passing over all its messages)."""
    with file.events() as leader:
        if leader.next()[1] != "start_map":
            return None
        return _single(converter, file, leader).header.key


def _single(converter: Converter, file: JsonFile, leader: Events) -> ConversationStream:
    """The file's one conversation (``leader`` is inside it): its members before the messages
    as parse events, those after from the end of the file, else by passing over the messages."""
    found = Members()
    inside = leader.members("", "messages", FIELDS, found, stop=True)
    tail = file.tail() if inside else None
    merged = found.with_tail(tail, "messages", FIELDS) if tail else None
    one_pass = merged is not None and _named(merged)
    before = found
    if merged is not None and one_pass:
        found = merged
    elif inside:
        _rest(leader, "", found)
    header = header_of(converter.name, file.path, found, None)
    reader = MessageReader(converter, file.path, None, header)
    read_again = False

    def messages() -> Iterator[Message]:
        nonlocal found, read_again
        with file.items("messages.item") as (items, position):
            last_chunk = 0
            for message in reader.read(items):
                last_chunk = position.chunk_start
                yield message
        if tail is not None and one_pass and not tail.follows(last_chunk):
            # the big value at the end was not the messages: what lies between is read now
            _rest(leader, "", before)
            found, read_again = before, True

    def complete() -> Conversation:
        final = header
        if read_again:
            final = final_header(converter, file.path, found, header, None)
            if final.key != header.key:
                converter.error(
                    file.path,
                    "top level",
                    "the fields that name the conversation come after the message list,"
                    f" followed by more than {BIG_BYTES >> 10} KB of other data; write them"
                    " before 'messages'",
                )
        return reader.finish(final, found)

    return ConversationStream(header, messages(), complete)


class _ListReader:
    """The conversations of a file holding a list of them, one after another.

    The first parser reads each entry whole, passing over its messages in C and counting the
    objects among them; a second one, following behind, builds the messages in C and hands each
    entry its own. Two parsers cost less than one whose every event crosses into Python.
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
        self._stack = ExitStack()
        self._items: _Lookahead | None = None

    def conversations(self) -> Iterator[ConversationStream]:
        count = 0
        with ExitStack() as stack:
            self._stack = stack  # closes the second parser, if one was opened
            while True:
                where = f"conversation {count + 1}"
                try:
                    event = self.leader.next()
                    if event[1] == "end_array":
                        break
                    count += 1
                    found = self._entry(event, where)
                except BrokenJSON as exc:
                    self.deferred.append((_within(where, exc.where), exc.reason))
                    break
                stream = self._stream(found, where) if found is not None else None
                if stream is not None:
                    yield stream
        if count == 0 and not self.deferred:
            self.converter.warning(self.path, "top level", "the list holds no conversations")
        for place, reason in self.deferred:
            self.converter.error(self.path, place, reason)

    def _entry(self, event: Event, where: str) -> Members | None:
        """The members of entry ``where`` (its first event read); None if it is no object."""
        if event[1] != "start_map":
            shown = "a list" if event[1] == "start_array" else show(event[2])
            self.leader.skip(event)
            self.deferred.append((where, f"expected a conversation object, got {shown}"))
            return None
        found = Members()
        self.leader.members("item", "messages", FIELDS, found, stop=False)
        return found

    def _stream(self, found: Members, where: str) -> ConversationStream | None:
        """Entry ``where`` as a stream, or None (its messages passed over) when it is not one."""
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
            skipped = _NonObjects()
            deque(skipped.watch(self._messages_of(found, skipped)), maxlen=0)
            return None
        self.seen[header.key] = where
        reader = MessageReader(self.converter, self.path, where, header)
        return ConversationStream(
            header,
            reader.read(self._messages_of(found, reader)),
            lambda: reader.finish(header, found),
        )

    def _messages_of(self, found: Members, reader: _Counting) -> Iterator[Any]:
        """The raw messages of one entry, from the second parser: as many items as the entry
        holds objects, then as many more as were no objects among them (``reader`` counts
        those as it reads), each batch handed on in C."""
        if not found.list_ordinals:
            return iter(())
        return chain.from_iterable(self._batches(found, reader))

    def _batches(self, found: Members, reader: _Counting) -> Iterator[Iterator[Any]]:
        items = self._following()
        wanted, taken = found.list_objects, 0
        while wanted:
            before = reader.non_objects
            yield items.take(wanted)
            # ``reader`` has read the whole batch before the next one is asked for
            taken += wanted
            wanted = reader.non_objects - before
        # something other than an object right after: this entry's, or the next one's first
        if not items.next_is_object():
            yield items.take(self._count_items(found) - taken)

    def _following(self) -> _Lookahead:
        if self._items is None:
            built, _ = self._stack.enter_context(self.file.items("item.messages.item"))
            self._items = _Lookahead(built)
        return self._items

    def _count_items(self, found: Members) -> int:
        """Every item of the entry's message lists, counted by a parser of its own (rare)."""
        with self.file.events() as events:
            return sum(events.count_items("item.messages", n) for n in found.list_ordinals)


class _Counting(Protocol):
    """Whoever reads an entry's messages, counting the items that are no objects."""

    non_objects: int


class _NonObjects:
    """Counts the items that are no objects, for an entry whose messages are passed over."""

    def __init__(self) -> None:
        self.non_objects = 0

    def watch(self, items: Iterator[Any]) -> Iterator[Any]:
        for item in items:
            self.non_objects += type(item) is not dict
            yield item


class _Lookahead:
    """Items in batches, with a look at the next one."""

    _END = object()

    def __init__(self, items: Iterator[Any]) -> None:
        self._items = items
        self._ahead: Any = self._END

    def take(self, count: int) -> Iterator[Any]:
        """The next ``count`` items, in C."""
        if count <= 0:
            return iter(())
        if self._ahead is self._END:
            return islice(self._items, count)
        ahead, self._ahead = self._ahead, self._END
        return chain((ahead,), islice(self._items, count - 1))

    def next_is_object(self) -> bool:
        """Whether the next item is an object, or there is none (or none readable: the first
        parser reports where the file breaks when it gets there)."""
        if self._ahead is self._END:
            try:
                self._ahead = next(self._items, self._END)
            except BrokenJSON:
                return True
        return self._ahead is self._END or type(self._ahead) is dict


def _named(found: Members) -> bool:
    """Whether the members before the messages name a conversation (none of them twice)."""
    return not found.repeated and ("group_id" in found.values or "user_id" in found.values)


def _rest(events: Events, prefix: str, found: Members) -> None:
    """Pass over the message list ``events`` is inside and read the members after it."""
    events.skip((f"{prefix}.messages" if prefix else "messages", "start_array", None))
    events.members(prefix, "messages", FIELDS, found, stop=False)


def _within(place: str, where: str | None) -> str:
    return f"{place}, {where}" if where else place
