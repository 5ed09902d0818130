"""The ledger: what each target acknowledged, per conversation and message id.

``store`` holds the ``Ledger`` a run writes (locked, group-committed), ``sql`` its schema and
queries (and the lock-free ``LedgerView`` / ``read_summary`` that ``plan`` and ``status`` use),
``records`` the values it deals in, ``legacy`` the takeover of 0.1.0 checkpoints.
"""

from __future__ import annotations

from importer.ledger.records import (
    ConversationState,
    InDoubt,
    InFlight,
    LedgerTotals,
    content_digest,
    conversation_digest,
    id_digest,
    ledger_name,
)
from importer.ledger.sql import SCHEMA_VERSION, LedgerView, read_summary
from importer.ledger.store import Ledger

__all__ = [
    "SCHEMA_VERSION",
    "ConversationState",
    "InDoubt",
    "InFlight",
    "Ledger",
    "LedgerTotals",
    "LedgerView",
    "content_digest",
    "conversation_digest",
    "id_digest",
    "ledger_name",
    "read_summary",
]
