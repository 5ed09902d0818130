"""Scratch folders (the spool's, which hold message text) left by a run that was killed are
removed by the next run; one still in use never is."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from importer.scratch import ScratchDir

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="flock: POSIX only")

# makes a scratch folder in argv[1], prints it, then dies without removing it or waits
_MAKER = """
import os, sys, time
from importer.scratch import ScratchDir
scratch = ScratchDir("importer-spool-", sys.argv[1])
(scratch.path / "spool.sqlite").write_text("message text")
print(scratch.path, flush=True)
if sys.argv[2] == "die":
    os._exit(1)
time.sleep(60)
"""


def _made_by_another_process(parent: Path, then: str) -> tuple[Path, subprocess.Popen[str]]:
    process = subprocess.Popen(
        [sys.executable, "-c", _MAKER, str(parent), then], cwd=ROOT, stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    path = Path(process.stdout.readline().strip())
    assert path.is_dir()
    return path, process


def test_a_folder_whose_maker_died_is_removed_by_the_next(tmp_path: Path) -> None:
    left, process = _made_by_another_process(tmp_path, "die")
    process.communicate()
    scratch = ScratchDir("importer-spool-", tmp_path)
    assert not left.exists()
    assert scratch.path.is_dir()
    scratch.remove()
    assert list(tmp_path.iterdir()) == []


def test_a_folder_in_use_is_kept_until_its_maker_is_gone(tmp_path: Path) -> None:
    in_use, process = _made_by_another_process(tmp_path, "wait")
    try:
        ScratchDir("importer-spool-", tmp_path).remove()
        assert in_use.is_dir()
    finally:
        process.kill()
        process.communicate()
    ScratchDir("importer-spool-", tmp_path).remove()
    assert list(tmp_path.iterdir()) == []


def test_the_spool_of_a_killed_import_is_removed_by_the_next_import(tmp_path: Path) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    for g in range(4):
        (inputs / f"g{g}.json").write_text(json.dumps({"group_id": f"g{g}", "messages": [
            {"role": "user", "sender_id": "u", "timestamp": 1_700_000_000_000 + i * 1000,
             "content": f"message {i}", "message_id": f"g{g}-{i}"} for i in range(200)]}))  # fmt: skip
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = {**os.environ, "TMPDIR": str(temp)}
    env.pop("EVEROS_BASE_URL", None)
    command = [sys.executable, "-m", "importer", str(inputs), "--checkpoint-dir",
               str(tmp_path / "ck"), "--sandbox-db", str(tmp_path / "sandbox.db"),
               "--chunk-size", "10"]  # fmt: skip
    process = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 30
    while not list(temp.glob("importer-spool-*")) and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert len(list(temp.glob("importer-spool-*"))) == 1
    rerun = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True,
                           check=False)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert list(temp.glob("importer-spool-*")) == []
