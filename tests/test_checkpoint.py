from __future__ import annotations

import json
from pathlib import Path

import pytest

from importer.checkpoint import (
    CheckpointStore,
    ConversationState,
    Cursor,
    InFlight,
    job_name,
)
from importer.errors import CheckpointError
from importer.models import Message


def _store(tmp_path: Path) -> CheckpointStore:
    return CheckpointStore(tmp_path, "job", job={"inputs": ["x"], "target": "t"})


def _msg(i: str, ts: int) -> Message:
    return Message(message_id=i, timestamp=ts, sender_id="u", content="secret text")


def test_cursor_covers_older_and_acknowledged_ids_at_its_timestamp() -> None:
    cursor = Cursor(timestamp=100).advance([_msg("a", 90), _msg("b", 100), _msg("c", 100)])
    assert cursor == Cursor(timestamp=100, ids=("b", "c"))
    assert cursor.covers(_msg("x", 99))
    assert cursor.covers(_msg("b", 100))
    assert not cursor.covers(_msg("d", 100))  # same millisecond, not yet sent
    assert not cursor.covers(_msg("e", 101))
    # ids at the same timestamp accumulate across chunks
    assert cursor.advance([_msg("d", 100)]).ids == ("b", "c", "d")


async def test_records_survive_reopen_without_a_clean_close(tmp_path: Path) -> None:
    store = _store(tmp_path).open()
    state = ConversationState(acked=3, cursor=Cursor(timestamp=5, ids=("m3",)))
    await store.record("group:a", state)
    await store.record("group:b", ConversationState(acked=1))
    # simulate a crash: no close(); the lock is released as the process would release it
    store._journal.close()  # type: ignore[union-attr]
    store._lock.release()
    reopened = _store(tmp_path).open()
    assert reopened.get("group:a") == state
    assert reopened.get("group:b").acked == 1
    assert reopened.get("missing") == ConversationState()
    await reopened.close()


async def test_a_torn_last_journal_line_is_ignored(tmp_path: Path) -> None:
    store = _store(tmp_path).open()
    await store.record("group:a", ConversationState(acked=2))
    store._journal.close()  # type: ignore[union-attr]
    store._lock.release()
    with open(store.journal_path, "a", encoding="utf-8") as f:
        f.write('{"seq": 99, "key": "group:a", "state": {"ack')  # cut mid-write
    reopened = _store(tmp_path).open()
    assert reopened.get("group:a").acked == 2
    await reopened.close()


async def test_close_folds_the_journal_into_an_atomic_snapshot(tmp_path: Path) -> None:
    store = _store(tmp_path).open()
    inflight = InFlight(task_id="t-1", cursor=Cursor(timestamp=9), acked=4)
    await store.record("personal:u", ConversationState(acked=2, inflight=inflight))
    await store.close()
    assert not store.journal_path.exists()
    data = json.loads(store.path.read_text())
    assert data["version"] == 1
    assert data["conversations"]["personal:u"]["inflight"]["task_id"] == "t-1"
    assert "secret text" not in store.path.read_text()
    assert not list(tmp_path.glob(".*.tmp"))


async def test_a_second_run_on_the_same_checkpoint_is_refused(tmp_path: Path) -> None:
    first = _store(tmp_path).open()
    with pytest.raises(CheckpointError, match="already running"):
        _store(tmp_path).open()
    await first.close()
    second = _store(tmp_path).open()  # free again once the first is done
    await second.close()


async def test_restart_forgets_everything(tmp_path: Path) -> None:
    store = _store(tmp_path).open()
    await store.record("group:a", ConversationState(acked=7))
    await store.close()
    fresh = _store(tmp_path).open(restart=True)
    assert fresh.get("group:a").acked == 0
    await fresh.close()


def test_unknown_version_or_garbage_asks_for_restart(tmp_path: Path) -> None:
    (tmp_path / "job.json").write_text('{"version": 99, "job": {}}')
    with pytest.raises(CheckpointError, match="--restart"):
        _store(tmp_path).open()
    (tmp_path / "job.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="unreadable"):
        _store(tmp_path).open()


async def test_many_concurrent_records_are_group_committed(tmp_path: Path) -> None:
    import asyncio

    store = _store(tmp_path).open()
    await asyncio.gather(
        *(store.record(f"group:{i}", ConversationState(acked=i)) for i in range(200))
    )
    lines = store.journal_path.read_text().splitlines()
    assert len(lines) == 200
    await store.close()
    reopened = _store(tmp_path).open()
    assert [reopened.get(f"group:{i}").acked for i in range(200)] == list(range(200))
    await reopened.close()


def test_job_name_is_stable_and_depends_on_inputs_and_target(tmp_path: Path) -> None:
    a = job_name([str(tmp_path / "x"), str(tmp_path / "y")], "http://s")
    assert a == job_name([str(tmp_path / "y"), str(tmp_path / "x")], "http://s")
    assert a != job_name([str(tmp_path / "x")], "http://s")
    assert a != job_name([str(tmp_path / "x"), str(tmp_path / "y")], "http://other")
    assert a.startswith("x-")
