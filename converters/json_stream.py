"""One large JSON document read in passes that never hold it whole (ijson, C backend).

The small parts of a document (a conversation's header fields) are read as parse events
(``Events``), passing over a big list without its events ever reaching Python; the big list is
read item by item, built in C (``JsonFile.items``), which costs less than ``json.load`` per
message. ``JsonFile.tail`` reads the members after a big list from the end of the file, so one
pass reads a conversation whatever the order of its members. A parse error becomes a ``BrokenJSON`` naming the
line and column, found by parsing the file again up to the failing chunk, then one byte at a
time: the error path alone pays for it.

Numbers come out as ``json.load`` gives them (``int``, or ``float`` for the others), so checks
written for parsed JSON hold.
"""

from __future__ import annotations

import codecs
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from operator import countOf
from pathlib import Path
from typing import IO, Any

import ijson  # type: ignore[import-untyped]  # ships no type information

from converters.json_tail import Tail, read_tail
from importer.errors import InputError

__all__ = ["BrokenJSON", "Event", "Events", "JsonFile", "Members", "Position"]

#: one parse event: (prefix, event name, value)
Event = tuple[str, str, Any]

_BOM = b"\xef\xbb\xbf"
_CHUNK = 1 << 16
_STARTS = frozenset({"start_map", "start_array"})
#: events at an item's own prefix that are not its last one
_NOT_LAST = frozenset({"start_map", "start_array", "map_key"})
_ENDS = {"start_map": "end_map", "start_array": "end_array"}
#: UTF-8 continuation bytes: a column counts characters, as ``json.loads`` does
_CONTINUATION = bytes(range(0x80, 0xC0))
#: what reading can raise: bad JSON, bad UTF-8 the C backend lets through to decoding, the disk
_READ_ERRORS = (ijson.JSONError, UnicodeDecodeError, OSError)


class BrokenJSON(InputError):
    """The file is not JSON from some place on (or not UTF-8, or empty): nothing after that
    place can be read."""


class Position:
    """The file past its byte order mark, remembering where the last chunk handed out began
    (a parse error lies in that chunk; the last item built ended in it)."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self.offset = 0
        self.chunk_start = 0

    def read(self, size: int = -1, /) -> bytes:
        if size == 0:  # ijson asks once to tell bytes from text
            return b""
        data = self._stream.read(size)
        if data:
            self.chunk_start = self.offset
            self.offset += len(data)
        return data


class _Replay:
    """Serves the file in chunks up to ``start``, then one byte at a time, so that the parser
    fails exactly at the byte it cannot take."""

    def __init__(self, stream: IO[bytes], start: int) -> None:
        self._stream = stream
        self._start = start
        self.offset = 0
        self.at_end = False

    def read(self, size: int = -1, /) -> bytes:
        if size == 0:
            return b""
        ahead = self._start - self.offset
        data = self._stream.read(min(size, ahead) if ahead > 0 else 1)
        self.offset += len(data)
        self.at_end = not data
        return data

    @property
    def error_offset(self) -> int:
        return self.offset if self.at_end else self.offset - 1


@dataclass
class Members:
    """The members of one JSON object read so far, its big list apart.

    ``values`` holds the members asked for, built; the others are skipped unread.
    ``list_event`` is how the list's value began (``start_array`` for a list), None while it
    was not met; ``repeated`` names members met twice (``json.load`` would keep the last).
    """

    values: dict[str, Any] = field(default_factory=dict)
    list_event: str | None = None
    list_value: Any = None
    #: objects in the list(s) passed over (``Events.members`` with ``stop=False``)
    list_objects: int = 0
    #: which lists at the list's prefix these are, counted from 1 over the whole file
    list_ordinals: list[int] = field(default_factory=list)
    repeated: list[str] = field(default_factory=list)

    def with_tail(self, tail: Tail, list_key: str, wanted: frozenset[str]) -> Members | None:
        """These members and those of ``tail``; None if the list itself is among the latter
        (it was small enough to step over: then there is nothing to gain)."""
        merged = replace(self, values=dict(self.values), repeated=list(self.repeated))
        for key, value in tail.members:
            if key == list_key:
                return None
            if key in wanted:
                if key in merged.values:
                    merged.repeated.append(key)
                merged.values[key] = value
        return merged


class Events:
    """Parse events of one file, read forward only; a parse error raises ``BrokenJSON``."""

    def __init__(self, file: JsonFile, stream: IO[bytes]) -> None:
        self.file = file
        self.position = Position(stream)
        self._events: Iterator[Event] = ijson.parse(self.position, use_float=True)
        #: how many lists began at each prefix (to find one again from another parser)
        self.lists_begun: dict[str, int] = {}

    def next(self) -> Event:
        """The next event; ``BrokenJSON`` where the file is not JSON or ends early."""
        try:
            return next(self._events)
        except _READ_ERRORS as exc:
            raise self.file.problem(exc, self.position) from exc
        except StopIteration:
            raise self.file.problem(None, self.position) from None

    def value(self, first: Event) -> Any:
        """The whole value that begins with ``first`` (for small parts only)."""
        prefix, event, value = first
        if event not in _STARTS:
            return value
        builder = ijson.ObjectBuilder()
        builder.event(event, value)
        end = (prefix, _ENDS[event], None)
        while True:
            current = self.next()
            builder.event(current[1], current[2])
            if current == end:
                return builder.value

    def skip(self, first: Event) -> int:
        """Pass over the value that begins with ``first`` without building it, in C; for a
        list, how many objects it holds."""
        prefix, event, _ = first
        if event not in _STARTS:
            return 0
        # the parser raises at a document's early end, so the end event always comes
        events = iter(self._events.__next__, (prefix, _ENDS[event], None))
        try:
            return countOf(events, (f"{prefix}.item", "end_map", None))
        except _READ_ERRORS as exc:
            raise self.file.problem(exc, self.position) from exc

    def members(
        self, prefix: str, list_key: str, wanted: frozenset[str], found: Members, *, stop: bool
    ) -> bool:
        """Read the members of the object at ``prefix`` (its ``start_map`` already read) into
        ``found``. ``stop``: stop just inside the list (True) instead of passing over it.
        Returns False at the object's end."""
        end = (prefix, "end_map", None)
        while True:
            current = self.next()
            if current == end:
                return False
            key = current[2]
            first = self.next()
            if key in found.values or (key == list_key and found.list_event is not None):
                found.repeated.append(key)
            if key == list_key:
                found.list_event = first[1]
                if first[1] != "start_array":
                    found.list_value = self.value(first)
                    continue
                found.list_ordinals.append(self._begin(first[0]))
                if stop:
                    return True
                found.list_objects += self.skip(first)
            elif key in wanted:
                found.values[key] = self.value(first)
            else:
                self.skip(first)

    def _begin(self, list_prefix: str) -> int:
        ordinal = self.lists_begun[list_prefix] = self.lists_begun.get(list_prefix, 0) + 1
        return ordinal

    def count_items(self, list_prefix: str, ordinal: int) -> int:
        """How many items the ``ordinal``-th list at ``list_prefix`` (counted from 1) holds,
        whatever they are: slow, for lists holding more than objects."""
        begun = (list_prefix, "start_array", None)
        while self.lists_begun.get(list_prefix, 0) < ordinal:
            try:
                deque(iter(self._events.__next__, begun), maxlen=0)
            except _READ_ERRORS as exc:
                raise self.file.problem(exc, self.position) from exc
            self._begin(list_prefix)
        item, count = f"{list_prefix}.item", 0
        while (current := self.next()) != (list_prefix, "end_array", None):
            # each item ends with exactly one event of its own prefix that starts nothing
            count += current[0] == item and current[1] not in _NOT_LAST
        return count


class JsonFile:
    """A JSON file on disk, read in as many passes as needed; ``InputError`` when it cannot be."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.total = path.stat().st_size
            with path.open("rb") as stream:
                self.bom = len(_BOM) if stream.read(len(_BOM)) == _BOM else 0
        except OSError as exc:
            raise InputError(str(path), f"cannot read file: {exc.strerror or exc}") from exc
        #: bytes past the BOM
        self.size = self.total - self.bom

    @contextmanager
    def open(self) -> Iterator[IO[bytes]]:
        try:
            stream = self.path.open("rb")
        except OSError as exc:
            raise InputError(str(self.path), f"cannot read file: {exc.strerror or exc}") from exc
        with stream:
            stream.seek(self.bom)
            yield stream

    @contextmanager
    def events(self) -> Iterator[Events]:
        with self.open() as stream:
            yield Events(self, stream)

    @contextmanager
    def items(self, prefix: str) -> Iterator[tuple[Iterator[Any], Position]]:
        """The values at ``prefix`` (``messages.item``), built in C, and the reader's position:
        ``chunk_start`` is where the chunk that completed the value just given began."""
        with self.open() as stream:
            position = Position(stream)
            built: Iterator[Any] = ijson.items(position, prefix, use_float=True)

            def checked() -> Iterator[Any]:
                try:
                    yield from built
                except _READ_ERRORS as exc:
                    raise self.problem(exc, position) from exc

            yield checked(), position

    def tail(self) -> Tail | None:
        """The members after the top-level object's last big value (``json_tail``)."""
        with self.open() as stream:
            return read_tail(stream, self.bom, self.size)

    # -- what went wrong, and where ----------------------------------------------------------

    def problem(self, exc: BaseException | None, position: Position) -> BrokenJSON:
        """The ``InputError`` for a read that failed in the chunk ``position`` handed out last
        (``exc`` None: the events ended where more was expected)."""
        path = str(self.path)
        if isinstance(exc, OSError):
            return BrokenJSON(path, f"cannot read file: {exc.strerror or exc}")
        if self._blank():
            return BrokenJSON(path, "file is empty")
        bad_byte = self._first_bad_utf8()
        if bad_byte is not None:
            return BrokenJSON(path, f"not UTF-8 text (byte {bad_byte})")
        offset = self._locate(position.chunk_start) if exc is not None else self.size
        line, column = self._line_column(offset)
        where = f"line {line} column {column}"
        message = _first_line(exc)
        if exc is None or "premature EOF" in message or offset >= self._content_end():
            return BrokenJSON(path, "truncated JSON (the file ends too early)", where=where)
        return BrokenJSON(path, f"invalid JSON ({message})", where=where)

    def _blank(self) -> bool:
        with self.open() as stream:
            while data := stream.read(_CHUNK):
                if data.strip():
                    return False
        return True

    def _first_bad_utf8(self) -> int | None:
        decoder = codecs.getincrementaldecoder("utf-8")()
        position = 0
        with self.open() as stream:
            while True:
                data = stream.read(_CHUNK)
                # the decoder puts bytes it holds back from the last chunk before these
                held = len(decoder.getstate()[0])
                try:
                    decoder.decode(data, final=not data)
                except UnicodeDecodeError as exc:
                    return self.bom + position - held + exc.start
                if not data:
                    return None
                position += len(data)

    def _locate(self, start: int) -> int:
        """The offset of the byte the parser rejects, parsing again from the top."""
        with self.open() as stream:
            replay = _Replay(stream, start)
            try:
                deque(ijson.basic_parse(replay), maxlen=0)
            except (ijson.JSONError, UnicodeDecodeError):
                return replay.error_offset
        return self.size

    def _line_column(self, offset: int) -> tuple[int, int]:
        line, column = 1, 0
        with self.open() as stream:
            remaining = offset
            while remaining > 0 and (data := stream.read(min(_CHUNK, remaining))):
                remaining -= len(data)
                newlines = data.count(b"\n")
                if newlines:
                    line += newlines
                    data = data[data.rfind(b"\n") + 1 :]
                    column = 0
                column += len(data.translate(None, _CONTINUATION))
        return line, column + 1

    def _content_end(self) -> int:
        """The offset just past the last byte that is not white space."""
        with self.open() as stream:
            end = self.size
            while end > 0:
                start = max(0, end - _CHUNK)
                stream.seek(self.bom + start)
                data = stream.read(end - start).rstrip(b" \t\r\n")
                if data:
                    return start + len(data)
                end = start
        return 0


def _first_line(exc: BaseException | None) -> str:
    if exc is None:
        return ""
    raw = exc.args[0] if exc.args else exc
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    return text.strip().split("\n", 1)[0].rstrip(".")
