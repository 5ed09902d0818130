"""Shard assignment: parsing ``I/N``, a stable hash every process agrees on, a roughly even split,
and the ledger layout (one file per shard, never two layouts for one target)."""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from importer.errors import ConfigError
from importer.ledger import LayoutError, Ledger, check_layout, ledger_files, ledger_name
from importer.shard import SCHEME, Shard, parse_shard, shard_of
from tests.support import REPO

IDENTITY = "everos:http://127.0.0.1:9/"


def _keys(n: int) -> list[str]:
    """Keys shaped like real ones: Slack channel ids, Discord snowflakes, personal sessions."""
    keys = []
    for i in range(n):
        kind = i % 3
        if kind == 0:
            keys.append(f"group:C{i:08X}")
        elif kind == 1:
            keys.append(f"group:discord_{1100000000000000000 + i * 4096}")
        else:
            keys.append(f"personal:user_{i % 97}/conv-{i:06d}")
    return keys


# -- parsing --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("0/4", Shard(0, 4)), ("3/4", Shard(3, 4)), (" 2 / 5 ", Shard(2, 5)), ("0/1", None),
    ("9999/10000", Shard(9999, 10000)),
])
def test_valid_shards_parse(text: str, expected: Shard | None) -> None:
    assert parse_shard(text) == expected


@pytest.mark.parametrize(("text", "says"), [
    ("3/3", "must be below N (0..2)"), ("4/3", "must be below N"), ("a/b", "expects I/N"),
    ("0/0", "N must be between 1"), ("-1/2", "expects I/N"), ("1", "expects I/N"),
    ("1/2/3", "expects I/N"), ("", "expects I/N"), ("0/10001", "N must be between 1"),
    ("1.0/2", "expects I/N"),
])
def test_malformed_shards_are_one_clear_config_error(text: str, says: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_shard(text, source="IMPORTER_SHARD")
    message = str(caught.value)
    assert says in message and message.startswith("IMPORTER_SHARD") and "\n" not in message


def test_a_shard_cannot_be_built_out_of_range() -> None:
    for index, count in ((2, 2), (-1, 2), (0, 0)):
        with pytest.raises(ValueError):
            Shard(index, count)


# -- assignment -------------------------------------------------------------------------------------


def test_assignment_is_pinned() -> None:
    """The hash must never change: shard ledgers written by an earlier version would then hold
    conversations that now belong to another shard, and be sent twice."""
    assert SCHEME == "blake2b-64"
    assert [shard_of(k, 4) for k in ("group:general", "group:discord_1100000000000000150")] == [1, 3]
    assert shard_of("personal:user_001/chat_user_001_assistant", 10_000) == 9625
    assert shard_of("group:general", 7) == 6


def test_every_key_belongs_to_exactly_one_shard() -> None:
    keys = _keys(3000)
    taken: list[str] = []
    for index in range(5):
        mine, share = Shard(index, 5).take(_Keyed(k) for k in keys)
        assert share.conversations == len(mine) and share.conversations + share.others == 3000
        taken.extend(item.key for item in mine)
    assert sorted(taken) == sorted(keys)


@pytest.mark.parametrize("count", [2, 4, 7, 16])
def test_the_split_is_roughly_even(count: int) -> None:
    keys = _keys(40_000)
    sizes = Counter(shard_of(k, count) for k in keys)
    assert set(sizes) == set(range(count))
    mean = len(keys) / count
    # a fair hash stays within a few standard deviations (√mean ≈ 50..140 here): ±5 %
    assert all(abs(size - mean) < 0.05 * mean for size in sizes.values()), sizes


def test_every_process_agrees_whatever_its_hash_seed() -> None:
    """Python's own ``hash`` of a str changes from process to process; ours never does."""
    keys = _keys(500)
    here = [shard_of(k, 7) for k in keys]
    script = ("import json, sys; from importer.shard import shard_of; "
              "print(json.dumps([shard_of(k, 7) for k in json.load(sys.stdin)]))")
    for seed in ("1", "2", "random"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(REPO)}
        done = subprocess.run([sys.executable, "-c", script], input=json.dumps(keys),
                              capture_output=True, text=True, env=env, check=True, timeout=60)
        assert json.loads(done.stdout) == here


class _Keyed:
    def __init__(self, key: str) -> None:
        self.key = key


# -- the ledger layout ------------------------------------------------------------------------------


def _open(directory: Path, shard: Shard | None) -> Ledger:
    return Ledger(directory, IDENTITY, shard=shard).open()


def _close(ledger: Ledger) -> None:
    asyncio.run(ledger.close())


def test_each_shard_has_its_own_files_lock_and_layout(tmp_path: Path) -> None:
    first, second = _open(tmp_path, Shard(0, 2)), _open(tmp_path, Shard(1, 2))  # no contention
    assert first.path.name == f"{ledger_name(IDENTITY)}.shard-0-of-2.ledger.sqlite"
    assert second.path.name == f"{ledger_name(IDENTITY)}.shard-1-of-2.ledger.sqlite"
    _close(first)
    _close(second)
    with sqlite3.connect(first.path) as db:
        assert dict(db.execute("SELECT name, value FROM meta"))["layout"] == (
            "shard 0 of 2 by blake2b-64")
    assert json.loads(first.summary_path.read_text())["layout"] == "shard 0 of 2 by blake2b-64"
    assert [f.shard for f in ledger_files(tmp_path, IDENTITY)] == [Shard(0, 2), Shard(1, 2)]
    assert ledger_files(tmp_path, "everos:http://other/") == []


def test_another_layout_is_refused_and_leaves_no_file(tmp_path: Path) -> None:
    _close(_open(tmp_path, Shard(1, 2)))
    before = sorted(p.name for p in tmp_path.iterdir())
    for shard in (None, Shard(0, 3), Shard(2, 3)):
        with pytest.raises(LayoutError) as caught:
            _open(tmp_path, shard)
        message = str(caught.value)
        assert ".shard-1-of-2.ledger.sqlite" in message and "--shard I/2" in message
    assert sorted(p.name for p in tmp_path.iterdir() if "lock" not in p.name) == [
        n for n in before if "lock" not in n]
    _close(_open(tmp_path, Shard(0, 2)))  # the same layout is welcome


def test_shards_are_refused_where_the_ledger_is_unsharded(tmp_path: Path) -> None:
    _close(_open(tmp_path, None))
    with pytest.raises(LayoutError, match="Run without --shard, as before"):
        check_layout(tmp_path, IDENTITY, Shard(0, 2))
    check_layout(tmp_path, IDENTITY, None)


def test_a_renamed_ledger_is_refused_by_its_recorded_layout(tmp_path: Path) -> None:
    ledger = _open(tmp_path, Shard(0, 2))
    _close(ledger)
    renamed = tmp_path / f"{ledger_name(IDENTITY)}.shard-1-of-2.ledger.sqlite"
    ledger.path.rename(renamed)
    with pytest.raises(LayoutError, match="was written as 'shard 0 of 2"):
        _open(tmp_path, Shard(1, 2))


def _race(directory: str, shard: tuple[int, int] | None, barrier: object, results: object) -> None:
    barrier.wait()  # type: ignore[attr-defined]
    try:
        ledger = Ledger(directory, IDENTITY,
                        shard=Shard(*shard) if shard else None).open()
    except LayoutError:
        results.put(("refused", shard))  # type: ignore[attr-defined]
        return
    results.put(("opened", shard))  # type: ignore[attr-defined]
    asyncio.run(asyncio.sleep(0.3))
    asyncio.run(ledger.close())


def test_runs_of_two_layouts_started_together_never_both_go_on(tmp_path: Path) -> None:
    """Both check the folder again once their own file exists, so at most one layout opens."""
    context = multiprocessing.get_context("spawn")
    layouts: list[tuple[int, int] | None] = [None, (0, 2), (1, 2), (0, 3)]
    for round_ in range(4):
        folder = tmp_path / f"round-{round_}"
        folder.mkdir()
        barrier, results = context.Barrier(len(layouts)), context.Queue()
        workers = [context.Process(target=_race, args=(str(folder), shard, barrier, results))
                   for shard in layouts]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(60)
        outcomes = [results.get(timeout=5) for _ in workers]
        opened = {1 if shard is None else shard[1] for what, shard in outcomes if what == "opened"}
        assert len(opened) <= 1, outcomes
        left = {f.shards for f in ledger_files(folder, IDENTITY)}
        assert left == opened, (outcomes, left)
