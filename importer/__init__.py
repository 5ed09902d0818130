"""Resumable import of conversation history into memory services.

The public API: ``BatchImporter`` and the models and errors it speaks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from importer.errors import (
    AuthError,
    CheckpointError,
    ConfigError,
    FatalTargetError,
    ImporterError,
    InputError,
    RejectedError,
    RetriableTargetError,
    TargetError,
)
from importer.models import Chunk, Conversation, Message

if TYPE_CHECKING:
    from importer.api import BatchImporter

__all__ = [
    "AuthError",
    "BatchImporter",
    "CheckpointError",
    "Chunk",
    "ConfigError",
    "Conversation",
    "FatalTargetError",
    "ImporterError",
    "InputError",
    "Message",
    "RejectedError",
    "RetriableTargetError",
    "TargetError",
]

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    # BatchImporter pulls in the converters, which import our models: load it on first use
    # so that ``import converters`` and ``import importer`` work in either order.
    if name == "BatchImporter":
        from importer.api import BatchImporter

        return BatchImporter
    raise AttributeError(f"module 'importer' has no attribute {name!r}")
