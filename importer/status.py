"""The ``status`` command: what checkpoints say was imported, without taking their lock."""

from __future__ import annotations

from pathlib import Path

from importer.checkpoint import read_checkpoint
from importer.errors import CheckpointError

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


def _summary_line(path: Path) -> str:
    try:
        job, states, _ = read_checkpoint(path)
    except (OSError, CheckpointError) as exc:
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
        _, states, _ = read_checkpoint(path)
    except (OSError, CheckpointError) as exc:
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
