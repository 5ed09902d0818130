"""Fault injection for the sandbox: the settings (``FaultConfig``) and the seeded dice for them,
including the jittered add latency and task delay."""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["FaultConfig", "FaultInjector"]


class FaultConfig(BaseModel):
    """Which faults the sandbox injects; everything is off by default.

    Rates are fractions of requests in ``[0, 1]``; ``1.0`` means every request. "Adds" are the
    requests that store: EverOS memories adds, EverCore single-message adds and GoodMem
    ``memories:batchCreate``. EverCore's background requests are tasks too: they take
    ``task_delay_ms``, fail at ``task_fail_rate`` and are forgotten after ``task_ttl_s``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: added to each memories add request, after the fault dice and before validation
    latency_ms: float = Field(default=0, ge=0)
    #: each add's latency is drawn uniformly from ``latency_ms × (1 ± latency_jitter)``
    latency_jitter: float = Field(default=0, ge=0, le=1)
    #: how long an async task stays "processing"
    task_delay_ms: float = Field(default=0, ge=0)
    #: each task's delay is drawn uniformly from ``task_delay_ms × (1 ± task_delay_jitter)``
    #: (EverOS tasks and EverCore background requests; GoodMem's embedding delay stays fixed)
    task_delay_jitter: float = Field(default=0, ge=0, le=1)
    #: fraction of add requests answered 500/503 before anything is stored
    error_rate: float = Field(default=0, ge=0, le=1)
    #: token bucket over all /api requests (burst = max(1, rps)); 0 turns it off
    rate_limit_rps: float = Field(default=0, ge=0)
    #: fraction of /api requests answered 429 with ``Retry-After`` (on top of the token bucket)
    rate_limit_rate: float = Field(default=0, ge=0, le=1)
    #: the wait those 429s ask for, in milliseconds
    rate_limit_retry_ms: float = Field(default=200, ge=0)
    #: fraction of add requests whose connection is closed with no answer, before anything is stored
    drop_rate: float = Field(default=0, ge=0, le=1)
    #: fraction of async adds whose task ends "failed" (their messages are not stored)
    task_fail_rate: float = Field(default=0, ge=0, le=1)
    #: answer every add synchronously (200, no task id), like a self-hosted EverCore server
    sync_only: bool = False
    #: fraction of EverCore single-message adds that outlast the server's blocking wait and are
    #: answered 202 with a ``request_id`` ("start", then "success" or "failed")
    background_rate: float = Field(default=0, ge=0, le=1)
    #: fraction of GoodMem batchCreate items answered UNAVAILABLE (not stored; HTTP 200 still)
    item_error_rate: float = Field(default=0, ge=0, le=1)
    #: how long task status is kept; afterwards GET task answers 404
    task_ttl_s: float = Field(default=3600, ge=0)
    #: a new task is unknown (404) for this long, as a status store that lags behind the 202
    task_visible_after_ms: float = Field(default=0, ge=0)
    #: seed of the dice, so a run with faults is reproducible
    seed: int | None = None

    def updated(self, fields: dict[str, Any]) -> FaultConfig:
        """A validated copy with ``fields`` changed (raises ``pydantic.ValidationError``)."""
        return FaultConfig.model_validate({**self.model_dump(), **fields})


class FaultInjector:
    """Holds the current ``FaultConfig`` and decides, request by request, which fault happens.

    The clock is injected so the token bucket can be tested without sleeping.
    """

    def __init__(
        self, config: FaultConfig | None = None, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._clock = clock
        self.config = config or FaultConfig()
        self._rng = random.Random(self.config.seed)
        self._jitter_rng = _jitter_rng(self.config.seed)
        self._tokens = 0.0
        self._refilled_at = 0.0
        self._reset_bucket()

    def update(self, fields: dict[str, Any]) -> FaultConfig:
        """Change some settings at runtime; a new seed restarts the dice, a new rate the bucket."""
        new = self.config.updated(fields)
        old, self.config = self.config, new
        if "seed" in fields:
            self._rng = random.Random(new.seed)
            self._jitter_rng = _jitter_rng(new.seed)
        if new.rate_limit_rps != old.rate_limit_rps:
            self._reset_bucket()
        return new

    def _reset_bucket(self) -> None:
        self._tokens = self._capacity()
        self._refilled_at = self._clock()

    def _capacity(self) -> float:
        return max(1.0, self.config.rate_limit_rps)

    def roll(self, rate: float) -> bool:
        """True with probability ``rate`` (never draws when the rate is 0, so dice stay aligned)."""
        return rate > 0 and self._rng.random() < rate

    def add_latency_s(self) -> float:
        """The delay of one add request, in seconds (drawn when ``latency_jitter`` is set)."""
        return self._jittered(self.config.latency_ms, self.config.latency_jitter)

    def task_delay_s(self) -> float:
        """How long one new task stays processing, in seconds (drawn when jittered)."""
        return self._jittered(self.config.task_delay_ms, self.config.task_delay_jitter)

    def _jittered(self, ms: float, fraction: float) -> float:
        if ms <= 0 or fraction <= 0:
            return ms / 1000  # no draw: a run without jitter keeps its exact timings
        return ms * (1 + self._jitter_rng.uniform(-fraction, fraction)) / 1000

    def error_status(self) -> int:
        return self._rng.choice((500, 503))

    def throttle(self) -> float | None:
        """Take a token; None when allowed, else the seconds to ask the client to wait."""
        if self.roll(self.config.rate_limit_rate):
            return self.config.rate_limit_retry_ms / 1000
        rps = self.config.rate_limit_rps
        if rps <= 0:
            return None
        now = self._clock()
        self._tokens = min(self._capacity(), self._tokens + (now - self._refilled_at) * rps)
        self._refilled_at = now
        if self._tokens >= 1:
            self._tokens -= 1
            return None
        return (1 - self._tokens) / rps

    @staticmethod
    def retry_after_headers(wait_s: float) -> dict[str, str]:
        """``Retry-After`` in whole seconds (at least 1) and ``retry-after-ms`` exactly."""
        return {
            "Retry-After": str(max(1, math.ceil(wait_s))),
            "retry-after-ms": str(max(1, math.ceil(wait_s * 1000))),
        }


def _jitter_rng(seed: int | None) -> random.Random:
    """Dice of their own for timings, so turning jitter on leaves the fault dice where they were."""
    return random.Random(None if seed is None else f"jitter-{seed}")
