"""What every API module of the sandbox shares: the app's keys, request metrics, dropping a
connection on purpose, and reading a body whose client may have gone."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from importer.sandbox.faults import FaultInjector
from importer.sandbox.store import SandboxStore

__all__ = ["API_KEY", "FAULTS", "METRICS", "STORE", "Dropped", "Metrics", "drop", "read_body"]


@dataclass
class Metrics:
    """What clients did to the server: requests per route and status, concurrency, batch sizes."""

    requests: dict[str, Counter[str]] = field(default_factory=dict)
    in_flight: int = 0
    max_in_flight: int = 0
    max_messages_per_request: int = 0
    requests_without_bearer: int = 0
    #: GoodMem batchCreate items by outcome (created, already_exists, unavailable, refused)
    batch_items: Counter[str] = field(default_factory=Counter)

    def count(self, route: str, status: str) -> None:
        self.requests.setdefault(route, Counter())[status] += 1

    def reset(self) -> None:
        self.requests = {}
        self.max_in_flight = self.in_flight
        self.max_messages_per_request = 0
        self.requests_without_bearer = 0
        self.batch_items = Counter()

    def saw_messages(self, count: int) -> None:
        self.max_messages_per_request = max(self.max_messages_per_request, count)

    def snapshot(self) -> dict[str, Any]:
        return {
            "requests": {route: dict(counts) for route, counts in sorted(self.requests.items())},
            "in_flight": self.in_flight,
            "max_in_flight": self.max_in_flight,
            "max_messages_per_request": self.max_messages_per_request,
            "requests_without_bearer": self.requests_without_bearer,
            "batch_items": dict(self.batch_items),
        }


STORE = web.AppKey("sandbox_store", SandboxStore)
FAULTS = web.AppKey("sandbox_faults", FaultInjector)
METRICS = web.AppKey("sandbox_metrics", Metrics)
API_KEY = web.AppKey("sandbox_api_key", str)


class Dropped(Exception):
    """The handler closed the connection on purpose; there is no response to send."""


async def read_body(request: web.Request) -> bytes:
    """The whole body. Read before any injected latency, so a client that gives up waiting
    still has its request stored, as a real server would."""
    try:
        return await request.read()
    except ConnectionError:
        # the client went away mid-body (killed, timed out): nothing to store, nobody to answer
        raise Dropped from None


async def drop(request: web.Request) -> None:
    """Close the connection without answering (the body is read first so the close is clean)."""
    await read_body(request)
    request.protocol.force_close()
    if request.transport is not None:
        request.transport.close()
    raise Dropped
