"""Protocol adapters, one per memory-service HTTP API, and the registry that picks one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from importer.errors import ConfigError
from importer.targets.base import Receipt, Target, TaskState
from importer.targets.evercore import EverCoreTarget
from importer.targets.everos import EverOSTarget
from importer.targets.goodmem import GoodMemTarget

__all__ = [
    "TARGET_NAMES",
    "EverCoreTarget",
    "EverOSTarget",
    "GoodMemTarget",
    "Receipt",
    "Target",
    "TaskState",
    "guess_target",
    "make_target",
]

_FACTORIES: dict[str, Callable[..., Target]] = {
    "everos": EverOSTarget,
    "evercore": EverCoreTarget,
    "goodmem": GoodMemTarget,
}
TARGET_NAMES = tuple(_FACTORIES)


def make_target(name: str, url: str, api_key: str | None = None, **options: Any) -> Target:
    """The adapter called ``name`` for ``url``; ``options`` are its keyword arguments.

    Raises ``ConfigError`` for an unknown name or an option the adapter does not take.
    """
    factory = _FACTORIES.get(name)
    if factory is None:
        raise ConfigError(f"unknown target {name!r}; choose one of: {', '.join(TARGET_NAMES)}")
    try:
        return factory(url, api_key, **options)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"target {name}: {exc}") from exc


def guess_target(url: str) -> str:
    """``evercore`` for a URL whose path ends in ``/memories`` (EverCore's single-message
    endpoint is given whole), else ``everos`` (a server's base URL)."""
    path = urlsplit(url.strip()).path.rstrip("/")
    return "evercore" if path.endswith("/memories") else "everos"
