"""Row sources for the tabular converter (CSV, TSV, JSON Lines) and a spool that groups rows.

Rows are streamed: a CSV or JSONL file is never read whole. Rows of one conversation may be spread
over the file, so they are grouped in a ``Spool`` that keeps at most ``limit`` rows in memory and
appends the rest to a temporary file, read back one conversation at a time.
"""

from __future__ import annotations

import csv
import json
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from importer.errors import InputError

__all__ = [
    "JSONL_SUFFIXES",
    "Record",
    "Spool",
    "csv_header",
    "first_keys",
    "read_csv",
    "read_jsonl",
]

JSONL_SUFFIXES = frozenset({".jsonl", ".ndjson"})
_TAB_SUFFIXES = frozenset({".tsv", ".tab"})
_DELIMITERS = ",;\t|"

#: (where, row): where names the row ("row 7" / "line 7"); row maps column -> value, or is a
#: problem string when the row could not be read at all
Record = tuple[str, dict[str, Any] | str]


def _open_text(path: Path) -> IO[str]:
    try:
        return path.open("r", encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise InputError(str(path), f"cannot read file: {exc.strerror or exc}") from exc


def _delimiter(path: Path, first_line: str) -> str:
    if path.suffix.lower() in _TAB_SUFFIXES:
        return "\t"
    try:
        return csv.Sniffer().sniff(first_line, delimiters=_DELIMITERS).delimiter
    except csv.Error:
        return ","


def csv_header(path: Path) -> tuple[list[str], str]:
    """The header row of a CSV/TSV file and its delimiter; ``InputError`` when there is none."""
    with _open_text(path) as stream:
        try:
            first = stream.readline()
        except UnicodeDecodeError as exc:
            raise InputError(str(path), "not UTF-8 text; save the file as UTF-8") from exc
    if not first.strip():
        raise InputError(str(path), "file is empty or has no header row", where="row 1")
    delimiter = _delimiter(path, first)
    header = next(csv.reader([first], delimiter=delimiter), [])
    return [name.strip() for name in header], delimiter


def read_csv(path: Path) -> Iterator[Record]:
    """Data rows of a CSV/TSV file as header -> cell; row 1 is the header, data starts at row 2."""
    header, delimiter = csv_header(path)
    with _open_text(path) as stream:
        reader = csv.reader(stream, delimiter=delimiter)
        number = 1
        try:
            next(reader, None)
            for number, cells in enumerate(reader, start=2):
                if not any(cell.strip() for cell in cells):
                    continue  # blank line
                if len(cells) > len(header):
                    yield (
                        f"row {number}",
                        (f"{len(cells)} cells but the header has {len(header)} columns"),
                    )
                    continue
                yield f"row {number}", dict(zip(header, cells, strict=False))
        except UnicodeDecodeError as exc:
            raise InputError(
                str(path), "not UTF-8 text; save the file as UTF-8", where=f"row {number + 1}"
            ) from exc
        except csv.Error as exc:
            raise InputError(
                str(path), f"unreadable CSV ({exc})", where=f"row {number + 1}"
            ) from exc


def read_jsonl(path: Path) -> Iterator[Record]:
    """Objects of a JSON Lines file, one per line; blank lines are skipped."""
    with _open_text(path) as stream:
        number = 0
        try:
            for number, line in enumerate(stream, start=1):
                if not line.strip():
                    continue
                try:
                    value = json.loads(line)
                except json.JSONDecodeError as exc:
                    yield f"line {number}", f"invalid JSON ({exc.msg}, column {exc.colno})"
                    continue
                if isinstance(value, dict):
                    yield f"line {number}", value
                else:
                    yield f"line {number}", "expected a JSON object"
        except UnicodeDecodeError as exc:
            raise InputError(
                str(path), "not UTF-8 text; save the file as UTF-8", where=f"line {number + 1}"
            ) from exc


def first_keys(path: Path) -> set[str]:
    """Keys of the first object of a JSONL file (empty when there is none or it is not JSON)."""
    try:
        with _open_text(path) as stream:
            for line in stream:
                if line.strip():
                    value = json.loads(line)
                    return set(value) if isinstance(value, dict) else set()
    except (InputError, OSError, UnicodeDecodeError, json.JSONDecodeError):
        pass
    return set()


class Spool:
    """Rows grouped by conversation key, in memory up to ``limit`` rows, on disk beyond.

    Each row is a JSON-serialisable sequence. ``pop(key)`` gives a conversation's rows in the
    order they were added and forgets them.
    """

    def __init__(self, limit: int = 100_000) -> None:
        self.limit = limit
        self._buffers: dict[str, list[Sequence[Any]]] = {}
        #: key -> (offset, length) of the blocks already written to disk
        self._blocks: dict[str, list[tuple[int, int]]] = {}
        self._buffered = 0
        self._file: IO[bytes] | None = None

    def add(self, key: str, row: Sequence[Any]) -> None:
        self._buffers.setdefault(key, []).append(row)
        self._buffered += 1
        if self._buffered >= self.limit:
            self._spill()

    def pop(self, key: str) -> list[list[Any]]:
        rows: list[list[Any]] = []
        if self._file is not None:
            for offset, length in self._blocks.pop(key, []):
                self._file.seek(offset)
                rows.extend(json.loads(self._file.read(length)))
        buffered = self._buffers.pop(key, [])
        self._buffered -= len(buffered)
        rows.extend(list(row) for row in buffered)
        return rows

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def _spill(self) -> None:
        if self._file is None:
            self._file = tempfile.TemporaryFile()  # noqa: SIM115 (closed by close())
        self._file.seek(0, 2)
        for key, rows in self._buffers.items():
            if not rows:
                continue
            # one JSON array per block; ASCII escapes let a lone surrogate from JSONL survive
            block = json.dumps(rows).encode("ascii")
            self._blocks.setdefault(key, []).append((self._file.tell(), len(block)))
            self._file.write(block)
            rows.clear()  # the key stays, so first-seen order is kept
        self._buffered = 0
