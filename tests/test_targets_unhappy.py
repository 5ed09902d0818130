"""EverCore and GoodMem targets against servers that are not the API: clear failures, never a
false success."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import pytest
from aiohttp import web

from importer.errors import RejectedError, RetriableTargetError, UnreachableError
from importer.models import Chunk, Conversation, Message
from importer.targets import EverCoreTarget, GoodMemTarget

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
CONV = Conversation(
    kind="group",
    conversation_id="team",
    messages=[Message(message_id="m0", timestamp=0, sender_id="a", content="hi")],
)
CHUNK = Chunk(conversation_key=CONV.key, index=0, messages=CONV.messages)


async def _login_page(request: web.Request) -> web.Response:
    return web.Response(text="<html><form>Sign in</form></html>", content_type="text/html")


async def _not_implemented(request: web.Request) -> web.Response:
    return web.json_response({"message": "no such method here"}, status=501)


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Handler], Awaitable[str]]]:
    """``await serve(handler)``: a loopback server answering every path with ``handler``."""
    runners: list[web.AppRunner] = []

    async def start(handler: Handler) -> str:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handler)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        runners.append(runner)
        return f"http://127.0.0.1:{runner.addresses[0][1]}"

    yield start
    for runner in runners:
        await runner.cleanup()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_a_web_page_is_not_the_evercore_api(
    serve: Callable[[Handler], Awaitable[str]], http: aiohttp.ClientSession
) -> None:
    url = await serve(_login_page)
    target = EverCoreTarget(url + "/api/v0/memories")
    target.bind(http)
    with pytest.raises(UnreachableError, match="web page, not the EverCore API"):
        await target.prepare()
    with pytest.raises(RejectedError, match=r"success but not with the API's JSON \(text/html\)"):
        await target.add(CONV, CHUNK)


async def test_a_web_page_is_not_goodmem(
    serve: Callable[[Handler], Awaitable[str]], http: aiohttp.ClientSession
) -> None:
    target = GoodMemTarget(await serve(_login_page))
    target.bind(http)
    with pytest.raises(UnreachableError, match="web page, not the GoodMem API"):
        await target.prepare()
    assert target.space_id is None


async def test_not_implemented_is_refused_not_retried(
    serve: Callable[[Handler], Awaitable[str]], http: aiohttp.ClientSession
) -> None:
    url = await serve(_not_implemented)
    core = EverCoreTarget(url + "/api/v0/memories")
    core.bind(http)
    with pytest.raises(RejectedError, match="HTTP 501: no such method here"):
        await core.add(CONV, CHUNK)
    goodmem = GoodMemTarget(url)
    goodmem.bind(http)
    with pytest.raises(RejectedError, match="HTTP 501"):
        await goodmem.prepare()


async def test_nobody_listening(http: aiohttp.ClientSession) -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    core = EverCoreTarget(url + "/api/v0/memories")
    core.bind(http)
    with pytest.raises(UnreachableError, match="cannot connect to 127.0.0.1"):
        await core.prepare()
    with pytest.raises(RetriableTargetError, match="cannot connect to 127.0.0.1"):
        await core.add(CONV, CHUNK)


def test_credentials_in_the_url_are_neither_sent_nor_kept() -> None:
    core = EverCoreTarget("http://user:pw@core.local:1995/api/v0/memories")
    goodmem = GoodMemTarget("https://user:pw@gm.local:8080/")
    assert "pw" not in core.api_url + core.identity
    assert "pw" not in goodmem.base_url + goodmem.identity
    assert goodmem.base_url == "https://gm.local:8080"
