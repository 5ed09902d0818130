"""Any chat log kept as a table: CSV / TSV with a header row, or JSON Lines, read through a mapping.

``ConvertOptions.column_map`` maps the fields below to column names (JSONL: keys; ``a.b`` reaches
into nested objects). A field left out of the map is read from a column of its own name, if any.

============================  ===========================================================
``timestamp`` (required)      ISO 8601 (no offset: ``ConvertOptions.timezone``, else the
                              machine's zone) or Unix seconds / milliseconds
``content`` (required)        the text; rows where it is empty are left out (with a warning)
``sender``                    who wrote it (an id); required unless ``role`` is mapped
``sender_name``               display name (default: the sender)
``conversation``              one conversation per distinct value (default: the whole file)
``conversation_name``         name of the conversation (first value seen)
``message_id``                the row's own id (default: derived from the row)
``role``                      ``user`` / ``assistant`` (also human, ai, bot, model)
============================  ===========================================================

The format follows the file name: ``.jsonl`` / ``.ndjson`` are JSON Lines, ``.tsv`` tab-separated,
anything else CSV with the delimiter guessed from the header (``,`` ``;`` tab ``|``). Nothing is
auto-detected: the converter is used when named, ``--source csv`` or ``--source jsonl`` (the same
converter under two names); in a folder it reads ``.csv``, ``.tsv``, ``.tab``, ``.jsonl`` and
``.ndjson`` files. Every conversation is a group; ids are ``csv_<slug of the value>`` (``jsonl_``
for JSON Lines; values with the same slug are one conversation), or ``csv_<slug of the file
name>`` without a conversation column.

Rows are streamed and grouped per conversation in a spool that writes to a temporary file past
100,000 rows, so memory holds one conversation at a time, not the file. Problems name the file,
the row (``row 7``, the header being row 1; ``line 7`` in JSONL) and the column; a conversation
with a bad row is not imported, the others are.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from decimal import InvalidOperation
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar

from converters import register
from converters._common import (
    IdDeriver,
    epoch_to_millis,
    iso_to_millis,
    resolve_timezone,
    show,
    slug,
    to_millis,
)
from converters.base import RESERVED_ID_PREFIX, Converter
from converters.tabular_io import (
    JSONL_SUFFIXES,
    Spool,
    csv_header,
    first_keys,
    read_csv,
    read_jsonl,
)
from importer.errors import InputError
from importer.models import Conversation, Message, Role

__all__ = ["FIELDS", "JsonlConverter", "TabularConverter"]

FIELDS = (
    "timestamp",
    "content",
    "sender",
    "sender_name",
    "conversation",
    "conversation_name",
    "message_id",
    "role",
)
#: files a folder given with --source csv is searched for (a file named on the command line
#: is read whatever its name)
_SUFFIXES = frozenset({".csv", ".tsv", ".tab"}) | JSONL_SUFFIXES
_NUMBER = re.compile(r"[+-]?\d+(?:\.\d+)?")
_ROLES: dict[str, Role] = {
    "user": "user",
    "human": "user",
    "assistant": "assistant",
    "ai": "assistant",
    "bot": "assistant",
    "model": "assistant",
}
#: fields a JSONL object must have (``sender`` unless ``role`` stands in for it); one without
#: ``content`` counts as a row with empty content
_REQUIRED = frozenset({"timestamp", "sender", "conversation"})
#: the conversation a value belongs to; cached, as every row asks
_key = lru_cache(maxsize=65536)(slug)
#: problems reported per conversation before the rest are only counted
_MAX_PROBLEMS = 20


@dataclass
class _Group:
    """What was learned about one conversation while streaming the rows."""

    value: str
    name: str = ""
    problems: list[tuple[str, str]] = field(default_factory=list)
    more_problems: int = 0
    empty: int = 0

    def problem(self, where: str, message: str) -> None:
        if len(self.problems) < _MAX_PROBLEMS:
            self.problems.append((where, message))
        else:
            self.more_problems += 1


@register
class TabularConverter(Converter):
    """CSV, TSV or JSON Lines chat logs with a column mapping (``--source csv``)."""

    name: ClassVar[str] = "csv"
    description: ClassVar[str] = "CSV/TSV/JSON Lines chat log read through --map (never guessed)"
    auto_detect: ClassVar[bool] = False
    #: rows held in memory before the spool writes them to a temporary file
    spool_limit: ClassVar[int] = 100_000

    @classmethod
    def detect(cls, path: Path) -> bool:
        return path.is_file() and path.suffix.lower() in _SUFFIXES

    @classmethod
    def matches(cls, path: Path, column_map: Mapping[str, str]) -> bool:
        """Whether ``path`` is a table holding every column ``column_map`` names (cheap)."""
        if not cls.detect(path):
            return False
        wanted = dict(column_map)
        if path.suffix.lower() in JSONL_SUFFIXES:
            columns = first_keys(path)
            # an object may leave out optional keys: only the ones every row needs are checked
            wanted = {f: c for f, c in wanted.items() if f in _REQUIRED or f == "content"}
        else:
            try:
                columns = set(csv_header(path)[0])
            except InputError:
                return False
        return all(c in columns or c.split(".", 1)[0] in columns for c in wanted.values())

    def conversations(self, path: Path) -> Iterator[Conversation]:
        jsonl = path.suffix.lower() in JSONL_SUFFIXES
        zone = self._zone(path)
        columns = self._columns(path, jsonl)
        groups: dict[str, _Group] = {}
        stray = _Group("")  # rows that belong to no conversation
        spool = Spool(self.spool_limit)
        try:
            for where, row in read_jsonl(path) if jsonl else read_csv(path):
                if isinstance(row, str):
                    stray.problem(where, row)
                    continue
                self._row(path, where, row, columns, zone, groups, stray, spool)
            prefix = "jsonl" if jsonl else "csv"
            for key, group in groups.items():
                rows = spool.pop(key)
                if rows or group.problems:  # a conversation with errors is yielded to be rejected
                    yield self._conversation(path, prefix, group, rows)
                else:
                    self._report(path, group)
        finally:
            spool.close()
        self._report(path, stray)

    # -- mapping -------------------------------------------------------------------------------

    def _zone(self, path: Path) -> tzinfo | None:
        if self.options.timezone is None:
            return None
        try:
            return resolve_timezone(self.options.timezone)
        except ValueError as exc:
            raise InputError(str(path), str(exc), where="--timezone") from exc

    def _columns(self, path: Path, jsonl: bool) -> dict[str, str]:
        """Field -> column, checked against the header (CSV) or the first object (JSONL)."""
        given = dict(self.options.column_map or {})
        unknown = sorted(set(given) - set(FIELDS))
        if unknown:
            raise InputError(
                str(path),
                f"unknown field(s) in the column map: {', '.join(unknown)}"
                f" (fields: {', '.join(FIELDS)})",
            )
        header = sorted(first_keys(path)) if jsonl else csv_header(path)[0]
        columns = dict(given)
        for name in FIELDS:  # a field not mapped is read from a column of its own name
            if name not in columns:
                match = next((h for h in header if h.strip().lower() == name), None)
                if match is not None:
                    columns[name] = match
        kind = "key" if jsonl else "column"
        if not jsonl:
            for name, column in given.items():
                if column not in header:
                    raise InputError(
                        str(path),
                        f"{kind} {column!r} (mapped to {name}) is not in the header;"
                        f" the header has: {', '.join(header) or 'nothing'}",
                        where="row 1",
                    )
        missing = [f for f in ("timestamp", "content") if f not in columns]
        if "sender" not in columns and "role" not in columns:
            missing.append("sender")
        if missing:
            found = ", ".join(header) or "none"
            raise InputError(
                str(path),
                f"no {kind} for {', '.join(missing)}; map it, e.g. --map"
                f" {','.join(f'{m}=COLUMN' for m in missing)} ({kind}s found: {found})",
            )
        return columns

    # -- rows ------------------------------------------------------------------------------------

    def _row(
        self,
        path: Path,
        where: str,
        row: Mapping[str, Any],
        columns: Mapping[str, str],
        zone: tzinfo | None,
        groups: dict[str, _Group],
        stray: _Group,
        spool: Spool,
    ) -> None:
        cells = _Cells(row, columns, where)
        value = cells.text("conversation") if "conversation" in columns else path.stem
        if value is None or not value.strip():
            if not cells.problems:
                cells.fail("conversation", "is empty")
            for problem in cells.problems:
                stray.problem(*problem)
            return
        value = value.strip()
        key = _key(value)  # values that give the same id are one conversation
        group = groups.get(key)
        if group is None:
            group = groups[key] = _Group(value)
        if not group.name and "conversation_name" in columns:
            group.name = (cells.text("conversation_name") or "").strip()
        timestamp = cells.time(zone)
        role = cells.role()
        sender = (cells.text("sender") or "").strip() if "sender" in columns else ""
        if not sender and "role" in columns:
            sender = role  # an AI chat log: the role is who speaks
        elif not sender and not cells.failed("sender"):
            cells.fail("sender", "is empty")
        content = cells.text("content")
        message_id = (cells.text("message_id") or "").strip() if "message_id" in columns else ""
        if message_id.startswith(RESERVED_ID_PREFIX):
            cells.fail("message_id", f"{message_id!r} starts with '{RESERVED_ID_PREFIX}'")
        for problem in cells.problems:
            group.problem(*problem)
        if cells.problems or timestamp is None:
            return
        if content is None or not content.strip():
            group.empty += 1
            return
        name = (cells.text("sender_name") or "").strip() if "sender_name" in columns else ""
        spool.add(key, (timestamp, sender, name or sender, role, content, message_id))

    # -- conversations -------------------------------------------------------------------------

    def _conversation(
        self, path: Path, prefix: str, group: _Group, rows: list[list[Any]]
    ) -> Conversation:
        self._report(path, group)
        conversation_id = f"{prefix}_{slug(group.value)}"
        ids = IdDeriver(conversation_id)
        participants: dict[str, str] = {}
        messages: list[Message] = []
        for timestamp, sender, sender_name, role, content, message_id in rows:
            participants.setdefault(sender, sender_name)
            messages.append(
                Message(
                    message_id=message_id or ids.derive(timestamp, sender, content),
                    timestamp=timestamp,
                    sender_id=sender,
                    sender_name=sender_name,
                    role=role,
                    content=content,
                )
            )
        return Conversation(
            kind="group",
            conversation_id=conversation_id,
            name=group.name or group.value,
            participants=participants,
            source=self.name,
            origin=str(path),
            messages=messages,
        )

    def _report(self, path: Path, group: _Group) -> None:
        """Say now what went wrong in a conversation's rows (``read`` ties it to what comes next)."""
        for where, message in group.problems:
            self.error(path, where, message)
        if group.more_problems:
            self.error(path, None, f"{group.more_problems} more rows with problems")
        if group.empty:
            what = f"conversation {group.value!r}: " if group.value else ""
            self.warning(path, None, f"{what}rows with empty content left out: {group.empty}")


@register
class JsonlConverter(TabularConverter):
    """The tabular converter under the name users of JSON Lines look for (``--source jsonl``)."""

    name: ClassVar[str] = "jsonl"
    description: ClassVar[str] = "JSON Lines chat log read through --map (same as csv)"


class _Cells:
    """The mapped cells of one row, with the problems found reading them."""

    def __init__(self, row: Mapping[str, Any], columns: Mapping[str, str], where: str) -> None:
        self.row = row
        self.columns = columns
        self.where = where
        # with a role column, the role speaks where the sender is missing
        self.required = _REQUIRED - {"sender"} if "role" in columns else _REQUIRED
        self.problems: list[tuple[str, str]] = []

    def problem_for(self, field_name: str, message: str) -> tuple[str, str]:
        column = self.columns.get(field_name, field_name)
        return self.where, f"column {column!r} ({field_name}) {message}"

    def fail(self, field_name: str, message: str) -> None:
        self.problems.append(self.problem_for(field_name, message))

    def failed(self, field_name: str) -> bool:
        column = repr(self.columns.get(field_name, field_name))
        return any(message.startswith(f"column {column} ") for _, message in self.problems)

    def raw(self, field_name: str) -> Any:
        """The cell of a field; a required field absent from a JSONL object is a problem."""
        column = self.columns.get(field_name)
        if column is None:
            return None
        node: Any = self.row
        parts = [column] if column in self.row or "." not in column else column.split(".")
        for part in parts:  # "author.name" reaches into nested JSON objects
            if not isinstance(node, Mapping) or part not in node:
                if field_name in self.required:
                    self.fail(field_name, "is missing")
                return None
            node = node[part]
        return node

    def text(self, field_name: str) -> str | None:
        value = self.raw(field_name)
        if value is None or isinstance(value, str):
            return value
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.fail(field_name, f"must be text, not {show(value)}")
            return None
        return str(value)

    def role(self) -> Role:
        value = self.text("role") if "role" in self.columns else None
        if value is None or not value.strip():
            return "user"
        role = _ROLES.get(value.strip().lower())
        if role is None:
            self.fail("role", f"{value!r} is not user or assistant")
            return "user"
        return role

    def time(self, zone: tzinfo | None) -> int | None:
        value = self.raw("timestamp")
        if isinstance(value, bool) or not isinstance(value, str | int | float | None):
            self.fail("timestamp", f"cannot read {show(value)} as a time")
            return None
        try:
            millis = _to_millis(value, zone)
        except ValueError as exc:
            self.fail("timestamp", str(exc))
            return None
        if millis is not None and millis < 0:
            self.fail("timestamp", f"{show(value)} is before 1970")
            return None
        if millis is None:
            self.fail("timestamp", "is empty")
        return millis


def _to_millis(value: str | float | None, zone: tzinfo | None) -> int | None:
    """Unix ms of a cell: epoch seconds/ms (number or digits) or ISO 8601. None when empty."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        return epoch_to_millis(value)
    text = value.strip()
    if _NUMBER.fullmatch(text):
        try:
            return epoch_to_millis(int(text) if text.lstrip("+-").isdigit() else float(text))
        except (ValueError, InvalidOperation, OverflowError):
            pass
    expected = "expected ISO 8601 or Unix seconds/milliseconds"
    if zone is not None:
        try:
            return iso_to_millis(text, zone)
        except ValueError:
            raise ValueError(f"cannot parse {show(text)} as a time ({expected})") from None
    try:
        moment = datetime.fromisoformat(text[:-1] + "Z" if text.endswith("z") else text)
    except ValueError:
        raise ValueError(f"cannot parse {show(text)} as a time ({expected})") from None
    # no offset: the machine's zone, with its daylight saving rules for that date
    return to_millis(moment if moment.tzinfo else moment.astimezone())
