"""``python -m importer``: arguments, logging, progress, signals, and errors turned into exit codes.

Exit codes: 0 everything done, 1 something failed, 2 usage or configuration, 130 interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shlex
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import converters
from importer.api import BatchImporter
from importer.config import (
    API_KEY_ENV,
    CHECKPOINTS_ENV,
    base_url_from_env,
    default_checkpoint_dir,
    make_settings,
)
from importer.console import LogProgress, TqdmProgress, configure_logging, format_summary
from importer.errors import ConfigError, ImporterError
from importer.logs import get_logger
from importer.reader import freeze_for_good
from importer.report import Report
from importer.shard import Shard, parse_shard
from importer.targets.base import public_url

__all__ = ["main"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
SHARD_ENV = "IMPORTER_SHARD"
_COMMANDS = {"import", "plan", "convert", "status", "serve", "stored"}

log = get_logger("importer.cli")


def entry() -> int:
    """The process's command line (``python -m importer``, ``everos-import``): ``main`` on
    ``sys.argv``, with what the interpreter has loaded so far frozen."""
    # the modules, classes and schemas imported by now live as long as the process: frozen,
    # the collector's full passes skip them (each walked all of them, about 30 ms of a
    # stalled event loop) and the reading child shares their pages with this process
    freeze_for_good()
    return main()


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _main(argv)
    except KeyboardInterrupt:  # Ctrl-C before the run's own handling is in place
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _main(argv: Sequence[str] | None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    # ``import`` is the default command: ``python -m importer PATH`` and the seed's
    # ``python -m importer --input FILE --scene team --validate-only`` both work
    if args_list[:1] == ["plan"]:  # the import's own flags, nothing sent
        args_list = ["import", "--dry-run", *args_list[1:]]
    if not args_list or (args_list[0] not in _COMMANDS and args_list[0] not in {"-h", "--help", "--version"}):
        args_list.insert(0, "import")
    parser = _build_parser(_program_name())
    args = parser.parse_args(args_list)
    configure_logging(
        getattr(args, "log_format", "console"),
        verbose=getattr(args, "verbose", False),
        quiet=getattr(args, "quiet", False),
    )
    try:
        return int(args.func(args))
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ImporterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # the reader went away (``| head``): stop quietly, without a second error at exit
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED


def _program_name() -> str:
    """The command as the user typed it: ``everos-import`` or ``python -m importer``."""
    name = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else ""
    return name if name and name != "__main__.py" and not name.endswith(".py") else (
        "python -m importer"
    )


# -- import -------------------------------------------------------------------------------------


def _run_import(args: argparse.Namespace) -> int:
    shard = _shard(args.shard)  # checked before anything else happens
    paths = [*args.paths, *(args.input or [])]
    if not paths:
        raise ConfigError("give at least one export file or directory (or --input FILE)")
    api_url = args.api_url or base_url_from_env()
    target = args.target or os.environ.get("IMPORTER_TARGET") or None
    key_env = "GOODMEM_API_KEY" if target == "goodmem" else API_KEY_ENV
    settings = make_settings(
        api_url=api_url,
        api_key=args.api_key or os.environ.get(key_env) or None,
        target=target,
        space=args.space,
        space_id=args.space_id,
        embedder_id=args.embedder_id,
        batch_size=args.batch_size,
        source=args.source,
        scene=args.scene,
        include_system_events=args.include_system_events,
        timezone=args.timezone,
        user_id=args.user_id,
        column_map=_column_map(args.map),
        concurrency=_from_env(args.concurrency, "IMPORTER_CONCURRENCY", 10),
        chunk_size=_from_env(args.chunk_size, "IMPORTER_CHUNK_SIZE", 50),
        poll_concurrency=args.poll_concurrency,
        checkpoint_dir=args.checkpoint_dir or default_checkpoint_dir(),
        restart=args.restart,
        resend=tuple(args.resend or ()),
        resend_in_doubt=args.resend_in_doubt,
        repair=args.repair,
        sandbox_db=args.sandbox_db,
        shard=shard,
        max_attempts=args.max_retries + 1,
        request_timeout=args.request_timeout,
        task_timeout=args.task_timeout,
        max_retry_after=args.max_retry_after,
    )
    _check_writable_file(args.report, "--report")
    if settings.api_url is None:
        _check_writable_file(str(settings.sandbox_db), "--sandbox-db")
    progress: Any
    if args.validate_only or args.dry_run or args.no_progress or args.quiet:
        progress = None
    elif sys.stderr.isatty():
        progress = TqdmProgress()
    else:
        progress = LogProgress()
    if isinstance(progress, TqdmProgress):
        progress.reading()
    importer = BatchImporter(settings=settings, progress=progress)
    if (settings.restart or settings.resend) and not (args.validate_only or args.dry_run):
        _confirm_forgetting(importer, settings.resend, assume_yes=args.yes)
    if args.validate_only or args.dry_run:
        report = asyncio.run(importer.validate_paths(paths, plan=args.dry_run))
        report.target = importer.target_description
        _print_shard(report)
        print(format_summary(report, validate_only=True, verbose=args.verbose))
        _write_report(args.report, report)
        return report.exit_code

    report = asyncio.run(_import_with_signals(importer, paths))
    _print_shard(report)
    print(format_summary(report, include_system_events=settings.include_system_events,
                         verbose=args.verbose))
    if report.checkpoint:
        print(f"Ledger: {report.checkpoint}")
    _write_report(args.report, report)
    summary = report.to_dict()
    if args.log_format != "json":  # a line for people; machines get the whole summary
        summary = {k: summary[k] for k in ("exit_code", "messages_sent",
                                          "messages_already_imported", "seconds")}
        if report.shard is not None:
            summary["shard"] = f"{report.shard.index}/{report.shard.count}"
    log.info("import_finished", **summary)
    if report.interrupted:
        resume = shlex.join([_program_name(), *resume_arguments(sys.argv[1:])])
        print(f"Interrupted. Progress is saved; resume with:\n  {resume}", file=sys.stderr)
    elif report.messages_sent and not args.quiet:
        print(_where_it_went(settings))
    return report.exit_code


def _shard(flag: str | None) -> Shard | None:
    """``--shard I/N``, else ``$IMPORTER_SHARD``; a malformed one is a one-line ConfigError."""
    if flag is not None:
        return parse_shard(flag)
    raw = os.environ.get(SHARD_ENV)
    if raw is None or not raw.strip():
        return None
    return parse_shard(raw, source=SHARD_ENV)


def _print_shard(report: Report) -> None:
    if report.shard is not None:
        print(report.shard.describe())


def _where_it_went(settings: Any) -> str:
    if settings.api_url is not None:
        return f"Data went to {public_url(settings.api_url)}."
    db = str(settings.sandbox_db)
    see = "stored" if db == "importer-sandbox.db" else f"stored --db {shlex.quote(db)}"
    return (
        f"Data went to the local sandbox database {db} (see it with: {_program_name()} {see}).\n"
        "To import into a real server: --api-url URL --api-key KEY "
        f"(or set EVEROS_BASE_URL and {API_KEY_ENV})."
    )


def _from_env(value: int | None, name: str, default: int) -> int:
    """A flag's value, else the environment variable's, else the default (flags win)."""
    if value is not None:
        return value
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a whole number") from None


def _check_writable_file(path: str | None, flag: str) -> None:
    """Fail before any work when a file the run will write cannot be written."""
    if not path:
        return
    target = Path(path)
    if target.is_dir():
        raise ConfigError(f"{flag} {path} is a folder; give a file name")
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise ConfigError(f"{flag} {path}: folder {folder} does not exist (create it first)")
    if not os.access(folder, os.W_OK | os.X_OK) or (target.exists() and not os.access(target, os.W_OK)):
        raise ConfigError(f"{flag} {path}: not writable (choose another place)")


_SECRET_FLAGS = ("--api-key",)
_ONE_SHOT_FLAGS = ("--restart", "--yes", "-y", "--resend-in-doubt", "--repair")


def resume_arguments(argv: Sequence[str]) -> list[str]:
    """The command line to resume with: secrets masked (the key is read from the environment
    or given again), credentials removed from URLs, and one-shot flags (``--restart``) left out."""
    out: list[str] = []
    skip_value = False
    for arg in argv:
        if skip_value:
            out.append("***")
            skip_value = False
        elif arg in _SECRET_FLAGS:
            out.append(arg)
            skip_value = True
        elif any(arg.startswith(f"{flag}=") for flag in _SECRET_FLAGS):
            out.append(arg.split("=", 1)[0] + "=***")
        elif arg in _ONE_SHOT_FLAGS:
            continue
        else:
            out.append(_without_credentials(arg))
    return out


def _without_credentials(arg: str) -> str:
    """``https://user:pw@host/x`` → ``https://host/x``; anything else unchanged."""
    import re

    return re.sub(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/@\s]*@", r"\1", arg)


def _column_map(values: list[str] | None) -> dict[str, str] | None:
    """``--map timestamp=ts,sender=user`` (may repeat) → {"timestamp": "ts", ...}."""
    if not values:
        return None
    mapping: dict[str, str] = {}
    for value in values:
        for pair in value.split(","):
            field, sep, column = pair.partition("=")
            if not sep or not field.strip() or not column.strip():
                raise ConfigError(f"--map expects FIELD=COLUMN pairs, got {pair!r}")
            mapping[field.strip()] = column.strip()
    return mapping


def _confirm_forgetting(importer: BatchImporter, keys: tuple[str, ...], *, assume_yes: bool) -> None:
    """``--restart``/``--resend`` make the target's acknowledged messages be sent again, and the
    server stores them twice: ask first on a terminal, refuse without one unless ``--yes``."""
    totals = importer.acknowledged()
    if totals is None or totals.acked == 0:
        return
    what = (f"{totals.acked} messages in {totals.conversations} conversations"
            if not keys else "the acknowledged messages of " + ", ".join(keys))
    warning = (f"This forgets that {importer.target_description} acknowledged {what}; they will be "
               "sent again and the server stores them twice (it does not de-duplicate).")
    if assume_yes:
        return
    if not (sys.stdin.isatty() and sys.stderr.isatty()):
        raise ConfigError(f"{warning} Add --yes to do it without a terminal.")
    print(warning, file=sys.stderr)
    answer = input("Continue? [y/N] ")
    if answer.strip().lower() not in {"y", "yes"}:
        raise ConfigError("cancelled; nothing was sent")


async def _import_with_signals(importer: BatchImporter, paths: list[str]) -> Report:
    loop = asyncio.get_running_loop()
    interrupted = False

    def on_signal(signum: int) -> None:
        nonlocal interrupted
        if interrupted:  # the second one: leave now; the journal is valid line by line
            os._exit(EXIT_INTERRUPTED)
        interrupted = True
        print(
            "\nStopping: finishing requests in flight (press Ctrl-C again to quit at once)...",
            file=sys.stderr,
        )
        importer.request_stop()

    try:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, on_signal, signum)
    except NotImplementedError:  # Windows: Ctrl-C stops at once; the journal is still valid
        return await importer.import_paths(paths)
    try:
        report = await importer.import_paths(paths)
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
            if interrupted:  # another Ctrl-C while finishing up still means: leave now
                signal.signal(signum, lambda *_: os._exit(EXIT_INTERRUPTED))
    return report


def _write_report(path: str | None, report: Report) -> None:
    if not path:
        return
    try:
        Path(path).write_text(json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n")
    except OSError as exc:
        print(f"error: cannot write --report {path}: {exc.strerror or exc}", file=sys.stderr)


# -- convert / status -----------------------------------------------------------------------------


def _run_convert(args: argparse.Namespace) -> int:
    from converters.base import ConvertOptions
    from importer.convert import convert_paths

    options = ConvertOptions(
        scene=args.scene,
        include_system_events=args.include_system_events,
        timezone=args.timezone,
        user_id=args.user_id,
        column_map=_column_map(args.map),
    )
    report = convert_paths(
        args.paths, Path(args.output), options=options, source=args.source, force=args.force
    )
    print(format_summary(report, validate_only=True).replace("Validated", "Converted", 1))
    print(f"Wrote {len(report.conversations)} files to {args.output}")
    return report.exit_code


def _run_status(args: argparse.Namespace) -> int:
    from importer.status import describe_checkpoints, status_json

    directory = Path(args.checkpoint_dir or default_checkpoint_dir())
    if args.json:
        print(json.dumps(status_json(directory, args.checkpoint), indent=2, ensure_ascii=False))
    else:
        print(describe_checkpoints(directory, args.checkpoint))
    return EXIT_OK


# -- parser -----------------------------------------------------------------------------------------


def _build_parser(prog: str = "python -m importer") -> argparse.ArgumentParser:
    names = ", ".join(converters.available())
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Import chat history (ConversationFormat, EverOS JSON, Slack, Discord) into "
        "a memory service, resumably. With no --api-url it imports into a local sandbox.",
    )
    parser.add_argument("--version", action="version", version="%(prog)s 0.1.0")
    sub = parser.add_subparsers(dest="command", metavar="{import,plan,convert,status,serve,stored}")

    imp = sub.add_parser(
        "import", help="import exports (the default command)",
        description=f"Import exports into a memory service. Sources (detected by content): "
        f"{names}. Targets: everos (EverOS v1), evercore (EverCore single-message API), "
        "goodmem (GoodMem batchCreate); with no --api-url, a local sandbox.",
    )
    imp.add_argument("paths", nargs="*", metavar="PATH", help="export files, folders or zips")
    imp.add_argument("--input", action="append", metavar="PATH", help="an input (may repeat)")
    imp.add_argument("--api-url", help="the server: EverOS/GoodMem base URL, or EverCore's full "
                     "endpoint (http://localhost:1995/api/v0/memories) (env EVEROS_BASE_URL; "
                     "default: the local sandbox)")
    imp.add_argument("--api-key", help=f"API key (env {API_KEY_ENV}; GOODMEM_API_KEY for "
                     "goodmem); never printed")
    imp.add_argument("--target", choices=["everos", "evercore", "goodmem"],
                     help="the API to speak (env IMPORTER_TARGET; default: evercore for an "
                     "--api-url ending in /memories, else everos)")
    imp.add_argument("--space", default="chat-history",
                     help="goodmem: the space to fill, found by name or created (chat-history)")
    imp.add_argument("--space-id", metavar="UUID", help="goodmem: use this existing space")
    imp.add_argument("--embedder-id", metavar="UUID",
                     help="goodmem: the embedder of a new space, when the server has several")
    imp.add_argument("--batch-size", type=int, default=20,
                     help="goodmem: memories per batchCreate request (20)")
    _add_convert_options(imp)
    imp.add_argument("--concurrency", type=int, default=None,
                     help="requests in flight at most (env IMPORTER_CONCURRENCY; 10)")
    imp.add_argument("--poll-concurrency", type=int, default=None, metavar="N",
                     help="task polls in flight at most, a budget apart from --concurrency so "
                     "that adds always have all of theirs (default: a quarter of it, at least 2)")
    imp.add_argument("--chunk-size", type=int, default=None,
                     help="messages per request (env IMPORTER_CHUNK_SIZE; 50, max 500)")
    imp.add_argument("--max-retries", type=int, default=7,
                     help="retries of a failing request before its conversation fails (7)")
    imp.add_argument("--request-timeout", type=float, default=120.0, metavar="SECONDS",
                     help="give up on one request after this long, then retry it (120)")
    imp.add_argument("--task-timeout", type=float, default=600.0, metavar="SECONDS",
                     help="stop waiting for a server task after this long; the conversation "
                     "fails and a rerun asks the task again (600)")
    imp.add_argument("--max-retry-after", type=float, default=60.0, metavar="SECONDS",
                     help="the longest Retry-After honoured; a server asking for more fails "
                     "that conversation (60)")
    imp.add_argument("--checkpoint-dir", default=None,
                     help=f"where the ledgers of targets live (env {CHECKPOINTS_ENV}; "
                     "default: ./checkpoints)")
    imp.add_argument("--restart", action="store_true",
                     help="forget everything the target acknowledged and send it all again "
                     "(asks first: the server stores it twice)")
    imp.add_argument("--resend", action="append", metavar="CONVERSATION_KEY",
                     help="forget what the target acknowledged of one conversation and send it "
                     "again (asks first; may repeat)")
    imp.add_argument("--resend-in-doubt", action="store_true",
                     help="send again the chunks whose task expired before it was seen to finish")
    imp.add_argument("--repair", action="store_true",
                     help="a damaged ledger: set it aside and keep every row that can still be "
                     "read (what cannot may be sent again)")
    imp.add_argument("--yes", "-y", action="store_true",
                     help="do not ask before --restart or --resend (needed without a terminal)")
    imp.add_argument("--validate-only", action="store_true",
                     help="check inputs, send nothing (says how many messages would be sent)")
    imp.add_argument("--dry-run", action="store_true",
                     help="plan: per conversation, messages found, already acknowledged, to "
                     "send, requests, and a rough time; nothing is sent (also: plan PATH...)")
    imp.add_argument("--shard", metavar="I/N",
                     help="import only shard I (0..N-1) of the conversations, for one job run by "
                     "N processes sharing --checkpoint-dir (env IMPORTER_SHARD; e.g. "
                     "$JOB_COMPLETION_INDEX/4); run every I, and the same N on reruns")
    imp.add_argument("--report", metavar="PATH", help="write the run's report as JSON")
    imp.add_argument("--sandbox-db", default="importer-sandbox.db",
                     help="SQLite file of the embedded sandbox (when no --api-url)")
    _add_output_options(imp)
    imp.set_defaults(func=_run_import)

    conv = sub.add_parser("convert", help="write each conversation as an EverOS batch JSON file")
    conv.add_argument("paths", nargs="+", metavar="PATH", help="export files, folders or zips")
    conv.add_argument("--output", "-o", required=True, metavar="DIR",
                      help="folder for the files, one per conversation (created if needed)")
    conv.add_argument("--force", action="store_true",
                      help="overwrite output files that exist with other content")
    _add_convert_options(conv)
    _add_output_options(conv)
    conv.set_defaults(func=_run_convert)

    status = sub.add_parser("status", help="show what each target's ledger holds")
    status.add_argument("checkpoint", nargs="?", help="a ledger file (default: list all)")
    status.add_argument("--json", action="store_true", help="print JSON")
    status.add_argument("--checkpoint-dir", default=None,
                        help=f"where the ledgers live (env {CHECKPOINTS_ENV}; default ./checkpoints)")
    _add_log_options(status)
    status.set_defaults(func=_run_status)

    from importer.sandbox.cli import register_commands

    register_commands(sub)
    return parser


def _add_convert_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--source", metavar="NAME",
                        help=f"force an input format (default: detected): {', '.join(converters.available())}")
    parser.add_argument("--scene", choices=["solo", "team"],
                        help="ConversationFormat: solo = personal API, team = group API")
    parser.add_argument("--include-system-events", action="store_true",
                        help="keep joins, topic changes and similar events as messages")
    parser.add_argument("--timezone", metavar="ZONE",
                        help="zone of times that carry none (WhatsApp, Telegram dates, CSV): an "
                        "IANA name, UTC or +08:00 (default: this machine's zone)")
    parser.add_argument("--user-id", metavar="ID",
                        help="user id for ChatGPT/Claude histories (default: the export's account)")
    parser.add_argument("--map", action="append", metavar="FIELD=COLUMN,...",
                        help="CSV/JSONL columns, e.g. timestamp=ts,sender=user,content=text,"
                        "conversation=channel")


def _add_output_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    _add_log_options(parser)


def _add_log_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--log-format", choices=["console", "json"], default="console",
                        help="log lines as readable text or JSON (one object per line)")
    parser.add_argument("--verbose", "-v", action="store_true",
                        help="info and debug lines too (on a terminal only warnings and errors "
                        "appear beside the bar)")
    parser.add_argument("--quiet", "-q", action="store_true",
                        help="print only errors and the final summary")
