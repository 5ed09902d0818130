"""The import command end to end: real files, the real sandbox over loopback HTTP, as a user runs it."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from importer.sandbox import FaultConfig, SandboxServer
from tests.support import DATA, REPO, run_cli, write_everos_group

API_KEY = "sk-test-7f3a9c-do-not-print"


@pytest.fixture
def inputs(tmp_path: Path) -> Path:
    folder = tmp_path / "exports"
    folder.mkdir()
    shutil.copy(DATA / "evercore" / "team_chat_en.json", folder)
    shutil.copy(DATA / "evercore" / "solo_chat_en.json", folder)
    for i, count in enumerate((1, 73, 260)):
        write_everos_group(folder / f"generated_{i}.json", f"gen-group-{i}", count)
    return folder


def _by_key(server: SandboxServer) -> dict[str, object]:
    return {c.key: c for c in server.store.conversations()}


def test_everything_arrives_once_in_order_within_limits(
    inputs: Path, tmp_path: Path, sandbox_factory: Callable[..., SandboxServer]
) -> None:
    server = sandbox_factory(api_key=API_KEY, faults=FaultConfig(latency_ms=20, task_delay_ms=30))
    args = [inputs, "--api-url", server.url, "--concurrency", "3", "--chunk-size", "40",
            "--checkpoint-dir", tmp_path / "ck"]
    first = run_cli(*args, "--api-key", API_KEY, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    stored = _by_key(server)
    expected = {
        "group:group_sales_ai_2025": 509,
        "personal:user_001/chat_user_001_assistant": 104,
        "group:gen-group-0": 1,
        "group:gen-group-1": 73,
        "group:gen-group-2": 260,
    }
    assert {k: c.messages for k, c in stored.items()} == expected
    for conversation in stored.values():
        assert conversation.duplicates == 0
        assert conversation.chronological
        assert conversation.flushes == 1 and conversation.flushed_after_last
    assert stored["group:group_sales_ai_2025"].name == "Intelligent Sales Assistant Project Team"
    metrics = server.metrics()
    # real concurrency, never above the two budgets: 3 requests and 2 task polls
    assert 2 <= metrics["max_in_flight"] <= 3 + 2
    assert metrics["max_messages_per_request"] <= 40
    assert metrics["requests_without_bearer"] == 0
    assert API_KEY not in first.stdout + first.stderr
    assert "947 sent" in first.stdout

    # the same command again: nothing is sent twice, nothing flushed again
    server.reset_metrics()
    second = run_cli(*args, cwd=tmp_path, env={"EVEROS_API_KEY": API_KEY})
    assert second.returncode == 0, second.stderr
    assert "0 sent" in second.stdout and "947 already imported" in second.stdout
    assert {k: (c.messages, c.flushes) for k, c in _by_key(server).items()} == {
        k: (n, 1) for k, n in expected.items()
    }
    adds = {r: n for r, n in server.metrics()["requests"].items() if "memories" in r}
    assert adds == {}


def test_solo_messages_keep_roles_and_exact_timestamps(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    result = run_cli(DATA / "evercore" / "solo_chat_en.json", "--api-url", sandbox.url,
                     "--checkpoint-dir", tmp_path / "ck", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    rows = sandbox.store.messages("personal", "user_001", "chat_user_001_assistant")
    assert len(rows) == 104
    assert rows[0]["timestamp"] == 1750896000000  # 2025-06-26T00:00:00Z
    assert {r["role"] for r in rows} == {"user", "assistant"}


def test_scene_flag_sends_a_solo_file_to_the_group_api(tmp_path: Path, sandbox: SandboxServer) -> None:
    result = run_cli(DATA / "evercore" / "solo_chat_en.json", "--scene", "team", "--api-url",
                     sandbox.url, "--checkpoint-dir", tmp_path / "ck", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert [c.kind for c in sandbox.store.conversations()] == ["group"]


def test_a_grown_export_sends_only_the_new_messages(tmp_path: Path, sandbox: SandboxServer) -> None:
    export = write_everos_group(tmp_path / "chat.json", "growing", 300)
    args = [export, "--api-url", sandbox.url, "--checkpoint-dir", tmp_path / "ck", "--report",
            tmp_path / "report.json"]
    assert run_cli(*args, cwd=tmp_path).returncode == 0
    write_everos_group(export, "growing", 400)
    result = run_cli(*args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["messages_sent"] == 100
    assert report["messages_already_imported"] == 300
    (stored,) = sandbox.store.conversations()
    assert (stored.messages, stored.duplicates, stored.flushes) == (400, 0, 2)
    assert stored.chronological and stored.flushed_after_last


def test_a_wrong_api_key_stops_at_once_without_printing_it(
    inputs: Path, tmp_path: Path, sandbox_factory: Callable[..., SandboxServer]
) -> None:
    server = sandbox_factory(api_key=API_KEY)
    started = time.monotonic()
    result = run_cli(inputs, "--api-url", server.url, "--api-key", "sk-wrong-key-123",
                     "--checkpoint-dir", tmp_path / "ck", cwd=tmp_path)
    assert result.returncode == 1
    assert time.monotonic() - started < 30
    assert "authentication failed" in result.stdout + result.stderr
    assert "sk-wrong-key-123" not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    total = sum(sum(c.values()) for c in server.metrics()["requests"].values())
    assert total <= 10  # a handful of requests, no retry storm
    assert server.store.conversations() == []


def test_a_server_without_tasks_is_fine(tmp_path: Path, sandbox_factory: Callable[..., SandboxServer]) -> None:
    server = sandbox_factory(faults=FaultConfig(sync_only=True))
    export = write_everos_group(tmp_path / "chat.json", "sync", 120)
    result = run_cli(export, "--api-url", server.url, "--checkpoint-dir", tmp_path / "ck", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    (stored,) = server.store.conversations()
    assert (stored.messages, stored.duplicates, stored.flushes) == (120, 0, 1)
    assert not any("tasks" in route for route in server.metrics()["requests"])


def test_embedded_sandbox_by_default_and_second_run_sends_nothing(tmp_path: Path) -> None:
    examples = tmp_path / "examples"
    shutil.copytree(REPO / "examples", examples)
    first = run_cli(examples, "--no-progress", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "local sandbox" in first.stdout and "--api-url" in first.stdout
    assert (tmp_path / "importer-sandbox.db").exists()
    second = run_cli(examples, cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert " 0 sent" in second.stdout
    stored = run_cli("stored", cwd=tmp_path)
    assert stored.returncode == 0
    assert "0 duplicates" in stored.stdout


def test_convert_writes_everos_files_that_import_the_same(tmp_path: Path, sandbox: SandboxServer) -> None:
    out = tmp_path / "converted"
    result = run_cli("convert", DATA / "evercore" / "team_chat_en.json",
                     DATA / "evercore" / "solo_chat_en.json", "--output", out, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    files = sorted(out.glob("*.json"))
    assert len(files) == 2
    imported = run_cli(out, "--api-url", sandbox.url, "--checkpoint-dir", tmp_path / "ck", cwd=tmp_path)
    assert imported.returncode == 0, imported.stderr
    assert sorted(c.messages for c in sandbox.store.conversations()) == [104, 509]


def test_status_shows_the_checkpoint(tmp_path: Path, sandbox: SandboxServer) -> None:
    export = write_everos_group(tmp_path / "chat.json", "status-demo", 10)
    run_cli(export, "--api-url", sandbox.url, "--checkpoint-dir", tmp_path / "ck", cwd=tmp_path)
    result = run_cli("status", "--checkpoint-dir", tmp_path / "ck", cwd=tmp_path)
    assert result.returncode == 0
    assert "1 conversations (1 complete, 0 failed), 10 messages acknowledged" in result.stdout


def test_checkpoints_hold_no_text_or_key_and_json_logs_are_json(
    tmp_path: Path, sandbox_factory: Callable[..., SandboxServer]
) -> None:
    server = sandbox_factory(api_key=API_KEY)
    result = run_cli(DATA / "evercore" / "team_chat_en.json", "--api-url", server.url,
                     "--api-key", API_KEY, "--checkpoint-dir", tmp_path / "ck",
                     "--log-format", "json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    assert {"conversation_done"} <= {e["event"] for e in events}
    saved = "".join(p.read_text() for p in (tmp_path / "ck").iterdir() if p.suffix == ".json")
    assert "group:group_sales_ai_2025" in saved
    assert API_KEY not in saved
    assert "Intelligent Sales Assistant" not in saved  # no message text, no names
    assert "Good morning everyone" not in saved
    rows = server.store.messages("group", "group_sales_ai_2025")
    assert all(r["sender_name"] for r in rows)


def test_ctrl_c_while_the_program_loads_prints_a_line_not_a_traceback(tmp_path: Path) -> None:
    """Loading the command's modules takes about a third of a second; a Ctrl-C then used to end
    in a KeyboardInterrupt traceback. One of those modules is made to be interrupted here."""
    import os
    import subprocess
    import sys

    (tmp_path / "tqdm").mkdir()
    (tmp_path / "tqdm" / "__init__.py").write_text("raise KeyboardInterrupt\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO)])}
    run = subprocess.run([sys.executable, "-m", "importer", str(tmp_path)], cwd=tmp_path, env=env,
                         capture_output=True, text=True, check=False)  # fmt: skip
    assert run.returncode == 130
    assert run.stderr.strip() == "interrupted"
