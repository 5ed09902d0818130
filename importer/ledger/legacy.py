"""Checkpoints written by importer 0.1.0, read once so that an upgrade resends nothing.

0.1.0 kept one checkpoint per *job* (inputs + target): ``NAME.json`` (a snapshot with
``version: 1``) plus ``NAME.journal.jsonl`` lines, and remembered each conversation by a cursor
(the newest acknowledged timestamp and the ids sent at it). The ledger takes those cursors over:
a message the cursor covers counts as acknowledged. The files are then renamed
``*.migrated`` so that they are taken over once.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from importer.targets.base import public_url

__all__ = ["LegacyCheckpoint", "LegacyState", "current_identity", "find_legacy_checkpoints"]

_VERSION = 1


@dataclass(frozen=True)
class LegacyState:
    acked: int
    group_ready: bool
    flushed_at: int | None
    origin: str
    cursor_ts: int
    cursor_ids: frozenset[str]
    #: a chunk the server had accepted, and the cursor once its task succeeds
    task_id: str | None
    task_cursor_ts: int | None
    task_cursor_ids: frozenset[str] | None


@dataclass(frozen=True)
class LegacyCheckpoint:
    path: Path
    states: dict[str, LegacyState]

    def files(self) -> list[Path]:
        stem = self.path.name.removesuffix(".json")
        names = [self.path.name, f"{stem}.journal.jsonl", f"{stem}.journal.old.jsonl"]
        return [self.path.with_name(n) for n in names if self.path.with_name(n).exists()]

    def retire(self) -> None:
        for path in self.files():
            path.replace(path.with_name(path.name + ".migrated"))


def current_identity(legacy_target: str) -> str:
    """The ledger identity of a 0.1.0 job's target (it spoke only the EverOS API)."""
    if legacy_target.startswith("sandbox:"):
        return f"everos:{legacy_target}"
    return f"everos:{public_url(legacy_target)}"


def find_legacy_checkpoints(directory: Path, identity: str) -> Iterator[LegacyCheckpoint]:
    """The 0.1.0 checkpoints in ``directory`` whose target is ``identity``."""
    if not directory.is_dir():
        return
    for path in sorted(directory.glob("*.json")):
        head = _read_json(path)
        if not isinstance(head, dict) or head.get("version") != _VERSION:
            continue
        target = head.get("job", {}).get("target") if isinstance(head.get("job"), dict) else None
        if not isinstance(target, str) or current_identity(target) != identity:
            continue
        yield LegacyCheckpoint(path, _states(path, head))


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _states(path: Path, snapshot: dict[str, Any]) -> dict[str, LegacyState]:
    raw: dict[str, Any] = dict(snapshot.get("conversations") or {})
    seq = int(snapshot.get("journal_seq") or 0)
    stem = path.name.removesuffix(".json")
    for journal in (f"{stem}.journal.old.jsonl", f"{stem}.journal.jsonl"):
        for entry in _journal_entries(path.with_name(journal)):
            if entry["seq"] > seq:
                raw[entry["key"]] = entry["state"]
                seq = entry["seq"]
    states: dict[str, LegacyState] = {}
    for key, value in raw.items():
        try:
            states[str(key)] = _state(value)
        except (TypeError, ValueError, AttributeError):
            # a damaged entry proves nothing: that conversation is not taken over (its messages
            # may be sent again) rather than the upgrade failing
            continue
    return states


def _journal_entries(path: Path) -> Iterator[dict[str, Any]]:
    """Journal lines with a whole-number ``seq`` and a ``key``; torn or malformed lines are
    skipped (they were never acknowledged as durable)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            continue  # a line torn by a crash was never acknowledged as durable
        if (
            isinstance(entry, dict)
            and {"seq", "key", "state"} <= entry.keys()
            and isinstance(entry["seq"], int)
        ):
            yield entry


def _cursor(value: Any) -> tuple[int, frozenset[str]] | None:
    if not isinstance(value, dict) or not isinstance(value.get("timestamp"), int):
        return None
    return value["timestamp"], frozenset(str(i) for i in value.get("ids") or ())


def _state(value: dict[str, Any]) -> LegacyState:
    cursor = _cursor(value.get("cursor")) or (-(2**62), frozenset())
    inflight = value.get("inflight") if isinstance(value.get("inflight"), dict) else None
    task_cursor = _cursor(inflight.get("cursor")) if inflight else None
    return LegacyState(
        acked=int(value.get("acked") or 0),
        group_ready=bool(value.get("group_ready")),
        flushed_at=value.get("flushed_at") if isinstance(value.get("flushed_at"), int) else None,
        origin=str(value.get("origin") or ""),
        cursor_ts=cursor[0],
        cursor_ids=cursor[1],
        task_id=str(inflight["task_id"]) if inflight and inflight.get("task_id") else None,
        task_cursor_ts=task_cursor[0] if task_cursor else None,
        task_cursor_ids=task_cursor[1] if task_cursor else None,
    )
