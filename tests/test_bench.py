"""The benchmarks run end to end at a tiny size and report consistent numbers.

No timing thresholds here: those need a quiet machine (benchmarks/README.md).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from benchmarks.reference_importer import ReferenceImporter
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
    ref = r["reference"]
    assert (ref["conversations"], ref["messages_sent"], ref["messages_failed"]) == (1, 30, 0)
    assert ref["polls_per_add"] >= 1
    assert r["ratio"] > 0
    assert r["ratio"] == round(r["messages_per_s"] / ref["messages_per_s"], 1)


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
