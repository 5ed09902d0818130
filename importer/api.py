"""``BatchImporter``: the public face of the pipeline, for the CLI and for Python code.

Subclass it and override ``_setup_group``, ``_send_chunk``, ``_wait_task`` or ``_flush`` to
change one step; the engine (ordering, checkpointing, concurrency) stays the same.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from importer.config import ImportSettings, base_url_from_env, make_settings
from importer.discovery import Input, discover
from importer.errors import CheckpointError, ConfigError, TargetError
from importer.ledger import Ledger, LedgerTotals, LedgerView, check_layout, read_summary
from importer.models import Chunk, Conversation
from importer.pipeline import ChunkLimits, Pipeline, Progress, Reading, validate_inputs
from importer.plan import count_pending, estimate, plan_spool
from importer.report import Report
from importer.retry import Backoff
from importer.sender import Sender
from importer.shard import shard_of
from importer.targets import guess_target, make_target
from importer.targets.base import Receipt, Target, TaskState, public_url

__all__ = ["BatchImporter"]


class BatchImporter:
    """Import conversations into a memory service, resumably.

    ``BatchImporter(api_url=..., api_key=..., concurrency=10, chunk_size=50)`` takes the
    settings of ``ImportSettings`` as keywords (or ``settings=``). With no ``api_url`` (and no
    ``EVEROS_BASE_URL``), it imports into the embedded local sandbox. Pass ``target=`` to send
    to another API adapter.
    """

    def __init__(
        self,
        *,
        settings: ImportSettings | None = None,
        target: Target | None = None,
        progress: Progress | None = None,
        **options: Any,
    ) -> None:
        if settings is not None and options:
            raise ConfigError("pass either settings= or keyword options, not both")
        if settings is None:
            options.setdefault("api_url", base_url_from_env())
            settings = make_settings(**options)
        self.settings = settings
        self.progress = progress
        self._target = target
        self._sender: Sender | None = None
        self._pipeline: Pipeline | None = None
        #: a stop asked while a run starts, before its pipeline exists (cleared as a run begins)
        self._stop_early = False
        self._sandbox: Any = None
        self._reports: list[Report] = []
        #: request counters of every finished run, added up
        self._request_totals = {"requests": 0, "retries": 0, "rate_limited": 0}

    # -- public API ----------------------------------------------------------------------------

    async def import_paths(self, paths: Iterable[str | Path]) -> Report:
        """Import every conversation found under ``paths`` (files, folders, zips)."""
        paths = list(paths)
        started = time.monotonic()
        self._stop_early = False
        self._check_layout()
        inputs, report = await self._discover(paths)
        if not inputs:
            # nothing to read: no ledger, no sandbox database, nothing started
            if not report.input_errors:
                report.fatal = _nothing_found(paths, report)
            return self._finish(report, started)
        # read while the target is checked and the ledger opened: the first conversations are
        # ready by the time sending may start
        reading = Reading(inputs, Pipeline.convert_options(self.settings),
                          in_child=self.settings.read_in_child)
        try:
            async with self._running(report) as pipeline:
                if pipeline is not None:
                    await pipeline.run(reading, report)
                # the spool goes while the ledger closes: each copies out its write-ahead log
                reading.start_closing()
        finally:
            await reading.close()
        if not _found_any(report) and not report.input_errors and not report.interrupted:
            report.fatal = report.fatal or _nothing_found(paths, report)
        return self._finish(report, started)

    async def validate_paths(self, paths: Iterable[str | Path], *, plan: bool = False) -> Report:
        """Check inputs without sending anything (``--validate-only``), and say what an import
        would send: per conversation, messages the target's ledger does not hold yet. With
        ``plan`` also the requests and a rough time (``plan`` / ``--dry-run``)."""
        paths = list(paths)
        started = time.monotonic()
        self._check_layout()
        inputs, report = await self._discover(paths)
        spool = await validate_inputs(
            inputs, Pipeline.convert_options(self.settings), report, ids_only=not plan
        )
        if self.settings.shard is not None:  # only this shard's share is planned
            report.conversations, report.shard = self.settings.shard.take(report.conversations)
        try:
            view = LedgerView(self.settings.checkpoint_dir, self.target_identity,
                              shard=self.settings.shard)
            try:
                if plan:
                    target = self._target or self._unbound_target()
                    await asyncio.to_thread(
                        plan_spool, spool, view, report,
                        max_messages=target.max_chunk_messages,
                        max_bytes=target.max_request_bytes,
                    )
                else:
                    await asyncio.to_thread(count_pending, spool, view, report)
            finally:
                view.close()
        finally:
            spool.close()
        if plan:
            url = self.settings.api_url
            report.plan = estimate(
                report, concurrency=self.settings.concurrency,
                round_trip=await _round_trip(url) if url else None,
                assumed=0.2 if url else 0.005,  # the local sandbox answers in milliseconds
            )
        if not _found_any(report) and not report.input_errors:
            report.fatal = _nothing_found(paths, report)
        return self._finish(report, started)

    async def import_file(self, path: str | Path) -> Report:
        """Import one file (any supported format)."""
        return await self.import_paths([path])

    async def import_directory(self, directory: str | Path) -> Report:
        """Import every supported input under ``directory``."""
        return await self.import_paths([directory])

    async def import_conversation(self, conversation: Conversation | Mapping[str, Any]) -> Report:
        """Import one conversation built in code: a ``Conversation`` or an EverOS batch dict."""
        if not isinstance(conversation, Conversation):
            from converters.everos import conversation_from_everos

            conversation = conversation_from_everos(conversation, origin="<memory>")
        started = time.monotonic()
        self._stop_early = False
        report = Report()
        async with self._running(report) as pipeline:
            if pipeline is not None:
                await pipeline.run_conversations([conversation], report)
        return self._finish(report, started)

    def acknowledged(self) -> LedgerTotals | None:
        """What the ledger of this importer's target holds (None: nothing yet), read without
        taking its lock."""
        ledger = Ledger(self.settings.checkpoint_dir, self.target_identity,
                        shard=self.settings.shard)
        if not ledger.path.exists():
            return None
        return read_summary(ledger.path)[1]

    def get_stats(self) -> dict[str, int]:
        """Totals over every run of this importer so far (every number is cumulative)."""
        conversations = [r for report in self._reports for r in report.conversations]
        stats = {
            "messages_sent": sum(r.sent for r in conversations),
            "messages_already_imported": sum(r.already for r in conversations),
            "conversations_processed": sum(r.status in ("done", "unchanged") for r in conversations),
            "conversations_failed": sum(r.status == "failed" for r in conversations),
            "input_errors": sum(len(report.input_errors) for report in self._reports),
        }
        stats.update(self._request_totals)
        return stats

    def request_stop(self) -> None:
        """Stop taking new chunks (what the first Ctrl-C does); the run then saves and returns."""
        if self._pipeline is not None:
            self._pipeline.request_stop()
        else:  # Ctrl-C while inputs are found, the target checked or the ledger opened
            self._stop_early = True

    @property
    def sender(self) -> Sender | None:
        return self._sender

    # -- hooks: one step each, override to change it ---------------------------------------------

    async def _setup_group(self, conversation: Conversation) -> None:
        """Create or update the group's name and description before its first chunk."""
        assert self._sender is not None
        await self._sender.setup(conversation)

    async def _send_chunk(self, conversation: Conversation, chunk: Chunk) -> Receipt:
        """Send one chunk; the receipt holds the task id to wait for, if the server gave one."""
        assert self._sender is not None
        return await self._sender.add(conversation, chunk)

    async def _wait_task(self, task_id: str) -> TaskState:
        """Wait until the server has processed an accepted chunk."""
        assert self._sender is not None
        return await self._sender.wait(task_id)

    async def _flush(self, conversation: Conversation) -> None:
        """Ask the server to extract memories now, after the conversation's last chunk."""
        assert self._sender is not None
        await self._sender.flush(conversation)

    # -- plumbing ----------------------------------------------------------------------------------

    @asynccontextmanager
    async def _running(self, report: Report) -> AsyncIterator[Pipeline | None]:
        """The pipeline, with the ledger open and the target checked; None when the target
        cannot be used at all (then ``report.fatal`` says why)."""
        report.target = self.target_description
        try:
            target = self._open_target()
            async with Sender(
                target,
                concurrency=self.settings.concurrency,
                poll_concurrency=self.settings.poll_concurrency,
                backoff=Backoff(max_attempts=self.settings.max_attempts),
                request_timeout=self.settings.request_timeout,
                task_timeout=self.settings.task_timeout,
                max_retry_after=self.settings.max_retry_after,
            ) as sender:
                self._sender = sender
                try:
                    prepare = getattr(target, "prepare", None)
                    if prepare is not None:
                        await sender.call(prepare, "preflight")
                except TargetError as exc:  # a refused preflight, or one that kept failing
                    report.fatal = str(exc)
                    yield None
                    return
                # only a target that answers gets a ledger
                async with self._ledger(report) as ledger:
                    limits = ChunkLimits(
                        max_messages=getattr(target, "max_chunk_messages", self.settings.chunk_size),
                        max_bytes=getattr(
                            target, "max_request_bytes", self.settings.max_request_bytes
                        ),
                        idempotent=getattr(target, "idempotent", False),
                    )
                    self._pipeline = Pipeline(
                        self.settings, self, ledger, limits, progress=self.progress,
                        on_stop=sender.stop,
                    )
                    if self._stop_early:
                        self._pipeline.request_stop()
                    try:
                        yield self._pipeline
                    finally:
                        self._pipeline = None
                        for name in self._request_totals:
                            self._request_totals[name] += getattr(sender.stats, name)
        finally:
            if self.progress is not None:
                self.progress.close()
            self._close_sandbox()

    @asynccontextmanager
    async def _ledger(self, report: Report) -> AsyncIterator[Ledger]:
        """The target's ledger, open (repaired, forgotten as asked) for the run, then closed."""
        shard = self.settings.shard
        ledger = Ledger(self.settings.checkpoint_dir, self.target_identity, shard=shard)
        if self.settings.repair:
            report.warnings.extend(ledger.repair())
        ledger.open()
        report.checkpoint = str(ledger.path)
        try:
            if self.settings.restart:
                await ledger.forget()
            for key in self.settings.resend:
                if shard is not None and not shard.owns(key):
                    report.warnings.append(f"--resend {key}: that conversation is shard "
                                           f"{shard_of(key, shard.count)}'s, not this one's")
                    continue
                await ledger.forget(key)
            yield ledger
        finally:
            try:
                await ledger.close()
            except CheckpointError as exc:
                # e.g. the disk filled up: what was committed before stays valid
                report.fatal = report.fatal or str(exc)

    def _check_layout(self) -> None:
        """Refuse at once, before reading any input, a run whose ``--shard`` layout differs
        from the ledger files the target already has (``Ledger.open`` checks again)."""
        check_layout(self.settings.checkpoint_dir, self.target_identity, self.settings.shard)

    def _unbound_target(self) -> Target:
        """The target as configured, for its limits only: no server is started or asked."""
        return self._make_target(self.settings.api_url or "http://127.0.0.1:1")

    def _open_target(self) -> Target:
        if self._target is not None:
            return self._target
        if self.settings.api_url:
            return self._make_target(self.settings.api_url)
        from importer.sandbox.server import SandboxServer

        db = self.settings.sandbox_db.resolve()
        try:
            self._sandbox = SandboxServer(db).start()
        except Exception as exc:
            raise CheckpointError(f"cannot open the sandbox database {db}: {exc}") from exc
        # the port changes every run; the database is what identifies this target
        url = self._sandbox.url + ("/api/v0/memories" if self.target_name == "evercore" else "")
        return self._make_target(url, local=True)

    def _make_target(self, url: str, *, local: bool = False) -> Target:
        settings = self.settings
        api_key = settings.api_key.get_secret_value() if settings.api_key else None
        name = self.target_name
        options: dict[str, Any] = {"identity": self.target_identity}
        if name == "everos":
            options.update(chunk_size=settings.chunk_size,
                           max_request_bytes=settings.max_request_bytes)
        elif name == "goodmem":
            options.update(space_name=settings.space, space_id=settings.space_id,
                           embedder_id=settings.embedder_id, memory_messages=settings.chunk_size,
                           batch_size=settings.batch_size)
        return make_target(name, url, None if local else api_key, **options)

    @property
    def target_name(self) -> str:
        """``--target``, else guessed from the URL (``.../memories`` is EverCore's endpoint)."""
        if self._target is not None:
            return self._target.name
        if self.settings.target:
            return self.settings.target
        return guess_target(self.settings.api_url) if self.settings.api_url else "everos"

    @property
    def target_identity(self) -> str:
        """Which store the data lands in: the protocol, the server (or the sandbox database)
        and, for GoodMem, the space. The ledger of acknowledged messages is kept per identity,
        so it never depends on which input paths were given."""
        if self._target is not None:
            return self._target.identity
        settings = self.settings
        where = (public_url(settings.api_url) if settings.api_url
                 else f"sandbox:{settings.sandbox_db.resolve()}")
        identity = f"{self.target_name}:{where}"
        if self.target_name == "goodmem":
            identity += f"#space={settings.space_id or settings.space}"
        return identity

    @property
    def target_description(self) -> str:
        """Which target and protocol, and where, for the summary."""
        if self._target is not None:
            return self._target.identity
        name = self.target_name
        where = (public_url(self.settings.api_url) if self.settings.api_url
                 else f"the local sandbox ({self.settings.sandbox_db})")
        space = (f", space {self.settings.space_id or self.settings.space}"
                 if name == "goodmem" else "")
        return f"{name} ({_PROTOCOLS[name]}) at {where}{space}"

    def _close_sandbox(self) -> None:
        if self._sandbox is not None:
            self._sandbox.stop()
            self._sandbox = None

    async def _discover(self, paths: Iterable[str | Path]) -> tuple[list[Input], Report]:
        """The inputs under ``paths``, and a report that already names the missing ones and
        lists the files skipped. Walked in a worker thread: a huge tree never blocks signals."""
        report = Report()
        inputs, missing = await asyncio.to_thread(
            discover, list(paths), source=self.settings.source, skipped=report.skipped_files
        )
        report.add_input_errors(missing)
        return inputs, report

    def _finish(self, report: Report, started: float) -> Report:
        report.seconds = time.monotonic() - started
        self._reports.append(report)
        return report


def _found_any(report: Report) -> bool:
    """Whether the inputs held any conversation (under ``--shard``, any shard's)."""
    return bool(report.conversations) or bool(report.shard and report.shard.others)


def _nothing_found(paths: list[str | Path], report: Report) -> str:
    named = ", ".join(str(p) for p in paths[:3]) + (" ..." if len(paths) > 3 else "")
    skipped = report.skipped_files
    if not skipped:
        return f"nothing importable found in {named}"
    examples = "; ".join(f"{Path(p).name}: {why}" for p, why in skipped[:3])
    more = f" and {len(skipped) - 3} more" if len(skipped) > 3 else ""
    return f"nothing importable found in {named} (skipped {examples}{more})"


_PROTOCOLS = {
    "everos": "EverOS v1 memory API",
    "evercore": "EverCore single-message API",
    "goodmem": "GoodMem batchCreate",
}


async def _round_trip(api_url: str) -> float | None:
    """Seconds one small request to the server takes (None when it cannot be reached)."""
    import aiohttp

    parts = public_url(api_url).split("/")
    origin = "/".join(parts[:3])
    started = time.monotonic()
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session,
            session.get(origin + "/health") as response,
        ):
            await response.read()
    except (TimeoutError, aiohttp.ClientError):
        return None
    return time.monotonic() - started
