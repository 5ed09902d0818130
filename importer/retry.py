"""Backoff and concurrency strategies over explicit state; sleeping and randomness are injected."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import random
import time
from collections import deque
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

__all__ = ["AdaptiveLimiter", "Backoff", "PollSchedule", "parse_retry_after", "remaining_work"]


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


#: tasks seen before the schedule trusts what it learned of their times; until then a retry
#: comes after this share of the time taken so far, to find their scale in a few looks
_KNOWN = 8
_SEARCH_SHARE = 0.3


class PollSchedule:
    """Adaptive task polling: the first look when the quickest of recent tasks finished, then
    again after a twentieth of the time taken so far.

    Learns how long tasks take from the last ``window`` tasks, both ways: a task seen
    "processing" and then finished took about the midpoint of the two answers; a task already
    finished at the first look took at most that long, so it counts as a little less and the
    first look moves earlier. The first look is the ``early`` quantile of those durations: when
    task times vary, most tasks are still running then, and a retry after a twentieth of the
    elapsed time notices each within 5 % of its duration (2.5 % on average), however far off any
    guess was. Under the order rule a conversation's next chunk waits for that notice, so a poll
    (on a budget of its own, and cheap) is worth spending to shorten it: against a tenth, 64
    conversations of 600 messages with tasks of 200 ms and of 1 s imported 2-4 points of the
    ideal faster, for about twice the polls (10 and 12.5 per task, task times varying by
    ± 50 %). A quantile is not moved by one slow outlier, and old tasks leave the window. Until
    ``_KNOWN`` tasks have been seen, retries come after 30 % of the elapsed time instead.
    """

    def __init__(
        self, *, initial: float = 0.05, minimum: float = 0.001, maximum: float = 5.0,
        first_maximum: float = 300.0,
        window: int = 32, early: float = 0.1, lateness: float = 0.05, retry_minimum: float = 0.005,
    ) -> None:  # fmt: skip
        self.initial = initial
        #: a server that finishes tasks at once is seen to within a millisecond or two (polls
        #: have their own budget, so looking early never holds an add back)
        self.minimum = minimum
        #: the longest wait between two looks at one task ...
        self.maximum = maximum
        #: ... and before the first: as late as the quickest recent tasks (tasks of half a
        #: minute are first looked at after about half a minute, not polled from 5 s on)
        self.first_maximum = first_maximum
        self.early = early
        #: after a miss, the next look comes after this share of the time taken so far ...
        self.lateness = lateness
        #: ... but not sooner than this
        self.retry_minimum = retry_minimum
        self._recent: deque[float] = deque(maxlen=window)
        self._first = self._clamp(initial)

    def first_delay(self) -> float:
        return self._first

    def retry_delay(self, elapsed: float) -> float:
        """The wait after a "processing" answer to a poll sent ``elapsed`` seconds after the
        task was accepted."""
        # until a few tasks have been seen, the scale of their times is unknown: looks spread
        # out faster to find it, rather than polling a long task dozens of times
        share = self.lateness if len(self._recent) >= _KNOWN else _SEARCH_SHARE
        return min(self.maximum, max(self.retry_minimum, share * elapsed))

    def observe(self, last_processing: float, finished_seen: float) -> None:
        """Record a finished task: seconds from acceptance to the last poll that found it
        "processing" (0 if none) and to the poll that found it finished (when each was sent)."""
        if last_processing:
            self._recent.append((last_processing + finished_seen) / 2)
        else:
            # finished before we looked: it counts as a little less than the first look, by a
            # step that does not depend on how late the look left (a busy event loop must not
            # hold the first look up)
            self._recent.append(0.9 * min(self._first, finished_seen))
        ordered = sorted(self._recent)
        self._first = self._clamp(ordered[int(self.early * (len(ordered) - 1))])

    def _clamp(self, seconds: float) -> float:
        return min(self.first_maximum, max(self.minimum, seconds))


#: how many messages the current lane's conversation still has to send, this request's included.
#: A lane sets it; the limiters hand a free slot to the waiting request with the most, because
#: under the order rule the conversation with the most work left bounds when the import ends.
remaining_work: ContextVar[int] = ContextVar("remaining_work", default=0)


class AdaptiveLimiter:
    """A concurrency limit that halves on rate limiting and grows back by one after a run of successes.

    ``acquire`` waits while ``in_flight >= limit``; the limit never exceeds ``maximum``. A freed
    slot goes straight to one waiter: the one with the most ``remaining_work``, the earliest among
    equals (waking every waiter to race for one slot costs the event loop a wake-up per waiter).
    """

    def __init__(self, maximum: int, *, clock: Callable[[], float] | None = None) -> None:
        if maximum < 1:
            raise ValueError("concurrency must be at least 1")
        self.maximum = maximum
        self.limit = maximum
        self.in_flight = 0
        self._successes = 0
        self._clock = clock or time.monotonic
        self._last_cut = float("-inf")
        #: (-remaining work, arrival, future): a heap, so the best waiter is first
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._arrivals = itertools.count()

    async def acquire(self) -> None:
        if self.in_flight < self.limit and not self._waiters:
            self.in_flight += 1
            return
        granted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (-remaining_work.get(), next(self._arrivals), granted))
        self._grant()  # the heap may hold only cancelled waiters while slots are free
        try:
            await granted
        except asyncio.CancelledError:
            if granted.done() and not granted.cancelled():
                self.release()  # the slot came just as we were cancelled: pass it on
            raise

    def release(self) -> None:
        self.in_flight -= 1
        self._grant()

    def _grant(self) -> None:
        while self._waiters and self.in_flight < self.limit:
            granted = heapq.heappop(self._waiters)[2]
            if not granted.done():  # a cancelled waiter's entry stays until it comes up
                self.in_flight += 1
                granted.set_result(None)

    async def __aenter__(self) -> AdaptiveLimiter:
        await self.acquire()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.release()

    def rate_limited(self) -> None:
        """Halve the limit, at most once a second so one burst of 429s counts once."""
        now = self._clock()
        if now - self._last_cut >= 1.0:
            self.limit = max(1, self.limit // 2)
            self._last_cut = now
        self._successes = 0

    def succeeded(self) -> None:
        """Grow the limit by one after ``limit`` successes in a row."""
        if self.limit >= self.maximum:
            return
        self._successes += 1
        if self._successes >= self.limit:
            self._successes = 0
            self.limit += 1
            self._grant()
