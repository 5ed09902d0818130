"""``--shard I/N`` end to end: shard processes running at once against one sandbox over HTTP
store every message exactly once; reruns send nothing; ``status`` merges the shards; a run of
another layout on the same checkpoint folder and target is refused."""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

from importer.sandbox import FaultConfig, SandboxServer
from importer.shard import shard_of
from tests.support import DATA, run_cli, start_cli, write_everos_group

GROUPS = {f"team-{i:02d}": 40 + 4 * i for i in range(10)}  # group id -> messages
TEAM = DATA / "evercore" / "team_chat_en.json"  # a real ConversationFormat file, 509 messages
KEYS = {f"group:{g}": n for g, n in GROUPS.items()} | {"group:group_sales_ai_2025": 509}


def _exports(tmp_path: Path) -> Path:
    folder = tmp_path / "exports"
    folder.mkdir()
    for group, count in GROUPS.items():
        write_everos_group(folder / f"{group}.json", group, count)
    shutil.copy(TEAM, folder / "team_chat_en.json")
    return folder


def _share(index: int, count: int = 2) -> dict[str, int]:
    return {k: n for k, n in KEYS.items() if shard_of(k, count) == index}


def _stored(server: SandboxServer) -> dict[str, tuple[int, int]]:
    return {c.key: (c.messages, c.duplicates) for c in server.store.conversations()}


def _run_shards(exports: Path, server: SandboxServer, tmp_path: Path, run: str) -> list[dict]:
    """Both shards at the same time; their reports."""
    processes = [
        start_cli(exports, "--api-url", server.url, "--checkpoint-dir", tmp_path / "ck",
                  "--shard", f"{i}/2", "--chunk-size", "20", "--concurrency", "2",
                  "--report", tmp_path / f"{run}-{i}.json", cwd=tmp_path)
        for i in (0, 1)
    ]
    outputs = [p.communicate(timeout=180) for p in processes]
    for process, (out, err) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, out + err
        assert "Shard " in out
    return [json.loads((tmp_path / f"{run}-{i}.json").read_text()) for i in (0, 1)]


def _arrivals(server: SandboxServer) -> dict[str, tuple[int, int]]:
    """group id -> (first, last) arrival sequence number of its messages at the server."""
    with sqlite3.connect(server.db_path) as db:
        rows = db.execute("SELECT conversation_id, MIN(seq), MAX(seq) FROM messages "
                          "GROUP BY conversation_id").fetchall()
    return {f"group:{cid}": (first, last) for cid, first, last in rows}


def test_two_shards_at_once_store_every_message_exactly_once(
    tmp_path: Path, sandbox_factory: Callable[..., SandboxServer]
) -> None:
    assert _share(0) and _share(1)  # the split gives each process work
    exports = _exports(tmp_path)
    server = sandbox_factory(faults=FaultConfig(latency_ms=100))
    reports = _run_shards(exports, server, tmp_path, "first")

    # what the server stored: every conversation whole, no message twice
    assert _stored(server) == {k: (n, 0) for k, n in KEYS.items()}
    # the two processes really sent at the same time: their arrivals interleave
    arrivals = _arrivals(server)
    spans = [(min(arrivals[k][0] for k in _share(i)), max(arrivals[k][1] for k in _share(i)))
             for i in (0, 1)]
    assert spans[0][0] < spans[1][1] and spans[1][0] < spans[0][1], spans
    for index, report in enumerate(reports):
        mine = _share(index)
        assert report["shard"] == {"index": index, "count": 2, "conversations": len(mine),
                                   "conversations_left_to_other_shards": len(KEYS) - len(mine)}
        assert {c["key"] for c in report["conversations"]} == set(mine)
        assert report["messages_sent"] == sum(mine.values())
        assert report["checkpoint"].endswith(f".shard-{index}-of-2.ledger.sqlite")

    again = _run_shards(exports, server, tmp_path, "again")
    assert [r["messages_sent"] for r in again] == [0, 0]
    assert [r["messages_already_imported"] for r in again] == [
        sum(_share(0).values()), sum(_share(1).values())]
    assert _stored(server) == {k: (n, 0) for k, n in KEYS.items()}

    status = run_cli("status", "--checkpoint-dir", tmp_path / "ck", cwd=tmp_path)
    [line] = status.stdout.splitlines()
    total = sum(KEYS.values())
    assert f"{len(KEYS)} conversations ({len(KEYS)} complete, 0 failed), {total} messages " \
           "acknowledged; 2 shards, ledgers of shards 0, 1 present" in line
    [entry] = json.loads(run_cli("status", "--json", "--checkpoint-dir", tmp_path / "ck",
                                 cwd=tmp_path).stdout)
    assert entry["target"] == f"everos:{server.url}"
    assert entry["shards"] == {"count": 2, "present": [0, 1], "missing": []}
    assert (entry["conversations"], entry["acknowledged_messages"]) == (len(KEYS), total)
    assert {k: s["shard"] for k, s in entry["states"].items()} == {
        k: shard_of(k, 2) for k in KEYS}
    assert len(entry["ledgers"]) == 2

    # an unsharded run, or one with another N, would look in another ledger: refused
    for layout in ([], ["--shard", "0/3"]):
        refused = run_cli(exports, "--api-url", server.url, "--checkpoint-dir", tmp_path / "ck",
                          *layout, cwd=tmp_path)
        assert refused.returncode == 2, refused.stdout + refused.stderr
        [message] = refused.stderr.splitlines()
        assert ".shard-0-of-2.ledger.sqlite" in message and ".shard-1-of-2.ledger.sqlite" in message
        assert "--shard I/2" in message
    assert len(list((tmp_path / "ck").glob("*.ledger.sqlite"))) == 2
    assert _stored(server) == {k: (n, 0) for k, n in KEYS.items()}


def test_shards_are_refused_where_an_unsharded_run_imported(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    exports = _exports(tmp_path)
    args = [exports, "--api-url", sandbox.url, "--checkpoint-dir", tmp_path / "ck"]
    assert run_cli(*args, cwd=tmp_path).returncode == 0
    before = _stored(sandbox)
    for refused in (run_cli(*args, "--shard", "1/2", cwd=tmp_path),
                    run_cli(*args, cwd=tmp_path, env={"IMPORTER_SHARD": "0/4"}),
                    run_cli("plan", *args, "--shard", "0/2", cwd=tmp_path)):
        assert refused.returncode == 2, refused.stdout + refused.stderr
        [message] = refused.stderr.splitlines()
        assert "unsharded ledger" in message and "Run without --shard, as before" in message
    assert _stored(sandbox) == before
    assert [p.name.count(".shard-") for p in (tmp_path / "ck").glob("*.ledger.sqlite")] == [0]
    # N = 1 is the unsharded layout
    same = run_cli(*args, "--shard", "0/1", cwd=tmp_path)
    assert same.returncode == 0 and "0 sent" in same.stdout, same.stdout + same.stderr


def test_plan_and_validate_under_a_shard_count_only_its_share(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    exports = _exports(tmp_path)
    args = [exports, "--api-url", sandbox.url, "--checkpoint-dir", tmp_path / "ck"]
    mine, theirs = _share(0), _share(1)

    plan = run_cli("plan", *args, "--shard", "0/2", "--report", tmp_path / "plan.json",
                   cwd=tmp_path)
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert f"Validated: {len(mine)} conversations, {sum(mine.values())} messages." in plan.stdout
    assert f"{len(mine)} of {len(KEYS)} conversations are this shard's" in plan.stdout
    assert f"An import would send {sum(mine.values())} messages" in plan.stdout
    planned = json.loads((tmp_path / "plan.json").read_text())
    assert {c["key"] for c in planned["conversations"]} == set(mine)
    assert planned["shard"]["conversations_left_to_other_shards"] == len(theirs)

    assert run_cli(*args, "--shard", "0/2", cwd=tmp_path).returncode == 0
    assert _stored(sandbox) == {k: (n, 0) for k, n in mine.items()}
    done = run_cli(*args, "--dry-run", "--shard", "0/2", cwd=tmp_path)
    assert "An import would send 0 messages" in done.stdout, done.stdout
    other = run_cli(*args, "--validate-only", "--shard", "1/2", cwd=tmp_path)
    assert other.returncode == 0, other.stdout + other.stderr
    assert f"An import would send {sum(theirs.values())} messages (0 already" in other.stdout

    # the one shard run so far: status says which shard is still missing
    status = run_cli("status", "--checkpoint-dir", tmp_path / "ck", cwd=tmp_path)
    assert "2 shards, ledgers of shards 0 present, none of 1 (not run yet)" in status.stdout, \
        status.stdout
    [ledger] = (tmp_path / "ck").glob("*.ledger.sqlite")
    one = run_cli("status", ledger, "--checkpoint-dir", tmp_path / "ck", cwd=tmp_path)
    assert one.stdout.splitlines()[0].endswith(f"; shard 0 of 2 [{ledger.name}]"), one.stdout
    assert len(one.stdout.splitlines()) == 1 + len(mine)  # a line per conversation of its own
    [entry] = json.loads(run_cli("status", ledger, "--json", "--checkpoint-dir", tmp_path / "ck",
                                 cwd=tmp_path).stdout)
    assert entry["shards"] == {"count": 2, "shard": 0} and entry["conversations"] == len(mine)


def test_a_shard_with_nothing_of_its_own_succeeds(tmp_path: Path, sandbox: SandboxServer) -> None:
    export = write_everos_group(tmp_path / "one.json", "only-one", 5)
    index = 1 - shard_of("group:only-one", 2)  # the shard that does not own it
    result = run_cli(export, "--api-url", sandbox.url, "--checkpoint-dir", tmp_path / "ck",
                     "--shard", f"{index}/2", "--resend", "group:only-one", "--yes",
                     cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 of 1 conversations are this shard's; 1 are left to the other shards" in result.stdout
    assert f"--resend group:only-one: that conversation is shard {1 - index}'s" in result.stdout
    assert _stored(sandbox) == {}


def test_a_malformed_shard_is_refused_before_any_work(tmp_path: Path) -> None:
    export = write_everos_group(tmp_path / "chat.json", "g", 3)
    cases = [(["--shard", "3/3"], {}, "must be below N"), (["--shard", "a/b"], {}, "expects I/N"),
             (["--shard", "0/0"], {}, "N must be between"),
             ([], {"IMPORTER_SHARD": "2/2"}, "IMPORTER_SHARD 2/2")]
    for flags, env, says in cases:
        for command in ([], ["plan"]):
            result = run_cli(*command, export, *flags, "--checkpoint-dir", tmp_path / "ck",
                             cwd=tmp_path, env=env)
            assert result.returncode == 2, result.stdout + result.stderr
            [line] = result.stderr.splitlines()
            assert says in line and "Traceback" not in line
    assert not (tmp_path / "ck").exists() and not (tmp_path / "importer-sandbox.db").exists()


def test_a_0_1_0_checkpoint_is_not_taken_over_by_a_shard(tmp_path: Path) -> None:
    legacy = DATA / "legacy_0_1_0"
    (tmp_path / "ck").mkdir()
    db = tmp_path / "sandbox.db"
    shutil.copy(legacy / "sandbox.db", db)
    snapshot = json.loads((legacy / "solo.json-2a667525eb17.json").read_text())
    snapshot["job"]["target"] = f"sandbox:{db.resolve()}"
    checkpoint = tmp_path / "ck" / "solo.json-2a667525eb17.json"
    checkpoint.write_text(json.dumps(snapshot))
    shutil.copy(legacy / "solo.json", tmp_path / "solo.json")
    args = ["solo.json", "--sandbox-db", db, "--checkpoint-dir", "ck"]

    refused = run_cli(*args, "--shard", "0/2", cwd=tmp_path)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    [line] = refused.stderr.splitlines()
    assert "importer 0.1.0" in line and "import once without --shard" in line
    assert checkpoint.exists() and not list((tmp_path / "ck").glob("*.ledger.sqlite"))
    taken = run_cli(*args, cwd=tmp_path)  # as the line says
    assert taken.returncode == 0 and "0 sent, 104 already imported" in taken.stdout, taken.stdout
