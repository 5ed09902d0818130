"""The ledger: what each target acknowledged, per conversation and message id.

``store`` holds the ``Ledger`` a run writes (locked, group-committed), ``sql`` its schema and
queries (and the lock-free ``LedgerView`` / ``read_summary`` that ``plan`` and ``status`` use),
``records`` the values it deals in, ``legacy`` the takeover of 0.1.0 checkpoints, ``layout``
which files a target's ledger has (one, or one per shard) and the refusal to mix layouts.
"""

from __future__ import annotations

from importer.ledger.layout import LayoutError, LedgerFile, check_layout, ledger_files
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
    "LayoutError",
    "Ledger",
    "LedgerFile",
    "LedgerTotals",
    "LedgerView",
    "check_layout",
    "content_digest",
    "conversation_digest",
    "id_digest",
    "ledger_files",
    "ledger_name",
    "read_summary",
]
