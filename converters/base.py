"""The converter seam: subclass ``Converter``, implement ``detect`` and ``conversations``, register it."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal, final

from importer.errors import InputError
from importer.merge import Piece, Repeats, Spool
from importer.models import Conversation, Message

__all__ = [
    "RESERVED_ID_PREFIX",
    "ConversationStream",
    "ConvertOptions",
    "Converter",
    "Diagnostic",
    "load_json",
    "peek_json",
]

#: the EverOS server reserves ids starting with this prefix
RESERVED_ID_PREFIX = "gen_"
#: messages appended to the spool at a time
_BATCH = 1000


@dataclass
class ConversationStream:
    """A conversation whose messages are read while they are consumed, so that one of any size
    never sits in memory.

    ``header`` is the conversation without its messages; its key (kind, ids) must be known from
    the start. ``complete``, when given, is called once ``messages`` is exhausted and returns the
    header with what is known only then (participants, messages skipped).
    """

    header: Conversation
    messages: Iterable[Message]
    complete: Callable[[], Conversation] | None = None

    @classmethod
    def of(cls, conversation: Conversation) -> ConversationStream:
        return cls(conversation.model_copy(update={"messages": []}), conversation.messages)


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

    Subclasses set ``name`` and ``description`` and implement ``detect`` and ``conversations``
    (yielding whole conversations, or ``ConversationStream``s for ones of any size);
    ``transform`` may drop or rewrite single messages. ``read_into`` is the sealed engine the
    pipeline calls: it applies ``transform``, checks what every target needs and appends the
    messages to a spool as they pass, where they are sorted stably by timestamp when out of order,
    exact repeats are dropped and message ids made unique, so a conversation with errors never
    reaches a server and none is ever held whole. ``read`` gives the same conversations whole.
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
    def conversations(self, path: Path) -> Iterator[Conversation | ConversationStream]:
        """Yield the conversations in ``path``, whole or as streams (for ones of any size).

        Raise ``InputError`` when the input cannot be read at all; call ``self.error`` or
        ``self.warning`` for problems in single messages (then keep going, so that every
        problem is reported at once).
        """

    def keys(self, path: Path) -> frozenset[str] | None:
        """The keys of the conversations in ``path`` if they can be told cheaply, without
        reading its messages; None if not (the default). An import starts sending a conversation
        before every input is read only when no input still unread may hold more of it, so the
        keys must be all that ``path`` holds (more is harmless, fewer fails the input)."""
        return None

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
        """Yield the valid conversations of ``path`` whole; rejected ones land in
        ``self.rejected``. (The pipeline uses ``read_into``, which never holds one in memory.)"""
        with Spool() as spool:
            for piece in self.read_into(path, spool):
                yield spool.take(piece)

    @final
    def read_into(self, path: Path, spool: Spool) -> Iterator[Piece]:
        """Append the valid conversations of ``path`` to ``spool`` as they are read, yielding
        each piece kept; rejected ones land in ``self.rejected``."""
        try:
            for item in self.conversations(path):
                stream = (
                    item if isinstance(item, ConversationStream) else ConversationStream.of(item)
                )
                piece = spool.begin(stream.header)
                try:
                    self._spool_messages(stream, piece, spool)
                except BaseException:
                    spool.discard(piece)
                    raise
                header = stream.complete() if stream.complete else stream.header
                if self._settle(header, piece, spool, path):
                    yield piece
            self._settle_input(path)
        except BaseException:
            # the input could not be read on (InputError) or the caller stopped early: keep what
            # was found, and do not let it leak into the next input this converter reads
            self.diagnostics.extend(self._pending)
            self._pending = []
            raise

    def _spool_messages(self, stream: ConversationStream, piece: Piece, spool: Spool) -> None:
        """Transform and check each message, appending them to ``piece`` a batch at a time."""
        header = stream.header
        origin = header.origin or "?"
        group = header.kind == "group"
        # the default transform keeps every message: not calling it spares a call per message
        transform = None if type(self).transform is Converter.transform else self.transform
        batch: list[Message] = []
        for message in stream.messages:
            kept = message if transform is None else transform(message, header)
            if kept is None:
                continue
            # positions change when sorting: name messages by id, which the user can search for
            if kept.message_id.startswith(RESERVED_ID_PREFIX):
                self.error(origin, f"message id {kept.message_id}",
                           f"message_id must not start with '{RESERVED_ID_PREFIX}'")
            if not kept.content or kept.content.isspace():  # (strip() would copy every text)
                self.error(origin, f"message id {kept.message_id}", "field 'content' is empty")
            if group and not kept.sender_id:
                self.error(origin, f"message id {kept.message_id}", "field 'sender' is missing")
            batch.append(kept)
            if len(batch) >= _BATCH:
                spool.append(piece, batch)
                batch = []
        spool.append(piece, batch)

    def _settle(self, header: Conversation, piece: Piece, spool: Spool, path: Path) -> bool:
        """Keep or reject the conversation just read. True: it was kept."""
        if not piece.in_order:
            self.warning(header.origin or "?", None,
                         "timestamps out of order; sorted chronologically")
        errors = self._take_errors()
        if errors:
            place = header.origin or str(path)
            self.rejected.append(
                _rejection(errors, place, f"; conversation {header.key} not imported")
            )
            spool.discard(piece)
            return False
        self._report_repeats(spool.settle_repeats(piece), header.origin or "?")
        spool.finish(piece, header)
        return True

    def _settle_input(self, path: Path) -> None:
        """Problems reported after the last conversation (or when there was none)."""
        errors = self._take_errors()
        if errors:
            # one problem names its own file: inside a zip, the member
            place = errors[0].path if len(errors) == 1 else str(path)
            self.rejected.append(_rejection(errors, place, ""))

    def _take_errors(self) -> list[Diagnostic]:
        """The errors among the problems pending; all of them now count as found."""
        problems, self._pending = self._pending, []
        self.diagnostics.extend(problems)
        return [p for p in problems if p.severity == "error"]

    def _report_repeats(self, repeats: Repeats, origin: str) -> None:
        for mid, occurrence, new_id in repeats.renamed:
            self.warning(
                origin,
                f"message id {mid}",
                f"message_id repeated (occurrence {occurrence}); both are kept, this one as {new_id}",
            )
        if repeats.dropped and not self.repeats_expected:
            count = repeats.dropped
            said = "1 exact repeat" if count == 1 else f"{count} exact repeats"
            self.warning(
                origin,
                None,
                f"{said} of a message (same id, time, sender and text) dropped,"
                f" e.g. message id {repeats.first_dropped}",
            )
        self.diagnostics.extend(self._pending)
        self._pending = []


def _rejection(errors: list[Diagnostic], place: str, consequence: str) -> InputError:
    """One line for the errors that reject a conversation or an input: one problem is said
    (its place goes to ``where``, the path is said once), several are counted."""
    single = errors[0] if len(errors) == 1 else None
    reason = single.message if single else f"{len(errors)} problems"
    return InputError(
        place, reason + consequence, where=single.where if single else None,
        problems=[str(e) for e in errors],
    )


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
