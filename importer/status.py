"""The ``status`` command: what each target's ledger holds, read without taking its lock.

A target imported with ``--shard I/N`` has one ledger file per shard; they are shown as one
target (totals summed, each conversation once) with the shards present and missing.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from importer.errors import CheckpointError
from importer.ledger import LedgerFile, LedgerTotals, read_summary
from importer.ledger.layout import SUFFIX, parse_ledger_file

__all__ = ["describe_checkpoints", "status_json"]


@dataclass
class _Target:
    """The ledger files of one target in one layout, read and merged."""

    files: list[LedgerFile]
    #: False: one file named on the command line, not every shard of its target
    whole: bool = True
    identity: str = ""
    totals: LedgerTotals = field(default_factory=LedgerTotals)
    states: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: files that could not be read, with why
    unreadable: list[tuple[LedgerFile, str]] = field(default_factory=list)

    @property
    def count(self) -> int:
        return self.files[0].shards

    @property
    def present(self) -> list[int]:
        return sorted(f.shard.index for f in self.files if f.shard is not None)

    @property
    def missing(self) -> list[int]:
        return sorted(set(range(self.count)) - set(self.present)) if self.count > 1 else []

    def read(self) -> _Target:
        for file in self.files:
            try:
                identity, totals, states = read_summary(file.path)
            except CheckpointError as exc:
                self.unreadable.append((file, str(exc)))
                continue
            self.identity = self.identity or identity
            self._add(file, totals, states)
        return self

    def _add(self, file: LedgerFile, totals: LedgerTotals,
             states: dict[str, dict[str, Any]]) -> None:
        merged = self.totals
        merged.acked += totals.acked
        merged.complete += totals.complete
        merged.failed += totals.failed
        merged.inflight += totals.inflight
        merged.in_doubt.extend(totals.in_doubt)
        for key, state in states.items():
            if file.shard is not None:
                state = {**state, "shard": file.shard.index}
            if key in self.states:  # never written so; counted once, its messages added up
                self.states[key]["acked"] += state["acked"]
            else:
                self.states[key] = state
        merged.conversations = len(self.states)


def _targets(directory: Path, checkpoint: str | None) -> Iterator[_Target]:
    """One ``_Target`` per target and layout in ``directory`` (or for the one file given)."""
    if checkpoint:
        path = _ledger_path(directory, checkpoint)
        parsed = parse_ledger_file(path) or LedgerFile(path, path.stem, None)
        yield _Target([parsed], whole=False).read()
        return
    groups: dict[tuple[str, int], list[LedgerFile]] = {}
    for path in sorted(directory.glob(f"*{SUFFIX}")):
        found = parse_ledger_file(path)
        if found is not None:
            groups.setdefault((found.stem, found.shards), []).append(found)
    for files in groups.values():
        yield _Target(sorted(files, key=lambda f: f.shard.index if f.shard else 0)).read()


def describe_checkpoints(directory: Path, checkpoint: str | None = None) -> str:
    """One ledger in detail, or a line per target's ledger in ``directory``.

    Raises ``CheckpointError`` for a file that is missing or not a ledger."""
    if checkpoint:
        [target] = _targets(directory, checkpoint)
        if target.unreadable:
            raise CheckpointError(target.unreadable[0][1])
        return _describe_one(target)
    targets = list(_targets(directory, None))
    legacy = sorted(p for p in directory.glob("*.json") if _is_legacy(p))
    if not targets and not legacy:
        return f"No ledgers in {directory}."
    lines = [_summary_line(t) for t in targets]
    lines += [f"{p.name}: a checkpoint of importer 0.1.0; the next import into its target "
              "takes it over" for p in legacy]
    return "\n".join(lines)


def _ledger_path(directory: Path, given: str) -> Path:
    path = Path(given)
    for candidate in (path, directory / given):
        if candidate.name.endswith(".json"):
            candidate = candidate.with_name(candidate.name.removesuffix(".json") + SUFFIX)
        if candidate.is_file():
            return candidate
    raise CheckpointError(f"no ledger at {given} (see `status` for the ledgers in {directory})")


def _is_legacy(path: Path) -> bool:
    try:
        head = path.read_text(encoding="utf-8")[:200]
    except OSError:
        return False
    return '"version": 1' in head and '"job"' in head


def _summary_line(target: _Target) -> str:
    names = ", ".join(f.path.name for f in target.files)
    if not target.identity:  # nothing of it could be read
        return f"{names}: unreadable ({target.unreadable[0][1]})"
    totals = target.totals
    conversations = (f"{totals.conversations} conversations ({totals.complete} complete, "
                     f"{totals.failed} failed)")
    parts = [conversations, f"{totals.acked} messages acknowledged"]
    if totals.inflight:
        parts.append(f"{totals.inflight} chunks in flight")
    if totals.in_doubt:
        parts.append(f"{len(totals.in_doubt)} chunks in doubt")
    line = f"{target.identity}: " + ", ".join(parts)
    return line + _shards_note(target) + f" [{names}]"


def _shards_note(target: _Target) -> str:
    if target.count == 1:
        return ""
    present = ", ".join(map(str, target.present))
    if not target.whole:
        return f"; shard {present} of {target.count}"
    note = f"; {target.count} shards, ledgers of shards {present} present"
    if target.missing:
        note += f", none of {', '.join(map(str, target.missing))} (not run yet)"
    for file, why in target.unreadable:
        assert file.shard is not None
        note += f"; shard {file.shard.index} unreadable ({why})"
    return note


def _describe_one(target: _Target) -> str:
    lines = [_summary_line(target)]
    for key, state in target.states.items():
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
    lines.extend(f"  in doubt: {doubt.describe()}" for doubt in target.totals.in_doubt)
    return "\n".join(lines)


def status_json(directory: Path, checkpoint: str | None = None) -> list[dict[str, Any]]:
    """What ``status --json`` prints: one object per target (its shards merged)."""
    out = []
    for target in _targets(directory, checkpoint):
        if target.unreadable:
            raise CheckpointError(target.unreadable[0][1])
        totals = target.totals
        out.append({
            "target": target.identity,
            "ledger": str(target.files[0].path) if target.count == 1 else None,
            "ledgers": [str(f.path) for f in target.files],
            "shards": _shards_json(target),
            "conversations": totals.conversations,
            "complete": totals.complete,
            "failed": totals.failed,
            "acknowledged_messages": totals.acked,
            "chunks_in_flight": totals.inflight,
            "in_doubt": [d.describe() for d in totals.in_doubt],
            "states": target.states,
        })
    return out


def _shards_json(target: _Target) -> dict[str, Any] | None:
    if target.count == 1:
        return None
    if not target.whole:
        return {"count": target.count, "shard": target.present[0]}
    return {"count": target.count, "present": target.present, "missing": target.missing}
