"""Reading inputs in a forked child: what it sends arrives in order, and a child that fails,
dies or is asked to stop is never taken for one that finished."""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from converters.json_stream import BrokenJSON
from importer.errors import InputError
from importer.reader import ReaderDied, StopFlag, can_fork, start_forked

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(not can_fork(), reason="reading in a child needs fork (Linux)")


def test_items_arrive_in_order_and_the_result_comes_back() -> None:
    def work(stop: StopFlag, send: Callable[[Any], None]) -> tuple[int, int]:
        for i in range(2000):
            send({"n": i, "pad": "x" * (i % 300)})  # frames of many sizes, across pipe reads
        return os.getpid(), 2000

    got: list[int] = []
    child = start_forked(work)
    child_pid, count = child.relay(lambda item: got.append(item["n"]), threading.Event())
    assert got == list(range(2000)) and count == 2000
    assert child_pid != os.getpid()  # it really ran elsewhere


def test_a_failure_in_the_child_is_raised_with_its_reason() -> None:
    def work(stop: StopFlag, send: Callable[[Any], None]) -> None:
        send(1)
        raise OSError("No space left on device")

    got: list[int] = []
    with pytest.raises(ReaderDied, match="OSError: No space left on device"):
        start_forked(work).relay(got.append, threading.Event())
    assert got == [1]


def test_a_child_that_dies_without_a_word_is_not_taken_for_done() -> None:
    def work(stop: StopFlag, send: Callable[[Any], None]) -> None:
        os._exit(0)  # killed, out of memory ...: no "done" ever comes

    with pytest.raises(ReaderDied, match="ended unexpectedly"):
        start_forked(work).relay(lambda item: None, threading.Event())


def _pid_then_wait_for_stop(stop: StopFlag, send: Callable[[Any], None]) -> str:
    """Sends its pid, then waits (at most 10 s) for the parent to say stop."""
    send(os.getpid())
    deadline = time.monotonic() + 10
    while not stop.is_set():
        if time.monotonic() > deadline:
            return "never told"
        time.sleep(0.01)
    return "stopped"


def test_a_stop_asked_in_the_parent_reaches_the_child() -> None:
    stopping = threading.Event()
    child = start_forked(_pid_then_wait_for_stop)
    assert child.relay(lambda pid: stopping.set(), stopping) == "stopped"


def test_the_child_leaves_ctrl_c_and_sigterm_to_the_parent() -> None:
    """Both reach the whole process group; the child goes on until the parent says stop."""
    stopping = threading.Event()

    def signal_then_stop(child: int) -> None:
        os.kill(child, signal.SIGINT)
        os.kill(child, signal.SIGTERM)
        time.sleep(0.2)  # time to die, were the signals not ignored
        stopping.set()

    assert start_forked(_pid_then_wait_for_stop).relay(signal_then_stop, stopping) == "stopped"


def test_an_import_whose_reading_fails_exits_non_zero_with_one_line(tmp_path: Path) -> None:
    """A failure of reading itself (not of one input: the spool's disk full at the merge) ends
    the run with one line and exit 1."""
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "g.json").write_text(json.dumps({"group_id": "g", "messages": [
        {"role": "user", "sender_id": "u", "timestamp": 1_700_000_000_000, "content": "hi",
         "message_id": "m1"}]}), encoding="utf-8")
    failing = tmp_path / "failing.py"
    failing.write_text(
        "import sys, runpy\n"
        "from importer.merge import Spool\n"
        "def conversations(self):\n"
        "    raise OSError(28, 'No space left on device')\n"
        "Spool.conversations = conversations\n"
        "sys.argv = ['importer', *sys.argv[1:]]\n"
        "runpy.run_module('importer', run_name='__main__')\n",
        encoding="utf-8",
    )
    done = subprocess.run(
        [sys.executable, str(failing), str(inputs), "--checkpoint-dir", str(tmp_path / "ck"),
         "--sandbox-db", str(tmp_path / "s.db")],
        cwd=ROOT, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert "No space left on device" in done.stderr
    assert "Traceback" not in done.stderr


def test_an_input_error_crosses_from_the_child_as_it_was_built() -> None:
    """The child's input errors reach the report pickled: every field, and the subclass."""
    errors = [
        InputError("a.json", "field 'content' is empty", where="message 3 (id m3)",
                   problems=["first", "second"]),
        BrokenJSON("b.json", "not JSON from here on", where="byte 17"),
    ]
    for error in errors:
        again = pickle.loads(pickle.dumps(error))
        assert type(again) is type(error) and str(again) == str(error)
        assert (again.path, again.reason, again.where, again.problems) == (
            error.path, error.reason, error.where, error.problems)


def test_forking_leaves_the_collector_as_the_program_set_it() -> None:
    # frozen only around the fork when nothing was; a program's own freeze (the command line
    # freezes what it imported) is never undone
    import gc

    def work(stop: StopFlag, send: Callable[[Any], None]) -> int:
        return gc.get_freeze_count()

    assert gc.get_freeze_count() == 0
    frozen_there = start_forked(work).relay(lambda item: None, threading.Event())
    assert frozen_there > 0  # the child saw it frozen
    assert gc.get_freeze_count() == 0
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        start_forked(work).relay(lambda item: None, threading.Event())
        assert gc.get_freeze_count() == frozen
    finally:
        gc.unfreeze()


def test_an_import_forks_its_reader_before_starting_threads_of_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A lock another thread holds at the fork stays held in the child: forked beside the thread
    opening the ledger, a reading child hung in its first ``sqlite3.connect`` (1 run in 7 of a
    Ctrl-C test). The fork comes on the event loop's thread, before the target is checked, the
    ledger opened or the embedded sandbox started."""
    import asyncio

    import importer.pipeline
    import importer.reader
    from importer import BatchImporter
    from importer.ledger import Ledger

    events: list[str] = []
    real_fork, real_open = importer.reader.start_forked, Ledger.open

    def start_forked(work: Any) -> Any:
        events.append(f"fork on {threading.current_thread().name}")
        return real_fork(work)

    def ledger_open(self: Ledger) -> Ledger:
        events.append("ledger opened")
        return real_open(self)

    monkeypatch.setattr(importer.pipeline, "start_forked", start_forked)
    monkeypatch.setattr(Ledger, "open", ledger_open)
    export = tmp_path / "g.json"
    export.write_text(json.dumps({"group_id": "g", "messages": [
        {"role": "user", "sender_id": "u", "timestamp": 1_700_000_000_000, "content": "hi",
         "message_id": "m1"}]}), encoding="utf-8")  # fmt: skip
    importer_ = BatchImporter(checkpoint_dir=tmp_path / "ck", sandbox_db=tmp_path / "s.db")
    report = asyncio.run(importer_.import_paths([export]))
    assert report.exit_code == 0 and report.messages_sent == 1
    assert events == [f"fork on {threading.main_thread().name}", "ledger opened"]
