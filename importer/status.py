"""The ``status`` command: what each target's ledger holds, read without taking its lock."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from importer.errors import CheckpointError
from importer.ledger import read_summary

__all__ = ["describe_checkpoints", "status_json"]

_LEDGER_SUFFIX = ".ledger.sqlite"


def describe_checkpoints(directory: Path, checkpoint: str | None = None) -> str:
    """One ledger in detail, or a line per target's ledger in ``directory``.

    Raises ``CheckpointError`` for a file that is missing or not a ledger."""
    if checkpoint:
        return _describe_one(_ledger_path(directory, checkpoint))
    files = sorted(directory.glob(f"*{_LEDGER_SUFFIX}"))
    legacy = sorted(p for p in directory.glob("*.json") if _is_legacy(p))
    if not files and not legacy:
        return f"No ledgers in {directory}."
    lines = [_summary_line(p) for p in files]
    lines += [f"{p.name}: a checkpoint of importer 0.1.0; the next import into its target "
              "takes it over" for p in legacy]
    return "\n".join(lines)


def _ledger_path(directory: Path, given: str) -> Path:
    path = Path(given)
    for candidate in (path, directory / given):
        if candidate.name.endswith(".json"):
            candidate = candidate.with_name(candidate.name.removesuffix(".json") + _LEDGER_SUFFIX)
        if candidate.is_file():
            return candidate
    raise CheckpointError(f"no ledger at {given} (see `status` for the ledgers in {directory})")


def _is_legacy(path: Path) -> bool:
    try:
        head = path.read_text(encoding="utf-8")[:200]
    except OSError:
        return False
    return '"version": 1' in head and '"job"' in head


def _summary_line(path: Path) -> str:
    try:
        identity, totals, _ = read_summary(path)
    except CheckpointError as exc:
        return f"{path.name}: unreadable ({exc})"
    conversations = (f"{totals.conversations} conversations ({totals.complete} complete, "
                     f"{totals.failed} failed)")
    parts = [conversations, f"{totals.acked} messages acknowledged"]
    if totals.inflight:
        parts.append(f"{totals.inflight} chunks in flight")
    if totals.in_doubt:
        parts.append(f"{len(totals.in_doubt)} chunks in doubt")
    return f"{identity}: " + ", ".join(parts) + f" [{path.name}]"


def _describe_one(path: Path) -> str:
    _, totals, states = read_summary(path)
    lines = [_summary_line(path)]
    for key, state in states.items():
        if state.get("failure"):
            status = f"failed: {state['failure']}"
        elif state.get("inflight"):
            flight = state["inflight"]
            task = f"task {flight['task_id']}" if flight.get("task_id") else "no answer recorded"
            status = f"{flight['count']} messages in flight ({task})"
        elif state.get("flushed_at") == state["acked"]:
            status = "complete"
        else:
            status = "in progress"
        lines.append(f"  {key}: {state['acked']} acknowledged, {status}")
    for doubt in totals.in_doubt:
        lines.append(f"  in doubt: {doubt.describe()}")
    return "\n".join(lines)


def status_json(directory: Path, checkpoint: str | None = None) -> list[dict[str, Any]]:
    """What ``status --json`` prints: one object per ledger."""
    paths = ([_ledger_path(directory, checkpoint)] if checkpoint
             else sorted(directory.glob(f"*{_LEDGER_SUFFIX}")))
    out = []
    for path in paths:
        identity, totals, states = read_summary(path)
        out.append({
            "target": identity,
            "ledger": str(path),
            "conversations": totals.conversations,
            "complete": totals.complete,
            "failed": totals.failed,
            "acknowledged_messages": totals.acked,
            "chunks_in_flight": totals.inflight,
            "in_doubt": [d.describe() for d in totals.in_doubt],
            "states": states,
        })
    return out
