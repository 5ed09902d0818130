"""What both Discord converters share: exact timestamps, lean messages, streaming JSON."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

import ijson  # type: ignore[import-untyped]  # ships no type information

from converters._common import snippet
from importer.logs import get_logger
from importer.models import Message

__all__ = [
    "JSON_BACKEND",
    "IncompleteJSONError",
    "JSONError",
    "Readable",
    "attachment_name",
    "iter_json_items",
    "json_problem",
    "make_message",
    "parse_timestamp_ms",
    "snippet",
]

log = get_logger(__name__)

#: the ijson backend in use; ``yajl2_c`` (C) keeps a 300,000-message file well above 50k msg/s
JSON_BACKEND: str = ijson.backend
_backend_reported = False

#: raised while streaming: the file ends early / the file is not JSON at some point
IncompleteJSONError: type[Exception] = ijson.IncompleteJSONError
JSONError: type[Exception] = ijson.JSONError

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)
# .NET writes up to 7 fraction digits (round-trip "o" format), other tools 9; datetime holds 6
_LONG_FRACTION = re.compile(r"([.,]\d{6})\d+")


def parse_timestamp_ms(text: str) -> int:
    """Unix ms of an ISO 8601 timestamp; no zone means UTC; extra fraction digits are cut.

    Raises ``ValueError`` for text that is not a timestamp.
    """
    try:
        moment = datetime.fromisoformat(text)  # 3.11 cuts extra fraction digits itself
    except ValueError:
        if not _LONG_FRACTION.search(text):
            raise
        moment = datetime.fromisoformat(_LONG_FRACTION.sub(r"\1", text, count=1))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    # timedelta // timedelta is integer arithmetic: no float rounding of far-off dates
    return (moment - _EPOCH) // _ONE_MS


def make_message(
    message_id: str,
    timestamp: int,
    sender_id: str,
    sender_name: str,
    content: str,
    reply_to: str | None = None,
) -> Message:
    """A ``Message`` built from values the caller has already typed (no validation: hundreds
    of thousands of them are built per file)."""
    return Message.trusted(message_id, timestamp, sender_id, sender_name, "user", content, reply_to)


class Readable(Protocol):
    """What the streaming parser needs of a file: ``read``."""

    def read(self, size: int = -1, /) -> bytes: ...


def iter_json_items(stream: Readable, prefix: str) -> Iterator[Any]:
    """Stream the values under ``prefix`` (e.g. ``messages.item``) without loading the file.

    Integers stay exact Python ints (64-bit Discord ids included); non-integers become Decimal.
    """
    global _backend_reported
    if JSON_BACKEND != "yajl2_c" and not _backend_reported:
        _backend_reported = True
        log.warning("json_backend_slow", backend=JSON_BACKEND, hint="install ijson with yajl2_c")
    items: Iterator[Any] = ijson.items(stream, prefix)
    return items


def json_problem(exc: Exception, tail: bytes | None = None) -> str:
    """One line for a streaming parse error; ``tail`` (the file's last bytes) tells a cut-off file.

    yajl reports a file cut inside a token as a lexical error, not as an early end, so a file that
    does not end the way JSON ends is called truncated whatever the parser said.
    """
    raw = exc.args[0] if exc.args else exc
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    first = text.strip().split("\n", 1)[0][:120]
    if "premature EOF" in first or (tail is not None and not tail.rstrip().endswith((b"}", b"]"))):
        return "truncated JSON (the file ends too early)"
    return f"invalid JSON ({first})"


def attachment_name(url: str) -> str:
    """The file name in an attachment URL or local media path (query string dropped)."""
    path = urlsplit(url).path if "://" in url else url
    name = path.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
    return unquote(name) or url
