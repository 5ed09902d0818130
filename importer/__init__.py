"""Resumable import of conversation history into memory services.

The public API: ``BatchImporter`` and the models and errors it speaks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from importer._lazy import lazy_names
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

if TYPE_CHECKING:
    from importer.api import BatchImporter
    from importer.models import Chunk, Conversation, Message

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


#: names imported on first use: the models load pydantic, BatchImporter the converters (which
#: import our models), so that ``import converters`` and ``import importer`` work in either order
#: and ``python -m importer`` is its own code from its first tenth of a second (a Ctrl-C then
#: gets a line, not a traceback)
_LAZY = {
    "BatchImporter": "importer.api",
    "Chunk": "importer.models",
    "Conversation": "importer.models",
    "Message": "importer.models",
}


__getattr__ = lazy_names(__name__, _LAZY)
