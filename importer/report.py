"""The outcome of a run: per-conversation results, input errors, totals, and the exit code."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from importer.errors import InputError
from importer.models import Conversation

__all__ = ["ConversationResult", "Report"]

Status = Literal["done", "unchanged", "failed", "interrupted", "valid"]


@dataclass
class ConversationResult:
    """What happened to one conversation in this run."""

    key: str
    origin: str
    status: Status
    #: messages the conversation has after conversion
    messages: int = 0
    #: messages sent and acknowledged in this run
    sent: int = 0
    #: messages acknowledged in an earlier run, not sent again
    already: int = 0
    #: messages the converter left out on purpose (system events)
    skipped: int = 0
    reason: str | None = None

    @classmethod
    def of(cls, conversation: Conversation, status: Status) -> ConversationResult:
        return cls(
            conversation.key,
            conversation.origin,
            status,
            messages=len(conversation.messages),
            skipped=conversation.skipped,
        )


@dataclass
class Report:
    """Everything a run did; ``exit_code`` is 0 only when nothing failed."""

    conversations: list[ConversationResult] = field(default_factory=list)
    #: inputs or conversations that could not be read: (path, one-line reason, detail lines)
    input_errors: list[tuple[str, str, list[str]]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    interrupted: bool = False
    #: a failure that stopped the whole run (e.g. authentication)
    fatal: str | None = None
    seconds: float = 0.0
    target: str = ""
    checkpoint: str | None = None

    def add_input_errors(self, errors: Iterable[InputError]) -> None:
        self.input_errors.extend((e.path, str(e), e.problems) for e in errors)

    @property
    def messages_sent(self) -> int:
        return sum(r.sent for r in self.conversations)

    @property
    def messages_already(self) -> int:
        return sum(r.already for r in self.conversations)

    @property
    def failed(self) -> list[ConversationResult]:
        return [r for r in self.conversations if r.status == "failed"]

    @property
    def exit_code(self) -> int:
        if self.interrupted:
            return 130
        if self.fatal or self.failed or self.input_errors:
            return 1
        return 0

    @property
    def rate(self) -> float:
        return self.messages_sent / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "exit_code": self.exit_code,
            "target": self.target,
            "checkpoint": self.checkpoint,
            "interrupted": self.interrupted,
            "fatal": self.fatal,
            "seconds": round(self.seconds, 3),
            "messages_sent": self.messages_sent,
            "messages_already_imported": self.messages_already,
            "conversations": [asdict(r) for r in self.conversations],
            "failures": [
                {"input": r.origin, "conversation": r.key, "reason": r.reason} for r in self.failed
            ]
            + [
                {"input": path, "conversation": None, "reason": reason, "details": details}
                for path, reason, details in self.input_errors
            ],
            "warnings": self.warnings,
        }
