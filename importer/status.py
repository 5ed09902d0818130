"""The ``status`` command: what checkpoints say was imported, without taking their lock."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from importer.checkpoint import ConversationState

__all__ = ["describe_checkpoints"]


def describe_checkpoints(directory: Path, checkpoint: str | None = None) -> str:
    """One checkpoint in detail, or a line per checkpoint in ``directory``."""
    if checkpoint:
        path = Path(checkpoint)
        if not path.exists() and (directory / checkpoint).exists():
            path = directory / checkpoint
        return _describe_one(path)
    files = sorted(p for p in directory.glob("*.json") if not p.name.startswith("."))
    if not files:
        return f"No checkpoints in {directory}."
    return "\n".join(_summary_line(p) for p in files)


def _load(path: Path) -> tuple[dict[str, Any], dict[str, ConversationState]]:
    raw = json.loads(path.read_text(encoding="utf-8"))
    states = {k: ConversationState.model_validate(v) for k, v in raw.get("conversations", {}).items()}
    # changes since the last snapshot (a run in progress, or one that was killed)
    journal = path.with_name(path.name.removesuffix(".json") + ".journal.jsonl")
    if journal.exists():
        for line in journal.read_text(encoding="utf-8").splitlines():
            try:
                entry = json.loads(line)
                states[entry["key"]] = ConversationState.model_validate(entry["state"])
            except (ValueError, KeyError, TypeError):
                continue
    return raw.get("job", {}), states


def _summary_line(path: Path) -> str:
    try:
        job, states = _load(path)
    except (OSError, ValueError) as exc:
        return f"{path.name}: unreadable ({exc})"
    complete = sum(s.complete for s in states.values())
    failed = sum(s.failure is not None for s in states.values())
    acked = sum(s.acked for s in states.values())
    inputs = ", ".join(str(i) for i in job.get("inputs", []))
    return (
        f"{path.name}: {len(states)} conversations ({complete} complete, {failed} failed), "
        f"{acked} messages acknowledged; {inputs} -> {job.get('target', '?')}"
    )


def _describe_one(path: Path) -> str:
    try:
        _, states = _load(path)
    except (OSError, ValueError) as exc:
        return f"{path}: unreadable ({exc})"
    lines = [_summary_line(path)]
    for key, state in sorted(states.items()):
        if state.complete:
            status = "complete"
        elif state.failure:
            status = f"failed: {state.failure}"
        elif state.inflight:
            status = f"waiting for task {state.inflight.task_id}"
        else:
            status = "in progress"
        lines.append(f"  {key}: {state.acked} acknowledged, {status}")
    return "\n".join(lines)
