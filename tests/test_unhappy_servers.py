"""Servers that are not the API, or that misbehave: fast, clear failures and never a false success."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from importer.sandbox import FaultConfig, SandboxServer
from tests.support import DATA, run_cli

TEAM = DATA / "evercore" / "team_chat_en.json"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def web_server(tmp_path: Path) -> Iterator[str]:
    """A plain static web server (python -m http.server), as a wrong --api-url finds."""
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "index.html").write_text("<html><body>hello</body></html>")
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        cwd=tmp_path / "site", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture
def login_page_server() -> Iterator[str]:
    """Answers every request with 200 and an HTML login page, as a misconfigured proxy does."""
    import asyncio
    import threading

    from aiohttp import web

    async def page(_: web.Request) -> web.Response:
        return web.Response(text="<html><form>Sign in</form></html>", content_type="text/html")

    loop = asyncio.new_event_loop()
    port = _free_port()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", page)
    runner = web.AppRunner(app)
    loop.run_until_complete(runner.setup())
    loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", port).start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=5)
    loop.run_until_complete(runner.cleanup())
    loop.close()


def _quick_failure(result: subprocess.CompletedProcess[str], started: float, needle: str) -> None:
    assert result.returncode == 1, result.stdout + result.stderr
    assert needle in result.stdout + result.stderr
    assert "Traceback" not in result.stderr and "aiohttp" not in result.stdout + result.stderr
    assert time.monotonic() - started < 10


def test_nothing_listening_fails_in_seconds(tmp_path: Path) -> None:
    started = time.monotonic()
    result = run_cli(TEAM, "--api-url", f"http://127.0.0.1:{_free_port()}",
                     "--checkpoint-dir", tmp_path / "ck", cwd=tmp_path)
    _quick_failure(result, started, "cannot connect to 127.0.0.1")
    assert not (tmp_path / "ck").exists()  # nothing attempted: not even a ledger for it


def test_a_plain_web_server_is_not_retried(tmp_path: Path, web_server: str) -> None:
    started = time.monotonic()
    result = run_cli(TEAM, "--api-url", web_server, "--checkpoint-dir", tmp_path / "ck",
                     cwd=tmp_path)
    _quick_failure(result, started, "HTTP 501")
    assert "retried" not in result.stderr


def test_a_success_answer_that_is_a_web_page_is_not_stored(
    tmp_path: Path, login_page_server: str
) -> None:
    started = time.monotonic()
    result = run_cli(TEAM, "--api-url", login_page_server, "--checkpoint-dir", tmp_path / "ck",
                     cwd=tmp_path)
    _quick_failure(result, started, "web page")
    assert "0 sent" in result.stdout or "0 imported" in result.stdout


def test_a_day_long_retry_after_fails_the_conversation_not_the_wait(
    tmp_path: Path, sandbox_factory: Callable[..., SandboxServer]
) -> None:
    server = sandbox_factory(
        faults=FaultConfig(rate_limit_rate=1.0, rate_limit_retry_ms=86_400_000)
    )
    started = time.monotonic()
    result = run_cli(TEAM, "--api-url", server.url, "--checkpoint-dir", tmp_path / "ck",
                     cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "asks to wait 86400s" in result.stdout and "run the same command again" in result.stdout
    assert time.monotonic() - started < 30


def test_ctrl_c_while_retrying_stops_without_waiting_the_grace(
    tmp_path: Path, sandbox_factory: Callable[..., SandboxServer]
) -> None:
    import signal

    from tests.test_resilience import _start

    server = sandbox_factory(faults=FaultConfig(error_rate=1.0))
    process = _start(TEAM, "--api-url", server.url, "--checkpoint-dir", tmp_path / "ck",
                     cwd=tmp_path)
    time.sleep(2.0)  # the only conversation now sleeps between retries
    stopped = time.monotonic()
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 130, out + err
    assert time.monotonic() - stopped < 5  # not the 10 s grace, not the rest of the backoff
    assert "Traceback" not in err


async def test_a_stop_during_the_last_flush_of_a_complete_import_is_success(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    from importer import BatchImporter
    from importer.models import Conversation

    class StopWhileFlushing(BatchImporter):
        async def _flush(self, conversation: Conversation) -> None:
            self.request_stop()  # Ctrl-C lands while the final flush is on its way
            await super()._flush(conversation)

    importer = StopWhileFlushing(api_url=sandbox.url, checkpoint_dir=tmp_path / "ck")
    report = await importer.import_file(TEAM)
    assert [r.status for r in report.conversations] == ["done"]
    assert not report.interrupted and report.exit_code == 0
    assert [c.flushes for c in sandbox.store.conversations()] == [1]


def test_tls_to_a_plain_http_server_fails_at_once(tmp_path: Path, sandbox: SandboxServer) -> None:
    started = time.monotonic()
    url = sandbox.url.replace("http://", "https://")
    result = run_cli(TEAM, "--api-url", url, "--checkpoint-dir", tmp_path / "ck", cwd=tmp_path)
    _quick_failure(result, started, "TLS")
    assert sandbox.store.conversations() == []


def test_a_message_too_large_for_one_request_fails_alone(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    import json

    from tests.support import write_everos_group

    path = write_everos_group(tmp_path / "g.json", "g", 30)
    body = json.loads(path.read_text())
    # quotes and backslashes take two bytes each on the wire: 600,000 characters, 1.2 MB
    body["messages"][10]["content"] = '"\\' * 300_000
    path.write_text(json.dumps(body))
    result = run_cli(path, "--api-url", sandbox.url, "--checkpoint-dir", tmp_path / "ck",
                     cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "g-00010 is larger than one request may be" in result.stdout
    [stored] = sandbox.store.conversations()
    assert (stored.messages, stored.duplicates) == (29, 0)


def test_a_checkpoint_folder_that_cannot_be_made_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "ck"
    blocker.write_text("a file where the folder should be")
    result = run_cli(TEAM, "--checkpoint-dir", blocker / "inner", "--sandbox-db",
                     tmp_path / "s.db", cwd=tmp_path)
    assert result.returncode == 1
    assert "cannot create checkpoint folder" in result.stderr and "Traceback" not in result.stderr
