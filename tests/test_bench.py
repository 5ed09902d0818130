"""The benchmarks run end to end at a tiny size and report consistent numbers.

No timing thresholds here: those need a quiet machine (benchmarks/README.md).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from benchmarks.reference_importer import ReferenceImporter
from benchmarks.suite import CASES, format_suite
from importer.sandbox import SandboxServer
from tests.support import REPO, write_everos_group

BENCH = REPO / "benchmarks" / "bench.py"


def run_bench(*args: str, cwd: Path) -> Any:
    done = subprocess.run(
        [sys.executable, str(BENCH), *args, "--json", "--workdir", str(cwd), "--timeout", "120"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=180,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)


def test_import_benchmark_checks_the_server_and_compares_with_the_reference(
    tmp_path: Path,
) -> None:
    r = run_bench(
        "--conversations", "4", "--messages", "30", "--chunk-size", "10", "--concurrency", "4",
        "--latency-ms", "5", "--task-delay-ms", "5",
        "--reference-conversations", "1", "--reference-poll", "0.05",
        cwd=tmp_path,
    )  # fmt: skip

    assert r["problems"] == []  # every message stored once, in order, flushed: ours and theirs
    assert r["messages_expected"] == 4 * 30
    assert r["messages_sent"] == r["messages_expected"]
    assert r["adds"] == 4 * 3  # 30 messages in chunks of 10, per conversation
    # every add's task was asked at least once; plus 4 group setups and 4 flushes
    assert r["task_polls"] >= r["adds"]
    assert r["requests"] == r["adds"] + r["task_polls"] + 4 + 4
    assert r["seconds"] > 0 and r["messages_per_s"] > 0 and r["peak_rss_mb"] > 0
    assert 0 < r["add_latency_ms"]["p50"] <= r["add_latency_ms"]["p99"]
    assert 0 < r["fraction_of_bound"]
    # the simulated ideal of exactly this workload: 3 chunks of 5 ms ± 50 % adds and tasks per
    # conversation, 4 slots for 4 conversations, so each conversation runs at its own pace
    ideal = r["ideal"]
    assert ideal["workload"]["concurrency"] == 4 and ideal["workload"]["latency_jitter"] == 0.5
    assert 3 * 0.005 <= ideal["makespan_s"] <= 3 * 0.015
    assert r["ideal_messages_per_s"] == pytest.approx(120 / ideal["makespan_s"], rel=0.01)
    # both rates are printed rounded: their ratio agrees to the rounding
    ratio = r["messages_per_s"] / r["ideal_messages_per_s"]
    assert r["fraction_of_ideal"] == pytest.approx(ratio, abs=0.002)
    assert 0 < r["fraction_of_ideal"] < 1.25  # no importer beats a perfect scheduler by much
    ref = r["reference"]
    assert (ref["conversations"], ref["messages_sent"], ref["messages_failed"]) == (1, 30, 0)
    assert ref["polls_per_add"] >= 1
    assert r["ratio"] > 0
    assert r["ratio"] == round(r["messages_per_s"] / ref["messages_per_s"], 1)


def test_suite_runs_tiny_workloads_against_their_ideal(tmp_path: Path) -> None:
    rows = run_bench("suite", "--only", "a", "e", "--scale", "0.002", "--time-scale", "0.1",
                     "--seeds", "2", cwd=tmp_path)  # fmt: skip

    by_name = {row["workload"]: row for row in rows}
    assert list(by_name) == ["a", "e1", "e2", "e3", "e4"]
    for row in rows:
        assert row["problems"] == [], row
        assert row["messages_per_s"] > 0 and row["peak_rss_mb"] > 0 and row["cpu_seconds"] > 0
    a = by_name["a"]  # 64 x 1: one chunk, an add of 10 ms ± 50 %, then a task of 20 ms ± 50 %
    assert (a["messages"], a["ideal"]["workload"]["conversations"]) == (64, 64)
    assert a["ideal"]["workload"]["latency"] == pytest.approx(0.01)
    assert a["ideal"]["workload"]["task"] == pytest.approx(0.02)
    assert 0 < a["fraction_of_ideal"] < 1.25
    # the server takes no time: no finite ideal, and 1 x 2,000 in chunks of 500
    assert by_name["e1"]["messages"] == 2_000 and by_name["e1"]["ideal_messages_per_s"] is None
    assert by_name["e1"]["ideal"]["workload"]["chunk_size"] == 500
    assert 1_800 < by_name["e2"]["messages"] < 2_000  # joins and pins are not sent
    assert by_name["e3"]["messages"] == by_name["e4"]["messages"] == 2_000  # read, all of them

    table = format_suite(rows, argparse.Namespace(scale=0.002, time_scale=0.1)).splitlines()
    assert table[1].split()[:4] == ["workload", "messages", "s", "msg/s"]
    assert "unbounded" in table[3] and table[2].startswith("  a  64 x 1, tasks 20 ms")
    assert len(table) == 2 + len(rows) + 1


def test_suite_workloads_scale_their_larger_dimension() -> None:
    sizes = {c.name: (c.conversations, c.messages, c.chunk_size, c.task_delay_ms, c.latency_ms)
             for cases in CASES.values() for c in cases}  # fmt: skip
    assert sizes == {
        "a": (64, 600, 100, 200, 100), "b": (64, 600, 100, 1000, 100),
        "c": (16, 2_400, 100, 200, 100), "d": (10_000, 10, 100, 200, 100),
        "e1": (1, 1_000_000, 500, 0, 0), "e2": (1, 1_000_000, 500, 0, 0),
    }  # fmt: skip
    small = {c.name: c.scaled(0.01, 0.5) for cases in CASES.values() for c in cases}
    assert (small["a"].conversations, small["a"].messages, small["a"].latency_ms) == (64, 6, 50)
    assert (small["d"].conversations, small["d"].messages) == (100, 10)
    assert (small["e2"].messages, small["e2"].source) == (10_000, "discord")
    assert small["b"].title == "64 x 6, tasks 500 ms"


def test_ledger_benchmark_measures_each_size(tmp_path: Path) -> None:
    rows = run_bench("ledger", "--sizes", "1000", "20000", "--acks", "200", "--writers", "4",
                     cwd=tmp_path)
    assert [(row["acknowledged"], row["chunk_acks"]) for row in rows] == [(1000, 200), (20000, 200)]
    for row in rows:
        assert 0 < row["ack_p50_ms"] <= row["ack_p99_ms"]
        assert row["us_per_chunk_ack"] > 0 and row["rss_mb_after"] > 0


def test_validate_benchmark_reads_every_generated_message(tmp_path: Path) -> None:
    rows = run_bench("validate", "--discord", "500", "--slack", "400", cwd=tmp_path)

    by_source = {row["source"]: row for row in rows}
    assert set(by_source) == {"discord", "slack"}
    assert by_source["discord"]["messages_read"] == 500
    assert by_source["slack"]["messages_read"] >= 400  # joins come on top
    for row in rows:
        assert row["exit_code"] == 0 and row["peak_rss_mb"] > 0 and row["messages_per_s"] > 0


@pytest.mark.parametrize("client", ["sdk", "aiohttp"])
async def test_reference_importer_sends_files_in_order_and_flushes(
    client: str, sandbox: SandboxServer, tmp_path: Path
) -> None:
    for name in ("b", "a"):
        write_everos_group(tmp_path / f"{name}.json", f"ref-{name}", 7, name=f"Group {name}")
    importer = ReferenceImporter(
        base_url=sandbox.url, chunk_size=3, poll_interval=0.01, client=client
    )
    try:
        results = await importer.import_directory(tmp_path)
    finally:
        await importer.aclose()

    assert [r["conversation_id"] for r in results] == ["ref-a", "ref-b"]  # sorted glob
    assert importer.get_stats() == {
        "messages_sent": 14, "messages_failed": 0, "conversations_processed": 2
    }  # fmt: skip
    stored = {c.conversation_id: c for c in sandbox.store.conversations()}
    for group_id in ("ref-a", "ref-b"):
        c = stored[group_id]
        assert (c.messages, c.duplicates, c.chronological, c.flushes) == (7, 0, True, 1)
        assert c.name == f"Group {group_id[-1]}"
    # 3 chunks per file, each polled until done; groups and flushes once per file
    requests = sandbox.metrics()["requests"]
    assert sum(requests["POST /api/v1/memories/group"].values()) == 6
    assert sum(requests["POST /api/v1/groups"].values()) == 2
