"""A local server that speaks the EverOS v1, EverCore single-message and GoodMem APIs, stores into
SQLite and injects faults."""

from __future__ import annotations

from typing import TYPE_CHECKING

from importer._lazy import lazy_names

if TYPE_CHECKING:
    from importer.sandbox.app import create_app
    from importer.sandbox.faults import FaultConfig
    from importer.sandbox.server import SandboxServer, serve
    from importer.sandbox.store import SandboxStore, StoredConversation

__all__ = [
    "FaultConfig",
    "SandboxServer",
    "SandboxStore",
    "StoredConversation",
    "create_app",
    "serve",
]

#: where each name lives, imported on first use: the server side of aiohttp takes about 50 ms to
#: import, which every command line (``python -m importer --api-url ...`` included) would pay
_LAZY = {
    "FaultConfig": "importer.sandbox.faults",
    "SandboxServer": "importer.sandbox.server",
    "SandboxStore": "importer.sandbox.store",
    "StoredConversation": "importer.sandbox.store",
    "create_app": "importer.sandbox.app",
    "serve": "importer.sandbox.server",
}


__getattr__ = lazy_names(__name__, _LAZY)
