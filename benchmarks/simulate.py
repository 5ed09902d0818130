"""The ideal import under the order rule: a discrete-event simulation of a perfect scheduler.

    python benchmarks/simulate.py [--conversations 64] [--messages 600] [--chunk-size 100]
        [--concurrency 16] [--latency-ms 100] [--latency-jitter 0.5] [--task-ms 200]
        [--task-jitter 0.5] [--setup] [--flush] [--seeds 5] [--json]

K conversations of M messages go out in chunks of at most B (the last one may be shorter). The
order rule (shared/DESIGN.md): at most one chunk of a conversation in flight, the next only after
the previous chunk's task succeeded. C slots bound the requests in flight. An add holds a slot for
its latency (mean L, uniform ± a jitter fraction, as the sandbox draws it), then its task runs for
T (± jitter) without a slot; the scheduler learns of success the instant it happens and polls cost
nothing. Optionally each conversation starts with a setup request and ends with a flush request,
each holding a slot like an add. Whenever a slot is free and a conversation may go on, the
scheduler starts that conversation's next request; which one it picks is its policy.

No real importer can beat this schedule by more than luck, so "messages/s ÷ ideal messages/s" says
how close an import came to what the server and the order rule allow. The naive limit
``C × B ÷ L`` ignores both the order rule and the task time.
"""

from __future__ import annotations

import argparse
import heapq
import json
import math
import random
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "POLICIES",
    "Ideal",
    "Step",
    "Workload",
    "draw_steps",
    "ideal",
    "lower_bound",
    "makespan",
]

#: (seconds the request holds a slot, seconds after it before the conversation may go on)
Step = tuple[float, float]
#: a ready conversation's place in the queue: (conversation, when it became ready, the time its
#: remaining steps take end to end) → a sort key whose last item is the conversation
Policy = Callable[[int, float, float], tuple[float, int]]

POLICIES: dict[str, Policy] = {
    # the conversation with the longest way still to go first (longest remaining critical path;
    # the scheduler is perfect, so it knows the drawn times): no long conversation starts late
    "most-remaining": lambda conversation, ready_at, remaining: (-remaining, conversation),
    # whoever became ready first: the order an ordinary queue of waiting lanes gives
    "fifo": lambda conversation, ready_at, remaining: (ready_at, conversation),
}

_REQUEST_DONE, _TASK_DONE = 0, 1


@dataclass(frozen=True)
class Workload:
    """One import as the scheduler sees it. Times in seconds; a jitter is a fraction in [0, 1]."""

    conversations: int
    messages: int  #: per conversation
    chunk_size: int
    concurrency: int
    latency: float  #: mean add latency, the slot is held that long
    task: float  #: mean task time after the add answered
    latency_jitter: float = 0.0
    task_jitter: float = 0.0
    #: the per-conversation setup request's mean latency (drawn with ``latency_jitter``); None: none
    setup: float | None = None
    #: the final flush request's mean latency, likewise; None: no flush
    flush: float | None = None

    def __post_init__(self) -> None:
        if self.conversations < 1 or self.messages < 0:
            raise ValueError("need at least one conversation and no negative message count")
        if self.chunk_size < 1 or self.concurrency < 1:
            raise ValueError("chunk size and concurrency must be at least 1")
        times = (self.latency, self.task, self.setup or 0.0, self.flush or 0.0)
        if min(times) < 0:
            raise ValueError("latencies and task times cannot be negative")
        if not (0 <= self.latency_jitter <= 1 and 0 <= self.task_jitter <= 1):
            raise ValueError("a jitter is a fraction between 0 and 1")

    @property
    def chunks(self) -> int:
        """Chunks per conversation."""
        return math.ceil(self.messages / self.chunk_size)

    @property
    def total_messages(self) -> int:
        return self.conversations * self.messages

    @property
    def jittered(self) -> bool:
        return self.latency_jitter > 0 or self.task_jitter > 0

    def naive_limit(self) -> float:
        """``C × B ÷ L`` msg/s: every slot always busy with an add (inf when L is 0); B is the
        mean chunk, so a conversation shorter than ``chunk_size`` counts as it is."""
        if not self.latency or not self.chunks:
            return math.inf
        return self.concurrency * (self.messages / self.chunks) / self.latency


def _jitter(rng: random.Random, mean: float, fraction: float) -> float:
    if mean <= 0 or fraction <= 0:
        return mean
    return mean * (1 + rng.uniform(-fraction, fraction))


def draw_steps(workload: Workload, rng: random.Random) -> list[list[Step]]:
    """Every conversation's requests in order, with their times drawn from ``rng``."""
    w = workload
    steps: list[list[Step]] = []
    for _ in range(w.conversations):
        if not w.chunks:
            steps.append([])  # nothing to send: the importer neither sets up nor flushes
            continue
        conversation: list[Step] = []
        if w.setup is not None:
            conversation.append((_jitter(rng, w.setup, w.latency_jitter), 0.0))
        for _ in range(w.chunks):
            latency = _jitter(rng, w.latency, w.latency_jitter)
            conversation.append((latency, _jitter(rng, w.task, w.task_jitter)))
        if w.flush is not None:
            conversation.append((_jitter(rng, w.flush, w.latency_jitter), 0.0))
        steps.append(conversation)
    return steps


def makespan(steps: Sequence[Sequence[Step]], concurrency: int, policy: str) -> float:
    """When the last conversation's last step ends, with ``concurrency`` slots and ``policy``."""
    key = POLICIES[policy]
    position = [0] * len(steps)
    remaining = [sum(slot + wait for slot, wait in conversation) for conversation in steps]
    ready = [key(i, 0.0, remaining[i]) for i, conversation in enumerate(steps) if conversation]
    heapq.heapify(ready)
    events: list[tuple[float, int, int]] = []  # (when, what ends, conversation)
    free, now, end = concurrency, 0.0, 0.0
    while True:
        while free and ready:
            i = heapq.heappop(ready)[-1]
            free -= 1
            heapq.heappush(events, (now + steps[i][position[i]][0], _REQUEST_DONE, i))
        if not events:
            return end
        now = events[0][0]
        while events and events[0][0] == now:  # everything ending now, before choosing again
            _, what, i = heapq.heappop(events)
            if what == _REQUEST_DONE:
                free += 1
                slot, wait = steps[i][position[i]]
                remaining[i] -= slot + wait
                position[i] += 1
                if wait > 0:
                    heapq.heappush(events, (now + wait, _TASK_DONE, i))
                    continue
            if position[i] < len(steps[i]):
                heapq.heappush(ready, key(i, now, remaining[i]))
            else:
                end = max(end, now)


def lower_bound(steps: Sequence[Sequence[Step]], concurrency: int) -> float:
    """No schedule ends sooner: the slot time all requests need spread over every slot, or the
    longest conversation end to end, whichever is longer."""
    slot_time = sum(slot for conversation in steps for slot, _ in conversation)
    longest = max((sum(s + w for s, w in conversation) for conversation in steps), default=0.0)
    return max(slot_time / concurrency, longest)


@dataclass(frozen=True)
class Ideal:
    """The simulated perfect schedule of a workload, averaged over seeds."""

    workload: Workload
    seeds: int
    policy: str  #: the best policy (shortest mean makespan)
    makespan: float  #: seconds, the mean over seeds under ``policy``
    by_policy: dict[str, float]  #: mean makespan of every policy tried
    lower_bound: float  #: mean over seeds of ``lower_bound``
    compute_seconds: float

    @property
    def messages_per_s(self) -> float:
        """Messages ÷ ideal makespan (inf when the server costs nothing)."""
        return self.workload.total_messages / self.makespan if self.makespan else math.inf

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: an unbounded rate is None."""
        rate, naive = self.messages_per_s, self.workload.naive_limit()
        return {
            "workload": vars(self.workload).copy(),
            "seeds": self.seeds,
            "policy": self.policy,
            "makespan_s": round(self.makespan, 4),
            "messages_per_s": None if math.isinf(rate) else round(rate, 1),
            "by_policy_s": {name: round(s, 4) for name, s in self.by_policy.items()},
            "lower_bound_s": round(self.lower_bound, 4),
            "naive_limit_messages_per_s": None if math.isinf(naive) else round(naive, 1),
            "compute_seconds": round(self.compute_seconds, 3),
        }


def ideal(workload: Workload, *, seeds: int = 5, policies: Iterable[str] = POLICIES) -> Ideal:
    """Simulate ``workload`` under each policy with the same draws per seed (seeds 0, 1, …; one
    is enough without jitter), and keep the best policy by mean makespan."""
    started = time.perf_counter()
    names = list(policies)
    runs = seeds if workload.jittered else 1
    totals = dict.fromkeys(names, 0.0)
    bound = 0.0
    for seed in range(runs):
        steps = draw_steps(workload, random.Random(seed))
        bound += lower_bound(steps, workload.concurrency)
        for name in names:
            totals[name] += makespan(steps, workload.concurrency, name)
    by_policy = {name: total / runs for name, total in totals.items()}
    best = min(names, key=lambda name: (by_policy[name], names.index(name)))
    return Ideal(workload, runs, best, by_policy[best], by_policy, bound / runs,
                 time.perf_counter() - started)  # fmt: skip


# -- command line --------------------------------------------------------------------------------


def format_ideal(result: Ideal) -> str:
    w = result.workload
    others = ", ".join(
        f"{name} {seconds:.3f} s" for name, seconds in result.by_policy.items()
        if name != result.policy
    )
    extras = [f"setup {w.setup * 1000:g} ms" if w.setup is not None else "no setup",
              f"flush {w.flush * 1000:g} ms" if w.flush is not None else "no flush"]
    rate, naive = result.messages_per_s, w.naive_limit()
    rows = {
        "ideal makespan": f"{result.makespan:.3f} s (policy {result.policy}"
        + (f"; {others})" if others else ")"),
        "ideal msg/s": "unbounded (nothing takes time)" if math.isinf(rate) else f"{rate:,.0f}",
        "lower bound": f"{result.lower_bound:.3f} s = max(slot time / concurrency, the longest "
        "conversation end to end)",
        "naive limit": ("unbounded" if math.isinf(naive) else f"{naive:,.0f} msg/s")
        + " = concurrency x chunk / add latency (ignores the order rule and tasks)",
        "simulated in": f"{result.compute_seconds:.2f} s ({result.seeds} seed(s))",
    }
    head = (
        f"Ideal under the order rule: {w.conversations:,} x {w.messages:,} messages, chunk "
        f"{w.chunk_size} ({w.chunks} per conversation), concurrency {w.concurrency}; adds "
        f"{w.latency * 1000:g} ms ± {w.latency_jitter:.0%}, tasks {w.task * 1000:g} ms ± "
        f"{w.task_jitter:.0%}, {', '.join(extras)}"
    )
    width = max(map(len, rows))
    return "\n".join([head, *(f"  {name.ljust(width)}  {value}" for name, value in rows.items())])


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python benchmarks/simulate.py", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--conversations", type=int, default=64)
    parser.add_argument("--messages", type=int, default=600, help="messages per conversation")
    parser.add_argument("--chunk-size", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=16, help="add requests in flight")
    parser.add_argument("--latency-ms", type=float, default=100, help="mean add latency")
    parser.add_argument("--latency-jitter", type=float, default=0.5, help="uniform ± fraction")
    parser.add_argument("--task-ms", type=float, default=200, help="mean task time")
    parser.add_argument("--task-jitter", type=float, default=0.5, help="uniform ± fraction")
    parser.add_argument("--setup", action="store_true",
                        help="a setup request per conversation first (add latency)")
    parser.add_argument("--flush", action="store_true",
                        help="a flush request per conversation last (add latency)")
    parser.add_argument("--seeds", type=int, default=5, help="runs averaged (with jitter)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    latency = args.latency_ms / 1000
    try:
        workload = Workload(
            conversations=args.conversations, messages=args.messages, chunk_size=args.chunk_size,
            concurrency=args.concurrency, latency=latency, task=args.task_ms / 1000,
            latency_jitter=args.latency_jitter, task_jitter=args.task_jitter,
            setup=latency if args.setup else None, flush=latency if args.flush else None,
        )  # fmt: skip
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    result = ideal(workload, seeds=max(1, args.seeds))
    print(json.dumps(result.as_dict(), indent=2) if args.json else format_ideal(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
