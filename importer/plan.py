"""``plan`` (and ``--dry-run``): what an import would send, read from the inputs and the ledger.

Nothing is sent and no lock is taken; under ``--shard`` only the shard's conversations are
planned, from its own ledger. Per conversation: messages found, already acknowledged by
the target, still to send, and the requests that takes; in total, a rough time at the chosen
concurrency from the target's measured round trip when it can be reached.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from importer.chunker import ChunkBuilder
from importer.ledger import LedgerView
from importer.merge import Spool
from importer.report import Report

__all__ = ["Estimate", "count_pending", "estimate", "plan_spool"]


@dataclass(frozen=True)
class Estimate:
    requests: int
    #: seconds, from the round trip measured (or assumed) and the concurrency
    seconds: float
    round_trip: float
    measured: bool


def count_pending(spool: Spool, ledger: LedgerView, report: Report) -> None:
    """``--validate-only``: how many messages of each conversation the target lacks (no
    chunking, no messages built; without a ledger, every message)."""
    results = {r.key: r for r in report.conversations}
    for spooled in spool.conversations():
        result = results.get(spooled.key)
        if result is None:
            continue  # another shard's
        if not ledger.exists:
            result.pending = spooled.count
            continue
        for page in spool.ids(spooled):
            done = ledger.acknowledged(spooled.key, page)
            result.already += sum(done)
            result.pending += len(page) - sum(done)


def plan_spool(
    spool: Spool, ledger: LedgerView, report: Report, *, max_messages: int, max_bytes: int,
) -> None:
    """Fill each conversation's result in ``report`` with what an import would send."""
    results = {r.key: r for r in report.conversations}
    for spooled in spool.conversations():
        result = results.get(spooled.key)
        if result is None:
            continue  # another shard's
        state = ledger.state(spooled.key)
        builder = ChunkBuilder(spooled.key, max_messages=max_messages, max_bytes=max_bytes)
        chunks = 0
        for page in spool.messages(spooled):
            done = ledger.acknowledged(spooled.key, [(m.message_id, m.timestamp) for m in page])
            for message, acknowledged in zip(page, done, strict=True):
                if acknowledged:
                    result.already += 1
                    continue
                result.pending += 1
                if state.max_ts is not None and message.timestamp < state.max_ts:
                    result.backfill += 1
                chunks += builder.add(message) is not None
        chunks += builder.finish() is not None
        if chunks:
            # the metadata call before the first chunk, and the flush after the last
            result.requests = chunks + (0 if state.group_ready else 1) + 1
        elif state.acked and state.flushed_at != state.acked:
            result.requests = 1  # only the flush an interrupted run did not get to


def estimate(
    report: Report, *, concurrency: int, round_trip: float | None, assumed: float = 0.2
) -> Estimate:
    """Requests in total, and about how long they take: the longest conversation goes one
    request after another; the rest share ``concurrency`` slots."""
    requests = sum(r.requests for r in report.conversations)
    trip = round_trip if round_trip is not None else assumed
    longest = max((r.requests for r in report.conversations), default=0)
    seconds = max(longest * trip, math.ceil(requests / max(concurrency, 1)) * trip)
    return Estimate(requests, seconds, trip, round_trip is not None)
