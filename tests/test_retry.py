from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from importer.retry import (
    AdaptiveLimiter,
    Backoff,
    PollSchedule,
    parse_retry_after,
    remaining_work,
)


def test_full_jitter_stays_within_the_exponential_cap() -> None:
    rng = random.Random(1)
    backoff = Backoff(base=0.5, cap=4.0)
    for attempt in range(10):
        ceiling = min(4.0, 0.5 * 2**attempt)
        delays = [backoff.delay(attempt, rng=rng) for _ in range(200)]
        assert all(0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling * 0.8  # it really spreads over the range


def test_retry_after_wins_over_backoff() -> None:
    delay = Backoff().delay(0, retry_after=3.0, rng=random.Random(2))
    assert 3.0 <= delay <= 4.0


def test_parse_retry_after_seconds_date_and_ms() -> None:
    assert parse_retry_after({"Retry-After": "7"}) == 7.0
    assert parse_retry_after({"retry-after-ms": "1500", "Retry-After": "9"}) == 1.5
    now = datetime(2026, 1, 1, tzinfo=UTC)
    date = format_datetime(now + timedelta(seconds=30), usegmt=True)
    assert parse_retry_after({"Retry-After": date}, now=now.timestamp()) == 30.0
    assert parse_retry_after({"Retry-After": "soon"}) is None
    assert parse_retry_after({}) is None


def test_poll_schedule_learns_from_the_midpoint_and_retries_soon_after_a_miss() -> None:
    poll = PollSchedule(minimum=0.01, maximum=2.0, initial=0.05)
    for _ in range(40):
        poll.observe(0.9, 1.1)  # last seen processing at 0.9 s, done at 1.1 s
    assert 0.95 < poll.first_delay() <= 1.0
    # after a miss: a twentieth of the time taken so far, at least 5 ms, at most the cap
    assert poll.retry_delay(1.0) == pytest.approx(0.05)
    assert poll.retry_delay(0.001) == 0.005
    assert poll.retry_delay(60) == 2.0
    fresh = PollSchedule(initial=0.05)
    fresh.observe(0.0, 0.3)  # done at the first look (late): it took at most 0.05 s
    assert fresh.first_delay() == 0.9 * 0.05


def test_a_task_longer_than_guessed_is_noticed_within_a_share_of_its_duration() -> None:
    """Until it has seen a few tasks the schedule looks at fast-growing intervals (30 % of the
    time taken so far), to find their scale; then at a twentieth, however far off the guess."""
    for duration in (0.06, 0.2, 1.0, 7.5):
        fresh = PollSchedule(initial=0.05)
        assert _noticed(fresh, duration) - duration <= max(0.005, 0.3 * duration)
        known = PollSchedule(initial=0.05)
        for _ in range(8):
            known.observe(0.0, 0.01)  # quick tasks so far: the first look is far too early
        assert _noticed(known, duration) - duration <= max(0.005, 0.05 * duration)


def _noticed(poll: PollSchedule, duration: float) -> float:
    """When ``poll``'s schedule notices a task of ``duration`` done (and records it)."""
    seen, previous = poll.first_delay(), 0.0
    while seen < duration:
        previous, seen = seen, seen + poll.retry_delay(seen)
    poll.observe(previous, seen)
    return seen


def test_tasks_of_varying_length_are_noticed_within_15_percent_on_average() -> None:
    """Tasks of 1 s ± 50 %: looking first at the mean would notice the short half late by a
    quarter of a second; the first look comes when the quickest tasks end. The goal: noticed
    within max(20 ms, 15 % of the duration) on average."""
    rng = random.Random(5)
    for mean in (0.02, 0.2, 1.0, 30.0):
        poll = PollSchedule()
        late: list[float] = []
        for _ in range(500):
            duration = mean * rng.uniform(0.5, 1.5)
            allowed = max(0.02, 0.15 * duration)
            late.append((_noticed(poll, duration) - duration) / allowed)
        steady = late[100:]
        assert sum(steady) / len(steady) <= 1, mean


def test_instant_tasks_are_looked_at_within_milliseconds_even_when_polls_leave_late() -> None:
    """A server that finishes tasks at once, and a busy client whose polls leave 3 ms after
    their time: the first look still comes down to the floor (it used to settle near 6x the
    lateness, 12 ms a chunk on a zero-latency server)."""
    poll = PollSchedule(initial=0.05)
    for _ in range(300):
        poll.observe(0.0, poll.first_delay() + 0.003)
    assert poll.first_delay() == poll.minimum == 0.001


def test_poll_schedule_comes_back_down_after_a_slow_period() -> None:
    """Tasks of 150 ms after a stretch of 5 s tasks: the first look comes back near 150 ms."""
    poll = PollSchedule(initial=0.05)
    for _ in range(200):
        poll.observe(4.9, 5.1)
    assert poll.first_delay() > 4.9
    duration = 0.15
    for _ in range(200):
        _noticed(poll, duration)
    assert 0.1 < poll.first_delay() < 0.25


async def test_limiter_halves_on_429_and_grows_back() -> None:
    now = [0.0]
    limiter = AdaptiveLimiter(8, clock=lambda: now[0])
    limiter.rate_limited()
    assert limiter.limit == 4
    limiter.rate_limited()  # the same burst: counted once
    assert limiter.limit == 4
    now[0] = 2.0
    limiter.rate_limited()
    assert limiter.limit == 2
    for _ in range(2 + 3):
        limiter.succeeded()
    assert limiter.limit == 4


async def test_limiter_never_lets_more_than_limit_in() -> None:
    limiter = AdaptiveLimiter(3)
    peak = 0

    async def work() -> None:
        nonlocal peak
        async with limiter:
            peak = max(peak, limiter.in_flight)
            await asyncio.sleep(0.01)

    await asyncio.gather(*(work() for _ in range(20)))
    assert peak == 3
    assert limiter.in_flight == 0


async def test_a_freed_slot_goes_to_the_waiter_with_the_most_work_left() -> None:
    """Under the order rule the conversation with the most left bounds the end of the import:
    it gets the next slot; equals go first come, first served."""
    limiter = AdaptiveLimiter(1)
    await limiter.acquire()  # held, so everyone below waits
    order: list[str] = []

    async def wait(name: str, remaining: int) -> None:
        remaining_work.set(remaining)
        async with limiter:
            order.append(name)

    waiting = [asyncio.create_task(wait(name, left))
               for name, left in (("few", 100), ("most", 900), ("some", 500), ("most too", 900))]
    await asyncio.sleep(0)
    limiter.release()
    await asyncio.gather(*waiting)
    assert order == ["most", "most too", "some", "few"]
    assert limiter.in_flight == 0


async def test_a_cancelled_waiter_never_keeps_a_slot() -> None:
    limiter = AdaptiveLimiter(1)
    await limiter.acquire()
    gone = asyncio.create_task(limiter.acquire())
    await asyncio.sleep(0)
    gone.cancel()
    limiter.release()  # the slot would have gone to the cancelled waiter
    await asyncio.wait_for(limiter.acquire(), 1)
    assert limiter.in_flight == 1
    limiter.release()
    late = asyncio.create_task(limiter.acquire())
    await limiter.acquire()  # held again
    await asyncio.sleep(0)
    limiter.release()  # handed to the waiter ...
    late.cancel()  # ... cancelled before it could run: it passes the slot on
    await asyncio.gather(late, return_exceptions=True)
    assert limiter.in_flight == 0


def test_long_tasks_are_first_looked_at_when_the_quickest_finish_not_polled_from_the_start() -> None:
    """Tasks of 30 s ± 50 %: about ten looks each (the first after ~18 s), not one every few
    seconds from the start."""
    rng = random.Random(3)
    poll = PollSchedule()
    looks: list[int] = []
    for _ in range(200):
        duration = 30 * rng.uniform(0.5, 1.5)
        seen, previous, count = poll.first_delay(), 0.0, 1
        while seen < duration:
            previous, seen, count = seen, seen + poll.retry_delay(seen), count + 1
        poll.observe(previous, seen)
        looks.append(count)
    assert poll.first_delay() > 15
    assert sum(looks[50:]) / len(looks[50:]) < 12
