"""The sandbox subcommands: ``stored`` over a real database, ``serve`` as a real process."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

from importer.sandbox import SandboxServer
from importer.sandbox.cli import register_commands
from importer.sandbox.store import MessageRow
from importer.sandbox.store_evercore import EverCoreMessage
from importer.sandbox.store_goodmem import MemoryRecord, SpaceRecord

# mounts the subcommands the way the main CLI does, without depending on it
_RUNNER = """
import argparse, sys
from importer.sandbox.cli import register_commands
parser = argparse.ArgumentParser()
register_commands(parser.add_subparsers(required=True))
args = parser.parse_args(sys.argv[1:])
sys.exit(args.func(args))
"""


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    register_commands(parser.add_subparsers(required=True))
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


def rows(*timestamps: int, ids: str = "abc") -> list[MessageRow]:
    return [
        MessageRow(
            message_id=i, timestamp=t, sender_id="s", sender_name=None, role="user", content="x"
        )
        for i, t in zip(ids, timestamps, strict=True)
    ]


@pytest.fixture
def filled(sandbox: SandboxServer) -> Path:
    store = sandbox.store
    store.upsert_group("team", name="The Team")
    store.add_messages("group", "team", None, rows(1, 2, 3))
    store.add_messages("group", "team", None, rows(1, 2, ids="ab"))  # a resent chunk
    store.record_flush("group", "team", None, at=0)
    store.add_messages("personal", "u1", "s1", rows(5, 4, ids="xy"))
    return sandbox.db_path


def test_stored_prints_a_table_with_totals(
    filled: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["stored", "--db", str(filled)]) == 0

    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == (
        ["conversation", "name", "messages", "duplicates", "chronological", "flushes", "flushed", "last"]
    )
    assert lines[1].split() == ["group:team", "The", "Team", "5", "2", "no", "1", "yes"]
    assert lines[2].split() == ["personal:u1/s1", "-", "2", "0", "no", "0", "no"]
    assert lines[3] == (
        "total: 2 conversations, 7 messages, 2 duplicates, 2 out of order, 1 not flushed"
    )


def test_stored_json(filled: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["stored", "--db", str(filled), "--json"]) == 0

    team, personal = json.loads(capsys.readouterr().out)
    assert team["key"] == "group:team"
    assert (team["messages"], team["unique_ids"], team["duplicates"]) == (5, 3, 2)
    assert (personal["session_id"], personal["chronological"]) == ("s1", False)


@pytest.fixture
def every_protocol(filled: Path, sandbox: SandboxServer) -> Path:
    """``filled`` plus an EverCore group with a resent message and a GoodMem space."""
    core = sandbox.store.evercore
    core.upsert_meta("team", {"scene": "team", "name": "Core Team"})
    for message_id, minute in (("a", 0), ("b", 1), ("a", 0)):  # "a" sent twice
        core.add_message("/api/v0/memories", core_message(message_id, minute), None)
    space = SpaceRecord("5f0e3a6c-3c59-4b8e-9a51-0d0f0a0b0c0d", "chats", {}, [], None, 0)
    sandbox.store.goodmem.create_space(space)
    sandbox.store.goodmem.create_memories(
        [memory(space.space_id, "m0", 3), memory(space.space_id, "m3", 2),
         memory(space.space_id, "m3", 2)]  # the same window twice, under another id
    )
    return filled


def core_message(message_id: str, minute: int) -> EverCoreMessage:
    return EverCoreMessage(
        group_id="team", group_name=None, message_id=message_id,
        create_time=f"2025-02-01T10:0{minute}:00Z", timestamp=minute * 60_000, sender="s",
        sender_name=None, role="user", content="x", refer_list=[],
    )


def memory(space_id: str, first: str, count: int) -> MemoryRecord:
    metadata = {"conversation_id": "group:team", "first_message_id": first, "message_count": count}
    return MemoryRecord(str(uuid.uuid4()), space_id, b"text", "text/plain", metadata, 0)


def test_stored_shows_each_protocol(
    every_protocol: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["stored", "--db", str(every_protocol)]) == 0

    out = capsys.readouterr().out
    everos, evercore, goodmem = out.split("\n\n")
    assert everos.splitlines()[-1].startswith("total: 2 conversations, 7 messages")
    header, row, total = evercore.splitlines()
    assert header.split()[:2] == ["evercore", "group"]
    assert row.split() == ["team", "Core", "Team", "team", "yes", "3", "1", "no"]
    assert total == "evercore total: 1 groups, 3 messages, 1 duplicates, 1 out of order"
    header, row, total = goodmem.splitlines()
    assert row.split() == ["chats", "5f0e3a6c-3c59-4b8e-9a51-0d0f0a0b0c0d", "1", "3", "7", "2"]
    assert total == "goodmem total: 1 spaces, 3 memories covering 7 messages, 2 duplicates"


def test_stored_json_names_the_protocol(
    every_protocol: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["stored", "--db", str(every_protocol), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["protocol"], r["key"]) for r in rows] == [
        ("everos", "group:team"),
        ("everos", "personal:u1/s1"),
        ("evercore", "evercore:team"),
        ("goodmem", "goodmem:chats"),
    ]
    assert (rows[2]["duplicates"], rows[3]["duplicate_messages"]) == (1, 2)


def test_stored_without_a_database_is_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["stored", "--db", str(tmp_path / "missing.db")]) == 1
    err = capsys.readouterr().err
    assert err == f"error: no sandbox database at {tmp_path / 'missing.db'}\n"

    (tmp_path / "junk.db").write_bytes(b"not sqlite at all" * 100)
    assert run(["stored", "--db", str(tmp_path / "junk.db")]) == 1
    assert capsys.readouterr().err.count("\n") == 1


def test_serve_runs_until_sigterm_and_exits_cleanly(tmp_path: Path) -> None:
    db = tmp_path / "served.db"
    env = {**os.environ, "SANDBOX_API_KEY": "sekrit-key"}
    process = subprocess.Popen(
        [sys.executable, "-c", _RUNNER, "serve", "--port", "0", "--db", str(db), "--seed", "1",
         "--latency-jitter", "0.5", "--task-delay-jitter", "0.25"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        line = ""
        while "listening on" not in line:
            line = process.stdout.readline()
            assert line, "serve exited before listening"
        url = line.split("listening on ")[1].split()[0]
        assert "auth on" in line
        with urllib.request.urlopen(url + "/health", timeout=5) as response:
            assert json.load(response) == {"status": "ok"}
        request = urllib.request.Request(url + "/api/v1/groups/x")
        with pytest.raises(urllib.error.HTTPError) as denied:
            urllib.request.urlopen(request, timeout=5)
        denied.value.close()
        assert denied.value.code == 401
        faults = urllib.request.Request(
            url + "/_sandbox/faults", headers={"Authorization": "Bearer sekrit-key"}
        )
        with urllib.request.urlopen(faults, timeout=5) as response:
            config = json.load(response)
        assert (config["latency_jitter"], config["task_delay_jitter"], config["seed"]) == (
            0.5, 0.25, 1
        )
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=10)
    assert process.returncode == 0
    assert "Traceback" not in stderr
    assert "sekrit-key" not in stderr
    assert db.is_file()


def test_serve_reports_bad_flags_and_busy_ports(
    sandbox: SandboxServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["serve", "--db", str(tmp_path / "a.db"), "--error-rate", "2"]) == 2
    assert capsys.readouterr().err.startswith("error: --error-rate: Input should be less than")
    assert run(["serve", "--db", str(tmp_path / "a.db"), "--latency-jitter", "1.5"]) == 2
    assert capsys.readouterr().err.startswith("error: --latency-jitter: Input should be less than")

    port = sandbox.url.rsplit(":", 1)[1]
    assert run(["serve", "--db", str(tmp_path / "b.db"), "--port", port]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: sandbox cannot listen on 127.0.0.1:{port}")
    assert err.count("\n") == 1


def test_the_command_line_loads_the_web_server_only_to_serve() -> None:
    # an import into a real server never serves: the server half of aiohttp (about 50 ms of
    # every start) stays unloaded until ``serve`` or an import into the sandbox needs it
    probe = (
        "import sys, importer.cli as cli; cli._build_parser(); "
        "print(sorted(m for m in ('aiohttp.web', 'importer.sandbox.server') if m in sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == "[]"
    from importer.sandbox import FaultConfig, serve  # the package still names them all

    assert FaultConfig().latency_ms == 0 and callable(serve)
