"""Exactly once per target, whatever the inputs: the ledger end to end over real HTTP."""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from importer.ledger import Ledger, content_digest, id_digest
from importer.sandbox import FaultConfig, SandboxServer
from tests.support import DATA, run_cli

SECRET = "sk-ledger-test-5d1e-never-print"


def _messages(group: str, numbers: range, *, text: str = "message") -> list[dict[str, Any]]:
    return [
        {"role": "user", "sender_id": f"u{i % 3}", "sender_name": f"Speaker {i % 3}",
         "timestamp": 1_700_000_000_000 + i * 60_000, "content": f"{text} {i} of {group}",
         "message_id": f"{group}-{i:05d}"}
        for i in numbers
    ]


def _write(path: Path, group: str, messages: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {"group_id": group, "group_meta": {"name": group}, "messages": messages}
    path.write_text(json.dumps(body), encoding="utf-8")
    return path


def _stored(server: SandboxServer) -> dict[str, tuple[int, int, int]]:
    """key -> (messages stored, distinct ids, duplicates)."""
    return {c.key: (c.messages, c.unique_ids, c.duplicates) for c in server.store.conversations()}


def _split(tmp_path: Path) -> tuple[Path, Path, Path]:
    """One channel of 150 messages as a whole export and as two date-range parts that overlap
    by ten messages."""
    whole = _write(tmp_path / "whole" / "chan.json", "chan", _messages("chan", range(150)))
    early = _write(tmp_path / "early" / "chan.json", "chan", _messages("chan", range(80)))
    late = _write(tmp_path / "late" / "chan.json", "chan", _messages("chan", range(70, 150)))
    return whole, early, late


def test_split_inputs_in_either_order_store_every_message_once(
    tmp_path: Path, sandbox_factory: Callable[..., SandboxServer]
) -> None:
    _, early, late = _split(tmp_path)
    for order, name in (((late, early), "a"), ((early, late), "b")):
        server = sandbox_factory()
        result = run_cli(*order, "--api-url", server.url, "--chunk-size", "25",
                         "--checkpoint-dir", tmp_path / f"ck-{name}", cwd=tmp_path)
        assert result.returncode == 0, result.stdout + result.stderr
        assert _stored(server) == {"group:chan": (150, 150, 0)}
        [conversation] = server.store.conversations()
        assert conversation.chronological  # merged before chunking: sent in time order
        assert "Merged: 10 messages" in result.stdout


def test_parts_and_whole_in_later_runs_send_each_message_once(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    whole, early, late = _split(tmp_path)
    args = ["--api-url", sandbox.url, "--checkpoint-dir", tmp_path / "ck"]
    sent = []
    for inputs in ((late,), (whole,), (early,), (whole,)):
        result = run_cli(*inputs, *args, cwd=tmp_path)
        assert result.returncode == 0, result.stdout + result.stderr
        sent.append(int(result.stdout.split("Messages: ")[1].split(" sent")[0]))
    # the late part, then the rest of the whole (older: backfill), then nothing, nothing
    assert sent == [80, 70, 0, 0]
    assert _stored(sandbox) == {"group:chan": (150, 150, 0)}


def test_backfill_and_edits_are_counted(tmp_path: Path, sandbox: SandboxServer) -> None:
    args = ["--api-url", sandbox.url, "--checkpoint-dir", tmp_path / "ck",
            "--report", tmp_path / "report.json"]
    newer = _write(tmp_path / "a" / "c.json", "c", _messages("c", range(50, 100)))
    assert run_cli(newer, *args, cwd=tmp_path).returncode == 0
    edited = _messages("c", range(100))
    edited[60]["content"] = "edited later"
    full = _write(tmp_path / "b" / "c.json", "c", edited)
    result = run_cli(full, *args, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["messages_sent"] == 50
    assert report["messages_backfilled"] == 50
    assert report["messages_edited_since_import"] == 1
    assert "50 sent were older" in result.stdout and "1 already imported have changed" in result.stdout
    assert _stored(sandbox) == {"group:c": (100, 100, 0)}


def test_restart_asks_and_refuses_without_a_terminal(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    whole, _, _ = _split(tmp_path)
    args = [whole, "--api-url", sandbox.url, "--checkpoint-dir", tmp_path / "ck"]
    assert run_cli(*args, cwd=tmp_path).returncode == 0
    refused = run_cli(*args, "--restart", cwd=tmp_path)
    assert refused.returncode == 2
    assert "150 messages" in refused.stderr and "--yes" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert _stored(sandbox) == {"group:chan": (150, 150, 0)}
    resent = run_cli(*args, "--resend", "group:chan", "--yes", cwd=tmp_path)
    assert resent.returncode == 0, resent.stderr
    assert _stored(sandbox) == {"group:chan": (300, 150, 150)}  # the server keeps both


def test_ctrl_c_with_an_api_key_never_shows_it(
    tmp_path: Path, sandbox_factory: Callable[..., SandboxServer]
) -> None:
    import os
    import subprocess
    import sys

    server = sandbox_factory(api_key=SECRET, faults=FaultConfig(latency_ms=200, task_delay_ms=200))
    for i in range(4):
        _write(tmp_path / "in" / f"g{i}.json", f"g{i}", _messages(f"g{i}", range(300)))
    args = [tmp_path / "in", "--api-url", server.url.replace("http://", f"http://me:{SECRET}@"),
            "--api-key", SECRET, "--chunk-size", "20", "--checkpoint-dir", tmp_path / "ck",
            "--report", tmp_path / "report.json"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVEROS_")}
    process = subprocess.Popen([sys.executable, "-m", "importer", *map(str, args)], cwd=tmp_path,
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               stdin=subprocess.DEVNULL)
    time.sleep(2.0)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 130, out + err
    assert "resume with" in err and "--api-key '***'" in err
    files = [p for p in (tmp_path / "ck").iterdir() if p.is_file()] + [tmp_path / "report.json"]
    everything = out + err + "".join(p.read_bytes().decode("latin-1") for p in files)
    assert SECRET not in everything


def test_a_0_1_0_checkpoint_is_taken_over_without_resending(tmp_path: Path) -> None:
    legacy = DATA / "legacy_0_1_0"
    work = tmp_path / "work"
    (work / "ck").mkdir(parents=True)
    db = work / "sandbox.db"
    shutil.copy(legacy / "sandbox.db", db)
    snapshot = json.loads((legacy / "solo.json-2a667525eb17.json").read_text())
    snapshot["job"]["target"] = f"sandbox:{db.resolve()}"  # written where the test runs
    (work / "ck" / "solo.json-2a667525eb17.json").write_text(json.dumps(snapshot))
    shutil.copy(DATA / "evercore" / "team_chat_en.json", work / "team.json")  # 9 messages more
    shutil.copy(legacy / "solo.json", work / "solo.json")

    result = run_cli("team.json", "solo.json", "--sandbox-db", db, "--checkpoint-dir", "ck",
                     "--report", "report.json", cwd=work)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads((work / "report.json").read_text())
    assert report["messages_sent"] == 9 and report["messages_already_imported"] == 604
    assert (work / "ck" / "solo.json-2a667525eb17.json.migrated").exists()
    with SandboxServer(db) as server:
        assert _stored(server) == {
            "group:group_sales_ai_2025": (509, 509, 0),
            "personal:user_001/chat_user_001_assistant": (104, 104, 0),
        }
    again = run_cli("team.json", "solo.json", "--sandbox-db", db, "--checkpoint-dir", "ck",
                    cwd=work)
    assert "0 sent, 613 already imported" in again.stdout, again.stdout


def _leave_in_flight(ck: Path, identity: str, key: str, messages: list[dict[str, Any]],
                     task_id: str | None) -> None:
    """What a run killed mid-chunk leaves: the chunk's intent (and maybe its task id)."""
    async def leave() -> None:
        ledger = Ledger(ck, identity).open()
        entries = [(id_digest(m["message_id"]), content_digest(m["sender_id"], m["content"]))
                   for m in messages]
        await ledger.begin(key, first_id=messages[0]["message_id"],
                           last_id=messages[-1]["message_id"],
                           max_ts=messages[-1]["timestamp"], entries=entries)
        if task_id:
            await ledger.sent(key, task_id)
        await ledger.close()

    asyncio.run(leave())


def test_a_chunk_sent_without_an_answer_is_resent_and_named(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    messages = _messages("g", range(40))
    path = _write(tmp_path / "in" / "g.json", "g", messages)
    _leave_in_flight(tmp_path / "ck", f"everos:{sandbox.url}", "group:g", messages[:20], None)
    result = run_cli(path, "--api-url", sandbox.url, "--chunk-size", "20", "--checkpoint-dir",
                     tmp_path / "ck", "--report", tmp_path / "r.json", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "up to 20 messages may have been stored twice" in result.stdout
    assert "g-00000..g-00019" in result.stdout
    [doubt] = json.loads((tmp_path / "r.json").read_text())["in_doubt"]
    assert (doubt["kind"], doubt["messages"], doubt["first_message_id"]) == ("resent", 20, "g-00000")
    assert _stored(sandbox) == {"group:g": (40, 40, 0)}


def test_a_task_gone_on_resume_is_in_doubt_and_can_be_resent(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    messages = _messages("g", range(40))
    path = _write(tmp_path / "in" / "g.json", "g", messages)
    _leave_in_flight(tmp_path / "ck", f"everos:{sandbox.url}", "group:g", messages[:20],
                     "task-the-server-forgot")
    args = [path, "--api-url", sandbox.url, "--chunk-size", "20", "--checkpoint-dir",
            tmp_path / "ck"]
    first = run_cli(*args, cwd=tmp_path)
    assert first.returncode == 1, first.stdout + first.stderr  # not proven: never exit 0
    assert "20 messages in doubt" in first.stdout and "--resend-in-doubt" in first.stdout
    assert _stored(sandbox) == {"group:g": (20, 20, 0)}  # assumed stored: the rest only
    status = run_cli("status", "--checkpoint-dir", tmp_path / "ck", cwd=tmp_path)
    assert "1 chunks in doubt" in status.stdout
    resent = run_cli(*args, "--resend-in-doubt", cwd=tmp_path)
    assert resent.returncode == 0, resent.stdout + resent.stderr
    assert _stored(sandbox) == {"group:g": (40, 40, 0)}


def test_convert_merges_split_inputs_and_refuses_to_overwrite(tmp_path: Path) -> None:
    _, early, late = _split(tmp_path)
    out = tmp_path / "out"
    result = run_cli("convert", early, late, "--output", out, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    [written] = list(out.iterdir())
    assert len(json.loads(written.read_text())["messages"]) == 150
    written.write_text('{"group_id": "chan", "messages": []}')
    refused = run_cli("convert", early, "--output", out, cwd=tmp_path)
    assert refused.returncode == 2 and "--force" in refused.stderr
    assert "Traceback" not in refused.stderr
    forced = run_cli("convert", early, "--output", out, "--force", cwd=tmp_path)
    assert forced.returncode == 0
    assert len(json.loads(written.read_text())["messages"]) == 80


def test_a_damaged_ledger_stops_the_run_until_repaired(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    whole, _, _ = _split(tmp_path)
    args = [whole, "--api-url", sandbox.url, "--checkpoint-dir", tmp_path / "ck"]
    assert run_cli(*args, cwd=tmp_path).returncode == 0
    [ledger] = (tmp_path / "ck").glob("*.ledger.sqlite")
    ledger.write_bytes(b"this is not a database any more" * 100)
    refused = run_cli(*args, cwd=tmp_path)
    assert refused.returncode == 1
    assert "damaged" in refused.stderr and "--repair" in refused.stderr
    assert "--restart" not in refused.stderr and "Traceback" not in refused.stderr
    assert _stored(sandbox) == {"group:chan": (150, 150, 0)}  # nothing sent meanwhile
    repaired = run_cli(*args, "--repair", cwd=tmp_path)
    assert "damaged ledger set aside" in repaired.stdout
    assert "nothing could be read" in repaired.stdout or "rows kept" in repaired.stdout


def test_plan_of_a_half_imported_folder_matches_what_the_import_sends(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    for i in range(3):
        _write(tmp_path / "in" / f"g{i}.json", f"g{i}", _messages(f"g{i}", range(60)))
    args = ["--api-url", sandbox.url, "--chunk-size", "25", "--checkpoint-dir", tmp_path / "ck"]
    assert run_cli(tmp_path / "in" / "g0.json", *args, cwd=tmp_path).returncode == 0
    _write(tmp_path / "in" / "g1.json", "g1", _messages("g1", range(30)))
    assert run_cli(tmp_path / "in" / "g1.json", *args, cwd=tmp_path).returncode == 0
    _write(tmp_path / "in" / "g1.json", "g1", _messages("g1", range(60)))

    plan = run_cli("plan", tmp_path / "in", *args, cwd=tmp_path)
    assert plan.returncode == 0, plan.stderr
    assert "group:g0: 60 / 60 / 0 / 0" in plan.stdout
    assert "group:g1: 60 / 30 / 30 / 3" in plan.stdout  # 2 chunks and the flush
    assert "group:g2: 60 / 0 / 60 / 5" in plan.stdout  # metadata, 3 chunks, flush
    assert "An import would send 90 messages" in plan.stdout
    assert _stored(sandbox) == {"group:g0": (60, 60, 0), "group:g1": (30, 30, 0)}
    sandbox.reset_metrics()
    result = run_cli(tmp_path / "in", *args, cwd=tmp_path)
    assert "90 sent" in result.stdout
    requests = sum(sum(by_status.values())
                   for route, by_status in sandbox.metrics()["requests"].items()
                   if "tasks" not in route and "health" not in route)
    assert requests == 8


def _slack_split(tmp_path: Path) -> tuple[Path, Path, Path]:
    """The test Slack export, and two date-range exports of it split at 1 March 2026 (each with
    the workspace's lists, as Slack writes them)."""
    whole = DATA / "slack" / "export"
    early, late = tmp_path / "slack-early", tmp_path / "slack-late"
    for part in (early, late):
        shutil.copytree(whole, part, ignore=shutil.ignore_patterns("*-*-*.json"))
    for day in whole.glob("*/*-*-*.json"):
        part = early if day.stem < "2026-03-01" else late
        (part / day.parent.name).mkdir(exist_ok=True)
        shutil.copy(day, part / day.parent.name / day.name)
    return whole, early, late


def test_a_real_slack_export_split_by_date_stores_every_message_once(
    tmp_path: Path, sandbox_factory: Callable[..., SandboxServer]
) -> None:
    whole, early, late = _slack_split(tmp_path)
    reference = sandbox_factory()
    assert run_cli(whole, "--api-url", reference.url, "--checkpoint-dir", tmp_path / "ck0",
                   cwd=tmp_path).returncode == 0
    expected = {c.key: c.unique_ids for c in reference.store.conversations()}
    runs = {"together, newest first": [[late, early]], "one run after the other": [[late], [early]],
            "whole, parts, whole": [[whole], [early], [late], [whole]]}
    for i, (name, batches) in enumerate(runs.items()):
        server = sandbox_factory()
        for inputs in batches:
            result = run_cli(*inputs, "--api-url", server.url, "--checkpoint-dir",
                             tmp_path / f"ck{i + 1}", cwd=tmp_path)
            assert result.returncode == 0, (name, result.stdout + result.stderr)
        stored = {c.key: (c.messages, c.unique_ids) for c in server.store.conversations()}
        assert stored == {k: (n, n) for k, n in expected.items()}, name


def test_two_discord_exports_of_one_channel_store_the_union_once(
    tmp_path: Path, sandbox_factory: Callable[..., SandboxServer]
) -> None:
    source = DATA / "discord" / "dce" / "Test Server - Text channels - general [1100000000000000001].json"
    full = json.loads(source.read_text(encoding="utf-8"))
    older = dict(full, messages=full["messages"][:-2])  # exported before the last two
    newer = dict(full, messages=full["messages"][1:])  # the first one deleted since
    for name, body in (("older", older), ("newer", newer)):
        (tmp_path / name).mkdir()
        (tmp_path / name / source.name).write_text(json.dumps(body), encoding="utf-8")
    reference, sandbox = sandbox_factory(), sandbox_factory()
    assert run_cli(source, "--api-url", reference.url, "--checkpoint-dir", tmp_path / "ck0",
                   cwd=tmp_path).returncode == 0
    [expected] = reference.store.conversations()
    result = run_cli(tmp_path / "newer", tmp_path / "older", "--api-url", sandbox.url,
                     "--checkpoint-dir", tmp_path / "ck", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    [stored] = sandbox.store.conversations()
    assert stored.messages == stored.unique_ids == expected.unique_ids
    assert stored.chronological


def test_a_task_unknown_right_after_its_202_is_asked_again_not_assumed(
    tmp_path: Path, sandbox_factory: Callable[..., SandboxServer]
) -> None:
    """The status store lags 0.5 s behind the 202: before, the first 404 counted as done."""
    server = sandbox_factory(faults=FaultConfig(task_visible_after_ms=500, task_fail_rate=1.0))
    path = _write(tmp_path / "in" / "g.json", "g", _messages("g", range(20)))
    result = run_cli(path, "--api-url", server.url, "--checkpoint-dir", tmp_path / "ck",
                     "--report", tmp_path / "r.json", cwd=tmp_path)
    # every task fails once it is visible: the chunk is resent, then the conversation fails
    assert result.returncode == 1, result.stdout + result.stderr
    assert "failed on the server" in result.stdout
    assert json.loads((tmp_path / "r.json").read_text())["in_doubt"] == []


def test_state_answers_new_conversations_at_once_and_sees_changes_asked_for(
    tmp_path: Path,
) -> None:
    """In a ledger that started empty, a conversation it never held reads as new without
    waiting for other commits; one with a change asked for (not yet committed), or written by
    an earlier run, reads as the ledger has it."""

    async def first_run() -> None:
        ledger = Ledger(tmp_path, "sandbox:test").open()
        try:
            entries = [(id_digest("m1"), content_digest("u1", "hello"))]
            await ledger.begin("g:a", first_id="m1", last_id="m1", max_ts=5, entries=entries)
            await ledger.acknowledge("g:a", entries, 5, wait=False)  # committed in the background
            assert (await ledger.state("g:a")).acked == 1
            assert (await ledger.state("g:new")).acked == 0
            await ledger.update("g:b", failure="refused")
        finally:
            await ledger.close()

    async def second_run() -> tuple[int, str | None, int]:
        ledger = Ledger(tmp_path, "sandbox:test").open()
        try:
            a, b, new = [await ledger.state(k) for k in ("g:a", "g:b", "g:new")]
            return a.acked, b.failure, new.acked
        finally:
            await ledger.close()

    asyncio.run(first_run())
    assert asyncio.run(second_run()) == (1, "refused", 0)
