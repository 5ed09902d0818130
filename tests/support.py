"""Helpers shared by the end-to-end tests: run the CLI as a user would, build input files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"


def start_cli(
    *args: str | Path, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    """``python -m importer ARGS`` started in the background (no terminal); ``communicate()``
    waits for it and returns its stdout and stderr."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("EVEROS_", "EVER_OS_"))}
    full_env.update(env or {})
    return subprocess.Popen(
        [sys.executable, "-m", "importer", *map(str, args)], cwd=cwd, env=full_env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
    )


def run_cli(
    *args: str | Path, cwd: Path, env: dict[str, str] | None = None, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    """``python -m importer ARGS`` in a subprocess, as a user runs it (no terminal)."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("EVEROS_", "EVER_OS_"))}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "importer", *map(str, args)],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


#: runs the command after the file name, then writes the peak resident memory of that command
#: (its own process only: RUSAGE_CHILDREN of a fresh parent) into the file, in KiB
_PEAK_WRAPPER = """
import resource, subprocess, sys
code = subprocess.run(sys.argv[2:]).returncode
with open(sys.argv[1], "w") as out:
    out.write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))
sys.exit(code)
"""


def run_cli_peak(
    *args: str | Path, cwd: Path, env: dict[str, str] | None = None, timeout: float = 180
) -> tuple[subprocess.CompletedProcess[str], int]:
    """``run_cli``, and the peak resident memory of the importer process in bytes (Linux)."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("EVEROS_", "EVER_OS_"))}
    full_env.update(env or {})
    peak_file = cwd / ".peak-rss"
    result = subprocess.run(
        [sys.executable, "-c", _PEAK_WRAPPER, str(peak_file),
         sys.executable, "-m", "importer", *map(str, args)],
        check=False,
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    peak = int(peak_file.read_text()) * 1024
    peak_file.unlink()
    return result, peak


def write_everos_group(
    path: Path, group_id: str, count: int, *, start: int = 1_700_000_000_000, name: str = ""
) -> Path:
    """An EverOS batch file with ``count`` messages from three speakers, a minute apart."""
    messages: list[dict[str, Any]] = [
        {
            "role": "user",
            "sender_id": f"u{i % 3}",
            "sender_name": f"Speaker {i % 3}",
            "timestamp": start + i * 60_000,
            "content": f"message {i} of {group_id}",
            "message_id": f"{group_id}-{i:05d}",
        }
        for i in range(count)
    ]
    body = {"group_id": group_id, "group_meta": {"name": name or group_id}, "messages": messages}
    path.write_text(json.dumps(body), encoding="utf-8")
    return path
