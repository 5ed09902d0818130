"""Terminal output: logging setup, the progress bar or progress lines, and the end summary."""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import MutableMapping
from typing import Any

import structlog
from tqdm import tqdm  # type: ignore[import-untyped]

from importer.logs import get_logger
from importer.report import Report

__all__ = ["LogProgress", "TqdmProgress", "configure_logging", "format_summary"]

_MAX_LINES_PER_KIND = 20


def configure_logging(
    fmt: str = "console", *, verbose: bool = False, quiet: bool = False,
    terminal: bool | None = None,
) -> None:
    """Send the library's log events to stderr, as readable lines or JSON. Called once, by the CLI.

    On a terminal only warnings and errors appear beside the progress bar; info lines appear
    with ``--verbose`` or when stderr is not a terminal (logs, CI); ``--quiet`` keeps errors only.
    ``NO_COLOR`` turns colours off.
    """
    terminal = sys.stderr.isatty() if terminal is None else terminal
    renderer: Any
    if fmt == "json":
        renderer = structlog.processors.JSONRenderer()
    else:
        colors = terminal and not os.environ.get("NO_COLOR")
        renderer = structlog.dev.ConsoleRenderer(colors=colors)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info if fmt == "json" or verbose else _drop_exc_info,
            renderer,
        ],
        cache_logger_on_first_use=True,
    )
    if quiet:
        level = logging.ERROR
    elif verbose:
        level = logging.DEBUG
    elif terminal and fmt != "json":
        level = logging.WARNING
    else:
        level = logging.INFO
    handler = _TqdmAwareHandler()
    for name in ("importer", "converters"):
        logger = logging.getLogger(name)
        logger.setLevel(level)
        logger.addHandler(handler)
        logger.propagate = False


def _drop_exc_info(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    # tracebacks are for bugs: keep the one-line error, show the rest only with --verbose
    event.pop("exc_info", None)
    return event


class _TqdmAwareHandler(logging.Handler):
    """Writes each line through ``tqdm.write`` so that log lines never tear the progress bar."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            tqdm.write(record.getMessage(), file=sys.stderr)
        except BrokenPipeError:
            pass
        except Exception:
            self.handleError(record)


class TqdmProgress:
    """A progress bar over messages (count, rate, ETA) for interactive terminals."""

    def __init__(self) -> None:
        self._bar: Any = None

    def reading(self) -> None:
        """Say that inputs are being read, until the total is known."""
        if self._bar is None:
            self._bar = tqdm(total=None, desc="reading inputs…", bar_format="{desc}",
                             file=sys.stderr, dynamic_ncols=True, leave=False)

    def add_total(self, messages: int) -> None:
        """More messages to account for: conversations come while inputs are still read."""
        if self._bar is not None and self._bar.total is not None:
            self._bar.total += messages
            self._bar.refresh()
            return
        if self._bar is not None:
            self._bar.close()  # the "reading inputs…" line
        # whole numbers with separators; the ETA appears once a rate is known
        self._bar = tqdm(
            total=messages, unit="msg", dynamic_ncols=True, file=sys.stderr,
            bar_format="{l_bar}{bar}| {n:,}/{total:,} msg [{elapsed}<{remaining}, {rate_fmt}]",
        )

    def advance(self, messages: int) -> None:
        if self._bar is not None:
            self._bar.update(messages)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


class LogProgress:
    """Progress as a structured log line every ``interval`` seconds, for logs and CI."""

    def __init__(self, interval: float = 5.0) -> None:
        self.interval = interval
        self._log = get_logger("importer.progress")
        self._total = self._done = 0
        self._started = self._last = 0.0

    def add_total(self, messages: int) -> None:
        if not self._started:
            self._started = self._last = time.monotonic()
        self._total += messages

    def advance(self, messages: int) -> None:
        self._done += messages
        now = time.monotonic()
        if now - self._last >= self.interval:
            self._last = now
            rate = self._done / max(now - self._started, 1e-9)
            eta = (self._total - self._done) / rate if rate else None
            self._log.info(
                "progress",
                sent=self._done,
                total=self._total,
                rate=round(rate, 1),
                eta_seconds=None if eta is None else round(eta),
            )

    def close(self) -> None:
        pass


def format_summary(
    report: Report, *, validate_only: bool = False, include_system_events: bool = False,
    verbose: bool = False,
) -> str:
    """The human end-of-run summary, several lines."""
    lines: list[str] = []
    results = report.conversations
    if validate_only:
        valid = [r for r in results if r.status == "valid"]
        total = sum(r.messages for r in valid)
        lines.append(f"Validated: {len(valid):,} conversations, {total:,} messages.")
        if report.plan is not None:
            lines.append("Plan (conversation: found / already acknowledged / to send / requests):")
            lines.extend(_capped([
                f"{r.key}: {r.messages} / {r.already} / {r.pending} / {r.requests}"
                for r in valid
            ], "  "))
        pending = sum(r.pending for r in valid)
        already = sum(r.already for r in valid)
        if valid:
            lines.append(f"An import would send {pending:,} messages ({already:,} already "
                         f"acknowledged by {report.target or 'the target'}).")
        if report.plan is not None:
            plan = report.plan
            how = "measured" if plan.measured else "assumed"
            lines.append(
                f"Requests: {plan.requests}; roughly {_duration(plan.seconds)} at the chosen "
                f"concurrency ({how} round trip {plan.round_trip * 1000:.0f} ms; server task "
                "time not included)"
            )
    else:
        done = sum(r.status == "done" for r in results)
        unchanged = sum(r.status == "unchanged" for r in results)
        interrupted = sum(r.status == "interrupted" for r in results)
        lines.append(
            f"Conversations: {done} imported, {unchanged} already complete, "
            f"{len(report.failed)} failed" + (f", {interrupted} interrupted" if interrupted else "")
        )
        lines.append(
            f"Messages: {report.messages_sent:,} sent, {report.messages_already:,} already "
            f"imported (skipped) in {report.seconds:.1f}s ({report.rate:,.0f} msg/s)"
        )
        if report.target:
            lines.append(f"Target: {report.target}")
        notes = []
        if report.total("backfill"):
            notes.append(f"{report.total('backfill')} sent were older than messages the "
                         "conversation already had (the server orders by arrival)")
        if report.total("edited"):
            notes.append(f"{report.total('edited')} already imported have changed since "
                         "(edited); not sent again")
        if report.total("failed_messages"):
            notes.append(f"{report.total('failed_messages')} could not be sent")
        lines.extend(f"  {note}" for note in notes)
    duplicates = report.total("duplicates")
    if duplicates:
        lines.append(f"Merged: {duplicates} messages held by more than one input were kept once")
    if report.in_doubt:
        lines.append(f"In doubt: {len(report.in_doubt)} chunks")
        lines.extend(_capped([d.describe() for d in report.in_doubt], "  "))
        if report.expired_in_doubt:
            lines.append("  check them on the server; --resend-in-doubt sends them again")
    if report.skipped_files:
        lines.append(f"Files skipped: {len(report.skipped_files)} (not a format this importer "
                     "reads; listed with --verbose)")
        if verbose:
            lines.extend(_capped([f"{p}: {why}" for p, why in report.skipped_files], "  "))
    system = sum(r.skipped for r in results)
    if system and include_system_events:
        lines.append(f"Left out on purpose: {system} (hidden, tool or empty messages)")
    elif system:
        lines.append(
            f"Left out on purpose: {system} (system events such as joins, and hidden or tool "
            "messages of assistant exports; --include-system-events keeps the system events)"
        )
    if report.warnings:
        lines.append(f"Warnings: {len(report.warnings)}")
        lines.extend(_capped(report.warnings, "  "))
    failed = len(report.input_errors) + len(report.failed)
    if failed:
        lines.append(f"Failed: {failed}")
        for _, reason, details in report.input_errors:
            lines.append(f"  {reason}")
            if len(details) > 1:  # a single problem is the reason itself
                lines.extend(_capped(details, "    "))
        for result in report.failed:
            if report.fatal and result.reason == report.fatal:
                continue  # said once, below
            lines.append(f"  {result.origin or result.key}: {result.key}: {result.reason}")
    if report.fatal:
        lines.append(f"Stopped: {report.fatal}")
    return "\n".join(lines)


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _capped(items: list[str], indent: str) -> list[str]:
    """At most ``_MAX_LINES_PER_KIND`` indented lines, then how many more there are."""
    lines = [f"{indent}{item}" for item in items[:_MAX_LINES_PER_KIND]]
    if len(items) > _MAX_LINES_PER_KIND:
        lines.append(f"{indent}... and {len(items) - _MAX_LINES_PER_KIND} more")
    return lines
