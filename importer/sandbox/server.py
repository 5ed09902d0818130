"""Running the sandbox: on a background thread (tests, embedded use) or in the foreground (CLI)."""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from aiohttp import web

from importer.errors import ConfigError
from importer.logs import get_logger
from importer.sandbox.app import FAULTS, METRICS, create_app
from importer.sandbox.faults import FaultConfig
from importer.sandbox.store import SandboxStore

__all__ = ["SandboxServer", "serve"]

log = get_logger(__name__)

_T = TypeVar("_T")
#: how long stop() waits for requests still being handled
_SHUTDOWN_TIMEOUT_S = 1.0
_START_TIMEOUT_S = 10.0


def _client_host(host: str) -> str:
    return "127.0.0.1" if host in ("", "0.0.0.0", "::") else host


class SandboxServer:
    """The sandbox on loopback, served by a background thread with its own event loop.

    SQLite work happens on that thread, so it never blocks the caller's loop. ``store`` may be
    queried from any thread; ``metrics()`` and ``set_faults()`` run on the server's loop.

        with SandboxServer(tmp_path / "sandbox.db") as server:
            ...  # talk to server.url
            server.store.conversations()
    """

    def __init__(
        self,
        db_path: str | Path,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str | None = None,
        faults: FaultConfig | None = None,
    ) -> None:
        self.db_path = Path(db_path)
        self.host = host
        self.port = port
        self.store = SandboxStore(self.db_path)
        self._app = create_app(self.store, api_key=api_key, faults=faults)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopping: asyncio.Event | None = None
        self._startup_error: BaseException | None = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``, with the port actually bound."""
        return f"http://{_client_host(self.host)}:{self.port}"

    def start(self) -> SandboxServer:
        """Start serving; returns once the socket is listening."""
        if self._thread is not None:
            raise RuntimeError("sandbox server already started")
        ready = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(ready,), name="importer-sandbox", daemon=True
        )
        self._thread.start()
        if not ready.wait(_START_TIMEOUT_S):
            raise RuntimeError("sandbox server did not start in time")
        if self._startup_error is not None:
            self._thread.join()
            self._thread = None
            self.store.close()
            raise self._startup_error
        return self

    def _run(self, ready: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve(ready))
        except BaseException as exc:  # reported to start(), which re-raises it in the caller
            self._startup_error = exc
            ready.set()
        finally:
            loop.close()

    async def _serve(self, ready: threading.Event) -> None:
        self._stopping = asyncio.Event()
        runner = web.AppRunner(self._app, access_log=None, shutdown_timeout=_SHUTDOWN_TIMEOUT_S)
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.host, self.port)
            await site.start()
            self.port = runner.addresses[0][1]
            ready.set()
            await self._stopping.wait()
        finally:
            await runner.cleanup()

    def _call(self, fn: Callable[[], _T]) -> _T:
        """Run ``fn`` on the server's loop (or right here when not running / already on it)."""
        loop = self._loop
        if loop is None or loop.is_closed() or threading.current_thread() is self._thread:
            return fn()

        async def call() -> _T:
            return fn()

        return asyncio.run_coroutine_threadsafe(call(), loop).result(_START_TIMEOUT_S)

    def metrics(self) -> dict[str, Any]:
        """Requests per route and status, ``max_in_flight``, ``max_messages_per_request``, ..."""
        return self._call(self._app[METRICS].snapshot)

    def reset_metrics(self) -> None:
        self._call(self._app[METRICS].reset)

    def set_faults(self, **fields: Any) -> FaultConfig:
        """Change fault settings while running, e.g. ``set_faults(error_rate=0)``."""
        return self._call(lambda: self._app[FAULTS].update(fields))

    @property
    def faults(self) -> FaultConfig:
        return self._app[FAULTS].config

    def stop(self) -> None:
        """Stop serving (requests still running get a moment to finish) and close the store."""
        thread, loop, stopping = self._thread, self._loop, self._stopping
        if thread is not None and loop is not None and stopping is not None:
            if not loop.is_closed():
                loop.call_soon_threadsafe(stopping.set)
            thread.join()
        self._thread = None
        self.store.close()

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def serve(
    host: str,
    port: int,
    db: str | Path,
    api_key: str | None = None,
    faults: FaultConfig | None = None,
    *,
    on_ready: Callable[[str], None] | None = None,
) -> int:
    """Serve in the foreground until Ctrl-C or SIGTERM; returns the exit code (0).

    ``on_ready`` receives the URL once listening. Raises ``ConfigError`` when the address is taken.
    """
    try:
        return asyncio.run(_serve_forever(host, port, Path(db), api_key, faults, on_ready))
    except KeyboardInterrupt:  # before the signal handlers were installed, or on Windows
        return 0


async def _serve_forever(
    host: str,
    port: int,
    db: Path,
    api_key: str | None,
    faults: FaultConfig | None,
    on_ready: Callable[[str], None] | None,
) -> int:
    store = SandboxStore(db)
    runner = web.AppRunner(
        create_app(store, api_key=api_key, faults=faults),
        access_log=None,
        shutdown_timeout=_SHUTDOWN_TIMEOUT_S,
    )
    await runner.setup()
    try:
        try:
            await web.TCPSite(runner, host, port).start()
        except OSError as exc:
            raise ConfigError(f"sandbox cannot listen on {host}:{port}: {exc.strerror}") from exc
        url = f"http://{_client_host(host)}:{runner.addresses[0][1]}"
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(signum, stopping.set)
            except (NotImplementedError, RuntimeError):  # Windows, or not the main thread
                pass
        log.info("sandbox_started", url=url, db=str(db), auth=api_key is not None)
        if on_ready is not None:
            on_ready(url)
        await stopping.wait()
        log.info("sandbox_stopped", url=url)
        return 0
    finally:
        await runner.cleanup()
        store.close()
