"""What the ChatGPT and Claude converters share: finding ``conversations.json`` in a file, an
unpacked export folder or the export's zip, streaming its conversations one at a time, and message
times that keep the order the export gives.

Both services name their file ``conversations.json`` and write it as one JSON list that can be
hundreds of MB, so it is parsed incrementally (ijson): only the conversation being converted is
ever held as a tree. A zip is never extracted; its member is streamed straight from the archive,
within the archive's budget (``converters.archive``).
"""

from __future__ import annotations

import json
import re
import zipfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal, InvalidOperation
from pathlib import Path
from typing import IO, Any, Protocol

from converters._common import MS_THRESHOLD
from converters.archive import ZIP_READ_ERRORS, ArchiveLimitError, open_zip
from converters.base import Converter
from converters.discord_common import JSONError, iter_json_items, json_problem
from importer.errors import InputError
from importer.models import Conversation

__all__ = [
    "EXPORT_FILE",
    "ExportReader",
    "ExportSource",
    "Timeline",
    "find_export",
    "iter_conversations",
    "read_export",
    "seconds_to_millis",
    "source_of",
    "tidy",
]

EXPORT_FILE = "conversations.json"
#: how much of conversations.json ``detect`` looks at
HEAD_BYTES = 65536
#: companion files (user.json, users.json) are a few hundred bytes; anything bigger is not one
_COMPANION_LIMIT = 1024 * 1024
_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class ExportSource:
    """Where an export's ``conversations.json`` is: a file on disk, or a member of a zip."""

    #: what the user gave: the file, the export folder or the zip
    path: Path
    #: the JSON file itself (for a zip: the zip)
    file: Path
    #: the member inside the zip, or None
    member: str | None = None

    @property
    def origin(self) -> str:
        """How to name the conversations file in messages."""
        return f"{self.file}!/{self.member}" if self.member else str(self.file)

    @contextmanager
    def open(self) -> Iterator[IO[bytes]]:
        """The conversations file as a binary stream; ``InputError`` when it cannot be opened."""
        try:
            if self.member is None:
                with self.file.open("rb") as stream:
                    yield stream
            else:
                with open_zip(self.file) as archive, archive.open(self.member) as stream:
                    yield stream
        except FileNotFoundError as exc:
            raise InputError(self.origin, "no such file") from exc
        except ZIP_READ_ERRORS as exc:
            raise InputError(self.origin, f"cannot read: {_reason(exc)}") from exc

    def head(self, size: int = HEAD_BYTES) -> str | None:
        """The first ``size`` bytes as text (for cheap detection), or None when unreadable."""
        try:
            if self.member is None:
                with self.open() as stream:
                    data = stream.read(size)
            else:
                # a bounded read: detection takes an export whatever its size, and reading
                # it says how much is too much
                with open_zip(self.file) as archive:
                    data = archive.head(self.member, size)
        except (InputError, *ZIP_READ_ERRORS):
            return None
        return data.decode("utf-8", errors="replace").lstrip("\ufeff \t\r\n")

    def companion(self, name: str) -> Any:
        """A small JSON file next to the conversations (``user.json``), parsed; None if absent."""
        try:
            if self.member is None:
                file = self.file.with_name(name)
                if not file.is_file() or file.stat().st_size > _COMPANION_LIMIT:
                    return None
                data = file.read_bytes()
            else:
                member = self.member[: -len(EXPORT_FILE)] + name
                with open_zip(self.file) as archive:
                    info = archive.getinfo(member)
                    if info.file_size > _COMPANION_LIMIT:
                        return None
                    data = archive.read(info, _COMPANION_LIMIT)
            return json.loads(data)
        except (KeyError, ValueError, InputError, *ZIP_READ_ERRORS):
            return None  # optional: the converter falls back to a default


def find_export(
    path: Path, companions: frozenset[str], foreign: Callable[[Path], bool]
) -> ExportSource | None:
    """The conversations file of ``path``: a ``.json`` file, an export folder or an export zip.

    A folder counts when it holds ``conversations.json`` and one of ``companions`` (files the
    service puts next to it), unless another JSON or zip at its top is an input of its own
    (``foreign``): a folder mixing several exports is walked file by file instead.
    """
    if path.is_dir():
        file = path / EXPORT_FILE
        if not file.is_file():
            return None
        top = [p for p in path.iterdir() if p.is_file() and not p.name.startswith(".")]
        if not any(p.name in companions for p in top):
            return None
        known = companions | {EXPORT_FILE}
        others = [p for p in top if p.name not in known and p.suffix.lower() in (".json", ".zip")]
        return None if any(foreign(p) for p in others) else ExportSource(path, file)
    if not path.is_file():
        return None
    suffix = path.suffix.lower()
    if suffix == ".json":
        return ExportSource(path, path)
    if suffix == ".zip":
        member = _zip_member(path)
        return ExportSource(path, path, member) if member else None
    return None


def _zip_member(path: Path) -> str | None:
    """``conversations.json`` at the top of the zip or inside its single top folder."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (OSError, zipfile.BadZipFile):
        return None
    found = [
        name
        for name in names
        if name.rsplit("/", 1)[-1] == EXPORT_FILE
        and name.count("/") <= 1
        and not name.startswith(("__MACOSX/", "/", "."))
    ]
    # the top-level one wins over one in a folder
    found.sort(key=lambda name: name.count("/"))
    return found[0] if found else None


# -- streaming ---------------------------------------------------------------------------------


class _Tracking:
    """A stream that replays what was peeked and remembers the last bytes read at the end.

    A file cut short makes the parser fail only once it has read everything, so whether the
    failure came with the end of the file tells a truncated file from a broken one, for a zip
    member too, where seeking to the end would mean decompressing it twice.
    """

    def __init__(self, stream: IO[bytes], peeked: bytes) -> None:
        self._stream = stream
        self._pending = peeked
        self.tail = b""
        self.at_end = False

    def read(self, size: int = -1, /) -> bytes:
        if size == 0:
            return b""  # the parser probes the stream's type this way
        if self._pending:
            cut = len(self._pending) if size < 0 else size
            data, self._pending = self._pending[:cut], self._pending[cut:]
        else:
            data = self._stream.read(size)
        if data:
            self.tail = (self.tail + data)[-64:]
        else:
            self.at_end = True
        return data


def iter_conversations(source: ExportSource, id_field: str) -> Iterator[tuple[str, Any]]:
    """``(place, raw conversation)`` for each item of the file's top-level list (or its one object).

    ``place`` names the conversation in messages (``conversation 3``, ``top level``). Raises
    ``InputError`` for a file that is not a list or object, and for one that breaks off (naming
    the last conversation read whole, by ``id_field``).
    """
    with source.open() as raw_stream:
        try:
            first = raw_stream.read(HEAD_BYTES)
        except ZIP_READ_ERRORS as exc:
            raise InputError(source.origin, f"cannot read: {_reason(exc)}") from exc
        first = first.removeprefix(_BOM)
        opener = first.lstrip()[:1]
        if not opener:
            raise InputError(source.origin, "file is empty")
        if opener not in (b"[", b"{"):
            raise InputError(source.origin, "not JSON: expected a list of conversations")
        single = opener == b"{"
        stream = _Tracking(raw_stream, first)
        read, last_id = 0, None
        try:
            # positions count from 1, as people count them
            for index, item in enumerate(iter_json_items(stream, "" if single else "item"), 1):
                yield ("top level" if single else f"conversation {index}"), item
                read, last_id = index, item.get(id_field) if isinstance(item, dict) else None
            return
        except JSONError as exc:
            problem = json_problem(exc, stream.tail if stream.at_end else None)
        except ZIP_READ_ERRORS as exc:
            problem = f"cannot read: {_reason(exc)}"
    raise InputError(source.origin, problem, where=_after(read, last_id, single))


def _after(read: int, last_id: object, single: bool) -> str:
    """Where a file broke off: after the last conversation read whole (counted from 1)."""
    if single:
        return "top level"
    if read == 0:
        return "before the first conversation was read whole"
    label = f" (id {last_id})" if isinstance(last_id, str) else ""
    return f"after conversation {read}{label}"


def _reason(exc: BaseException) -> str:
    return str(getattr(exc, "strerror", None) or exc) or type(exc).__name__


class ExportReader(Protocol):
    """Turns the raw conversations of one file into ``Conversation`` objects."""

    def conversation(
        self, raw: Any, place: str, deferred: list[tuple[str | None, str]]
    ) -> Conversation | None:
        """One conversation, or None (nothing to import, or a problem appended to ``deferred``)."""

    def finish(self) -> None:
        """Report once per file what was adjusted on the way."""


def source_of(
    path: Path, companions: frozenset[str], foreign: Callable[[Path], bool]
) -> ExportSource:
    """The conversations file of ``path``, also when ``--source`` forced a file of another name."""
    source = find_export(path, companions, foreign)
    if source is not None:
        return source
    if not path.is_file():
        raise InputError(str(path), "no conversations.json in this folder or zip")
    return ExportSource(path, path)


def read_export(
    converter: Converter, source: ExportSource, id_field: str, reader: ExportReader
) -> Iterator[Conversation]:
    """Every conversation ``reader`` makes of ``source``, problems reported after the last one.

    Problems of conversations that yield nothing are reported at the end, so the converter base
    does not pin them on the next good one; a file that breaks off keeps what came before.
    """
    deferred: list[tuple[str | None, str]] = []
    try:
        for place, raw in iter_conversations(source, id_field):
            conversation = reader.conversation(raw, place, deferred)
            if conversation is not None:
                yield conversation
    except InputError as exc:
        if exc.where is None or isinstance(exc, ArchiveLimitError):
            raise  # nothing in the file could be read, or no more of the archive may be
        deferred.append((exc.where, exc.reason))
    reader.finish()
    for where, reason in deferred:
        converter.error(source.origin, where, reason)


# -- times ---------------------------------------------------------------------------------------


def seconds_to_millis(value: object) -> int | None:
    """Unix ms of epoch seconds as the parser gives them (int or exact Decimal); None if not a time.

    ``1749687798.6946201`` is 1749687798694 exactly (floor): no binary float in between.
    A value of 1e11 or more is taken to be milliseconds already.
    """
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return None
    try:
        exact = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
        if not exact.is_finite():
            return None
        if abs(exact) < MS_THRESHOLD:
            exact *= 1000
        return int(exact.to_integral_value(rounding=ROUND_FLOOR))
    except (InvalidOperation, ValueError):
        return None


class Timeline:
    """Times for messages in the order the export shows them, never out of that order.

    A message without a time takes the time of the one before it (the first ones: the
    conversation's start). A time earlier than the one before it is moved up to it: ChatGPT
    stamps user messages with the browser's clock and answers with the server's, so a few
    seconds of skew would otherwise put an answer before its question.
    """

    def __init__(self) -> None:
        #: messages whose time was moved up, over every conversation placed so far
        self.moved = 0

    def place(self, times: Sequence[int | None], start: int | None) -> list[int] | None:
        """One time per entry of ``times``; None when neither they nor ``start`` hold any."""
        known = next((t for t in times if t is not None), None)
        if known is not None:
            last = known if start is None else min(known, start)
        elif start is not None:
            last = start
        else:
            return None
        out: list[int] = []
        for time in times:
            if time is None:
                time = last
            elif time < last:
                self.moved += 1
                time = last
            out.append(time)
            last = time
        return out


_BLANK_RUNS = re.compile(r"\n{3,}")


def tidy(text: str) -> str:
    """``text`` without runs of blank lines left where something was cut out, stripped."""
    return _BLANK_RUNS.sub("\n\n", text).strip()
