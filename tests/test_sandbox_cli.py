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
from pathlib import Path

import pytest

from importer.sandbox import SandboxServer
from importer.sandbox.cli import register_commands
from importer.sandbox.store import MessageRow

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
        [sys.executable, "-c", _RUNNER, "serve", "--port", "0", "--db", str(db), "--seed", "1"],
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

    port = sandbox.url.rsplit(":", 1)[1]
    assert run(["serve", "--db", str(tmp_path / "b.db"), "--port", port]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: sandbox cannot listen on 127.0.0.1:{port}")
    assert err.count("\n") == 1
