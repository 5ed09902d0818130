"""Crashes, signals, faults and locks: nothing lost, nothing sent twice (real processes, real HTTP)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from importer.sandbox import FaultConfig, SandboxServer
from tests.support import run_cli, write_everos_group


def _exports(folder: Path, conversations: int, messages: int) -> Path:
    folder.mkdir()
    for i in range(conversations):
        write_everos_group(folder / f"conv_{i:02d}.json", f"conv-{i:02d}", messages)
    return folder


def _start(*args: str | Path, cwd: Path) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EVEROS_", "EVER_OS_"))}
    return subprocess.Popen(
        [sys.executable, "-m", "importer", *map(str, args)],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )


def _assert_complete(server: SandboxServer, conversations: int, messages: int) -> int:
    stored = server.store.conversations()
    assert len(stored) == conversations
    duplicates = 0
    for conversation in stored:
        assert conversation.unique_ids == messages, conversation  # nothing lost
        # a chunk resent after a kill would repeat older messages; without one, order holds
        assert conversation.chronological or conversation.duplicates, conversation
        assert conversation.flushed_after_last, conversation
        duplicates += conversation.duplicates
    return duplicates


def test_sigkill_at_random_moments_then_resume_loses_nothing(
    tmp_path: Path, sandbox_factory: Callable[..., SandboxServer]
) -> None:
    server = sandbox_factory(faults=FaultConfig(latency_ms=80, task_delay_ms=100))
    exports = _exports(tmp_path / "exports", 30, 400)
    args = [exports, "--api-url", server.url, "--chunk-size", "50", "--concurrency", "4",
            "--checkpoint-dir", tmp_path / "ck"]
    rng = random.Random(20261121)
    kills = 0
    for _ in range(4):
        process = _start(*args, cwd=tmp_path)
        time.sleep(rng.uniform(0.8, 2.0))
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            kills += 1
        process.communicate(timeout=30)
    assert kills >= 3  # the import really was cut short
    final = run_cli(*args, cwd=tmp_path)
    assert final.returncode == 0, final.stdout + final.stderr
    duplicates = _assert_complete(server, 30, 400)
    # at most what was in flight at each kill; the journal makes it 0 in practice
    assert duplicates <= kills * 4 * 50


def test_faults_together_everything_once_and_in_order(
    tmp_path: Path, sandbox_factory: Callable[..., SandboxServer]
) -> None:
    faults = FaultConfig(
        rate_limit_rate=0.10, error_rate=0.10, drop_rate=0.05, task_fail_rate=0.05,
        latency_ms=5, task_delay_ms=20, seed=7,
    )
    server = sandbox_factory(faults=faults)
    exports = _exports(tmp_path / "exports", 8, 150)
    result = run_cli(exports, "--api-url", server.url, "--chunk-size", "25", "--concurrency", "6",
                     "--checkpoint-dir", tmp_path / "ck", cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert _assert_complete(server, 8, 150) == 0
    for conversation in server.store.conversations():
        assert conversation.flushes == 1
    statuses = {s for counts in server.metrics()["requests"].values() for s in counts}
    assert {"429", "202"} <= statuses  # the faults really happened
    assert any(s.startswith("5") for s in statuses)


def test_first_ctrl_c_saves_and_prints_how_to_resume(
    tmp_path: Path, sandbox_factory: Callable[..., SandboxServer]
) -> None:
    server = sandbox_factory(faults=FaultConfig(latency_ms=50, task_delay_ms=100))
    exports = _exports(tmp_path / "exports", 6, 300)
    args = [exports, "--api-url", server.url, "--chunk-size", "20", "--concurrency", "2",
            "--checkpoint-dir", tmp_path / "ck"]
    process = _start(*args, cwd=tmp_path)
    time.sleep(2.0)
    assert process.poll() is None
    stopped_at = time.monotonic()
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=20)
    assert process.returncode == 130, out + err
    assert time.monotonic() - stopped_at < 15
    assert "resume with" in err and "python -m importer" in err
    assert "Traceback" not in err
    final = run_cli(*args, cwd=tmp_path)
    assert final.returncode == 0, final.stdout + final.stderr
    assert _assert_complete(server, 6, 300) == 0


def test_a_second_run_on_the_same_checkpoint_is_refused(
    tmp_path: Path, sandbox_factory: Callable[..., SandboxServer]
) -> None:
    server = sandbox_factory(faults=FaultConfig(latency_ms=100))
    exports = _exports(tmp_path / "exports", 2, 200)
    args = [exports, "--api-url", server.url, "--chunk-size", "10", "--checkpoint-dir", tmp_path / "ck"]
    first = _start(*args, cwd=tmp_path)
    time.sleep(1.5)
    second = run_cli(*args, cwd=tmp_path)
    assert second.returncode != 0
    assert "already running" in second.stdout + second.stderr
    first.send_signal(signal.SIGTERM)
    first.communicate(timeout=20)
    assert first.returncode == 130


def test_a_failing_server_fails_conversations_not_the_run_and_a_rerun_retries_them(
    tmp_path: Path, sandbox_factory: Callable[..., SandboxServer]
) -> None:
    server = sandbox_factory(faults=FaultConfig(error_rate=1.0))
    exports = _exports(tmp_path / "exports", 3, 40)
    args = [exports, "--api-url", server.url, "--max-retries", "1", "--checkpoint-dir",
            tmp_path / "ck", "--report", tmp_path / "report.json"]
    failed = run_cli(*args, cwd=tmp_path)
    assert failed.returncode == 1
    report = json.loads((tmp_path / "report.json").read_text())
    assert sorted(f["conversation"] for f in report["failures"]) == [
        "group:conv-00", "group:conv-01", "group:conv-02"
    ]
    assert all("HTTP 5" in f["reason"] for f in report["failures"])
    assert "Failed: 3" in failed.stdout and "Traceback" not in failed.stderr
    status = run_cli("status", "--checkpoint-dir", tmp_path / "ck", cwd=tmp_path)
    assert "3 failed" in status.stdout

    server.set_faults(error_rate=0.0)
    retried = run_cli(*args, cwd=tmp_path)
    assert retried.returncode == 0, retried.stdout + retried.stderr
    assert _assert_complete(server, 3, 40) == 0


def test_a_second_ctrl_c_exits_at_once_and_the_checkpoint_stays_valid(
    tmp_path: Path, sandbox_factory: Callable[..., SandboxServer]
) -> None:
    server = sandbox_factory(faults=FaultConfig(latency_ms=300, task_delay_ms=300))
    exports = _exports(tmp_path / "exports", 4, 200)
    args = [exports, "--api-url", server.url, "--chunk-size", "20", "--concurrency", "4",
            "--checkpoint-dir", tmp_path / "ck"]
    process = _start(*args, cwd=tmp_path)
    time.sleep(2.0)
    process.send_signal(signal.SIGINT)
    time.sleep(0.2)
    second_at = time.monotonic()
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=20)
    # 130, or death by the signal itself when it lands during interpreter shutdown (which a
    # shell reports as 130 too)
    assert process.returncode in (130, -signal.SIGINT), out + err
    assert time.monotonic() - second_at < 3  # at once, not after the grace period
    server.set_faults(latency_ms=0, task_delay_ms=0)
    final = run_cli(*args, cwd=tmp_path)
    assert final.returncode == 0, final.stdout + final.stderr
    assert _assert_complete(server, 4, 200) <= 4 * 20  # at most what was in flight
