"""The members a JSON object holds after its last big value, read from the end of the file.

A conversation's fields may follow its message list (``{"messages": [...], "group_id": "g"}``).
Reading the file backward from its end finds them without parsing the messages: in valid JSON a
quote is a string's edge unless an odd number of backslashes precede it, and brackets count
only outside strings, so the members can be stepped over from the last one back to a value too
big to step over, which can only be the message list or something after it. Which one is known
once the messages were read (``Tail.follows``); when the end of the file is not plain enough to
tell, ``read_tail`` gives None and the caller passes over the messages instead.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import IO, Any

__all__ = ["Tail", "read_tail"]

#: how much of the end of a file is read
TAIL_BYTES = 1 << 20
#: a value stepped over backward this far without reaching its start is the big one
BIG_BYTES = 1 << 18

_SPACE = re.compile(rb"[ \t\r\n]*")
_SCALAR = re.compile(rb"[0-9A-Za-z+\-.]+")
#: in the reversed text: a quote with the backslashes that preceded it, or a bracket
_QUOTE = re.compile(rb'"(\\*)')
_MARK = re.compile(rb'"(\\*)|[\[\]{}]')


@dataclass(frozen=True)
class Tail:
    """Members after the last big value of the top-level object, in file order."""

    members: list[tuple[str, Any]]
    #: offset of the big value's last byte, and how far back it was followed without its start
    big_end: int
    followed: int

    def follows(self, last_chunk: int) -> bool:
        """Whether the big value is the list whose last item completed in the chunk that
        begins at ``last_chunk``.

        Any other big value lies wholly after that list, so it ends at least ``followed``
        bytes after ``last_chunk``; one that ends before is the list itself.
        """
        return self.big_end < last_chunk + self.followed


def read_tail(stream: IO[bytes], start: int, size: int) -> Tail | None:
    """The members after the last big value of the object that ends the file, or None when
    the end of the file does not show them plainly (no big value in it, a value too long to
    step over that is not a list or object, or no valid JSON).

    ``stream`` is read from offset ``start`` (past any byte order mark), ``size`` bytes on.
    """
    begin = max(0, size - TAIL_BYTES)
    stream.seek(start + begin)
    buffer = stream.read(size - begin)
    reverse = buffer[::-1]
    scan = _Backward(reverse)
    if scan.char() != b"}":
        return None
    last = scan.position  # the object's closing brace, counted in the reversed text
    scan.position += 1
    while True:
        if scan.char() == b"{":
            return None  # the whole object is in the tail: nothing big to step over
        end = scan.position
        if not scan.value():
            break
        if scan.char() != b":":
            return None
        scan.position += 1
        if scan.char() != b'"' or not scan.string():
            return None
        if scan.char() != b",":
            return None  # ``{``: the whole object is in the tail, nothing big to step over
        scan.position += 1
    if reverse[end : end + 1] not in (b"]", b"}"):
        return None  # a huge string or number: not a layout worth guessing
    # ``end`` is the big value's last byte; the members follow it up to the closing brace
    region = buffer[len(buffer) - end : len(buffer) - last - 1].lstrip(b" \t\r\n")
    if region[:1] != b",":
        return None if region.strip() else Tail([], begin + len(buffer) - 1 - end, scan.followed)
    objects: list[list[tuple[str, Any]]] = []

    def keep(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        objects.append(pairs)  # the outermost object comes last, with its repeated keys
        return dict(pairs)

    try:
        json.loads(b"{" + region[1:] + b"}", object_pairs_hook=keep)
    except ValueError:
        return None
    return Tail(objects[-1], begin + len(buffer) - 1 - end, scan.followed)


class _Backward:
    """Steps over JSON backward, over the reversed text of a file's end."""

    def __init__(self, reverse: bytes) -> None:
        self.text = reverse
        self.position = 0
        #: how far the last value stepped over was followed before giving up
        self.followed = 0

    def char(self) -> bytes:
        """The next character that is not white space (the position moves onto it)."""
        match = _SPACE.match(self.text, self.position)
        self.position = match.end() if match else self.position
        return self.text[self.position : self.position + 1]

    def value(self) -> bool:
        """Step over one value; False when it is too big (the position stays on its end)."""
        first = self.char()
        if first == b'"':
            return self.string()
        if first in (b"]", b"}"):
            return self._container()
        match = _SCALAR.match(self.text, self.position)
        if not match or match.end() >= len(self.text):
            return False
        self.position = match.end()
        return True

    def string(self) -> bool:
        """Step over a string whose closing quote is at the position."""
        for match in _QUOTE.finditer(self.text, self.position + 1, self.position + BIG_BYTES):
            if len(match.group(1)) % 2 == 0:  # not escaped
                self.position = match.end()
                # backslashes that run to the start of the text may belong to more of them
                return match.end() < len(self.text)
        return False

    def _container(self) -> bool:
        start = self.position
        depth = 0
        inside = False
        for match in _MARK.finditer(self.text, start, start + BIG_BYTES):
            mark = match.group(0)[:1]
            if mark == b'"':
                if len(match.group(1)) % 2 == 0:
                    inside = not inside
            elif inside:
                continue
            elif mark in (b"]", b"}"):
                depth += 1
            else:
                depth -= 1
                if depth == 0:
                    self.position = match.end()
                    return True
        self.followed = min(BIG_BYTES, len(self.text) - start)
        return False
