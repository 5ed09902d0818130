"""The canonical models every part of the importer speaks: Message, Conversation, Chunk."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "Chunk",
    "Conversation",
    "ConversationKind",
    "Message",
    "Role",
    "conversation_key",
]

Role = Literal["user", "assistant"]
ConversationKind = Literal["group", "personal"]


def conversation_key(kind: str, conversation_id: str, session_id: str | None = None) -> str:
    """``group:<id>``, ``personal:<user>`` or ``personal:<user>/<session>``."""
    if kind == "group":
        return f"group:{conversation_id}"
    if session_id:
        return f"personal:{conversation_id}/{session_id}"
    return f"personal:{conversation_id}"


class Message(BaseModel):
    """One message, already converted: who said what, when (Unix milliseconds)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    message_id: str = Field(min_length=1)
    timestamp: int
    sender_id: str
    sender_name: str | None = None
    role: Role = "user"
    content: str
    #: id of the message this one answers (thread reply, quote), when the source says so
    reply_to: str | None = None

    @classmethod
    def trusted(
        cls,
        message_id: str,
        timestamp: int,
        sender_id: str,
        sender_name: str | None,
        role: Role,
        content: str,
        reply_to: str | None = None,
    ) -> Message:
        """A message from values the caller has already typed and checked (a converter that
        built them, the spool reading them back), without validation.

        Reading a million messages builds a million of these: validation (or
        ``model_construct``, which looks defaults up and gives each a private fields-set)
        costs three times what this does. All share one fields-set; ``model_copy`` copies it
        before changing it.
        """
        message = _new(cls)
        _set(message, "__dict__", {
            "message_id": message_id, "timestamp": timestamp, "sender_id": sender_id,
            "sender_name": sender_name, "role": role, "content": content, "reply_to": reply_to,
        })
        _set(message, "__pydantic_fields_set__", _ALL_FIELDS)
        _set(message, "__pydantic_extra__", None)
        _set(message, "__pydantic_private__", None)
        return message


_new = object.__new__
_set = object.__setattr__
_ALL_FIELDS: set[str] = set(Message.model_fields)


class Conversation(BaseModel):
    """A whole conversation from one source, messages in chronological order.

    ``kind`` picks the API: ``group`` (many participants, ``conversation_id`` is the group id)
    or ``personal`` (one user with an assistant, ``conversation_id`` is the user id).
    """

    model_config = ConfigDict(extra="forbid")

    kind: ConversationKind
    conversation_id: str = Field(min_length=1)
    session_id: str | None = None
    name: str | None = None
    description: str | None = None
    #: sender id -> display name
    participants: dict[str, str] = Field(default_factory=dict)
    #: converter name and the input it came from, for reports
    source: str = ""
    origin: str = ""
    messages: list[Message] = Field(default_factory=list)
    #: what the source says about the conversation beyond the fields above, for targets that
    #: take it (e.g. ConversationFormat's ``session_meta``: scene, user_details, tags); no text
    source_meta: dict[str, Any] = Field(default_factory=dict)
    #: messages the converter left out on purpose (system events), for the summary
    skipped: int = 0

    @property
    def key(self) -> str:
        """The conversation's identity in checkpoints and reports."""
        return conversation_key(self.kind, self.conversation_id, self.session_id)


class Chunk(BaseModel):
    """Consecutive messages of one conversation sent in one request."""

    model_config = ConfigDict(frozen=True)

    conversation_key: str
    #: position of this chunk among the chunks of this run's send of the conversation
    index: int
    messages: list[Message]

    @property
    def first(self) -> Message:
        return self.messages[0]

    @property
    def last(self) -> Message:
        return self.messages[-1]
