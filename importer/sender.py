"""The sending policy: one HTTP session, a shared concurrency limit, retries and task polling."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

import aiohttp

from importer.errors import RetriableTargetError, TargetError
from importer.logs import get_logger
from importer.models import Chunk, Conversation
from importer.retry import AdaptiveLimiter, Backoff, PollSchedule
from importer.targets.base import Receipt, Target, TaskState

__all__ = ["Sender", "SenderStats", "StopRequested", "TaskTimeout", "default_poll_concurrency"]

log = get_logger(__name__)
T = TypeVar("T")


#: waits before asking again about a task the server says it does not know
_UNKNOWN_TASK_RETRIES = (0.2, 0.5, 1.0)


def default_poll_concurrency(concurrency: int) -> int:
    """Task polls in flight at most, by default: a quarter of the request budget, at least 2."""
    return max(2, concurrency // 4)


class StopRequested(Exception):
    """A stop was asked while a request waited to be retried: it is not sent again."""


class TaskTimeout(TargetError):
    """A task was still processing when we stopped waiting; its chunk may yet be stored."""


@dataclass
class SenderStats:
    """Counters for the end summary and the benchmark."""

    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    #: seconds each successful add request was in flight (for latency percentiles)
    add_latencies: list[float] = field(default_factory=list)


class Sender:
    """Runs target calls under one concurrency limit, with retries and adaptive task polling.

    A slot is held only while a request is in flight: never while sleeping between retries
    or between task polls.
    """

    def __init__(
        self,
        target: Target,
        *,
        concurrency: int = 10,
        poll_concurrency: int | None = None,
        backoff: Backoff | None = None,
        request_timeout: float = 120.0,
        task_timeout: float = 600.0,
        max_retry_after: float = 60.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.target = target
        self.limiter = AdaptiveLimiter(concurrency)
        # task polls have a budget of their own, so that adds always have all of theirs; the
        # server sees at most the two together
        self.poll_limiter = AdaptiveLimiter(poll_concurrency or default_poll_concurrency(concurrency))
        self.backoff = backoff or Backoff()
        self.request_timeout = request_timeout
        self.task_timeout = task_timeout
        self.max_retry_after = max_retry_after
        self.poll = PollSchedule()
        self.stats = SenderStats()
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._session: aiohttp.ClientSession | None = None
        self._stopped = asyncio.Event()

    def stop(self) -> None:
        """End waits between retries at once (the first Ctrl-C): those requests are not sent."""
        self._stopped.set()

    async def _backoff(self, delay: float) -> None:
        stop = asyncio.ensure_future(self._stopped.wait())
        pause = asyncio.ensure_future(self._sleep(delay))
        try:
            await asyncio.wait({stop, pause}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            pause.cancel()
        if self._stopped.is_set():
            raise StopRequested

    async def __aenter__(self) -> Sender:
        connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300)
        timeout = aiohttp.ClientTimeout(total=self.request_timeout, sock_connect=15)
        self._session = aiohttp.ClientSession(connector=connector, timeout=timeout)
        self.target.bind(self._session)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    # -- operations ----------------------------------------------------------------------------

    async def setup(self, conversation: Conversation) -> None:
        await self.call(lambda: self.target.setup(conversation), f"setup {conversation.key}")

    async def add(self, conversation: Conversation, chunk: Chunk) -> Receipt:
        return await self.call(
            lambda: self.target.add(conversation, chunk),
            f"add {conversation.key} chunk {chunk.index}",
            latencies=self.stats.add_latencies,
        )

    async def flush(self, conversation: Conversation) -> None:
        await self.call(lambda: self.target.flush(conversation), f"flush {conversation.key}")

    async def wait(self, task_id: str) -> TaskState:
        """Poll a task until it ends; ``success``, ``failed`` or ``expired`` (counts as done)."""
        started = time.monotonic()
        last_processing = 0.0
        await self._sleep(self.poll.first_delay())
        unknown = 0
        while True:
            # when the poll left: the answer's round trip says nothing about the task's length
            elapsed = time.monotonic() - started
            state = await self.call(
                lambda: self.target.task_status(task_id), f"task {task_id}",
                limiter=self.poll_limiter,
            )
            if state == "expired" and unknown < len(_UNKNOWN_TASK_RETRIES):
                # a task the server does not know (yet): a status store that lags behind the
                # 202, or one that forgot it. Ask again a few times before concluding anything
                await self._sleep(_UNKNOWN_TASK_RETRIES[unknown])
                unknown += 1
                continue
            if state != "processing":
                self.poll.observe(last_processing, elapsed)
                return state
            if elapsed > self.task_timeout:
                raise TaskTimeout(
                    f"task {task_id} still processing after {self.task_timeout:.0f}s; "
                    "run the same command again to resume"
                )
            last_processing = elapsed
            await self._sleep(self.poll.retry_delay(elapsed))

    # -- policy ----------------------------------------------------------------------------------

    async def call(
        self,
        operation: Callable[[], Awaitable[T]],
        what: str,
        *,
        latencies: list[float] | None = None,
        limiter: AdaptiveLimiter | None = None,
    ) -> T:
        """Run one target call with a slot of ``limiter`` (the request budget by default),
        retrying transient failures.

        Rate limiting is the server pacing us, not a failure: 429s have their own, larger budget.
        """
        limiter = limiter or self.limiter
        attempt = throttled = 0
        while True:
            async with limiter:
                self.stats.requests += 1
                started = time.perf_counter()
                try:
                    result = await operation()
                except RetriableTargetError as exc:
                    error = exc
                else:
                    if latencies is not None:
                        latencies.append(time.perf_counter() - started)
                    limiter.succeeded()
                    return result
            # the slot is released: back off without holding it
            if error.retry_after is not None and error.retry_after > self.max_retry_after:
                # an hour's wait (or a day's) is not a retry: say so and let the others go on
                raise TargetError(
                    f"{what}: the server asks to wait {error.retry_after:.0f}s (more than "
                    f"--max-retry-after {self.max_retry_after:.0f}s); run the same command again "
                    "later", status=error.status,
                ) from error
            if error.rate_limited:
                self.stats.rate_limited += 1
                limiter.rate_limited()
                throttled += 1
            else:
                attempt += 1
            if attempt >= self.backoff.max_attempts or throttled >= self.backoff.max_throttled:
                tries = attempt + throttled
                raise RetriableTargetError(
                    f"{what}: gave up after {tries} attempts: {error}", status=error.status
                ) from error
            delay = self.backoff.delay(
                max(attempt, throttled) - 1, retry_after=error.retry_after, rng=self._rng
            )
            self.stats.retries += 1
            log.info(
                "request_retried", what=what, attempt=attempt + throttled, delay=round(delay, 2),
                error=str(error),
            )
            await self._backoff(delay)
