"""Discord's own data package (the "Request my data" download): one conversation per channel folder.

Layout, as a directory or the zip Discord mails (newer packages capitalise the folder names)::

    account/user.json                     the requester: id, username, global_name
    messages/index.json                   {"<channel id>": "general in Srv" | null, ...}
    messages/c<channel id>/channel.json   {id, type, name?, guild?: {id, name}, recipients?}
    messages/c<channel id>/messages.json  [{"ID", "Timestamp", "Contents", "Attachments"}]  (newer)
    messages/<channel id>/messages.csv    ID,Timestamp,Contents,Attachments                  (older)

Only the requester's own messages are there, newest first. Ids are 64-bit integers (JSON numbers in
newer packages): they are kept as exact decimal strings. Timestamps without a zone are UTC. A zip
is read in place, within its budget (``converters.archive``); only ``account/user.json`` and
``messages/`` are read (a package's activity logs can inflate to gigabytes).
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from converters import register
from converters.archive import ZIP_READ_ERRORS, GuardedZip, open_zip
from converters.base import Converter
from converters.discord_common import (
    JSONError,
    attachment_name,
    iter_json_items,
    json_problem,
    make_message,
    parse_timestamp_ms,
)
from importer.errors import InputError
from importer.models import Conversation, Message

__all__ = ["DiscordPackageConverter"]

_INDEX = "messages/index.json"
#: sender of every message when the package has no account/user.json
_FALLBACK_SENDER = ("me", "me")
#: index.json, channel.json and user.json are read whole; index.json lists every channel, which
#: is a few MB for the busiest accounts
_SMALL_JSON_LIMIT = 64 * 1024 * 1024


class _Source:
    """The files of a package, by ``/``-separated name relative to the package root."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._zip: GuardedZip | None = None
        self._prefix = ""
        try:
            if path.is_dir():
                self.names = _directory_names(path)
            else:
                self._zip = open_zip(path)
                self._prefix, self.names = _zip_names(self._zip)
        except (OSError, zipfile.BadZipFile) as exc:
            raise InputError(str(path), f"cannot read data package: {exc}") from exc
        #: lower-cased name -> real name, as folder capitalisation changed between package versions
        self.by_lower = {name.lower(): name for name in self.names}
        if self._zip is not None:
            try:
                # what will be read, refused before the first channel if it already asks too much
                self._zip.expect(self._zip.getinfo(self._prefix + n) for n in _read_set(self.names))
            except BaseException:
                self._zip.close()
                raise

    def open(self, name: str) -> IO[bytes]:
        if self._zip is not None:
            return self._zip.open(self._prefix + name)
        return (self.path / name).open("rb")

    def tail(self, name: str) -> bytes | None:
        """The last bytes of a file of a directory package (None in a zip: seeking inflates)."""
        if self._zip is not None:
            return None
        try:
            with (self.path / name).open("rb") as stream:
                stream.seek(max(0, (self.path / name).stat().st_size - 64))
                return stream.read()
        except OSError:
            return None

    def load_json(self, name: str) -> Any:
        """A small JSON file of the package (index, channel, account); ints stay exact."""
        try:
            if self._zip is not None:
                data = self._zip.read(self._prefix + name, _SMALL_JSON_LIMIT)
            else:
                with self.open(name) as stream:
                    data = stream.read()
            return json.loads(data.decode("utf-8-sig"))
        except (UnicodeDecodeError, ValueError, *ZIP_READ_ERRORS) as exc:
            raise InputError(f"{self.path}/{name}", f"cannot read JSON: {exc}") from exc

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()


def _directory_names(root: Path) -> list[str]:
    # only the folders we read: a package's activity logs can hold hundreds of thousands of files
    names: list[str] = []
    for top in root.iterdir():
        if top.name.lower() == "account" and (top / "user.json").is_file():
            names.append(f"{top.name}/user.json")
        if top.name.lower() != "messages" or not top.is_dir():
            continue
        for entry in top.iterdir():
            if entry.is_file():
                names.append(f"{top.name}/{entry.name}")
            elif entry.is_dir():
                names.extend(f"{top.name}/{entry.name}/{f.name}" for f in entry.iterdir())
    return names


def _read_set(names: list[str]) -> list[str]:
    """The names of a package that are read: the account file and the messages folder."""
    return [
        n for n in names if n.lower() == "account/user.json" or n.lower().startswith("messages/")
    ]


def _zip_names(archive: GuardedZip) -> tuple[str, list[str]]:
    # the package may sit at the zip's root or inside one folder
    indexes = [n for n in archive.namelist() if n.lower().endswith(_INDEX)]
    if not indexes:
        return "", []
    prefix = min(indexes, key=len)[: -len(_INDEX)]
    names = [n[len(prefix) :] for n in archive.namelist() if n.startswith(prefix)]
    return prefix, [n for n in names if n and not n.endswith("/")]


class _BomSkipper:
    """Reads a stream past a UTF-8 byte order mark, which the JSON parser would reject."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        head = stream.read(3)
        self._head = b"" if head == b"\xef\xbb\xbf" else head

    def read(self, size: int = -1) -> bytes:
        # ijson first reads 0 bytes to learn whether the stream gives bytes or text
        if self._head and size != 0:
            head, self._head = self._head, b""
            return head
        return self._stream.read(size)


@dataclass(frozen=True)
class _Channel:
    folder: str
    channel_id: str
    name: str
    messages_file: str | None


@register
class DiscordPackageConverter(Converter):
    """Discord data packages: the requester's own messages, one conversation per channel."""

    name = "discord-package"
    description = "Discord data package (directory or .zip with messages/index.json)"
    reads_folders = True

    @classmethod
    def detect(cls, path: Path) -> bool:
        if path.is_dir():
            # newer packages capitalise folder names; a case-sensitive file system sees both
            return any(
                (path / folder / "index.json").is_file() for folder in ("messages", "Messages")
            )
        if path.suffix.lower() != ".zip" or not zipfile.is_zipfile(path):
            return False
        try:
            with zipfile.ZipFile(path) as archive:
                return any(n.lower().endswith(_INDEX) for n in archive.namelist())
        except (OSError, zipfile.BadZipFile):
            return False

    def conversations(self, path: Path) -> Iterator[Conversation]:
        source = _Source(path)
        try:
            if _INDEX not in source.by_lower:
                raise InputError(str(path), f"not a Discord data package: no {_INDEX}")
            sender = self._sender(source)
            for channel in self._channels(source):
                yield self._conversation(source, channel, sender)
        finally:
            source.close()

    def _sender(self, source: _Source) -> tuple[str, str]:
        name = source.by_lower.get("account/user.json")
        if name is None:
            return _FALLBACK_SENDER
        user = source.load_json(name)
        if not isinstance(user, dict) or not user.get("id"):
            self.warning(f"{source.path}/{name}", None, "no user id; messages sent as 'me'")
            return _FALLBACK_SENDER
        display = user.get("global_name") or user.get("username") or str(user["id"])
        return str(user["id"]), str(display)

    def _channels(self, source: _Source) -> Iterator[_Channel]:
        index = source.load_json(source.by_lower[_INDEX])
        index = index if isinstance(index, dict) else {}
        folders: dict[str, dict[str, str]] = {}
        for lower, name in source.by_lower.items():
            parts = lower.split("/")
            if len(parts) == 3 and parts[0] == "messages":
                folders.setdefault(name.split("/")[1], {})[parts[2]] = name
        for folder in sorted(folders):
            files = folders[folder]
            meta: Any = source.load_json(files["channel.json"]) if "channel.json" in files else {}
            meta = meta if isinstance(meta, dict) else {}
            channel_id = str(meta.get("id") or folder.removeprefix("c"))
            messages_file = files.get("messages.json") or files.get("messages.csv")
            yield _Channel(
                folder, channel_id, _channel_name(meta, index, channel_id), messages_file
            )

    def _conversation(
        self, source: _Source, channel: _Channel, sender: tuple[str, str]
    ) -> Conversation:
        origin = f"{source.path}/{channel.messages_file or 'messages/' + channel.folder}"
        rows = _Rows(self, origin, sender)
        if channel.messages_file is None:
            self.warning(origin, None, "no messages.json or messages.csv; channel is empty")
        elif channel.messages_file.lower().endswith(".json"):
            rows.read_json(source, channel.messages_file)
        else:
            rows.read_csv(source, channel.messages_file)
        if rows.textless:
            self.warning(origin, None, f"messages without any text left out: {rows.textless}")
        # newest first in the package; equal timestamps fall back to id order (ids grow with time)
        rows.messages.sort(key=lambda m: (m.timestamp, len(m.message_id), m.message_id))
        return Conversation(
            kind="group",
            conversation_id=f"discord_{channel.channel_id}",
            name=channel.name,
            participants={sender[0]: sender[1]} if rows.messages else {},
            source=self.name,
            origin=origin,
            messages=rows.messages,
            skipped=rows.textless,
        )


def _channel_name(meta: dict[str, Any], index: dict[str, Any], channel_id: str) -> str:
    name = str(meta.get("name") or "")
    guild = meta.get("guild")
    if isinstance(guild, dict) and guild.get("name") and name:
        return f"{guild['name']} / {name}"
    # index.json reads "general in Server" or "Direct Message with alice#0"
    return str(index.get(channel_id) or name or f"Discord channel {channel_id}")


class _Rows:
    """Converts the rows of one channel's messages file (JSON or CSV) into messages."""

    def __init__(self, converter: Converter, origin: str, sender: tuple[str, str]) -> None:
        self.converter = converter
        self.origin = origin
        self.sender = sender
        self.messages: list[Message] = []
        self.textless = 0

    def read_json(self, source: _Source, name: str) -> None:
        count = 0
        try:
            with source.open(name) as stream:
                rows = iter_json_items(_BomSkipper(stream), "item")
                for count, row in enumerate(rows, start=1):
                    if not isinstance(row, dict):
                        self.converter.error(self.origin, f"message {count - 1}", "not an object")
                        continue
                    fields = (row.get("ID"), row.get("Timestamp"), row.get("Contents"))
                    self.add(*fields, row.get("Attachments"), where=f"message {count - 1}")
        except JSONError as exc:
            problem = json_problem(exc, source.tail(name))
            self.converter.error(self.origin, f"after message {count}", problem)
        except ZIP_READ_ERRORS as exc:
            self.converter.error(self.origin, None, f"cannot read file: {exc}")

    def read_csv(self, source: _Source, name: str) -> None:
        try:
            with source.open(name) as raw:
                text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
                reader = csv.reader(text)
                columns = _csv_columns(next(reader, []))
                if columns is None:
                    self.converter.error(
                        self.origin, "line 1", "header is not ID,Timestamp,Contents"
                    )
                    return
                for row in reader:
                    if not row:
                        continue
                    # line_num is where the row ends; a quoted Contents can span many lines
                    where = f"line {reader.line_num}"
                    cells = [row[i] if i is not None and i < len(row) else "" for i in columns]
                    self.add(*cells, where=where)
        except (csv.Error, UnicodeDecodeError, *ZIP_READ_ERRORS) as exc:
            self.converter.error(self.origin, None, f"cannot read CSV: {exc}")

    def add(
        self, raw_id: Any, raw_time: Any, contents: Any, attachments: Any, *, where: str
    ) -> None:
        """One row: exact id, UTC timestamp, text or a stand-in for its attachments."""
        message_id = _exact_id(raw_id)
        if message_id is None:
            self.converter.error(self.origin, where, f"field 'ID' is not an id: {raw_id!r}")
            return
        try:
            timestamp = parse_timestamp_ms(str(raw_time or ""))
        except ValueError:
            place = f"{where} (id {message_id})"
            self.converter.error(
                self.origin, place, f"field 'Timestamp' is not a date: {raw_time!r}"
            )
            return
        text = contents if isinstance(contents, str) and contents.strip() else ""
        # the files go after the text, as they do for a message without text
        content = "\n".join(part for part in (text, _attachments_text(attachments)) if part)
        if not content:
            self.textless += 1
            return
        sender_id, sender_name = self.sender
        self.messages.append(make_message(message_id, timestamp, sender_id, sender_name, content))


def _csv_columns(header: list[str]) -> list[int | None] | None:
    wanted = ("id", "timestamp", "contents", "attachments")
    position = {cell.strip().lower(): i for i, cell in enumerate(header)}
    columns = [position.get(name) for name in wanted]
    return None if None in columns[:3] else columns


def _exact_id(value: Any) -> str | None:
    """A Discord id as its exact decimal string (JSON numbers arrive as ints, never floats)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal) and value == value.to_integral_value():
        return str(int(value))
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def _attachments_text(value: Any) -> str:
    # the package lists attachment URLs separated by spaces (a list in some exports)
    urls = value.split() if isinstance(value, str) else value if isinstance(value, list) else []
    names = [attachment_name(str(url)) for url in urls if url]
    return "\n".join(f"[attachment: {name}]" for name in names)
