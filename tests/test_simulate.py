"""The perfect-scheduler simulation, on workloads whose ideal can be worked out by hand."""

from __future__ import annotations

import json
import math
import random
import time

import pytest

from benchmarks.simulate import (
    Step,
    Workload,
    draw_steps,
    ideal,
    lower_bound,
    main,
    makespan,
)


def workload(**fields: float) -> Workload:
    values: dict[str, float] = {"conversations": 1, "messages": 1000, "chunk_size": 100,
                                "concurrency": 4, "latency": 0.1, "task": 0.2}  # fmt: skip
    values.update(fields)
    return Workload(**values)  # type: ignore[arg-type]


def test_one_conversation_takes_chunks_times_latency_plus_task() -> None:
    assert ideal(workload()).makespan == pytest.approx(10 * (0.1 + 0.2))
    # a short last chunk is still a chunk
    assert ideal(workload(messages=950)).makespan == pytest.approx(10 * 0.3)
    # setup and flush are one request each, before the first chunk and after the last task
    with_both = ideal(workload(setup=0.1, flush=0.1))
    assert with_both.makespan == pytest.approx(0.1 + 10 * 0.3 + 0.1)
    assert with_both.messages_per_s == pytest.approx(1000 / 3.2)


def test_more_slots_than_conversations_run_every_conversation_at_its_own_pace() -> None:
    result = ideal(workload(conversations=8, concurrency=16))
    assert result.makespan == pytest.approx(3.0)
    assert result.messages_per_s == pytest.approx(8 * 1000 / 3.0)


def test_many_conversations_without_tasks_fill_every_slot() -> None:
    # 1,000 conversations x 3 chunks = 3,000 adds of 0.1 s over 10 slots: 30 s, C x B / L
    result = ideal(workload(conversations=1000, messages=300, concurrency=10, task=0.0))
    assert result.makespan == pytest.approx(30.0)
    assert result.messages_per_s == pytest.approx(10 * 100 / 0.1)
    assert result.messages_per_s == pytest.approx(result.workload.naive_limit())


def test_jitter_averages_out_over_seeds() -> None:
    w = workload(conversations=1000, messages=300, concurrency=10, task=0.0, latency_jitter=0.5)
    result = ideal(w, seeds=4)
    assert result.seeds == 4
    assert result.makespan == pytest.approx(30.0, rel=0.02)
    assert result.lower_bound <= result.makespan


def test_a_free_slot_waits_for_a_task_under_the_order_rule() -> None:
    # one slot, two one-chunk conversations: the second add starts when the first answered
    w = workload(conversations=2, messages=100, concurrency=1, latency=1.0, task=5.0)
    assert ideal(w).makespan == pytest.approx(1 + 1 + 5)


def test_the_longest_remaining_conversation_goes_first() -> None:
    short: list[Step] = [(1.0, 0.0)]
    long: list[Step] = [(1.0, 10.0)] * 3
    # most-remaining starts the long chain at once: 0-1, 11-12, 22-23 (+10) = 33
    assert makespan([short, long], 1, "most-remaining") == pytest.approx(33.0)
    # fifo serves the short one first and the long chain ends a second later
    assert makespan([short, long], 1, "fifo") == pytest.approx(34.0)
    assert lower_bound([short, long], 1) == pytest.approx(33.0)


def test_ideal_keeps_the_best_policy_and_says_which() -> None:
    result = ideal(workload(conversations=64, messages=600, concurrency=16, latency_jitter=0.5,
                            task_jitter=0.5))  # fmt: skip
    assert set(result.by_policy) == {"most-remaining", "fifo"}
    assert result.makespan == min(result.by_policy.values())
    assert result.by_policy[result.policy] == result.makespan
    # 384 adds of 0.1 s on 16 slots need 2.4 s; the tail of the last tasks comes on top
    assert 2.3 < result.lower_bound <= result.makespan < 2.8
    assert result.as_dict()["policy"] == result.policy


def test_a_greedy_schedule_stays_between_the_bounds() -> None:
    """Never sooner than the lower bound; never later than all slot time spread over the slots
    plus the longest conversation (a free slot always means the longest chain is moving)."""
    rng = random.Random(1)
    for _ in range(40):
        steps = [
            [(rng.uniform(0, 1), rng.choice((0.0, rng.uniform(0, 3))))
             for _ in range(rng.randint(1, 8))]
            for _ in range(rng.randint(1, 30))
        ]  # fmt: skip
        slots = rng.randint(1, 8)
        slot_time = sum(s for conversation in steps for s, _ in conversation)
        longest = max(sum(s + w for s, w in conversation) for conversation in steps)
        for policy in ("most-remaining", "fifo"):
            span = makespan(steps, slots, policy)
            assert lower_bound(steps, slots) - 1e-9 <= span <= slot_time / slots + longest + 1e-9


def test_draws_stay_within_the_jitter_and_repeat_with_the_seed() -> None:
    w = workload(conversations=50, latency_jitter=0.5, task_jitter=0.25, setup=0.1, flush=0.1)
    steps = draw_steps(w, random.Random(3))
    assert steps == draw_steps(w, random.Random(3))
    assert {len(conversation) for conversation in steps} == {1 + 10 + 1}
    adds = [step for conversation in steps for step in conversation[1:-1]]
    assert all(0.05 <= s <= 0.15 and 0.15 <= t <= 0.25 for s, t in adds)
    assert min(s for s, _ in adds) < 0.06 and max(t for _, t in adds) > 0.24
    assert all(conversation[0][1] == conversation[-1][1] == 0 for conversation in steps)


def test_a_server_that_costs_nothing_has_no_finite_ideal() -> None:
    result = ideal(workload(messages=1_000_000, chunk_size=500, latency=0.0, task=0.0))
    assert result.makespan == 0 and math.isinf(result.messages_per_s)
    assert result.as_dict()["messages_per_s"] is None


def test_ten_thousand_conversations_simulate_quickly() -> None:
    w = workload(conversations=10_000, messages=10, concurrency=16, latency_jitter=0.5,
                 task_jitter=0.5, setup=0.1, flush=0.1)  # fmt: skip
    started = time.perf_counter()
    result = ideal(w, seeds=1)
    assert time.perf_counter() - started < 3.0
    # 30,000 requests of 0.1 s (mean) on 16 slots
    assert result.makespan == pytest.approx(30_000 * 0.1 / 16, rel=0.03)


def test_bad_workloads_are_refused() -> None:
    for fields in ({"chunk_size": 0}, {"concurrency": 0}, {"latency": -1.0},
                   {"task_jitter": 1.5}, {"conversations": 0}):  # fmt: skip
        with pytest.raises(ValueError):
            workload(**fields)


def test_command_line_prints_the_ideal(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--conversations", "1", "--messages", "1000", "--latency-ms", "100",
                 "--task-ms", "200", "--latency-jitter", "0", "--task-jitter", "0",
                 "--json"]) == 0  # fmt: skip
    out = json.loads(capsys.readouterr().out)
    assert out["makespan_s"] == pytest.approx(3.0)
    assert out["messages_per_s"] == pytest.approx(333.3, abs=0.1)
    assert main(["--setup", "--flush", "--conversations", "4"]) == 0
    text = capsys.readouterr().out
    assert "ideal msg/s" in text and "setup 100 ms" in text and "policy" in text
    assert main(["--chunk-size", "0"]) == 2
    assert capsys.readouterr().err.startswith("error: chunk size")
