"""Settings of one import run, validated once at the boundary (CLI flags, environment, library)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from importer.chunker import DEFAULT_MAX_REQUEST_BYTES, MAX_CHUNK_MESSAGES
from importer.errors import ConfigError
from importer.shard import Shard, parse_shard
from importer.targets.base import public_url

__all__ = ["API_KEY_ENV", "BASE_URL_ENVS", "CHECKPOINTS_ENV", "ImportSettings", "base_url_from_env", "default_checkpoint_dir", "make_settings"]

API_KEY_ENV = "EVEROS_API_KEY"
BASE_URL_ENVS = ("EVEROS_BASE_URL", "EVER_OS_BASE_URL")
CHECKPOINTS_ENV = "EVEROS_IMPORTER_CHECKPOINTS"


class ImportSettings(BaseModel):
    """Everything that shapes a run. ``api_url`` None means: import into the embedded sandbox."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    api_url: str | None = None
    api_key: SecretStr | None = None
    #: the API spoken: None picks ``evercore`` for a URL ending in ``/memories``, else ``everos``
    target: Literal["everos", "evercore", "goodmem"] | None = None
    #: GoodMem: the space to fill (found by name, or created), or an existing space's id
    space: str = Field(default="chat-history", min_length=1)
    space_id: str | None = None
    #: GoodMem: the embedder a new space uses, when the server has more than one
    embedder_id: str | None = None
    #: GoodMem: memories per batchCreate request
    batch_size: int = Field(default=20, ge=1, le=100)
    source: str | None = None
    scene: Literal["solo", "team"] | None = None
    include_system_events: bool = False
    #: zone for formats whose times carry none; None: the machine's local zone
    timezone: str | None = None
    #: user id for personal conversations of assistant exports (ChatGPT, Claude)
    user_id: str | None = None
    #: generic CSV/JSONL: canonical field -> column
    column_map: dict[str, str] | None = None
    concurrency: int = Field(default=10, ge=1, le=256)
    chunk_size: int = Field(default=50, ge=1, le=MAX_CHUNK_MESSAGES)
    #: task polls in flight at most, apart from the request budget (None: a quarter of it, ≥ 2)
    poll_concurrency: int | None = Field(default=None, ge=1, le=256)
    max_request_bytes: int = Field(default=DEFAULT_MAX_REQUEST_BYTES, ge=1024)
    #: conversations sent at once; several per request slot so that lanes waiting on tasks do
    #: not leave slots idle (each open lane holds its conversation in memory)
    lanes: int | None = Field(default=None, ge=1)
    checkpoint_dir: Path = Field(default_factory=lambda: default_checkpoint_dir())
    #: forget what the target acknowledged (all of it) before sending; the CLI asks first
    restart: bool = False
    #: forget what the target acknowledged of these conversations before sending
    resend: tuple[str, ...] = ()
    #: send again the chunks whose task expired before it was seen to finish
    resend_in_doubt: bool = False
    #: set a damaged ledger aside and keep what can still be read from it
    repair: bool = False
    sandbox_db: Path = Path("importer-sandbox.db")
    #: this process imports only the conversations of this shard (``"I/N"`` or a ``Shard``;
    #: N = 1 is the same as None); each shard keeps a ledger of its own
    shard: Shard | None = None
    request_timeout: float = Field(default=120.0, gt=0)
    task_timeout: float = Field(default=600.0, gt=0)
    #: the longest ``Retry-After`` honoured; a server asking for more fails that conversation
    max_retry_after: float = Field(default=60.0, ge=0)
    max_attempts: int = Field(default=8, ge=1)
    #: how often a chunk whose task failed is sent again before its conversation fails
    max_task_resends: int = Field(default=3, ge=0)
    #: seconds in-flight requests get to finish after the first Ctrl-C
    stop_grace: float = Field(default=10.0, ge=0)
    #: read inputs in a forked child process where the platform forks (Linux), so converting
    #: them does not slow the sending; False: in a thread (for a program whose own threads
    #: make forking it unsafe)
    read_in_child: bool = True

    @field_validator("api_url")
    @classmethod
    def _url_shape(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value.strip())
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            raise ValueError(
                f"--api-url must be an http(s) URL with a host, e.g. https://api.example.com "
                f"(got {public_url(value)!r})"
            )
        try:
            parts.port  # noqa: B018 - raises on a malformed port
        except ValueError:
            raise ValueError("--api-url has a malformed port") from None
        return value.strip()

    @field_validator("shard", mode="before")
    @classmethod
    def _shard_shape(cls, value: object) -> object:
        if isinstance(value, str):
            try:
                return parse_shard(value)
            except ConfigError as exc:
                raise ValueError(str(exc)) from None
        if isinstance(value, Shard) and value.count == 1:
            return None
        return value

    @field_validator("api_key")
    @classmethod
    def _key_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and any(ord(c) < 32 or ord(c) == 127 for c in value.get_secret_value()):
            # e.g. a trailing \r from a .env file written on Windows: it would be sent as is
            raise ValueError("the API key contains control characters (a stray \\r or \\n?)")
        return value

    @property
    def lane_count(self) -> int:
        return self.lanes or max(8, self.concurrency * 8)


def default_checkpoint_dir() -> Path:
    """``checkpoints/`` in the current folder, or ``$EVEROS_IMPORTER_CHECKPOINTS``."""
    return Path(os.environ.get(CHECKPOINTS_ENV) or "checkpoints")


def base_url_from_env() -> str | None:
    for name in BASE_URL_ENVS:
        value = os.environ.get(name)
        if value:
            return value
    return None


def make_settings(**values: object) -> ImportSettings:
    """Build settings, turning validation errors into one readable ``ConfigError``."""
    try:
        return ImportSettings.model_validate(values)
    except ValidationError as exc:
        raise ConfigError("; ".join(_in_flags(e) for e in exc.errors())) from None


#: settings whose command-line flag is not simply the field's name
_FLAGS = {"max_attempts": "--max-retries (+1)", "column_map": "--map"}


def _in_flags(error: Any) -> str:
    """A validation error as the user typed the option: ``--concurrency must be ≥ 1``."""
    field = str(error["loc"][0]) if error["loc"] else ""
    flag = _FLAGS.get(field, "--" + field.replace("_", "-")) if field else "settings"
    ctx = error.get("ctx") or {}
    kind = error["type"]
    if kind == "value_error":
        return str(ctx.get("error", error["msg"]))
    bounds = {"greater_than_equal": "≥ {ge}", "greater_than": "> {gt}",
              "less_than_equal": "≤ {le}", "less_than": "< {lt}"}
    if kind in bounds:
        return f"{flag} must be " + bounds[kind].format(**ctx)
    return f"{flag}: {error['msg']}"
