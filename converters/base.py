"""The converter seam: subclass ``Converter``, implement ``detect`` and ``conversations``, register it."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any, ClassVar, Literal, final

from importer.errors import InputError
from importer.models import Conversation, Message

__all__ = [
    "RESERVED_ID_PREFIX",
    "ConvertOptions",
    "Converter",
    "Diagnostic",
    "load_json",
    "peek_json",
]

#: the EverOS server reserves ids starting with this prefix
RESERVED_ID_PREFIX = "gen_"


@dataclass(frozen=True, kw_only=True)
class ConvertOptions:
    """Options every converter receives; a converter uses those that apply to it."""

    #: force ``solo`` (personal API) or ``team`` (group API) where the format has a scene
    scene: Literal["solo", "team"] | None = None
    #: keep joins/leaves/topic changes etc. as messages instead of skipping them
    include_system_events: bool = False
    #: time zone for formats whose times carry none (IANA name, ``UTC`` or ``+08:00``);
    #: None means the machine's local zone
    timezone: str | None = None
    #: the user id personal conversations (ChatGPT, Claude) are filed under; None: the
    #: export's own account id, else a stable default
    user_id: str | None = None
    #: generic CSV/JSONL: canonical field -> column name (``timestamp``, ``sender``,
    #: ``content``, ``conversation``, optional ``sender_name``, ``message_id``, ``role``)
    column_map: Mapping[str, str] | None = None


@dataclass(frozen=True)
class Diagnostic:
    """One problem found in an input: an error rejects the conversation, a warning does not."""

    path: str
    where: str | None
    message: str
    severity: Literal["error", "warning"] = "error"

    def __str__(self) -> str:
        place = f": {self.where}" if self.where else ""
        return f"{self.path}{place}: {self.message}"


class Converter(ABC):
    """Turns one kind of input (a file, a folder, a zip) into ``Conversation`` objects.

    Subclasses set ``name`` and ``description`` and implement ``detect`` and ``conversations``;
    ``transform`` may drop or rewrite single messages. ``read`` is the sealed engine the
    pipeline calls: it applies ``transform``, sorts stably by timestamp, drops exact repeats of a
    message, makes message ids unique and checks what every target needs, so a conversation with
    errors never reaches a server.
    """

    name: ClassVar[str]
    description: ClassVar[str] = ""
    #: exports of this format list some messages twice as a matter of course (Slack lists a
    #: thread reply sent to the channel in both places): their exact repeats go without a warning
    repeats_expected: ClassVar[bool] = False
    #: an input of this format can be a folder read as a whole (not a folder of input files), so
    #: a folder forced with ``--source`` is handed over to say what it lacks
    reads_folders: ClassVar[bool] = False
    #: False for formats that cannot be told apart by looking (any CSV): such a converter is
    #: used only when named with ``--source``, never picked by auto-detection
    auto_detect: ClassVar[bool] = True

    def __init__(self, options: ConvertOptions | None = None) -> None:
        self.options = options or ConvertOptions()
        #: warnings of every conversation read so far, and errors of rejected ones
        self.diagnostics: list[Diagnostic] = []
        #: conversations rejected because of errors (the rest of the input goes on)
        self.rejected: list[InputError] = []
        self._pending: list[Diagnostic] = []

    # -- hooks -----------------------------------------------------------------------------

    @classmethod
    @abstractmethod
    def detect(cls, path: Path) -> bool:
        """Whether ``path`` (file or directory) is in this converter's format. Must be cheap."""

    @abstractmethod
    def conversations(self, path: Path) -> Iterator[Conversation]:
        """Yield the conversations in ``path``.

        Raise ``InputError`` when the input cannot be read at all; call ``self.error`` or
        ``self.warning`` for problems in single messages (then keep going, so that every
        problem is reported at once).
        """

    def transform(self, message: Message, conversation: Conversation) -> Message | None:
        """Rewrite one message, or return ``None`` to leave it out. The default keeps it."""
        return message

    # -- helpers for subclasses ------------------------------------------------------------

    def error(self, path: Path | str, where: str | None, message: str) -> None:
        """Record a problem that rejects the conversation being read."""
        self._pending.append(Diagnostic(str(path), where, message, "error"))

    def warning(self, path: Path | str, where: str | None, message: str) -> None:
        """Record something the user should know that does not stop the import."""
        self._pending.append(Diagnostic(str(path), where, message, "warning"))

    # -- engine ----------------------------------------------------------------------------

    @final
    def read(self, path: Path) -> Iterator[Conversation]:
        """Yield the valid conversations of ``path``; rejected ones land in ``self.rejected``."""
        try:
            yield from self._read(path)
        except BaseException:
            # the input could not be read on (InputError) or the caller stopped early: keep what
            # was found, and do not let it leak into the next input this converter reads
            self.diagnostics.extend(self._pending)
            self._pending = []
            raise

    def _read(self, path: Path) -> Iterator[Conversation]:
        for conversation in self.conversations(path):
            conversation = self._finish(conversation)
            problems, self._pending = self._pending, []
            self.diagnostics.extend(problems)
            errors = [p for p in problems if p.severity == "error"]
            if errors:
                # one problem: say it (its place goes to ``where``, the path is said once)
                single = errors[0] if len(errors) == 1 else None
                reason = single.message if single else f"{len(errors)} problems"
                self.rejected.append(
                    InputError(
                        conversation.origin or str(path),
                        f"{reason}; conversation {conversation.key} not imported",
                        where=single.where if single else None,
                        problems=[str(e) for e in errors],
                    )
                )
                continue
            yield conversation
        # problems reported after the last conversation (or when there was none)
        problems, self._pending = self._pending, []
        self.diagnostics.extend(problems)
        errors = [p for p in problems if p.severity == "error"]
        if errors:
            single = errors[0] if len(errors) == 1 else None
            self.rejected.append(
                InputError(
                    # one problem names its own file: inside a zip, the member
                    single.path if single else str(path),
                    single.message if single else f"{len(errors)} problems",
                    where=single.where if single else None,
                    problems=[str(e) for e in errors],
                )
            )

    def _finish(self, conversation: Conversation) -> Conversation:
        origin = conversation.origin or "?"
        messages: list[Message] = []
        for message in conversation.messages:
            kept = self.transform(message, conversation)
            if kept is not None:
                messages.append(kept)
        in_order = all(a.timestamp <= b.timestamp for a, b in pairwise(messages))
        if not in_order:
            self.warning(origin, None, "timestamps out of order; sorted chronologically")
            messages.sort(key=lambda m: m.timestamp)  # stable: equal timestamps keep file order
        for message in messages:
            # positions change when sorting: name messages by id, which the user can search for
            where = f"message id {message.message_id}"
            if message.message_id.startswith(RESERVED_ID_PREFIX):
                self.error(origin, where, f"message_id must not start with '{RESERVED_ID_PREFIX}'")
            if not message.content.strip():
                self.error(origin, where, "field 'content' is empty")
            if conversation.kind == "group" and not message.sender_id:
                self.error(origin, where, "field 'sender' is missing")
        messages = self._unique_ids(messages, origin)
        return conversation.model_copy(update={"messages": messages})

    def _unique_ids(self, messages: list[Message], origin: str) -> list[Message]:
        """Drop exact repeats of a message; give a repeated id that says something else a suffix.

        An export that lists one message twice (same id, time, sender and text) would store it
        twice; two different messages under one id must both arrive, so the later one becomes
        ``id~2`` (``~3`` …), numbered by the distinct messages seen under that id.
        """
        first: dict[str, Message] = {}
        #: id -> the distinct messages seen under it, for ids that repeat
        variants: dict[str, list[Message]] = {}
        kept: list[Message] = []
        dropped: list[str] = []
        for message in messages:
            earlier = first.get(message.message_id)
            if earlier is None:
                first[message.message_id] = message
                kept.append(message)
                continue
            seen = variants.setdefault(message.message_id, [earlier])
            if any(_same(message, other) for other in seen):
                dropped.append(message.message_id)
                continue
            seen.append(message)
            new_id = f"{message.message_id}~{len(seen)}"
            self.warning(
                origin,
                f"message id {message.message_id}",
                f"message_id repeated (occurrence {len(seen)}); both are kept, this one as {new_id}",
            )
            kept.append(message.model_copy(update={"message_id": new_id}))
        if dropped and not self.repeats_expected:
            repeats = "1 exact repeat" if len(dropped) == 1 else f"{len(dropped)} exact repeats"
            self.warning(
                origin,
                None,
                f"{repeats} of a message (same id, time, sender and text) dropped,"
                f" e.g. message id {dropped[0]}",
            )
        return kept


def _same(a: Message, b: Message) -> bool:
    """Whether ``a`` is an exact repeat of ``b``, as far as anyone reading them can tell."""
    return (a.timestamp, a.sender_id, a.content) == (b.timestamp, b.sender_id, b.content)


def peek_json(path: Path, size: int = 65536) -> str | None:
    """The first ``size`` characters of a JSON-looking file, or None (for cheap ``detect``)."""
    if not path.is_file() or path.suffix.lower() != ".json":
        return None
    try:
        with path.open("rb") as f:
            head = f.read(size)
    except OSError:
        return None
    return head.decode("utf-8", errors="replace").lstrip("\ufeff \t\r\n")


def load_json(path: Path) -> Any:
    """Parse a whole JSON file, turning every failure into an ``InputError`` that names the place."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(str(path), f"cannot read file: {exc.strerror or exc}") from exc
    if not raw.strip():
        raise InputError(str(path), "file is empty")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(str(path), f"not UTF-8 text (byte {exc.start})") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno} column {exc.colno}"
        # the parser stops at the end of a cut file, or at the start of a string cut short
        cut = exc.pos >= len(text.rstrip()) or (
            exc.msg.startswith("Unterminated string") and '"' not in text[exc.pos + 1 :]
        )
        reason = "truncated JSON (the file ends too early)" if cut else f"invalid JSON ({exc.msg})"
        raise InputError(str(path), reason, where=where) from exc
