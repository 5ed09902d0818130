"""Helpers the JSON converters share: key sniffing, time parsing to exact Unix ms, derived ids."""

from __future__ import annotations

import hashlib
import json
import math
import re
from array import array
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from decimal import ROUND_FLOOR, Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from converters.base import RESERVED_ID_PREFIX

__all__ = [
    "DERIVED_ID_PREFIX",
    "EPOCH",
    "MS_THRESHOLD",
    "SNIPPET_CHARS",
    "IdDeriver",
    "content_field",
    "epoch_to_millis",
    "has_json_key",
    "iso_to_millis",
    "message_id_field",
    "optional_text_field",
    "peek_tail",
    "resolve_timezone",
    "show",
    "slug",
    "snippet",
    "to_millis",
]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)

#: an epoch number at least this big is milliseconds, below it seconds. 1e11 seconds is the year
#: 5138; 1e11 milliseconds is March 1973, older than any chat history this tool will see.
MS_THRESHOLD = 100_000_000_000

#: derived message ids start with this (never with the server's reserved ``gen_``)
DERIVED_ID_PREFIX = "derived-"

_OFFSET = re.compile(r"^(?:UTC|GMT)?([+-])(\d{1,2})(?::?(\d{2}))?$", re.IGNORECASE)


def has_json_key(text: str, *keys: str) -> bool:
    """Whether ``text`` (the head of a JSON file) holds any of ``keys`` as an object key."""
    for key in keys:
        quoted = f'"{key}"'
        # the plain search first: most keys asked about are absent, and a regex over the
        # whole head for each took most of the time spent finding inputs
        if quoted in text and re.search(rf"{re.escape(quoted)}\s*:", text):
            return True
    return False


def peek_tail(path: Path, size: int = 65536) -> str:
    """The last ``size`` bytes of ``path`` as text ("" when unreadable), for keys written last."""
    try:
        with path.open("rb") as f:
            f.seek(0, 2)
            end = f.tell()
            f.seek(max(0, end - size))
            return f.read().decode("utf-8", errors="replace")
    except OSError:
        return ""


def show(value: object, limit: int = 40) -> str:
    """A short one-line rendering of a value from the input, for problem messages."""
    text = repr(value) if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    text = text.replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 1] + "…"


#: how much of a message a reply marker quotes
SNIPPET_CHARS = 40


def snippet(text: str, limit: int = SNIPPET_CHARS) -> str:
    """A reply marker's quote of ``text``: its first words on one line, at most ``limit`` long.

    The cut falls after a whole word and an ellipsis says something was left out.
    """
    flat = " ".join(text[: limit * 4].split())  # bounded work however long the parent is
    if len(flat) <= limit:
        return flat if len(text) <= limit * 4 else flat + "…"
    cut = flat[:limit]
    if flat[limit] != " " and " " in cut:
        cut = cut.rsplit(" ", 1)[0]  # end on a whole word
    return cut.rstrip(" ,.;:") + "…"


def to_millis(moment: datetime) -> int:
    """Exact Unix milliseconds of an aware datetime (integer arithmetic, no float rounding)."""
    return (moment - EPOCH) // _MS


def resolve_timezone(name: str) -> tzinfo:
    """A time zone from an IANA name (``Asia/Shanghai``), ``UTC`` or a fixed offset (``+08:00``).

    Raises ``ValueError`` with a message fit for the user when the name is unknown.
    """
    text = name.strip()
    if text.upper() in {"UTC", "Z", "GMT", "ETC/UTC"}:
        return UTC
    offset = _OFFSET.match(text)
    if offset:
        sign, hours, minutes = offset.groups()
        delta = timedelta(hours=int(hours), minutes=int(minutes or 0))
        if delta < timedelta(hours=24):
            return timezone(-delta if sign == "-" else delta)
    try:
        return ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        hint = "use an IANA name such as 'Asia/Shanghai'"
        raise ValueError(f"unknown time zone {name!r} ({hint})") from None


def iso_to_millis(text: str, default_tz: tzinfo) -> int:
    """Unix ms of an ISO 8601 string; a time without offset is read in ``default_tz``.

    Raises ``ValueError("cannot parse '…' as ISO 8601")``.
    """
    cleaned = text.strip()
    if cleaned.endswith("z"):
        cleaned = cleaned[:-1] + "Z"
    try:
        moment = datetime.fromisoformat(cleaned)
    except ValueError:
        raise ValueError(f"cannot parse {show(text)} as ISO 8601") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=default_tz)
    return to_millis(moment)


def epoch_to_millis(value: float) -> int:
    """Unix ms of an epoch number in seconds or milliseconds, told apart by magnitude.

    Floats go through their shortest decimal form, so ``1738375200.123`` is exactly ``…123`` ms.
    Raises ``ValueError`` for NaN and infinities (which Python's JSON parser lets through).
    """
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{value} is not a time")
    exact = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    if abs(exact) < MS_THRESHOLD:
        exact *= 1000
    return int(exact.to_integral_value(rounding=ROUND_FLOOR))


def slug(text: str) -> str:
    """A stable id from free text (a file stem): lower case, ``[a-z0-9_-]`` only.

    Text with other characters (``团队聊天``) gets a short hash of itself appended, so that two
    such names do not end up with the same id.
    """
    cleaned = re.sub(r"[^a-z0-9_-]+", "_", text.lower()).strip("_-") or "conversation"
    if text.isascii():
        return cleaned
    return f"{cleaned}-{hashlib.sha256(text.encode('utf-8')).hexdigest()[:8]}"


class IdDeriver:
    """Deterministic ids for messages that have none: same input, same id.

    The id hashes the conversation id, timestamp, sender, content and how many identical
    messages came before it, so exact duplicates still get distinct ids.

    Identical messages share their time, so while times do not go back only the messages of the
    latest millisecond are counted; the earlier ones are kept as 8-byte digests, counted only if
    time goes back. A conversation of any length costs a few bytes per message without an id.
    """

    def __init__(self, conversation_id: str) -> None:
        self._conversation_id = conversation_id
        #: digest -> occurrences so far: of the latest millisecond, or of all once time went back
        self._seen: Counter[int] = Counter()
        self._latest: int | None = None
        self._earlier = array("q")
        self._ordered = True

    def derive(self, timestamp: int, sender_id: str, content: str) -> str:
        digest = self._digest(timestamp, sender_id, content, 0)
        occurrence = self._count(timestamp, int.from_bytes(digest[:8], "big", signed=True))
        if occurrence:
            digest = self._digest(timestamp, sender_id, content, occurrence)
        return f"{DERIVED_ID_PREFIX}{digest.hex()[:24]}"

    def _digest(self, timestamp: int, sender_id: str, content: str, occurrence: int) -> bytes:
        payload = [self._conversation_id, timestamp, sender_id, content, occurrence]
        return hashlib.sha256(json.dumps(payload, ensure_ascii=False).encode("utf-8")).digest()

    def _count(self, timestamp: int, key: int) -> int:
        """How many times ``key`` came before, then one more."""
        if self._ordered:
            if self._latest is None or timestamp > self._latest:
                self._earlier.extend(self._seen.elements())
                self._seen.clear()
                self._latest = timestamp
            elif timestamp < self._latest:
                self._ordered = False
                self._seen.update(self._earlier)
                self._earlier = array("q")
        occurrence = self._seen[key]
        self._seen[key] = occurrence + 1
        return occurrence


# -- message fields both JSON formats share: each returns the value, or None after appending a
# -- one-line problem to ``problems``


def plain_message_id(
    value: Any, ids: IdDeriver, timestamp: int, sender_id: str, content: str
) -> str | None:
    """A message's id on the fast path (everything else about it already checked): its own, a
    non-empty string the server does not reserve, or one derived when it has none; None when
    the field needs ``message_id_field``'s checks and messages."""
    if type(value) is str and value:
        return None if value.startswith(RESERVED_ID_PREFIX) else value
    if value is None or value == "":
        return ids.derive(timestamp, sender_id, content)
    return None


def message_id_field(item: Mapping[str, Any], problems: list[str]) -> str | None:
    """``message_id`` as a string; None when absent or empty (the caller derives one)."""
    value = item.get("message_id")
    if value is None or value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        problems.append(f"field 'message_id' must be a string, not {show(value)}")
        return None
    if value.startswith(RESERVED_ID_PREFIX):
        problems.append(
            f"field 'message_id': {value!r} starts with '{RESERVED_ID_PREFIX}',"
            " which the server reserves"
        )
    return value


def content_field(item: Mapping[str, Any], problems: list[str]) -> str | None:
    """``content``: a string with something besides whitespace in it."""
    value = item.get("content")
    if value is None:
        problems.append("field 'content' is missing")
    elif not isinstance(value, str):
        problems.append(f"field 'content' must be a string, not {show(value)}")
    elif not value.strip():
        problems.append("field 'content' is empty")
    else:
        return value
    return None


def optional_text_field(item: Mapping[str, Any], field: str, problems: list[str]) -> str | None:
    """An optional string field; blank counts as absent."""
    value = item.get(field)
    if value is None:
        return None
    if isinstance(value, str):
        return value.strip() or None
    problems.append(f"field '{field}' must be a string, not {show(value)}")
    return None
