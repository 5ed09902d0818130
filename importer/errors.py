"""The exception tree every part of the importer raises.

    ImporterError
    ├── ConfigError            bad options or environment (exit code 2)
    ├── InputError             a file that cannot be read or converted (names the file and the place)
    ├── CheckpointError        the ledger is locked, unwritable, or from an unknown version
    └── TargetError            the server did not take a request
        ├── RetriableTargetError   408/429/5xx/connection problems: try again later
        └── FatalTargetError       do not retry this request
            ├── RejectedError      the server refused this body (other 4xx): fails one conversation
            └── StopRunError       nothing else can succeed either: stops the whole run
                ├── AuthError          401/403
                └── UnreachableError   refused, unknown host, TLS failure, not the expected API

Messages say what failed, where, and what to do next. They never contain secrets.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

__all__ = [
    "AuthError",
    "CheckpointError",
    "ConfigError",
    "FatalTargetError",
    "ImporterError",
    "InputError",
    "RejectedError",
    "RetriableTargetError",
    "StopRunError",
    "TargetError",
    "UnreachableError",
]


class ImporterError(Exception):
    """Base of every error the importer raises on purpose."""


class ConfigError(ImporterError):
    """Invalid options or environment."""


class InputError(ImporterError):
    """An input that cannot be read or converted.

    ``where`` says where in the file (e.g. ``message 12 (id msg_0012), field 'sender'``).
    """

    def __init__(
        self,
        path: str,
        reason: str,
        *,
        where: str | None = None,
        problems: Sequence[str] = (),
    ) -> None:
        self.path = str(path)
        self.reason = reason
        self.where = where
        #: every problem found, one line each, when there were several
        self.problems = list(problems)
        place = f": {where}" if where else ""
        super().__init__(f"{self.path}{place}: {reason}")

    def __reduce__(self) -> tuple[Any, ...]:
        # pickled as it was built (the default would call it with its message alone): errors
        # found by the child process that reads inputs come back to the parent this way
        rebuild = functools.partial(type(self), where=self.where, problems=self.problems)
        return rebuild, (self.path, self.reason)


class CheckpointError(ImporterError):
    """The checkpoint cannot be used (locked by another run, corrupt, unknown version)."""


class TargetError(ImporterError):
    """A request to the memory service did not succeed."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        self.status = status
        super().__init__(message)


class RetriableTargetError(TargetError):
    """A transient failure; ``retry_after`` is the server's requested wait in seconds, if any."""

    def __init__(
        self, message: str, *, status: int | None = None, retry_after: float | None = None
    ) -> None:
        self.retry_after = retry_after
        super().__init__(message, status=status)

    @property
    def rate_limited(self) -> bool:
        return self.status == 429


class FatalTargetError(TargetError):
    """A failure that retrying will not fix."""


class RejectedError(FatalTargetError):
    """The server rejected this request's body; the conversation it belongs to fails."""


class StopRunError(FatalTargetError):
    """A failure that no other request of this run can escape: stop the run."""


class AuthError(StopRunError):
    """The server refused our credentials; nothing else will succeed either."""


class UnreachableError(StopRunError):
    """The target cannot be talked to at all: refused, unknown host, TLS failure, not the API."""
