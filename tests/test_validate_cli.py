"""``--validate-only`` and bad input: one clear line per problem, no traceback, exit code 1."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from importer.sandbox import SandboxServer
from tests.support import DATA, run_cli, write_everos_group

TEAM = DATA / "evercore" / "team_chat_en.json"


def test_real_fixtures_are_valid_with_a_warning_about_the_repeated_id(tmp_path: Path) -> None:
    result = run_cli("--input", TEAM, "--scene", "team", "--validate-only", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "msg_0425" in result.stdout
    assert "Validated: 1 conversations, 509 messages" in result.stdout
    both = run_cli(TEAM, DATA / "evercore" / "solo_chat_en.json", "--validate-only", cwd=tmp_path)
    assert both.returncode == 0
    assert "2 conversations, 613 messages" in both.stdout


def _team(edit: Callable[[dict[str, Any]], None]) -> str:
    data = json.loads(TEAM.read_text())
    edit(data)
    return json.dumps(data)


CASES = {
    "unknown_sender": (
        _team(lambda d: d["conversation_list"][3].update(sender="user_999")),
        ["message 4", "sender", "user_999"],
    ),
    "missing_content": (
        _team(lambda d: d["conversation_list"][7].pop("content")),
        ["message 8", "content"],
    ),
    "bad_create_time": (
        _team(lambda d: d["conversation_list"][2].update(create_time="yesterday at noon")),
        ["message 3", "create_time"],
    ),
    "missing_user_details": (
        _team(lambda d: d["session_meta"].pop("user_details")),
        ["user_details"],
    ),
    "truncated": (TEAM.read_text()[:5000], ["truncated", "line"]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_files_get_one_line_naming_file_and_field(tmp_path: Path, case: str) -> None:
    text, needles = CASES[case]
    bad = tmp_path / f"{case}.json"
    bad.write_text(text, encoding="utf-8")
    result = run_cli(bad, "--validate-only", cwd=tmp_path)
    assert result.returncode == 1
    output = result.stdout + result.stderr
    assert "Traceback" not in output
    lines = [line for line in output.splitlines() if str(bad) in line and all(n in line for n in needles)]
    assert lines, output


def test_a_mixed_folder_imports_good_files_whole_and_names_each_bad_one(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    shutil.copy(TEAM, folder / "good_team.json")
    write_everos_group(folder / "good_generated.json", "good", 55)
    bad = {
        "truncated.json": TEAM.read_text()[:3000],
        "junk.json": "\x00\x01\x02binary\xff junk",
        "empty.json": "",
        "unknown_shape.json": json.dumps({"hello": "world", "items": [1, 2]}),
        "bad_time.json": _team(lambda d: d["conversation_list"][1].update(create_time="31/02/2025")),
        "no_sender.json": json.dumps(
            {"group_id": "g", "messages": [{"role": "user", "timestamp": 1, "content": "hi"}]}
        ),
    }
    for name, text in bad.items():
        (folder / name).write_text(text, encoding="utf-8", errors="surrogateescape")
    (folder / "README.md").write_text("not an input, ignored")
    result = run_cli(folder, "--api-url", sandbox.url, "--checkpoint-dir", tmp_path / "ck", cwd=tmp_path)
    assert result.returncode == 1
    output = result.stdout + result.stderr
    assert "Traceback" not in output
    for name in bad:
        assert str(folder / name) in output, name
    # not an input and not an error: counted as skipped, named only with --verbose
    assert "README" not in result.stdout and "Files skipped: 1" in result.stdout
    stored = {c.key: c.messages for c in sandbox.store.conversations()}
    assert stored == {"group:group_sales_ai_2025": 509, "group:good": 55}


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        ([], "give at least one export"),
        ([TEAM, "--source", "no-such-format"], "available: chatgpt, claude, conversation-format"),
        ([TEAM, "--chunk-size", "501"], "--chunk-size must be ≤ 500"),
        ([TEAM, "--concurrency", "0"], "--concurrency must be ≥ 1"),
        ([TEAM, "--api-url", "localhost:1995"], "--api-url must be an http(s) URL"),
        ([TEAM, "--api-url", "http://localhost:1", "--api-key", "k\r"], "control characters"),
    ],
)
def test_usage_errors_exit_2_with_one_line(tmp_path: Path, args: list[object], needle: str) -> None:
    result = run_cli(*args, cwd=tmp_path)  # type: ignore[arg-type]
    assert result.returncode == 2
    assert needle in result.stderr
    assert "Traceback" not in result.stderr


def test_a_missing_path_is_named(tmp_path: Path) -> None:
    result = run_cli(tmp_path / "nope.json", "--validate-only", cwd=tmp_path)
    assert result.returncode == 1
    assert f"{tmp_path / 'nope.json'}: no such file or directory" in result.stdout
