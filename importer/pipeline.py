"""The sealed engine: read inputs and run one ordered lane per conversation, many lanes at once.

Data flows one way: converter → chunker → hooks (send, wait, flush) → checkpoint. Reading happens
in a worker thread so parsing big exports never blocks the event loop; a small queue between the
two keeps memory bounded. Each conversation is validated whole as it is read, so one with errors
never reaches the server, and its lane starts as soon as it is read.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

import structlog

from converters.base import ConvertOptions
from importer.checkpoint import CheckpointStore, ConversationState, InFlight
from importer.chunker import chunk_messages
from importer.config import ImportSettings
from importer.discovery import Input
from importer.errors import AuthError, CheckpointError, InputError, RejectedError, TargetError
from importer.models import Chunk, Conversation
from importer.report import ConversationResult, Report
from importer.targets.base import Receipt, TaskState

__all__ = ["Hooks", "NullProgress", "Pipeline", "Progress", "read_inputs", "validate_inputs"]

log = structlog.get_logger()
T = TypeVar("T")


class Progress(Protocol):
    """Where the pipeline reports progress (a tqdm bar, periodic log lines, or nothing).

    ``add_total`` grows the number of messages to send as inputs are read.
    """

    def add_total(self, messages: int) -> None: ...
    def advance(self, messages: int) -> None: ...
    def close(self) -> None: ...


class NullProgress:
    def add_total(self, messages: int) -> None:
        pass

    def advance(self, messages: int) -> None:
        pass

    def close(self) -> None:
        pass


class Hooks(Protocol):
    """The overridable steps of a lane (``BatchImporter`` implements them)."""

    async def _setup_group(self, conversation: Conversation) -> None: ...
    async def _send_chunk(self, conversation: Conversation, chunk: Chunk) -> Receipt: ...
    async def _wait_task(self, task_id: str) -> TaskState: ...
    async def _flush(self, conversation: Conversation) -> None: ...


@dataclass
class _Reading:
    """What reading the inputs found besides conversations."""

    errors: list[InputError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def into(self, report: Report) -> None:
        report.add_input_errors(self.errors)
        report.warnings.extend(self.warnings)


def read_inputs(
    inputs: list[Input],
    options: ConvertOptions,
    found: _Reading,
    stop: threading.Event | None = None,
) -> Iterator[Conversation]:
    """Every valid conversation of ``inputs``; problems are collected in ``found``."""
    for item in inputs:
        converter = item.converter(options)
        try:
            for conversation in converter.read(item.path):
                yield conversation
                if stop is not None and stop.is_set():
                    return
        except InputError as exc:
            found.errors.append(exc)
        except Exception as exc:  # a converter bug must not end the run or lose other inputs
            log.exception("converter_crashed", input=str(item.path), converter=item.converter.name)
            found.errors.append(
                InputError(str(item.path), f"{item.converter.name} converter failed: {exc!r}")
            )
        found.errors.extend(converter.rejected)
        found.warnings.extend(str(d) for d in converter.diagnostics if d.severity == "warning")


async def validate_inputs(inputs: list[Input], options: ConvertOptions, report: Report) -> None:
    """Read and check every input (in a worker thread) without sending anything."""
    found = _Reading()

    def check() -> None:
        for conversation in read_inputs(inputs, options, found):
            report.conversations.append(ConversationResult.of(conversation, "valid"))

    await asyncio.to_thread(check)
    found.into(report)


class Pipeline:
    """Runs an import over inputs or conversations into ``hooks``, keeping ``checkpoint`` current."""

    def __init__(
        self,
        settings: ImportSettings,
        hooks: Hooks,
        checkpoint: CheckpointStore,
        *,
        progress: Progress | None = None,
    ) -> None:
        self.settings = settings
        self.hooks = hooks
        self.checkpoint = checkpoint
        self.progress = progress or NullProgress()
        self.options = self.convert_options(settings)
        # the thread reading inputs watches the first, the event loop awaits the second
        self._stopping = threading.Event()
        self._stop_event = asyncio.Event()
        self._lanes: set[asyncio.Task[None]] = set()
        self._key_locks: dict[str, asyncio.Lock] = {}
        self._report = Report()

    @staticmethod
    def convert_options(settings: ImportSettings) -> ConvertOptions:
        return ConvertOptions(
            scene=settings.scene, include_system_events=settings.include_system_events
        )

    # -- control -------------------------------------------------------------------------------

    def request_stop(self) -> None:
        """Take no new chunks; the run ends once in-flight requests finish (or the grace ends)."""
        if not self._stopping.is_set():
            log.warning("stop_requested", grace_seconds=self.settings.stop_grace)
            self._stopping.set()
            self._stop_event.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    # -- entry points ------------------------------------------------------------------------------

    async def run(self, inputs: list[Input], report: Report) -> None:
        """Import every valid conversation of ``inputs``; problems go into ``report``."""
        self._report = report
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Conversation | None] = asyncio.Queue(maxsize=2)
        found = _Reading()

        def produce() -> None:
            try:
                for conversation in read_inputs(inputs, self.options, found, self._stopping):
                    pending = self._pending_count(conversation)
                    loop.call_soon_threadsafe(self.progress.add_total, pending)
                    asyncio.run_coroutine_threadsafe(queue.put(conversation), loop).result()
            finally:
                asyncio.run_coroutine_threadsafe(queue.put(None), loop).result()

        producer = loop.run_in_executor(None, produce)
        try:
            await self._consume(queue)
        finally:
            self._stopping.set()
            while not producer.done():  # keep the queue empty so the reader is never stuck
                while not queue.empty():
                    queue.get_nowait()
                await asyncio.wait({producer}, timeout=0.05)
            await producer
            found.into(report)

    async def run_conversations(self, conversations: list[Conversation], report: Report) -> None:
        """Import conversations built in code (``BatchImporter.import_conversation``)."""
        self._report = report
        queue: asyncio.Queue[Conversation | None] = asyncio.Queue()
        for conversation in conversations:
            self.progress.add_total(self._pending_count(conversation))
            queue.put_nowait(conversation)
        queue.put_nowait(None)
        await self._consume(queue)

    # -- lanes ---------------------------------------------------------------------------------

    async def _consume(self, queue: asyncio.Queue[Conversation | None]) -> None:
        slots = asyncio.Semaphore(self.settings.lane_count)
        while True:
            conversation = await self._unless_stopped(queue.get())
            if conversation is None or not await self._unless_stopped(slots.acquire()):
                break
            lane = asyncio.create_task(self._lane(conversation))
            self._lanes.add(lane)

            def finished(task: asyncio.Task[None]) -> None:
                self._lanes.discard(task)
                slots.release()

            lane.add_done_callback(finished)
        await self._drain_lanes()
        if self._stop_event.is_set() and not self._report.fatal:
            self._report.interrupted = True

    async def _unless_stopped(self, awaitable: Awaitable[T]) -> T | None:
        """Await ``awaitable`` unless a stop is requested first (then None)."""
        task = asyncio.ensure_future(awaitable)
        stop = asyncio.ensure_future(self._stop_event.wait())
        await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
        stop.cancel()
        if task.done():
            return task.result()
        task.cancel()
        return None

    async def _drain_lanes(self) -> None:
        """Wait for the lanes; once a stop is requested, give them the grace, then cancel."""
        stop = asyncio.ensure_future(self._stop_event.wait())
        try:
            while self._lanes and not self.stopping:
                await asyncio.wait({*self._lanes, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
        if self._lanes:
            grace = 0.0 if self._report.fatal else self.settings.stop_grace
            _, late = await asyncio.wait(set(self._lanes), timeout=grace)
            for lane in late:
                lane.cancel()
            await asyncio.gather(*late, return_exceptions=True)

    async def _lane(self, conversation: Conversation) -> None:
        key = conversation.key
        lock = self._key_locks.setdefault(key, asyncio.Lock())
        result = ConversationResult.of(conversation, "done")
        self._report.conversations.append(result)
        async with lock:  # two inputs holding the same conversation take turns
            try:
                await self._send_conversation(conversation, result)
            except asyncio.CancelledError:
                result.status = "interrupted"
            except AuthError as exc:
                result.status, result.reason = "failed", str(exc)
                if not self._report.fatal:
                    self._report.fatal = str(exc)
                    log.error("authentication_failed", error=str(exc))
                self.request_stop()
                self._cancel_other_lanes()
            except CheckpointError as exc:
                result.status, result.reason = "failed", str(exc)
                self._report.fatal = self._report.fatal or str(exc)
                self.request_stop()
            except TargetError as exc:
                result.status, result.reason = "failed", str(exc)
                log.error("conversation_failed", conversation=key, error=str(exc))
                with suppress(CheckpointError):
                    state = self.checkpoint.get(key)
                    await self.checkpoint.record(
                        key, state.model_copy(update={"failure": str(exc)})
                    )

    async def _send_conversation(
        self, conversation: Conversation, result: ConversationResult
    ) -> None:
        key = conversation.key
        state = self.checkpoint.get(key)
        if state.inflight is not None:
            state = await self._resolve_inflight(key, state)
        cursor = state.resume_cursor
        pending = [m for m in conversation.messages if not cursor.covers(m)]
        result.already = len(conversation.messages) - len(pending)
        if not conversation.messages or (not pending and state.complete):
            result.status = "unchanged"
            return
        state = state.model_copy(update={"origin": conversation.origin, "failure": None})
        if pending and conversation.kind == "group" and not state.group_ready:
            try:
                await self.hooks._setup_group(conversation)
            except RejectedError as exc:
                # metadata is worth having, not worth losing the messages over; the first
                # chunk carries it as group_meta too
                log.warning("group_setup_failed", conversation=key, error=str(exc))
            state = state.model_copy(update={"group_ready": True})
            await self.checkpoint.record(key, state)
        chunks = chunk_messages(
            key,
            pending,
            max_messages=self.settings.chunk_size,
            max_bytes=self.settings.max_request_bytes,
        )
        for chunk in chunks:
            if self.stopping:
                result.status = "interrupted"
                return
            state = await self._deliver(conversation, chunk, state)
            result.sent += len(chunk.messages)
            self.progress.advance(len(chunk.messages))
        if state.flushed_at != state.acked:
            await self.hooks._flush(conversation)
            state = state.model_copy(update={"flushed_at": state.acked})
        await self.checkpoint.record(key, state)
        log.info("conversation_done", conversation=key, sent=result.sent, already=result.already)

    async def _deliver(
        self, conversation: Conversation, chunk: Chunk, state: ConversationState
    ) -> ConversationState:
        """Send one chunk until the server has it; returns the acknowledged state."""
        key = conversation.key
        cursor = state.resume_cursor.advance(chunk.messages)
        acked = state.acked + len(chunk.messages)
        done = state.model_copy(update={"acked": acked, "cursor": cursor, "inflight": None})
        for attempt in range(self.settings.max_task_resends + 1):
            receipt = await self.hooks._send_chunk(conversation, chunk)
            if receipt.task_id is None:
                break  # stored synchronously
            # journal the task before waiting: after a crash we ask it instead of resending
            inflight = InFlight(task_id=receipt.task_id, cursor=cursor, acked=acked)
            await self.checkpoint.record(key, state.model_copy(update={"inflight": inflight}))
            outcome = await self.hooks._wait_task(receipt.task_id)
            if outcome != "failed":
                break
            log.warning("task_failed", conversation=key, chunk=chunk.index, attempt=attempt + 1)
            await self.checkpoint.record(key, state)
        else:
            raise TargetError(
                f"chunk {chunk.index} of {key} failed on the server "
                f"{self.settings.max_task_resends + 1} times"
            )
        await self.checkpoint.record(key, done)
        return done

    async def _resolve_inflight(self, key: str, state: ConversationState) -> ConversationState:
        """Ask the task of a chunk accepted before a crash whether it landed."""
        inflight = state.inflight
        assert inflight is not None
        outcome = await self.hooks._wait_task(inflight.task_id)
        if outcome in ("success", "expired"):
            # these messages were counted as still to send when the conversation was read
            self.progress.advance(inflight.acked - state.acked)
            state = state.model_copy(
                update={"acked": inflight.acked, "cursor": inflight.cursor, "inflight": None}
            )
        else:
            state = state.model_copy(update={"inflight": None})
        log.info("inflight_resolved", conversation=key, task=inflight.task_id, outcome=outcome)
        await self.checkpoint.record(key, state)
        return state

    # -- bookkeeping -----------------------------------------------------------------------------

    def _pending_count(self, conversation: Conversation) -> int:
        """Messages of ``conversation`` the checkpoint does not have yet."""
        cursor = self.checkpoint.get(conversation.key).resume_cursor
        return sum(1 for m in conversation.messages if not cursor.covers(m))

    def _cancel_other_lanes(self) -> None:
        current = asyncio.current_task()
        for lane in self._lanes:
            if lane is not current:
                lane.cancel()
