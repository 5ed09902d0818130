"""Finding and reading the chat text of a WhatsApp export: a ``.txt``, or the ``.zip`` around it.

iOS zips hold ``_chat.txt`` and the media; Android saves ``WhatsApp Chat with X.txt`` (zipped by
the user, or shared as a zip with the media). The chat is found by content, never extracted: its
lines are streamed from the file or the zip member, as often as the reader asks (twice), within
the archive's budget (``converters.archive``); the media are never read.
"""

from __future__ import annotations

import struct
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Self

from converters.archive import ZIP_READ_ERRORS, GuardedZip, open_zip
from converters.whatsapp_lines import (
    export_title,
    parse_header,
    plausible_date,
    strip_marks,
)
from importer.errors import InputError

__all__ = ["ChatText", "is_chat_export", "looks_like_chat", "open_chat"]

#: how much of a file detection reads
_HEAD_BYTES = 64 * 1024
#: .txt members of a zip detection opens at most (media folders hold few .txt files)
_MAX_CANDIDATES = 20
_IOS_CHAT = "_chat.txt"
_LOCAL_HEADER = struct.Struct("<4sHHHHHIIIHH")
_DAMAGED_HINT = "export the chat again, or unzip what can be saved and import the .txt"


def looks_like_chat(head: bytes | str) -> bool:
    """Whether the first non-empty line of ``head`` is a WhatsApp message header."""
    text = head.decode("utf-8", errors="replace") if isinstance(head, bytes) else head
    for raw in text.splitlines():
        line = strip_marks(raw).strip()
        if line:
            header = parse_header(line)
            return header is not None and plausible_date(header) and bool(line[header.end :])
    return False


@dataclass(frozen=True)
class ChatText:
    """The chat text file of an export; ``lines()`` streams it, once per call."""

    path: Path
    #: the member of the zip ``path`` that holds the chat, or None for a plain text file
    member: str | None = None
    _archive: GuardedZip | None = None

    @property
    def origin(self) -> str:
        """How problems name this text: the file, or ``archive.zip!/member``."""
        return f"{self.path}!/{self.member}" if self.member else str(self.path)

    @property
    def title(self) -> str | None:
        """The chat's name from the export's file names (``WhatsApp Chat with X``), if any."""
        if self.member is not None:
            return export_title(self.path.name) or export_title(self.member)
        return export_title(self.path.name)

    def lines(self) -> Iterator[tuple[int, str]]:
        """``(line number, text)`` without line ends; only ``\\n`` ends a line (CR is dropped)."""
        try:
            with self._open() as stream:
                for number, raw in enumerate(stream, start=1):
                    if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                        raw = raw[3:]
                    yield number, raw.rstrip(b"\r\n").decode("utf-8", errors="replace")
        except ZIP_READ_ERRORS as exc:
            if self._archive is None:
                raise InputError(self.origin, f"cannot read file: {exc}") from exc
            raise InputError(self.origin, f"damaged zip: {exc}; {_DAMAGED_HINT}") from exc

    def _open(self) -> IO[bytes]:
        if self._archive is not None and self.member is not None:
            return self._archive.open(self.member)
        return self.path.open("rb")

    def close(self) -> None:
        if self._archive is not None:
            self._archive.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def open_chat(path: Path) -> ChatText:
    """The chat text of ``path`` (a ``.txt`` or an export ``.zip``); ``InputError`` if none."""
    if not _is_zip_name(path):
        if not path.is_file():
            raise InputError(str(path), "not a file")
        return ChatText(path)
    try:
        archive = open_zip(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise InputError(str(path), f"damaged zip ({exc}); {_DAMAGED_HINT}") from exc
    try:
        member = _chat_member(path, archive)
    except BaseException:
        archive.close()
        raise
    return ChatText(path, member, archive)


def is_chat_export(path: Path) -> bool:
    """Cheap detection: a ``.txt`` that starts like a chat, or a zip holding one."""
    if not path.is_file():
        return False
    if path.suffix.lower() == ".txt":
        try:
            with path.open("rb") as stream:
                return looks_like_chat(stream.read(_HEAD_BYTES))
        except OSError:
            return False
    if not _is_zip_name(path):
        return False
    try:
        with open_zip(path) as archive:
            return bool(_candidates(archive))
    except zipfile.BadZipFile:
        # a cut or corrupted download: claim it when it still shows a chat, so the user hears
        # "damaged zip" rather than "unknown format"
        return _damaged_zip_of_chat(path)
    except (*ZIP_READ_ERRORS, ValueError):
        return False


# -- choosing the member -----------------------------------------------------------------------


def _is_zip_name(path: Path) -> bool:
    return path.suffix.lower() == ".zip"


def _text_members(archive: GuardedZip) -> list[str]:
    """``.txt`` members at the top of the export (or of its single folder); no macOS litter."""
    names = [
        info.filename
        for info in archive.infolist()
        if not info.is_dir()
        and not info.filename.startswith("__MACOSX/")
        and not info.filename.rsplit("/", 1)[-1].startswith(".")
    ]
    roots = {name.split("/", 1)[0] for name in names if "/" in name}
    top = [name for name in names if "/" not in name]
    if not top and len(roots) == 1:
        root = f"{roots.pop()}/"
        top = [n for n in names if n.startswith(root) and "/" not in n[len(root) :]]
    return [name for name in top if name.lower().endswith(".txt")]


def _candidates(archive: GuardedZip) -> list[str]:
    """Members that hold a chat: ``_chat.txt`` alone when present (a media file that is itself a
    chat export then stays media), else every top-level ``.txt`` that starts like one."""
    texts = _text_members(archive)
    ios = [name for name in texts if name.rsplit("/", 1)[-1] == _IOS_CHAT]
    found = []
    for name in (ios or texts)[:_MAX_CANDIDATES]:
        try:
            if looks_like_chat(archive.head(name, _HEAD_BYTES)):
                found.append(name)
        except ZIP_READ_ERRORS:
            found.append(name)  # unreadable: let reading it report the damage
    return found[:1] if ios else found


def _chat_member(path: Path, archive: GuardedZip) -> str:
    found = _candidates(archive)
    if len(found) > 1:
        # several chats zipped together: the ones named like exports win
        named = [name for name in found if export_title(name)]
        found = named if len(named) == 1 else found
    if not found:
        raise InputError(str(path), "no WhatsApp chat text (_chat.txt or a chat .txt) in the zip")
    if len(found) > 1:
        names = ", ".join(found)
        raise InputError(
            str(path), f"the zip holds several chats ({names}); unzip it and import them one by one"
        )
    return found[0]


def _damaged_zip_of_chat(path: Path) -> bool:
    """Whether a zip that cannot be opened still starts with a chat text, or is named like one."""
    if export_title(path.name) is not None:
        return True
    try:
        with path.open("rb") as stream:
            data = stream.read(_HEAD_BYTES + _LOCAL_HEADER.size + 1024)
    except OSError:
        return False
    if len(data) < _LOCAL_HEADER.size or not data.startswith(b"PK\x03\x04"):
        return False
    fields = _LOCAL_HEADER.unpack_from(data)
    method, name_size, extra_size = fields[3], fields[9], fields[10]
    start = _LOCAL_HEADER.size
    name = data[start : start + name_size].decode("utf-8", errors="replace")
    if not name.lower().endswith(".txt") or name.startswith("__MACOSX/"):
        return False
    payload = data[start + name_size + extra_size :]
    if method == zipfile.ZIP_DEFLATED:
        try:
            payload = zlib.decompressobj(-15).decompress(payload, _HEAD_BYTES)
        except zlib.error:
            return False
    elif method != zipfile.ZIP_STORED:
        return False
    return looks_like_chat(payload)
