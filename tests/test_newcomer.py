"""A newcomer's mistakes: each gives one clear line, the right exit code, no traceback, no waiting."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from importer.sandbox import SandboxServer
from tests.support import DATA, run_cli

TEAM = DATA / "evercore" / "team_chat_en.json"


def _one_clear_line(result: subprocess.CompletedProcess[str], code: int, needle: str) -> None:
    assert result.returncode == code, result.stdout + result.stderr
    assert needle in result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_paths_to_write_are_checked_before_any_work(tmp_path: Path) -> None:
    for flag in ("--report", "--sandbox-db"):
        started = time.monotonic()
        result = run_cli(TEAM, flag, tmp_path / "no" / "such" / "x.json", "--checkpoint-dir",
                         tmp_path / "ck", cwd=tmp_path)
        _one_clear_line(result, 2, f"{flag} {tmp_path / 'no' / 'such' / 'x.json'}")
        assert "does not exist" in result.stderr
        assert time.monotonic() - started < 10
    assert not (tmp_path / "ck").exists() and not (tmp_path / "importer-sandbox.db").exists()


def test_nothing_importable_is_a_failure_that_says_what_was_skipped(tmp_path: Path) -> None:
    images = tmp_path / "photos"
    images.mkdir()
    for name in ("a.jpg", "b.png"):
        (images / name).write_bytes(b"\x89PNG not a chat")
    result = run_cli(images, "--checkpoint-dir", tmp_path / "ck", cwd=tmp_path)
    _one_clear_line(result, 1, "nothing importable found")
    assert "a.jpg: not a format this importer reads" in result.stdout
    empty = tmp_path / "empty"
    empty.mkdir()
    _one_clear_line(run_cli(empty, cwd=tmp_path), 1, "nothing importable found")
    # nothing found: no ledger, no sandbox database
    assert not (tmp_path / "ck").exists() and not (tmp_path / "importer-sandbox.db").exists()


def test_a_symlink_loop_is_walked_once(tmp_path: Path, sandbox: SandboxServer) -> None:
    folder = tmp_path / "exports" / "inner"
    folder.mkdir(parents=True)
    (folder / "team.json").write_bytes(TEAM.read_bytes())
    (folder / "loop").symlink_to(tmp_path / "exports", target_is_directory=True)
    (folder / "again.json").symlink_to(folder / "team.json")
    result = run_cli(tmp_path / "exports", "--api-url", sandbox.url, "--checkpoint-dir",
                     tmp_path / "ck", "--verbose", cwd=tmp_path, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert {c.key: c.messages for c in sandbox.store.conversations()} == {
        "group:group_sales_ai_2025": 509
    }
    assert "already found through another path" in result.stdout


def test_status_of_a_missing_file_fails(tmp_path: Path) -> None:
    result = run_cli("status", tmp_path / "nope.json", "--checkpoint-dir", tmp_path, cwd=tmp_path)
    _one_clear_line(result, 1, "no ledger at")


def test_a_truncated_zip_is_called_damaged(tmp_path: Path) -> None:
    import zipfile

    archive = tmp_path / "slack.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("channels.json", "[]" + " " * 5000)
    archive.write_bytes(archive.read_bytes()[:-40])
    result = run_cli(archive, "--validate-only", cwd=tmp_path)
    _one_clear_line(result, 1, "damaged zip")


def test_quiet_json_logs_and_no_colour(tmp_path: Path, sandbox: SandboxServer) -> None:
    args = [TEAM, "--api-url", sandbox.url, "--checkpoint-dir", tmp_path / "ck"]
    quiet = run_cli(*args, "--quiet", cwd=tmp_path)
    assert quiet.returncode == 0 and quiet.stderr == ""
    assert "Conversations:" in quiet.stdout and "Data went" not in quiet.stdout
    logged = run_cli(*args, "--log-format", "json", cwd=tmp_path)
    events = [json.loads(line) for line in logged.stderr.splitlines()]
    assert events[-1]["event"] == "import_finished"
    assert events[-1]["messages_already_imported"] == 509
    plain = run_cli(*args, cwd=tmp_path, env={"NO_COLOR": "1"})
    assert "\x1b[" not in plain.stdout + plain.stderr


def test_a_closed_pipe_is_not_an_error_trace(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVEROS_")}
    command = (f"{sys.executable} -m importer {TEAM} --validate-only --sandbox-db "
               f"{tmp_path / 'x.db'} | head -1")
    result = subprocess.run(command, shell=True, capture_output=True, text=True, cwd=tmp_path,
                            env=env, timeout=60, check=False)
    assert result.stdout.startswith("Validated")
    assert "Traceback" not in result.stderr and "BrokenPipe" not in result.stderr


def test_help_names_sources_targets_and_the_command(tmp_path: Path) -> None:
    result = run_cli("import", "--help", cwd=tmp_path)
    assert result.returncode == 0
    for name in ("whatsapp", "telegram", "slack", "discord", "everos", "evercore", "goodmem"):
        assert name in result.stdout
    assert result.stdout.startswith("usage: python -m importer import")
    version = run_cli("--version", cwd=tmp_path)
    assert version.stdout.startswith("python -m importer ")


def test_serve_with_a_database_in_a_missing_folder(tmp_path: Path) -> None:
    result = run_cli("serve", "--db", tmp_path / "no" / "x.db", "--port", "0", cwd=tmp_path)
    _one_clear_line(result, 2, "does not exist")
