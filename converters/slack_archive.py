"""Read-only access to a Slack export, zipped or unpacked: metadata lists, conversation folders, day files.

A zip is never extracted: members are read one at a time straight from the archive, members with
absolute names or ``..`` parts are ignored (with a warning), no member is read past a size cap, and
the archive as a whole is read within its budget (``converters.archive``), so a hostile or broken
archive cannot write anywhere or exhaust memory.
"""

from __future__ import annotations

import json
import os
import re
import zipfile
from abc import ABC, abstractmethod
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

from converters.archive import ZIP_READ_ERRORS, GuardedZip, open_zip
from importer.errors import InputError

__all__ = [
    "MAX_MEMBER_BYTES",
    "METADATA_FILES",
    "SlackExport",
    "is_slack_export",
    "open_export",
    "parse_json",
]

#: the lists at the top of an export; ``org_users.json`` replaces ``users.json`` on Enterprise Grid
METADATA_FILES = (
    "users.json",
    "org_users.json",
    "channels.json",
    "groups.json",
    "dms.json",
    "mpims.json",
    "integration_logs.json",
)
#: one of these must be at the top for the input to count as a Slack export
_KEY_FILES = frozenset({"users.json", "org_users.json", "channels.json"})
#: no single JSON file of an export is anywhere near this; a bigger one is a broken or hostile zip
MAX_MEMBER_BYTES = 256 * 1024 * 1024

_DAY_FILE = re.compile(r"(\d{4}-\d{2}-\d{2})\.json")
_ZIP_DAY_MEMBER = re.compile(r"([^/]+)/(\d{4}-\d{2}-\d{2})\.json")
#: folders that zip tools and file managers add, never conversations
_JUNK_FOLDERS = ("__MACOSX", ".")


def parse_json(data: bytes, origin: str) -> Any:
    """Parse one JSON document, turning failures into an ``InputError`` that names the place."""
    if not data.strip():
        raise InputError(origin, "file is empty")
    try:
        return json.loads(data)  # bytes: json detects UTF-8 (with or without BOM) itself
    except UnicodeDecodeError as exc:
        raise InputError(origin, f"not UTF-8 text (byte {exc.start})") from exc
    except json.JSONDecodeError as exc:
        # a string left open also means the text stopped early: JSON strings hold no raw newlines
        truncated = exc.pos >= len(exc.doc.rstrip()) or exc.msg.startswith("Unterminated string")
        reason = "truncated JSON" if truncated else f"invalid JSON ({exc.msg})"
        raise InputError(origin, reason, where=f"line {exc.lineno} column {exc.colno}") from exc


def _read_capped(stream: IO[bytes], origin: str) -> bytes:
    data = stream.read(MAX_MEMBER_BYTES + 1)
    if len(data) > MAX_MEMBER_BYTES:
        raise InputError(origin, f"larger than {MAX_MEMBER_BYTES // 2**20} MiB; not read")
    return data


class SlackExport(ABC):
    """One export, opened: what is in it and how to read each part. Use as a context manager."""

    def __init__(self, path: Path) -> None:
        self.path = path
        #: conversation folder -> its day names (``YYYY-MM-DD``), sorted
        self.folders: dict[str, list[str]] = {}
        #: (place, message) pairs about members that were left alone
        self.warnings: list[tuple[str, str]] = []

    @abstractmethod
    def origin(self, relative: str) -> str:
        """How to name ``relative`` (a file or folder inside the export) in messages."""

    @abstractmethod
    def _read(self, relative: str) -> bytes | None:
        """The bytes of a file inside the export, or None when there is no such file."""

    def load(self, name: str) -> Any:
        """A parsed top-level file (``channels.json``), or None when the export lacks it."""
        data = self._read(name)
        return None if data is None else parse_json(data, self.origin(name))

    def day(self, folder: str, day: str) -> Any:
        """The parsed day file ``folder/day.json``."""
        relative = f"{folder}/{day}.json"
        data = self._read(relative)
        if data is None:
            raise InputError(self.origin(relative), "file disappeared while reading")
        return parse_json(data, self.origin(relative))

    def close(self) -> None:
        """Release the archive; a folder holds nothing open."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class _FolderExport(SlackExport):
    def __init__(self, path: Path) -> None:
        super().__init__(path)
        try:
            entries = sorted(os.scandir(path), key=lambda e: e.name)
        except OSError as exc:
            raise InputError(str(path), f"cannot list folder: {exc.strerror or exc}") from exc
        for entry in entries:
            if entry.is_dir() and not entry.name.startswith(_JUNK_FOLDERS):
                days = _days_in(Path(entry.path))
                if days:
                    self.folders[entry.name] = days

    def origin(self, relative: str) -> str:
        return str(self.path / relative)

    def _read(self, relative: str) -> bytes | None:
        file = self.path / relative
        try:
            with file.open("rb") as stream:
                return _read_capped(stream, str(file))
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise InputError(str(file), f"cannot read file: {exc.strerror or exc}") from exc


def _days_in(folder: Path) -> list[str]:
    try:
        names = [entry.name for entry in os.scandir(folder) if entry.is_file()]
    except OSError:
        return []
    return sorted(m.group(1) for name in names if (m := _DAY_FILE.fullmatch(name)))


def _has_day_folder(path: Path) -> bool:
    # stops at the first conversation folder found, so detection stays cheap on big exports
    try:
        for entry in os.scandir(path):
            if entry.is_dir() and not entry.name.startswith(_JUNK_FOLDERS):
                with os.scandir(entry.path) as inner:
                    if any(_DAY_FILE.fullmatch(sub.name) for sub in inner):
                        return True
    except OSError:
        return False
    return False


class _ZipExport(SlackExport):
    def __init__(self, path: Path) -> None:
        super().__init__(path)
        try:
            self._zip: GuardedZip = open_zip(path)
        except (OSError, zipfile.BadZipFile) as exc:
            if path.suffix.lower() == ".zip":
                raise InputError(str(path), f"cannot open zip: {exc}") from exc
            reason = "not a Slack export: give the export's .zip or the folder it unpacks to"
            raise InputError(str(path), reason) from exc
        try:
            self._index(self._zip.infolist())
        except BaseException:
            self._zip.close()
            raise

    def _index(self, infos: list[zipfile.ZipInfo]) -> None:
        names = [_normalise(info.filename) for info in infos]
        self._prefix = _export_root(names) or ""
        self._members: dict[str, zipfile.ZipInfo] = {}
        days: dict[str, list[str]] = {}
        for name, info in zip(names, infos):
            if info.is_dir() or not name.startswith(self._prefix):
                continue
            if _unsafe(name):
                self.warnings.append((self.origin_member(info.filename), "unsafe name; ignored"))
                continue
            relative = name[len(self._prefix) :]
            self._members[relative] = info
            day = _ZIP_DAY_MEMBER.fullmatch(relative)
            if day and not day.group(1).startswith(_JUNK_FOLDERS):
                days.setdefault(day.group(1), []).append(day.group(2))
        self.folders = {folder: sorted(days[folder]) for folder in sorted(days)}
        # the lists at the top and every day file are read: refuse a bomb before the first one
        self._zip.expect(
            info
            for relative, info in self._members.items()
            if ("/" not in relative and relative.endswith(".json"))
            or _ZIP_DAY_MEMBER.fullmatch(relative)
        )

    def origin_member(self, member: str) -> str:
        return f"{self.path}!/{member}"

    def origin(self, relative: str) -> str:
        info = self._members.get(relative)
        return self.origin_member(info.filename if info else self._prefix + relative)

    def _read(self, relative: str) -> bytes | None:
        info = self._members.get(relative)
        if info is None:
            return None
        origin = self.origin_member(info.filename)
        try:
            return self._zip.read(info, MAX_MEMBER_BYTES)
        except ZIP_READ_ERRORS as exc:
            raise InputError(origin, f"cannot read zip member: {exc}") from exc

    def close(self) -> None:
        self._zip.close()


def _normalise(name: str) -> str:
    # some Windows tools store backslashes; the zip format says '/'
    return name.replace("\\", "/")


def _unsafe(name: str) -> bool:
    """Absolute names, drive letters and ``..`` parts would escape any folder they were put in."""
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return True
    return ".." in name.split("/")


def _export_root(names: list[str]) -> str | None:
    """The folder inside a zip that holds the export: ``""`` or one top-level folder, else None."""
    roots: set[str] = set()
    for name in names:
        prefix, _, base = name.rpartition("/")
        if base in _KEY_FILES and prefix.count("/") == 0 and not _unsafe(name):
            roots.add(f"{prefix}/" if prefix else "")
    if "" in roots:
        return ""
    return roots.pop() if len(roots) == 1 else None


def open_export(path: Path) -> SlackExport:
    """Open a Slack export given as its ``.zip`` or as the unpacked folder."""
    if path.is_dir():
        return _FolderExport(path)
    return _ZipExport(path)


def is_slack_export(path: Path) -> bool:
    """Cheap check: a key list (users/channels) at the top and something else an export has.

    For a zip only the member names are looked at; the export may sit in one top-level folder.
    """
    if path.is_dir():
        present = [name for name in METADATA_FILES if (path / name).is_file()]
        return bool(_KEY_FILES.intersection(present)) and (
            len(present) > 1 or _has_day_folder(path)
        )
    if path.suffix.lower() != ".zip" or not path.is_file():
        return False
    try:
        with zipfile.ZipFile(path) as archive:
            names = [_normalise(name) for name in archive.namelist()]
    except (OSError, zipfile.BadZipFile):
        return False
    root = _export_root(names)
    if root is None:
        return False
    top = [name[len(root) :] for name in names if name.startswith(root)]
    metadata = sum(1 for name in top if name in METADATA_FILES)
    return metadata > 1 or any(_ZIP_DAY_MEMBER.fullmatch(name) for name in top)
