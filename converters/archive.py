"""Reading zip members within one budget per archive, so a zip bomb is refused, never inflated.

Every converter that reads zips opens them with ``open_zip``. The ``GuardedZip`` it returns
streams members through a meter that counts the bytes actually inflated, per archive, and refuses:

* members whose headers already declare more than is left of the budget (before reading them);
* members that inflate far more than any chat export does (see ``MAX_RATIO``);
* any read that takes the archive past the budget (``IMPORTER_MAX_ARCHIVE_BYTES``).

A refusal is an ``ArchiveLimitError`` naming the archive and the member: it stops that input,
not the run. A member read again (WhatsApp reads its chat twice) counts once.
"""

from __future__ import annotations

import io
import os
import re
import zipfile
import zlib
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import IO, Self

from importer.errors import InputError

__all__ = [
    "ARCHIVE_LIMIT_ENV",
    "DEFAULT_ARCHIVE_LIMIT",
    "MAX_RATIO",
    "RATIO_FLOOR",
    "ZIP_READ_ERRORS",
    "ArchiveLimitError",
    "GuardedZip",
    "archive_limit",
    "open_zip",
]

ARCHIVE_LIMIT_ENV = "IMPORTER_MAX_ARCHIVE_BYTES"
#: far above the largest real exports (a heavy ChatGPT user's conversations.json is ~1 GB;
#: Slack exports are read a day file at a time), far below what would exhaust a machine
DEFAULT_ARCHIVE_LIMIT = 4 * 2**30
#: Deflate cannot pass ~1032:1, and only long runs of one pattern come near it; chat text and
#: JSON inflate 3-30 times, since every message carries its own ids, times and words. 200:1
#: leaves real exports a wide margin, yet stops a bomb before it is inflated (bzip2 and LZMA
#: members, which zip allows, reach millions to one).
MAX_RATIO = 200
#: members that inflate to less than this are never refused for their ratio: small files of
#: padding or a repeated record say nothing, and cannot hurt
RATIO_FLOOR = 2**20

#: what reading a damaged member can raise: corrupt data (CRC, zlib, short file), encryption
#: (RuntimeError) and compression methods the stdlib lacks (NotImplementedError)
ZIP_READ_ERRORS = (
    zipfile.BadZipFile, zlib.error, EOFError, OSError, RuntimeError, NotImplementedError
)  # fmt: skip

_BLOCK = 64 * 1024
_SIZE = re.compile(r"(\d+)\s*([kmgt]?)(?:i?b)?", re.IGNORECASE)
_UNITS = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}


class ArchiveLimitError(InputError):
    """An archive would inflate beyond what may be read from it: the whole input stops."""


def archive_limit(path: Path | str) -> int:
    """The budget of one archive: ``IMPORTER_MAX_ARCHIVE_BYTES`` (``8589934592``, ``8G``) or 4 GiB.

    ``path`` names the archive in the ``InputError`` a malformed value gives.
    """
    raw = os.environ.get(ARCHIVE_LIMIT_ENV, "").strip()
    if not raw:
        return DEFAULT_ARCHIVE_LIMIT
    match = _SIZE.fullmatch(raw)
    limit = int(match.group(1)) * _UNITS[match.group(2).lower()] if match else 0
    if limit <= 0:
        reason = f"{ARCHIVE_LIMIT_ENV} must be a number of bytes such as 8589934592 or 8G"
        raise InputError(str(path), f"{reason}, not {raw!r}")
    return limit


def open_zip(path: Path, limit: int | None = None) -> GuardedZip:
    """Open ``path`` for reading under ``limit`` bytes (None: ``archive_limit``).

    Raises what ``zipfile.ZipFile`` raises. The environment is read at the first member
    read, so detection, which only looks at names and heads, never depends on it.
    """
    return GuardedZip(path, limit)


class GuardedZip:
    """A zip whose members are read through one meter. Use as a context manager."""

    def __init__(self, path: Path, limit: int | None = None) -> None:
        self.path = path
        self._limit = limit
        self.zip = zipfile.ZipFile(path)
        #: bytes inflated, each member counted up to the furthest point read in it
        self.total = 0
        self._furthest: dict[int, int] = {}

    @property
    def limit(self) -> int:
        """How many bytes the members read may inflate to in all."""
        if self._limit is None:
            self._limit = archive_limit(self.path)
        return self._limit

    # -- names (no member is inflated) ---------------------------------------------------------

    def infolist(self) -> list[zipfile.ZipInfo]:
        return self.zip.infolist()

    def namelist(self) -> list[str]:
        return self.zip.namelist()

    def getinfo(self, name: str) -> zipfile.ZipInfo:
        return self.zip.getinfo(name)

    def origin(self, name: str) -> str:
        """How messages name a member: ``archive.zip!/folder/file.json``."""
        return f"{self.path}!/{name}"

    # -- reading -------------------------------------------------------------------------------

    def expect(self, members: Iterable[zipfile.ZipInfo]) -> None:
        """Refuse now when the headers of the members about to be read already declare too much.

        Called before the first conversation, so a hopeless archive imports nothing at all
        rather than the conversations that happened to come before the bomb.
        """
        declared = 0
        for info in members:
            self._check_ratio(info, info.file_size)
            declared += info.file_size
            if declared > self.limit:
                raise self._too_big(info)

    def open(self, member: str | zipfile.ZipInfo) -> IO[bytes]:
        """A buffered stream of one member, refused up front if its header asks too much."""
        info = self._info(member)
        self._check_ratio(info, info.file_size)
        if self.total - self._furthest.get(info.header_offset, 0) + info.file_size > self.limit:
            raise self._too_big(info)
        return io.BufferedReader(_Meter(self, info), _BLOCK)

    def read(self, member: str | zipfile.ZipInfo, max_bytes: int) -> bytes:
        """A whole member (for formats parsed whole), block by block, at most ``max_bytes``."""
        info = self._info(member)
        too_large = InputError(
            self.origin(info.filename), f"larger than {max_bytes // 2**20} MiB; not read"
        )
        if info.file_size > max_bytes:
            raise too_large
        blocks: list[bytes] = []
        size = 0
        with self.open(info) as stream:
            while block := stream.read(_BLOCK):
                size += len(block)
                if size > max_bytes:
                    raise too_large
                blocks.append(block)
        return b"".join(blocks)

    def head(self, member: str | zipfile.ZipInfo, size: int) -> bytes:
        """The first ``size`` bytes of a member, for detection: bounded, so never refused."""
        info = self._info(member)
        with io.BufferedReader(_Meter(self, info, check=False), _BLOCK) as stream:
            return stream.read(size)

    # -- the meter -----------------------------------------------------------------------------

    def _info(self, member: str | zipfile.ZipInfo) -> zipfile.ZipInfo:
        return member if isinstance(member, zipfile.ZipInfo) else self.zip.getinfo(member)

    def _count(self, info: zipfile.ZipInfo, position: int, check: bool) -> None:
        """Account for ``info`` having been read up to ``position``; refuse past the limits."""
        furthest = self._furthest.get(info.header_offset, 0)
        if position <= furthest:
            return
        self._furthest[info.header_offset] = position
        self.total += position - furthest
        if check:
            # the header bounds what zipfile inflates, but a lying or overlapping header must
            # not matter: what was really inflated is what counts
            self._check_ratio(info, position)
            if self.total > self.limit:
                raise self._too_big(info)

    def _check_ratio(self, info: zipfile.ZipInfo, inflated: int) -> None:
        if inflated <= RATIO_FLOOR or inflated <= MAX_RATIO * max(info.compress_size, 1):
            return
        ratio = inflated // max(info.compress_size, 1)
        raise ArchiveLimitError(
            str(self.path),
            f"inflates {ratio:,} times its compressed size, more than any chat export does"
            f" (over {MAX_RATIO}:1): a zip bomb? Not read; if you trust the file, unzip it"
            " and import what it holds",
            where=f"member {info.filename}",
        )

    def _too_big(self, info: zipfile.ZipInfo) -> ArchiveLimitError:
        return ArchiveLimitError(
            str(self.path),
            f"expands beyond {self.limit} bytes (a damaged or malicious archive?);"
            f" set {ARCHIVE_LIMIT_ENV} to allow more",
            where=f"member {info.filename}",
        )

    # -- lifetime ------------------------------------------------------------------------------

    def close(self) -> None:
        self.zip.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class _Meter(io.RawIOBase):
    """One member as a raw stream that reports every block it inflates to its ``GuardedZip``."""

    def __init__(self, owner: GuardedZip, info: zipfile.ZipInfo, *, check: bool = True) -> None:
        super().__init__()
        self._owner = owner
        self._info = info
        self._check = check
        self._stream = owner.zip.open(info)
        self._position = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        data = self._stream.read(len(buffer))
        size = len(data)
        buffer[:size] = data
        self._position += size
        self._owner._count(self._info, self._position, self._check)
        return size

    def close(self) -> None:
        if not self.closed:
            self._stream.close()
        super().close()
