"""The outcome of a run: per-conversation results, input errors, totals, and the exit code."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from importer.errors import InputError
from importer.ledger import InDoubt
from importer.merge import SpooledConversation
from importer.shard import ShardShare

__all__ = ["ConversationResult", "Report"]

Status = Literal["done", "unchanged", "failed", "interrupted", "valid"]


@dataclass
class ConversationResult:
    """What happened to one conversation in this run."""

    key: str
    origin: str
    status: Status
    #: distinct messages the inputs hold for this conversation (merged, by message id)
    messages: int = 0
    #: messages sent and acknowledged in this run
    sent: int = 0
    #: messages the target had acknowledged before, not sent again
    already: int = 0
    #: of those, messages whose content changed since (an edit in a newer export): not resent
    edited: int = 0
    #: messages sent now that are older than what the conversation already had (EverOS orders
    #: by arrival, so these land after newer ones)
    backfill: int = 0
    #: copies of a message another input already held, dropped when merging
    duplicates: int = 0
    #: messages that could not be sent at all (e.g. larger than one request may be)
    failed_messages: int = 0
    #: plan / --validate-only: messages the target has not acknowledged, and the requests
    #: sending them would take
    pending: int = 0
    requests: int = 0
    #: messages the converter left out on purpose (system events)
    skipped: int = 0
    reason: str | None = None

    @classmethod
    def of(cls, conversation: SpooledConversation, status: Status) -> ConversationResult:
        return cls(
            conversation.key,
            ", ".join(conversation.origins) or conversation.meta.origin,
            status,
            messages=conversation.count,
            duplicates=conversation.duplicates,
            skipped=conversation.meta.skipped,
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
    #: files in folders that no converter reads (path, why), for --verbose and the summary
    skipped_files: list[tuple[str, str]] = field(default_factory=list)
    #: plan / --dry-run: requests and a rough time
    plan: Any = None
    #: chunks whose fate cannot be known (task expired; sent again after an interruption)
    in_doubt: list[InDoubt] = field(default_factory=list)
    #: ``--shard``: which shard ran, its conversations and how many it left to the others
    shard: ShardShare | None = None

    def add_input_errors(self, errors: Iterable[InputError]) -> None:
        self.input_errors.extend((e.path, str(e), e.problems) for e in errors)

    @property
    def messages_sent(self) -> int:
        return sum(r.sent for r in self.conversations)

    @property
    def messages_already(self) -> int:
        return sum(r.already for r in self.conversations)

    def total(self, name: str) -> int:
        """The sum of one per-conversation count (``edited``, ``backfill``, ``duplicates``...)."""
        return sum(int(getattr(r, name)) for r in self.conversations)

    @property
    def expired_in_doubt(self) -> list[InDoubt]:
        return [d for d in self.in_doubt if d.kind == "expired"]

    @property
    def failed(self) -> list[ConversationResult]:
        return [r for r in self.conversations if r.status == "failed"]

    @property
    def exit_code(self) -> int:
        if self.interrupted:
            return 130
        if self.fatal or self.failed or self.input_errors or self.expired_in_doubt:
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
            "shard": None if self.shard is None else {
                "index": self.shard.index, "count": self.shard.count,
                "conversations": self.shard.conversations,
                "conversations_left_to_other_shards": self.shard.others,
            },
            "seconds": round(self.seconds, 3),
            "messages_sent": self.messages_sent,
            "messages_already_imported": self.messages_already,
            "messages_edited_since_import": self.total("edited"),
            "messages_backfilled": self.total("backfill"),
            "duplicates_merged": self.total("duplicates"),
            "in_doubt": [
                {"conversation": d.key, "kind": d.kind, "first_message_id": d.first_id,
                 "last_message_id": d.last_id, "messages": d.count, "task_id": d.task_id,
                 "note": d.describe()}
                for d in self.in_doubt
            ],
            "conversations": [asdict(r) for r in self.conversations],
            "failures": [
                {"input": r.origin, "conversation": r.key, "reason": r.reason} for r in self.failed
            ]
            + [
                {"input": path, "conversation": None, "reason": reason, "details": details}
                for path, reason, details in self.input_errors
            ],
            "warnings": self.warnings,
            "skipped_files": [{"path": p, "reason": why} for p, why in self.skipped_files],
        }
