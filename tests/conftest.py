"""Shared fixtures: a real sandbox server on loopback, and a factory for ones with auth/faults."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from importer.sandbox import SandboxServer


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[SandboxServer]:
    """A started sandbox with no api key and no faults, stopped after the test."""
    with SandboxServer(tmp_path / "sandbox.db") as server:
        yield server


@pytest.fixture
def sandbox_factory(tmp_path: Path) -> Iterator[Callable[..., SandboxServer]]:
    """``sandbox_factory(api_key=..., faults=FaultConfig(...))``: started servers, stopped after."""
    servers: list[SandboxServer] = []

    def start(**kwargs: Any) -> SandboxServer:
        kwargs.setdefault("db_path", tmp_path / f"sandbox-{len(servers)}.db")
        server = SandboxServer(**kwargs).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
