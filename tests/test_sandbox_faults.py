"""The sandbox's fault injection, observed over real HTTP, plus the token bucket on a fake clock."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest

from importer.sandbox import FaultConfig, SandboxServer
from importer.sandbox.faults import FaultInjector

GROUP = "/api/v1/memories/group"


def body(n: int = 2, *, group_id: str = "team", **fields: Any) -> dict[str, Any]:
    messages = [
        {"message_id": f"m{i}", "role": "user", "sender_id": "a", "timestamp": i, "content": "x"}
        for i in range(n)
    ]
    return {"group_id": group_id, "messages": messages, **fields}


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def post(http: aiohttp.ClientSession, url: str, payload: Any) -> aiohttp.ClientResponse:
    async with http.post(url, json=payload) as response:
        await response.read()
        return response


async def test_error_rate_answers_5xx_and_stores_nothing(
    sandbox_factory: Callable[..., SandboxServer], http: aiohttp.ClientSession
) -> None:
    server = sandbox_factory(faults=FaultConfig(error_rate=1.0, seed=1))
    statuses = set()
    for _ in range(6):
        async with http.post(server.url + GROUP, json=body()) as response:
            statuses.add(response.status)
            assert (await response.json())["error"]["status"] == response.status
    assert statuses == {500, 503}
    assert server.store.conversations() == []


async def test_drop_rate_closes_the_connection_before_storing(
    sandbox_factory: Callable[..., SandboxServer], http: aiohttp.ClientSession
) -> None:
    server = sandbox_factory(faults=FaultConfig(drop_rate=1.0))
    with pytest.raises(aiohttp.ClientConnectionError):
        await post(http, server.url + GROUP, body())
    assert server.store.conversations() == []
    assert server.metrics()["requests"] == {"POST /api/v1/memories/group": {"dropped": 1}}

    server.set_faults(drop_rate=0)
    assert (await post(http, server.url + GROUP, body())).status == 200
    (stored,) = server.store.conversations()
    assert (stored.messages, stored.duplicates) == (2, 0)


async def test_rate_limit_answers_429_with_retry_after(
    sandbox_factory: Callable[..., SandboxServer], http: aiohttp.ClientSession
) -> None:
    server = sandbox_factory(faults=FaultConfig(rate_limit_rps=1))
    assert (await post(http, server.url + GROUP, body())).status == 200
    async with http.get(server.url + "/api/v1/tasks/task_x") as limited:  # every /api route
        assert (await limited.json())["error"]["status"] == 429

    assert limited.status == 429
    assert limited.headers["Retry-After"] == "1"
    assert 0 < int(limited.headers["retry-after-ms"]) <= 1000
    assert (await post(http, server.url + "/_sandbox/faults", {"rate_limit_rps": 0})).status == 200
    assert (await post(http, server.url + GROUP, body())).status == 200


async def test_task_fail_rate_fails_the_task_and_stores_nothing(
    sandbox_factory: Callable[..., SandboxServer], http: aiohttp.ClientSession
) -> None:
    server = sandbox_factory(faults=FaultConfig(task_fail_rate=1.0))
    async with http.post(server.url + GROUP, json=body(async_mode=True)) as response:
        assert response.status == 202
        task_id = (await response.json())["data"]["task_id"]
    async with http.get(f"{server.url}/api/v1/tasks/{task_id}") as response:
        assert (await response.json())["data"] == {"task_id": task_id, "status": "failed"}
    assert server.store.conversations() == []


async def test_sync_only_ignores_async_mode(
    sandbox_factory: Callable[..., SandboxServer], http: aiohttp.ClientSession
) -> None:
    server = sandbox_factory(faults=FaultConfig(sync_only=True))
    async with http.post(server.url + GROUP, json=body(async_mode=True)) as response:
        assert response.status == 200
        assert "task_id" not in (await response.json())["data"]
    assert server.store.conversations()[0].messages == 2


async def test_latency_delays_adds(
    sandbox_factory: Callable[..., SandboxServer], http: aiohttp.ClientSession
) -> None:
    server = sandbox_factory(faults=FaultConfig(latency_ms=60))
    started = time.monotonic()
    assert (await post(http, server.url + GROUP, body())).status == 200
    assert time.monotonic() - started >= 0.06


async def test_seeded_faults_are_reproducible(
    sandbox_factory: Callable[..., SandboxServer], http: aiohttp.ClientSession
) -> None:
    async def run(server: SandboxServer) -> list[int]:
        return [(await post(http, server.url + GROUP, body())).status for _ in range(12)]

    faults = FaultConfig(error_rate=0.5, seed=42)
    first = await run(sandbox_factory(faults=faults))
    second = await run(sandbox_factory(faults=faults))
    assert first == second
    assert 200 in first and ({500, 503} & set(first))


async def test_faults_route_reads_and_updates_partially(
    sandbox: SandboxServer, http: aiohttp.ClientSession
) -> None:
    async with http.get(sandbox.url + "/_sandbox/faults") as response:
        assert await response.json() == FaultConfig().model_dump()
    async with http.post(sandbox.url + "/_sandbox/faults", json={"latency_ms": 5}) as response:
        assert (await response.json())["latency_ms"] == 5
    assert sandbox.faults == FaultConfig(latency_ms=5)

    for bad in ({"error_rate": 2}, {"nonsense": 1}, [1]):
        async with http.post(sandbox.url + "/_sandbox/faults", json=bad) as response:
            assert response.status == 422
    assert sandbox.faults == FaultConfig(latency_ms=5)


async def test_concurrent_requests_all_succeed_without_faults(
    sandbox: SandboxServer, http: aiohttp.ClientSession
) -> None:
    results = await asyncio.gather(
        *(post(http, sandbox.url + GROUP, body(3, group_id=f"g{i}")) for i in range(20))
    )
    assert {r.status for r in results} == {200}
    assert sum(c.messages for c in sandbox.store.conversations()) == 60


def test_token_bucket_refills_at_the_configured_rate() -> None:
    now = [100.0]
    injector = FaultInjector(FaultConfig(rate_limit_rps=2), clock=lambda: now[0])

    assert injector.throttle() is None
    assert injector.throttle() is None  # burst of 2
    assert injector.throttle() == pytest.approx(0.5)
    now[0] += 0.5
    assert injector.throttle() is None
    assert FaultInjector.retry_after_headers(0.25) == {"Retry-After": "1", "retry-after-ms": "250"}
    assert FaultInjector.retry_after_headers(2.5)["Retry-After"] == "3"


def test_jitter_draws_uniformly_around_the_value_and_repeats_with_the_seed() -> None:
    config = FaultConfig(latency_ms=100, latency_jitter=0.5, task_delay_ms=200,
                         task_delay_jitter=0.25, seed=3)  # fmt: skip
    injector, twin = FaultInjector(config), FaultInjector(config)
    latencies = [injector.add_latency_s() for _ in range(400)]
    delays = [injector.task_delay_s() for _ in range(400)]

    assert latencies == [twin.add_latency_s() for _ in range(400)]
    assert 0.05 <= min(latencies) < 0.055 and 0.145 < max(latencies) <= 0.15
    assert sum(latencies) / 400 == pytest.approx(0.1, rel=0.05)
    assert 0.15 <= min(delays) < 0.155 and 0.245 < max(delays) <= 0.25
    fixed = FaultInjector(FaultConfig(latency_ms=100, task_delay_ms=200))
    assert {fixed.add_latency_s() for _ in range(5)} == {0.1}
    assert {fixed.task_delay_s() for _ in range(5)} == {0.2}


def test_jitter_leaves_the_fault_dice_where_they_were() -> None:
    plain = FaultInjector(FaultConfig(error_rate=0.5, seed=8))
    jittered = FaultInjector(FaultConfig(error_rate=0.5, latency_ms=10, latency_jitter=1, seed=8))
    rolls = []
    for _ in range(50):
        jittered.add_latency_s()
        rolls.append(jittered.roll(0.5))
    assert rolls == [plain.roll(0.5) for _ in range(50)]


async def test_jittered_adds_and_tasks_take_the_drawn_times(
    sandbox_factory: Callable[..., SandboxServer], http: aiohttp.ClientSession
) -> None:
    config = FaultConfig(latency_ms=200, latency_jitter=0.9, task_delay_ms=1000,
                         task_delay_jitter=0.5, seed=11)  # fmt: skip
    server = sandbox_factory(faults=config)
    twin = FaultInjector(config)  # the same dice, drawn in the server's order
    drawn: list[tuple[float, float]] = []
    took: list[float] = []
    task_ids: list[str] = []
    for _ in range(6):
        drawn.append((twin.add_latency_s(), twin.task_delay_s()))
        started = time.monotonic()
        async with http.post(server.url + GROUP, json=body(async_mode=True)) as response:
            assert response.status == 202
            task_ids.append((await response.json())["data"]["task_id"])
        took.append(time.monotonic() - started)

    for (latency, delay), seconds, task_id in zip(drawn, took, task_ids, strict=True):
        assert seconds >= latency - 0.002  # asyncio may wake a hair early
        task = server.store.task(task_id)
        assert task is not None and task.ready_at - task.created_at == pytest.approx(delay)
    fastest = min(range(6), key=lambda i: drawn[i][0])
    assert took[fastest] < drawn[fastest][0] + 0.15  # not the 200 ms mean: the draw
    assert len({round(delay, 6) for _, delay in drawn}) == 6
