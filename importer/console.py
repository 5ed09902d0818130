"""Terminal output: logging setup, the progress bar or progress lines, and the end summary."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import MutableMapping
from typing import IO, Any

import structlog
from tqdm import tqdm  # type: ignore[import-untyped]

from importer.report import Report

__all__ = ["LogProgress", "TqdmProgress", "configure_logging", "format_summary"]

_MAX_LINES_PER_KIND = 20


def configure_logging(fmt: str = "console", *, verbose: bool = False) -> None:
    """Send structlog events to stderr, as readable lines or JSON. Called once, by the CLI."""
    renderer: Any
    if fmt == "json":
        renderer = structlog.processors.JSONRenderer()
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info if fmt == "json" else _drop_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.DEBUG if verbose else logging.INFO
        ),
        logger_factory=_TqdmAwareLoggerFactory(),
        cache_logger_on_first_use=True,
    )


def _drop_exc_info(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    # tracebacks are for bugs: keep the one-line error, show the rest only with --verbose
    event.pop("exc_info", None)
    return event


class _TqdmAwareLogger:
    """Writes each line through ``tqdm.write`` so that log lines never tear the progress bar."""

    def __init__(self, file: IO[str]) -> None:
        self._file = file

    def msg(self, message: str) -> None:
        tqdm.write(message, file=self._file)

    log = debug = info = warning = warn = error = critical = exception = msg


class _TqdmAwareLoggerFactory:
    def __call__(self, *args: Any) -> _TqdmAwareLogger:
        return _TqdmAwareLogger(sys.stderr)


class TqdmProgress:
    """A progress bar over messages (count, rate, ETA) for interactive terminals."""

    def __init__(self) -> None:
        self._bar: Any = None

    def add_total(self, messages: int) -> None:
        if self._bar is None:
            self._bar = tqdm(total=0, unit="msg", unit_scale=True, dynamic_ncols=True, file=sys.stderr)
        self._bar.total += messages
        self._bar.refresh()

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
        self._log = structlog.get_logger()
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


def format_summary(report: Report, *, validate_only: bool = False) -> str:
    """The human end-of-run summary, several lines."""
    lines: list[str] = []
    results = report.conversations
    if validate_only:
        valid = [r for r in results if r.status == "valid"]
        total = sum(r.messages for r in valid)
        lines.append(f"Validated: {len(valid)} conversations, {total} messages.")
    else:
        done = sum(r.status == "done" for r in results)
        unchanged = sum(r.status == "unchanged" for r in results)
        interrupted = sum(r.status == "interrupted" for r in results)
        lines.append(
            f"Conversations: {done} imported, {unchanged} already complete, "
            f"{len(report.failed)} failed" + (f", {interrupted} interrupted" if interrupted else "")
        )
        lines.append(
            f"Messages: {report.messages_sent} sent, {report.messages_already} already imported "
            f"(skipped) in {report.seconds:.1f}s ({report.rate:.0f} msg/s)"
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
    system = sum(r.skipped for r in results)
    if system:
        lines.append(f"System events left out: {system} (use --include-system-events to keep them)")
    if report.warnings:
        lines.append(f"Warnings: {len(report.warnings)}")
        lines.extend(_capped(report.warnings, "  "))
    failed = len(report.input_errors) + len(report.failed)
    if failed:
        lines.append(f"Failed: {failed}")
        for _, reason, details in report.input_errors:
            lines.append(f"  {reason}")
            lines.extend(_capped(details, "    "))
        for result in report.failed:
            lines.append(f"  {result.origin or result.key}: {result.key}: {result.reason}")
    if report.fatal:
        lines.append(f"Stopped: {report.fatal}")
    return "\n".join(lines)


def _capped(items: list[str], indent: str) -> list[str]:
    """At most ``_MAX_LINES_PER_KIND`` indented lines, then how many more there are."""
    lines = [f"{indent}{item}" for item in items[:_MAX_LINES_PER_KIND]]
    if len(items) > _MAX_LINES_PER_KIND:
        lines.append(f"{indent}... and {len(items) - _MAX_LINES_PER_KIND} more")
    return lines
