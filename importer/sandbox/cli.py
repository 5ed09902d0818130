"""The sandbox subcommands mounted by the main CLI: ``serve`` runs it, ``stored`` shows its data
(per protocol: EverOS conversations, EverCore groups, GoodMem spaces)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sqlite3
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import pydantic

from importer.errors import ImporterError

if TYPE_CHECKING:  # what the commands use is imported when one runs, not with the parser
    from importer.sandbox.store import StoredConversation
    from importer.sandbox.store_evercore import StoredEverCoreGroup
    from importer.sandbox.store_goodmem import StoredSpace

__all__ = [
    "DEFAULT_DB",
    "DEFAULT_PORT",
    "print_evercore_table",
    "print_goodmem_table",
    "print_table",
    "register_commands",
]

DEFAULT_DB = "./importer-sandbox.db"
DEFAULT_PORT = 1995
_API_KEY_ENV = "SANDBOX_API_KEY"
_FAULT_FLAGS: tuple[tuple[str, type, str, str], ...] = (
    ("--latency-ms", float, "MS", "delay added to each add request"),
    ("--latency-jitter", float, "FRACTION",
     "each add's delay drawn uniformly from --latency-ms x (1 ± FRACTION)"),
    ("--task-delay-ms", float, "MS", "how long async tasks stay 'processing'"),
    ("--task-delay-jitter", float, "FRACTION",
     "each task's delay drawn uniformly from --task-delay-ms x (1 ± FRACTION)"),
    ("--error-rate", float, "FRACTION", "fraction of adds answered 500/503"),
    ("--rate-limit-rps", float, "RPS", "requests per second over all /api and /v1 routes before 429"),
    ("--rate-limit-rate", float, "FRACTION", "fraction of /api and /v1 requests answered 429"),
    ("--rate-limit-retry-ms", float, "MS", "Retry-After those 429s ask for (200)"),
    ("--drop-rate", float, "FRACTION", "fraction of adds closed without an answer"),
    ("--task-fail-rate", float, "FRACTION", "fraction of async tasks that end 'failed'"),
    ("--task-visible-after-ms", float, "MS",
     "a new task answers 404 this long (a status store lagging behind the 202)"),
    ("--background-rate", float, "FRACTION", "fraction of EverCore adds answered 202 (background)"),
    ("--item-error-rate", float, "FRACTION", "fraction of GoodMem items answered UNAVAILABLE"),
    ("--seed", int, "N", "seed for reproducible faults and jitter"),
)


def register_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``serve`` and ``stored``; each sets ``func(args) -> int`` via ``set_defaults``."""
    serve_parser = subparsers.add_parser(
        "serve",
        help="run the local sandbox server (EverOS, EverCore and GoodMem APIs, into SQLite)",
        description="Run a local server that speaks the EverOS v1 API, EverCore's "
        "single-message API (/api/v0/memories) and GoodMem's REST API (/v1), and stores what "
        "it receives in SQLite, optionally injecting faults. Stop it with Ctrl-C.",
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
        help="require 'Authorization: Bearer <key>' on /api routes and 'x-api-key: <key>' on"
        f" /v1 (GoodMem) routes (env {_API_KEY_ENV})",
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
        description="Per EverOS conversation: messages, duplicates by message id, order and "
        "flushes; per EverCore group: messages, duplicates and order; per GoodMem space: "
        "memories, the messages they cover and those covered twice.",
    )
    stored_parser.add_argument(
        "--db", default=DEFAULT_DB, metavar="PATH", help="SQLite file (%(default)s)"
    )
    stored_parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    stored_parser.set_defaults(func=_stored_command)


def _serve_command(args: argparse.Namespace) -> int:
    from importer.sandbox.faults import FaultConfig

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

    db = Path(args.db)
    if not db.parent.is_dir() or (db.exists() and not db.is_file()):
        print(f"error: --db {db}: folder {db.parent} does not exist (create it first)",
              file=sys.stderr)
        return 2
    from importer.sandbox.server import serve

    try:
        return serve(args.host, args.port, args.db, api_key, faults, on_ready=ready)
    except ImporterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (OSError, sqlite3.Error) as exc:
        print(f"error: cannot serve from --db {db}: {exc}", file=sys.stderr)
        return 1


def _fault_names() -> list[str]:
    return [flag.removeprefix("--").replace("-", "_") for flag, *_ in _FAULT_FLAGS]


def _stored_command(args: argparse.Namespace) -> int:
    from importer.sandbox.store import SandboxStore

    path = Path(args.db)
    if not path.is_file():
        print(f"error: no sandbox database at {path}", file=sys.stderr)
        return 1
    try:
        store = SandboxStore(path)
        try:
            conversations = store.conversations()
            groups = store.evercore.groups()
            spaces = store.goodmem.summary()
        finally:
            store.close()
    except sqlite3.DatabaseError as exc:
        print(f"error: {path} is not a readable sandbox database ({exc})", file=sys.stderr)
        return 1
    if args.json:
        rows: list[dict[str, Any]] = [
            {"protocol": "everos", "key": c.key, **dataclasses.asdict(c)} for c in conversations
        ]
        rows += [{"protocol": "evercore", "key": g.key, **dataclasses.asdict(g)} for g in groups]
        rows += [{"protocol": "goodmem", "key": s.key, **dataclasses.asdict(s)} for s in spaces]
        print(json.dumps(rows, indent=2))
        return 0
    if conversations or not (groups or spaces):
        print_table(conversations, sys.stdout)
    if groups:
        if conversations:
            print(file=sys.stdout)
        print_evercore_table(groups, sys.stdout)
    if spaces:
        if conversations or groups:
            print(file=sys.stdout)
        print_goodmem_table(spaces, sys.stdout)
    return 0


def _print_rows(rows: list[tuple[str, ...]], text_columns: int, out: TextIO) -> None:
    """Fixed-width columns: the first ``text_columns`` left-aligned, numbers right-aligned."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = [
            cell.ljust(width) if i < text_columns else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        print("  ".join(cells).rstrip(), file=out)


def print_evercore_table(groups: list[StoredEverCoreGroup], out: TextIO) -> None:
    """EverCore single-message data: one group per line, then a totals line."""
    rows: list[tuple[str, ...]] = [
        ("evercore group", "name", "scene", "meta", "messages", "duplicates", "chronological")
    ]
    for g in groups:
        rows.append(
            (
                g.group_id or "-", g.name or "-", g.scene or "-", _yes_no(g.meta),
                str(g.messages), str(g.duplicates), _yes_no(g.chronological),
            )
        )
    _print_rows(rows, 3, out)
    messages = sum(g.messages for g in groups)
    duplicates = sum(g.duplicates for g in groups)
    unordered = sum(not g.chronological for g in groups)
    print(
        f"evercore total: {len(groups)} groups, {messages} messages, {duplicates} duplicates, "
        f"{unordered} out of order",
        file=out,
    )


def print_goodmem_table(spaces: list[StoredSpace], out: TextIO) -> None:
    """GoodMem data: one space per line, then a totals line."""
    rows: list[tuple[str, ...]] = [
        ("goodmem space", "space id", "conversations", "memories", "messages", "duplicates")
    ]
    for s in spaces:
        rows.append(
            (
                s.name, s.space_id, str(s.conversations), str(s.memories), str(s.messages),
                str(s.duplicate_messages),
            )
        )
    _print_rows(rows, 2, out)
    memories = sum(s.memories for s in spaces)
    messages = sum(s.messages for s in spaces)
    duplicates = sum(s.duplicate_messages for s in spaces)
    print(
        f"goodmem total: {len(spaces)} spaces, {memories} memories covering {messages} "
        f"messages, {duplicates} duplicates",
        file=out,
    )


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
    _print_rows(rows, 2, out)
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
