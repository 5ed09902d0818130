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
