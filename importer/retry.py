"""Backoff and concurrency strategies over explicit state; sleeping and randomness are injected."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

__all__ = ["AdaptiveLimiter", "Backoff", "PollSchedule", "parse_retry_after"]


@dataclass(frozen=True, kw_only=True)
class Backoff:
    """Full-jitter exponential backoff: wait a random time in [0, min(cap, base * 2**attempt)]."""

    base: float = 0.5
    cap: float = 30.0
    max_attempts: int = 8
    #: rate-limited answers (429) allowed before giving up, counted apart from failures
    max_throttled: int = 60

    def delay(self, attempt: int, *, retry_after: float | None = None, rng: random.Random) -> float:
        """Seconds to wait before attempt ``attempt + 1`` (``attempt`` counts from 0)."""
        if retry_after is not None:
            # the server said when; a little jitter keeps many lanes from returning at once
            return retry_after + rng.uniform(0, min(1.0, retry_after * 0.1 + 0.05))
        return rng.uniform(0, min(self.cap, self.base * 2**attempt))


def parse_retry_after(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds the server asks us to wait: ``retry-after-ms``, or ``Retry-After`` seconds/HTTP date."""
    lowered = {k.lower(): v for k, v in headers.items()}
    raw_ms = lowered.get("retry-after-ms")
    if raw_ms:
        try:
            return max(0.0, float(raw_ms) / 1000)
        except ValueError:
            pass
    raw = lowered.get("retry-after")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


@dataclass
class PollSchedule:
    """Adaptive task polling: first look when similar tasks usually finished, then soon again.

    Learns how long tasks take, both ways: a task seen "processing" and then finished took
    about the midpoint of the two answers; a task already finished at the first look took at
    most that long, so the next first look comes a little earlier. Without the second rule the
    estimate could only grow and, once at the ceiling, stayed there for good. One slow task moves
    the estimate by a bounded step, so an outlier does not set the pace. After a miss it looks
    again after a fifth of the time the task has taken so far: a task that takes longer than
    the estimate is noticed within 20 % of its duration (10 % on average), however far off the
    estimate was.
    """

    #: a server that finishes tasks at once is seen to within a millisecond or two (polls
    #: have their own budget, so looking early never holds an add back)
    minimum: float = 0.001
    maximum: float = 5.0
    #: after a miss, the next look comes after this share of the time taken so far
    lateness: float = 0.2
    #: ... but not sooner than this
    retry_minimum: float = 0.005
    typical: float = 0.05

    def first_delay(self) -> float:
        return self._clamp(self.typical)

    def retry_delay(self, elapsed: float) -> float:
        """The wait after a "processing" answer to a poll sent ``elapsed`` seconds after the
        task was accepted."""
        return min(self.maximum, max(self.retry_minimum, self.lateness * elapsed))

    def observe(self, last_processing: float, finished_seen: float) -> None:
        """Record a finished task: seconds from acceptance to the last poll that found it
        "processing" (0 if none) and to the poll that found it finished (when each was sent)."""
        if last_processing:
            estimate = (last_processing + finished_seen) / 2
            estimate = min(estimate, 3 * self.typical)  # one outlier moves it a bounded step
            self.typical = self._clamp(0.8 * self.typical + 0.2 * estimate)
        else:
            # finished before we looked: look earlier next time, by a step that does not depend
            # on how late the look was (a busy event loop must not hold the estimate up)
            self.typical = self._clamp(0.9 * min(self.typical, finished_seen))

    def _clamp(self, seconds: float) -> float:
        return min(self.maximum, max(self.minimum, seconds))


class AdaptiveLimiter:
    """A concurrency limit that halves on rate limiting and grows back by one after a run of successes.

    ``acquire`` waits while ``in_flight >= limit``; the limit never exceeds ``maximum``.
    """

    def __init__(self, maximum: int, *, clock: Callable[[], float] | None = None) -> None:
        if maximum < 1:
            raise ValueError("concurrency must be at least 1")
        self.maximum = maximum
        self.limit = maximum
        self.in_flight = 0
        self._successes = 0
        self._cond = asyncio.Condition()
        self._clock = clock or time.monotonic
        self._last_cut = float("-inf")

    async def acquire(self) -> None:
        async with self._cond:
            await self._cond.wait_for(lambda: self.in_flight < self.limit)
            self.in_flight += 1

    async def release(self) -> None:
        async with self._cond:
            self.in_flight -= 1
            self._cond.notify_all()

    async def __aenter__(self) -> AdaptiveLimiter:
        await self.acquire()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.release()

    def rate_limited(self) -> None:
        """Halve the limit, at most once a second so one burst of 429s counts once."""
        now = self._clock()
        if now - self._last_cut >= 1.0:
            self.limit = max(1, self.limit // 2)
            self._last_cut = now
        self._successes = 0

    async def succeeded(self) -> None:
        """Grow the limit by one after ``limit`` successes in a row."""
        if self.limit >= self.maximum:
            return
        self._successes += 1
        if self._successes >= self.limit:
            self._successes = 0
            async with self._cond:
                self.limit += 1
                self._cond.notify_all()

