"""The sandbox subcommands mounted by the main CLI: ``serve`` runs it, ``stored`` shows its data."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sqlite3
import sys
from pathlib import Path
from typing import Any, TextIO

import pydantic

from importer.errors import ImporterError
from importer.sandbox.faults import FaultConfig
from importer.sandbox.server import serve
from importer.sandbox.store import SandboxStore, StoredConversation

__all__ = ["DEFAULT_DB", "DEFAULT_PORT", "print_table", "register_commands"]

DEFAULT_DB = "./importer-sandbox.db"
DEFAULT_PORT = 1995
_API_KEY_ENV = "SANDBOX_API_KEY"
_FAULT_FLAGS: tuple[tuple[str, type, str, str], ...] = (
    ("--latency-ms", float, "MS", "delay added to each add request"),
    ("--task-delay-ms", float, "MS", "how long async tasks stay 'processing'"),
    ("--error-rate", float, "FRACTION", "fraction of adds answered 500/503"),
    ("--rate-limit-rps", float, "RPS", "requests per second over all /api routes before 429"),
    ("--rate-limit-rate", float, "FRACTION", "fraction of /api requests answered 429"),
    ("--rate-limit-retry-ms", float, "MS", "Retry-After those 429s ask for (200)"),
    ("--drop-rate", float, "FRACTION", "fraction of adds closed without an answer"),
    ("--task-fail-rate", float, "FRACTION", "fraction of async tasks that end 'failed'"),
    ("--seed", int, "N", "seed for reproducible faults"),
)


def register_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``serve`` and ``stored``; each sets ``func(args) -> int`` via ``set_defaults``."""
    serve_parser = subparsers.add_parser(
        "serve",
        help="run the local sandbox server (EverOS v1 API, stores into SQLite)",
        description="Run a local server that speaks the EverOS v1 API and stores what it "
        "receives in SQLite, optionally injecting faults. Stop it with Ctrl-C.",
    )
    serve_parser.add_argument("--host", default="127.0.0.1", help="bind address (%(default)s)")
    serve_parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port (%(default)s)")
    serve_parser.add_argument(
        "--db", default=DEFAULT_DB, metavar="PATH", help="SQLite file (%(default)s)"
    )
    serve_parser.add_argument(
        "--api-key",
        default=None,
        metavar="KEY",
        help=f"require 'Authorization: Bearer <key>' on /api routes (env {_API_KEY_ENV})",
    )
    group = serve_parser.add_argument_group("fault injection (all off by default)")
    for flag, kind, metavar, text in _FAULT_FLAGS:
        group.add_argument(flag, type=kind, default=None, metavar=metavar, help=text)
    group.add_argument(
        "--sync-only", action="store_true", help="ignore async_mode (like self-hosted EverCore)"
    )
    serve_parser.set_defaults(func=_serve_command)

    stored_parser = subparsers.add_parser(
        "stored",
        help="show what a sandbox database holds",
        description="Per conversation: messages, duplicates by message id, order and flushes.",
    )
    stored_parser.add_argument(
        "--db", default=DEFAULT_DB, metavar="PATH", help="SQLite file (%(default)s)"
    )
    stored_parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    stored_parser.set_defaults(func=_stored_command)


def _serve_command(args: argparse.Namespace) -> int:
    given = {name: getattr(args, name) for name in _fault_names()}
    fields: dict[str, Any] = {name: value for name, value in given.items() if value is not None}
    if args.sync_only:
        fields["sync_only"] = True
    try:
        faults = FaultConfig(**fields)
    except pydantic.ValidationError as exc:
        problems = "; ".join(
            f"--{str(e['loc'][0]).replace('_', '-')}: {e['msg']}" for e in exc.errors()
        )
        print(f"error: {problems}", file=sys.stderr)
        return 2

    api_key = args.api_key or os.environ.get(_API_KEY_ENV) or None

    def ready(url: str) -> None:
        auth = "on" if api_key else "off"
        print(f"sandbox listening on {url} (db: {args.db}, auth {auth}); Ctrl-C stops", flush=True)

    try:
        return serve(args.host, args.port, args.db, api_key, faults, on_ready=ready)
    except ImporterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _fault_names() -> list[str]:
    return [flag.removeprefix("--").replace("-", "_") for flag, *_ in _FAULT_FLAGS]


def _stored_command(args: argparse.Namespace) -> int:
    path = Path(args.db)
    if not path.is_file():
        print(f"error: no sandbox database at {path}", file=sys.stderr)
        return 1
    try:
        store = SandboxStore(path)
        try:
            conversations = store.conversations()
        finally:
            store.close()
    except sqlite3.DatabaseError as exc:
        print(f"error: {path} is not a readable sandbox database ({exc})", file=sys.stderr)
        return 1
    if args.json:
        rows = [{"key": c.key, **dataclasses.asdict(c)} for c in conversations]
        print(json.dumps(rows, indent=2))
    else:
        print_table(conversations, sys.stdout)
    return 0


def print_table(conversations: list[StoredConversation], out: TextIO) -> None:
    """A fixed-width table, one conversation per line, then a totals line."""
    header = (
        "conversation",
        "name",
        "messages",
        "duplicates",
        "chronological",
        "flushes",
        "flushed last",
    )
    rows: list[tuple[str, ...]] = [header]
    for c in conversations:
        rows.append(
            (
                c.key,
                c.name or "-",
                str(c.messages),
                str(c.duplicates),
                _yes_no(c.chronological),
                str(c.flushes),
                _yes_no(c.flushed_after_last),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for row in rows:
        # text columns left-aligned, the rest right-aligned under their headers
        cells = [
            cell.ljust(width) if i < 2 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        print("  ".join(cells).rstrip(), file=out)
    messages = sum(c.messages for c in conversations)
    duplicates = sum(c.duplicates for c in conversations)
    unordered = sum(not c.chronological for c in conversations)
    unflushed = sum(bool(c.messages) and not c.flushed_after_last for c in conversations)
    print(
        f"total: {len(conversations)} conversations, {messages} messages, "
        f"{duplicates} duplicates, {unordered} out of order, {unflushed} not flushed",
        file=out,
    )


def _yes_no(value: bool) -> str:
    return "yes" if value else "no"
