"""EverCore and GoodMem from the command line, as seed 000 and seed 003 users run them, under faults
and kills (real processes, real HTTP)."""

from __future__ import annotations

import random
import signal
import time
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path

from importer.sandbox import FaultConfig, SandboxServer
from tests.support import DATA, run_cli, write_everos_group
from tests.test_resilience import _start

TEAM = DATA / "evercore" / "team_chat_en.json"


def test_seed_000_command_line_with_faults_then_a_rerun_sends_nothing(
    tmp_path: Path, sandbox_factory: Callable[..., SandboxServer]
) -> None:
    server = sandbox_factory(faults=FaultConfig(
        error_rate=0.1, drop_rate=0.05, background_rate=0.2, task_delay_ms=50, seed=7,
    ))
    folder = tmp_path / "more"
    folder.mkdir()
    for i in range(7):
        write_everos_group(folder / f"g{i}.json", f"g{i}", 40 + i)
    args = ["--input", TEAM, "--input", folder, "--api-url", f"{server.url}/api/v0/memories",
            "--scene", "team", "--concurrency", "8", "--checkpoint-dir", tmp_path / "ck"]
    first = run_cli(*args, cwd=tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "evercore (EverCore single-message API)" in first.stdout
    groups = {g.group_id: g for g in server.store.evercore.groups()}
    expected = {"group_sales_ai_2025": 509, **{f"g{i}": 40 + i for i in range(7)}}
    assert {k: (g.messages, g.unique_ids) for k, g in groups.items()} == {
        k: (n, n) for k, n in expected.items()
    }
    for group in groups.values():
        assert group.chronological and group.meta, group  # meta first, then in order
    again = run_cli(*args, cwd=tmp_path)
    assert again.returncode == 0 and "0 sent" in again.stdout, again.stdout
    assert sum(g.messages for g in server.store.evercore.groups()) == sum(expected.values())


def _memories_cover_each_message_once(server: SandboxServer, conversations: int,
                                      messages: int) -> int:
    [space] = server.store.goodmem.spaces()
    memories = server.store.goodmem.memories(space.space_id)
    covered: dict[str, list[tuple[str, str]]] = {}
    for memory in memories:
        meta = memory.metadata or {}
        covered.setdefault(meta["conversation_id"], []).append(
            (meta["first_message_id"], meta["last_message_id"])
        )
    assert len(covered) == conversations
    for key, ranges in covered.items():
        ranges.sort()
        for (_, last), (first, _) in pairwise(ranges):
            assert last < first, (key, ranges)  # no message in two memories
        assert ranges[0][0].endswith("-00000") and ranges[-1][1].endswith(f"-{messages - 1:05d}")
    total = sum((m.metadata or {})["message_count"] for m in memories)
    assert total == conversations * messages
    return len(memories)


def test_goodmem_killed_four_times_stores_nothing_twice(
    tmp_path: Path, sandbox_factory: Callable[..., SandboxServer]
) -> None:
    server = sandbox_factory(faults=FaultConfig(latency_ms=120, item_error_rate=0.05, seed=3))
    exports = tmp_path / "exports"
    exports.mkdir()
    for i in range(40):
        write_everos_group(exports / f"c{i:02d}.json", f"c{i:02d}", 300)
    args = [exports, "--target", "goodmem", "--api-url", server.url, "--space", "chats",
            "--chunk-size", "50", "--batch-size", "2", "--concurrency", "4",
            "--checkpoint-dir", tmp_path / "ck"]
    rng = random.Random(20261201)
    for _ in range(4):
        process = _start(*args, cwd=tmp_path)
        time.sleep(rng.uniform(0.8, 2.5))
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=20)
    final = run_cli(*args, cwd=tmp_path)
    assert final.returncode == 0, final.stdout + final.stderr
    count = _memories_cover_each_message_once(server, 40, 300)
    again = run_cli(*args, cwd=tmp_path)
    assert again.returncode == 0 and "0 sent" in again.stdout
    assert len(server.store.goodmem.memories(server.store.goodmem.spaces()[0].space_id)) == count
