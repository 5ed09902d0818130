"""A local server that speaks the EverOS v1, EverCore single-message and GoodMem APIs, stores into
SQLite and injects faults."""

from __future__ import annotations

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
