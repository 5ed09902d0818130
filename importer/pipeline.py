"""The sealed engine: read every input, merge conversations, run one ordered lane per conversation.

Data flows one way: converters → merge (spool) → ledger filter → chunker → hooks (send, wait,
flush) → ledger. Inputs are read in the background (``Reading``: a forked child, or a worker
thread), so parsing big exports never blocks the event loop, into a spool on disk where the same
conversation from several inputs becomes one chronological, de-duplicated stream. Each
conversation, once no input still unread may hold more of it, gets a lane: the messages whose ids
the target has not acknowledged are chunked and sent in order, at most one chunk in flight, the
next only after the previous one's task succeeded.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from converters.base import ConvertOptions
from importer.chunker import ChunkBuilder
from importer.config import ImportSettings
from importer.discovery import Input
from importer.errors import (
    CheckpointError,
    InputError,
    RejectedError,
    StopRunError,
    TargetError,
)
from importer.ledger import ConversationState, InDoubt, Ledger, content_digest, id_digest
from importer.logs import get_logger
from importer.merge import Spool, SpooledConversation
from importer.models import Chunk, Conversation, Message
from importer.reader import CannotFork, ForkedChild, StopFlag, can_fork, start_forked
from importer.report import ConversationResult, Report
from importer.retry import remaining_work
from importer.sender import StopRequested
from importer.shard import ShardShare
from importer.targets.base import Receipt, TaskState

__all__ = [
    "ChunkLimits",
    "Hooks",
    "NullProgress",
    "Pipeline",
    "Progress",
    "Reading",
    "spool_inputs",
    "validate_inputs",
]

log = get_logger(__name__)
T = TypeVar("T")


class Progress(Protocol):
    """Where the pipeline reports progress (a tqdm bar, periodic log lines, or nothing).

    ``add_total`` adds the messages of conversations about to be sent (called again as more
    inputs are read); ``advance`` counts messages accounted for (sent now, or found
    acknowledged already).
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


@dataclass(frozen=True)
class ChunkLimits:
    """What one request of the target may carry, and whether resending is harmless."""

    max_messages: int
    max_bytes: int
    #: the target recognises a chunk sent twice (GoodMem's memory ids): no duplicate is possible
    idempotent: bool = False


@dataclass
class _Found:
    """What reading the inputs found besides conversations."""

    errors: list[InputError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def into(self, report: Report) -> None:
        report.add_input_errors(self.errors)
        report.warnings.extend(self.warnings)


def spool_inputs(
    inputs: list[Input],
    options: ConvertOptions,
    spool: Spool,
    found: _Found,
    stop: threading.Event | StopFlag | None = None,
    release: Callable[[list[SpooledConversation]], None] | None = None,
) -> bool:
    """Read every valid conversation of ``inputs`` into ``spool``, collecting problems in
    ``found`` (blocking: run it in a worker thread); False if a ``stop`` ended it early.
    ``release``, when given, receives every conversation once it may be sent: as soon as no
    input still unread may hold more of it, and the rest once reading is done."""
    unread = _Unread(inputs, options) if release is not None else None
    for position, item in enumerate(inputs):
        converter = item.converter(options)
        read: list[str] = []
        try:
            for piece in converter.read_into(item.path, spool):
                read.append(piece.conversation.key)
                if stop is not None and stop.is_set():
                    return False
        except InputError as exc:
            found.errors.append(exc)
        except Exception as exc:  # a converter bug must not end the run or lose other inputs
            log.debug("converter_crashed", input=str(item.path), exc_info=True)
            found.errors.append(
                InputError(str(item.path), f"{item.converter.name} converter failed: {exc!r}")
            )
        found.errors.extend(converter.rejected)
        found.warnings.extend(str(d) for d in converter.diagnostics if d.severity == "warning")
        if release is not None and unread is not None and (
            ready := spool.release(unread.done(position, read))
        ):
            release(ready)
    if release is not None and (rest := spool.conversations()):  # merged, once read
        release(rest)
    return True


class _Unread:
    """Which conversations the inputs not read yet may hold, from ``Converter.keys`` (all of
    them while any of those inputs cannot tell its keys cheaply), and which of those read so
    far wait for them. Each key is looked at when it is read and when it stops being held, so
    the cost grows with the keys, not with inputs × conversations."""

    def __init__(self, inputs: list[Input], options: ConvertOptions) -> None:
        # the first input's keys are never asked for: nothing read before it waits for it
        self._keys: list[frozenset[str] | None] = [
            frozenset(), *(_keys_of(item, options) for item in inputs[1:])
        ]
        self._unknown = sum(keys is None for keys in self._keys)
        self._held = Counter(key for keys in self._keys if keys for key in keys)
        #: keys read, waiting for inputs not read yet
        self._waiting: set[str] = set()

    def done(self, position: int, read: list[str]) -> list[str]:
        """The input at ``position`` has been read, holding the conversations ``read``: the
        keys, among all read so far, that no input still unread may hold."""
        self._waiting.update(read)
        keys = self._keys[position]
        if keys is None:
            self._unknown -= 1
            freed: set[str] | list[str] = self._waiting  # all waited for this one, if the last
        else:
            self._held.subtract(keys)
            freed = [key for key in keys if self._held[key] <= 0]
            for key in freed:
                del self._held[key]
        if self._unknown:
            return []
        ready = [key for key in {*freed, *read} if key in self._waiting and not self._held[key]]
        self._waiting.difference_update(ready)
        return ready


def _keys_of(item: Input, options: ConvertOptions) -> frozenset[str] | None:
    try:
        return item.converter(options).keys(item.path)
    except Exception:  # only a hint: reading the input says what is wrong with it
        log.debug("converter_keys_failed", input=str(item.path), exc_info=True)
        return None


async def validate_inputs(
    inputs: list[Input], options: ConvertOptions, report: Report, *, ids_only: bool = False
) -> Spool:
    """Read, check and merge every input (in a worker thread) without sending anything.
    The caller closes the returned spool (``ids_only``: it keeps ids and times, no text)."""
    found = _Found()
    spool = Spool(ids_only=ids_only)
    await asyncio.to_thread(spool_inputs, inputs, options, spool, found)
    for spooled in spool.conversations():
        report.conversations.append(ConversationResult.of(spooled, "valid"))
    found.into(report)
    return spool


class Reading:
    """The inputs being read into a spool, from the moment this is made: in a forked child where
    the platform forks (``importer.reader``), else in a thread. Made before the target is
    checked and the ledger opened, so that the first conversations are ready when sending may
    start. Conversations come out of ``batches`` as soon as no input still unread may hold more
    of them (``spool_inputs``); ``close`` ends the reading and removes the spool."""

    def __init__(self, inputs: list[Input], options: ConvertOptions, *, in_child: bool) -> None:
        self.found = _Found()
        #: set to end the reading after the conversation being read
        self.stopping = threading.Event()
        self._loop = asyncio.get_running_loop()
        self._released: asyncio.Queue[list[SpooledConversation] | None] = asyncio.Queue()
        forking = in_child and can_fork()
        self.spool = Spool(shared=forking)
        # forked here, on the event loop's thread, before the sender, the ledger or the sandbox
        # start threads of their own: a lock one of them held at the fork would stay held in
        # the child (``start_forked``)
        child = self._fork(inputs, options) if forking else None
        #: True once every input was read, False if a stop ended it early
        self.task: asyncio.Future[bool] = asyncio.ensure_future(
            asyncio.to_thread(self._read, inputs, options, child)
        )
        self._closing: asyncio.Future[None] | None = None

    async def batches(self) -> AsyncIterator[list[SpooledConversation]]:
        while (batch := await self._released.get()) is not None:
            yield batch

    def start_closing(self) -> asyncio.Future[None]:
        """Begin what ``close`` does (once, however often asked), and go on."""
        if self._closing is None:
            self._closing = asyncio.ensure_future(self._close())
        return self._closing

    async def close(self) -> None:
        """Stop reading if it still goes on, wait for it, remove the spool (in a thread: closing
        it copies out its write-ahead log, a few milliseconds). A failure of the reading itself
        is left in ``task`` for whoever awaits it."""
        await self.start_closing()

    async def _close(self) -> None:
        self.stopping.set()
        try:
            await asyncio.wait({self.task})
        finally:
            await asyncio.to_thread(self.spool.close)
        if not self.task.cancelled():
            self.task.exception()  # seen: when the run needed it, ``Pipeline.run`` raised it

    def _hand_over(self, batch: list[SpooledConversation] | None) -> None:
        self._loop.call_soon_threadsafe(self._released.put_nowait, batch)

    def _fork(self, inputs: list[Input], options: ConvertOptions) -> ForkedChild | None:
        def work(stop: StopFlag, send: Callable[[Any], None]) -> tuple[bool, _Found]:
            found = _Found()
            return spool_inputs(inputs, options, self.spool, found, stop, send), found

        try:
            return start_forked(work)
        except CannotFork:  # then read in a thread, as where there is no fork
            return None

    def _read(
        self, inputs: list[Input], options: ConvertOptions, child: ForkedChild | None
    ) -> bool:
        try:
            if child is None:
                return spool_inputs(inputs, options, self.spool, self.found, self.stopping,
                                    self._hand_over)
            done, found = child.relay(self._hand_over, self.stopping)
            self.found.errors.extend(found.errors)
            self.found.warnings.extend(found.warnings)
            return bool(done)
        finally:
            self._hand_over(None)


class Pipeline:
    """Runs an import over inputs or conversations into ``hooks``, keeping ``ledger`` current."""

    def __init__(
        self,
        settings: ImportSettings,
        hooks: Hooks,
        ledger: Ledger,
        limits: ChunkLimits,
        *,
        progress: Progress | None = None,
        on_stop: Callable[[], None] | None = None,
    ) -> None:
        self.settings = settings
        self.on_stop = on_stop
        self.hooks = hooks
        self.ledger = ledger
        self.limits = limits
        self.progress = progress or NullProgress()
        self._stop_event = asyncio.Event()
        self._lanes: set[asyncio.Task[None]] = set()
        self._report = Report()
        self._reading: Reading | None = None

    @staticmethod
    def convert_options(settings: ImportSettings) -> ConvertOptions:
        return ConvertOptions(
            scene=settings.scene,
            include_system_events=settings.include_system_events,
            timezone=settings.timezone,
            user_id=settings.user_id,
            column_map=settings.column_map,
        )

    # -- control -------------------------------------------------------------------------------

    def request_stop(self) -> None:
        """Take no new chunks; the run ends once in-flight requests finish (or the grace ends).
        Lanes waiting to retry stop at once: their chunk is not on the server."""
        if not self._stop_event.is_set():
            log.warning("stop_requested", grace_seconds=self.settings.stop_grace)
            self._stop_event.set()
            if self._reading is not None:
                self._reading.stopping.set()
            if self.on_stop is not None:
                self.on_stop()

    @property
    def stopping(self) -> bool:
        return self._stop_event.is_set()

    # -- entry points ------------------------------------------------------------------------------

    async def run(self, reading: Reading, report: Report) -> None:
        """Import every valid conversation ``reading`` finds; problems go into ``report``.
        Conversations are sent while the inputs are still read. The caller closes ``reading``."""
        self._reading = reading
        if self.stopping:  # asked before the run began
            reading.stopping.set()
        try:
            await self._send_all(reading.spool, reading.batches(), report, reading.task)
        except BaseException:
            reading.stopping.set()  # nothing more will be sent: reading may end
            raise
        finally:
            await asyncio.wait({reading.task})  # the spool is closed only once reading has ended
        reading.task.result()  # a failure of reading itself (not of one input) ends the run
        reading.found.into(report)

    async def run_conversations(self, conversations: list[Conversation], report: Report) -> None:
        """Import conversations built in code (``BatchImporter.import_conversation``)."""
        with Spool() as spool:
            for conversation in conversations:
                spool.add(conversation)

            async def everything() -> AsyncIterator[list[SpooledConversation]]:
                yield spool.conversations()

            await self._send_all(spool, everything(), report, None)

    # -- lanes ---------------------------------------------------------------------------------

    async def _send_all(
        self, spool: Spool, batches: AsyncIterator[list[SpooledConversation]], report: Report,
        reader: asyncio.Future[bool] | None,
    ) -> None:
        """A lane for each conversation of ``batches`` as they come (at most ``lane_count`` at
        once); ``reader``, when given, is what fills them."""
        self._report = report
        shard = self.settings.shard
        mine = others = offered = started = 0
        slots = asyncio.Semaphore(self.settings.lane_count)
        async for batch in batches:
            if shard is not None:  # the other shards' processes send the rest
                batch, share = shard.take(batch)
                mine, others = mine + share.conversations, others + share.others
            offered += len(batch)
            if self.stopping:
                break
            self.progress.add_total(sum(c.count for c in batch))
            for spooled in batch:
                if not await self._unless_stopped(slots.acquire()):
                    break
                started += 1
                lane = asyncio.create_task(self._lane(spool, spooled))
                self._lanes.add(lane)

                def finished(task: asyncio.Task[None]) -> None:
                    self._lanes.discard(task)
                    slots.release()

                lane.add_done_callback(finished)
        if shard is not None:
            report.shard = ShardShare(shard.index, shard.count, mine, others)
        await self._drain_lanes()
        if self._stop_event.is_set() and not self._report.fatal:
            # a stop that came when everything was done changes nothing: exit 0 then
            unread = reader is not None and not (
                reader.done() and not reader.cancelled() and reader.exception() is None
                and reader.result()
            )
            unfinished = unread or started < offered or any(
                r.status == "interrupted" for r in self._report.conversations
            )
            self._report.interrupted = unfinished

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

    async def _lane(self, spool: Spool, spooled: SpooledConversation) -> None:
        key = spooled.key
        result = ConversationResult.of(spooled, "done")
        self._report.conversations.append(result)
        try:
            await self._send_conversation(spool, spooled, result)
        except (asyncio.CancelledError, StopRequested):
            result.status = "interrupted"
        except StopRunError as exc:
            result.status, result.reason = "failed", str(exc)
            if not self._report.fatal:
                self._report.fatal = str(exc)
                log.error("run_stopped", error=str(exc))
            self.request_stop()
            self._cancel_other_lanes()
        except CheckpointError as exc:
            result.status, result.reason = "failed", str(exc)
            self._report.fatal = self._report.fatal or str(exc)
            self.request_stop()
        except TargetError as exc:
            await self._fail(key, result, str(exc))
        except Exception as exc:  # a bug or a library surprise: never counted as success
            log.debug("conversation_crashed", conversation=key, exc_info=True)
            await self._fail(key, result, f"unexpected error: {type(exc).__name__}: {exc}")

    async def _fail(self, key: str, result: ConversationResult, reason: str) -> None:
        result.status, result.reason = "failed", reason
        # info, not error: the summary lists every failure once at the end
        log.info("conversation_failed", conversation=key, error=reason)
        with suppress(CheckpointError):
            await self.ledger.update(key, failure=reason)

    async def _send_conversation(
        self, spool: Spool, spooled: SpooledConversation, result: ConversationResult
    ) -> None:
        conversation = spooled.meta
        key = conversation.key
        remaining_work.set(spooled.count)
        if self.settings.resend_in_doubt:
            await self.ledger.take_in_doubt(key)
        state = await self.ledger.state(key)
        if state.inflight is not None:
            await self._resolve_inflight(conversation, state, result)
        legacy_task = self.ledger.legacy_task(key)
        if legacy_task is not None:
            outcome = await self.hooks._wait_task(legacy_task)
            await self.ledger.settle_legacy(key, outcome in ("success", "expired"))
        if state.inflight is not None or legacy_task is not None:
            state = await self.ledger.state(key)
        origin = ", ".join(spooled.origins)

        builder = ChunkBuilder(
            key, max_messages=self.limits.max_messages, max_bytes=self.limits.max_bytes
        )
        ready = state.group_ready
        #: id digests of messages on their way from the lookup to their chunk's records
        digests: dict[str, int] = {}
        # nothing of the conversation acknowledged yet: no message needs looking up
        fresh = state.acked == 0
        async for chunk in self._chunks(spool, spooled, builder, state.max_ts, result, digests,
                                        fresh):
            remaining_work.set(spooled.count - result.sent - result.already)
            if not ready:
                await self._setup(conversation)
                ready = True
            if not await self._deliver(conversation, chunk, builder, result, origin, digests):
                return
        if result.sent == 0 and (state.failure or state.origin != origin):
            # what an acknowledgement records with the chunk, when there was none
            await self.ledger.update(key, clear_failure=True, origin=origin)
        if result.failed_messages:
            result.status = "failed"
            await self.ledger.update(key, failure=result.reason)
        state = await self.ledger.state(key)
        if result.sent == 0 and (state.complete or not spooled.count):
            if result.status == "done":
                result.status = "unchanged"
            return
        if state.acked and state.flushed_at != state.acked:
            remaining_work.set(0)
            await self.hooks._flush(conversation)
            await self.ledger.update(key, flushed_at=state.acked)
        log.info("conversation_done", conversation=key, sent=result.sent, already=result.already)

    async def _chunks(
        self, spool: Spool, spooled: SpooledConversation, builder: ChunkBuilder,
        newest: int | None, result: ConversationResult, digests: dict[str, int], fresh: bool,
    ) -> AsyncIterator[Chunk]:
        """The chunks of the conversation's messages the target lacks, read page by page."""
        # read on the event loop: a page (at most 1,000 messages, merged and indexed before the
        # conversation was released) takes about 2 ms, and handing each to a worker thread made
        # the threads contend for the interpreter: 64 x 600 messages imported 11 % slower. Only
        # while the merge at the end of reading holds the spool does a worker thread wait for it
        pages = spool.messages(spooled)
        while (
            page := await asyncio.to_thread(next, pages, None) if spool.merging
            else next(pages, None)
        ) is not None:
            pending = await self._pending(spooled.key, page, newest, result, digests, fresh)
            self.progress.advance(len(page) - len(pending))
            for message in pending:
                if (chunk := builder.add(message)) is not None:
                    yield chunk
        if (chunk := builder.finish()) is not None:
            yield chunk

    async def _pending(
        self, key: str, page: list[Message], newest: int | None, result: ConversationResult,
        digests: dict[str, int], fresh: bool,
    ) -> list[Message]:
        """The messages of ``page`` the target has not acknowledged (``fresh``: the ledger
        holds none of the conversation's)."""
        hids = [id_digest(m.message_id) for m in page]
        known = {} if fresh else await self.ledger.known(key, hids)
        pending: list[Message] = []
        legacy: list[tuple[int, int]] = []
        legacy_ts = 0
        for message, hid in zip(page, hids, strict=True):
            acked_content = known.get(hid)
            if acked_content is not None:
                result.already += 1
                if acked_content != content_digest(message.sender_id, message.content):
                    result.edited += 1
            elif self.ledger.legacy_covers(key, message.timestamp, message.message_id):
                result.already += 1
                legacy.append((hid, content_digest(message.sender_id, message.content)))
                legacy_ts = max(legacy_ts, message.timestamp)
            else:
                if newest is not None and message.timestamp < newest:
                    result.backfill += 1
                pending.append(message)
                digests[message.message_id] = hid
        if legacy:
            # acknowledged under 0.1.0: remember them by id from now on
            await self.ledger.acknowledge(key, legacy, legacy_ts, count=False)
        return pending

    async def _setup(self, conversation: Conversation) -> None:
        """The target's per-conversation metadata call (EverOS groups, EverCore's
        conversation-meta), once, before the first chunk (whose intent records it done)."""
        try:
            await self.hooks._setup_group(conversation)
        except RejectedError as exc:
            # metadata is worth having, not worth losing the messages over; EverOS's first
            # chunk carries it as group_meta too
            log.warning("group_setup_failed", conversation=conversation.key, error=str(exc))

    async def _deliver(
        self, conversation: Conversation, chunk: Chunk, builder: ChunkBuilder,
        result: ConversationResult, origin: str, digests: dict[str, int],
    ) -> bool:
        """Send one chunk until the target has it. False: stop this lane (a stop was asked)."""
        if self.stopping:
            result.status = "interrupted"
            return False
        key = conversation.key
        if builder.oversized(chunk):
            message = chunk.messages[0]
            reason = (f"message {message.message_id} is larger than one request may be "
                      f"({builder.max_bytes} bytes); not sent")
            log.error("message_too_large", conversation=key, message=message.message_id)
            result.failed_messages += 1
            result.reason = reason
            return True
        entries = [
            (digests.pop(m.message_id) if m.message_id in digests else id_digest(m.message_id),
             content_digest(m.sender_id, m.content))
            for m in chunk.messages
        ]
        max_ts = max(m.timestamp for m in chunk.messages)
        doubt: InDoubt | None = None
        for attempt in range(self.settings.max_task_resends + 1):
            # journal the intent first: after a crash the report can say which messages were
            # on their way
            await self.ledger.begin(key, first_id=chunk.first.message_id,
                                    last_id=chunk.last.message_id, max_ts=max_ts, entries=entries)
            receipt = await self.hooks._send_chunk(conversation, chunk)
            if receipt.task_id is None:
                break  # stored synchronously
            # journal the task (committed while we wait): after a crash we ask it instead of
            # resending; the next intent cannot be journaled before it
            await self.ledger.sent(key, receipt.task_id, wait=False)
            outcome = await self.hooks._wait_task(receipt.task_id)
            if outcome == "success":
                break
            if outcome == "expired":
                doubt = InDoubt(key, "expired", chunk.first.message_id, chunk.last.message_id,
                                len(chunk.messages), receipt.task_id)
                break
            log.warning("task_failed", conversation=key, chunk=chunk.index, attempt=attempt + 1)
            await self.ledger.abandon(key)
        else:
            raise TargetError(
                f"chunk {chunk.index} of {key} failed on the server "
                f"{self.settings.max_task_resends + 1} times"
            )
        # committed while the next chunk is prepared, and before its intent
        await self.ledger.acknowledge(
            key, entries, max_ts, in_doubt=doubt, origin=origin, wait=False
        )
        if doubt is not None:
            self._report.in_doubt.append(doubt)
        result.sent += len(chunk.messages)
        self.progress.advance(len(chunk.messages))
        return True

    async def _resolve_inflight(
        self, conversation: Conversation, state: ConversationState, result: ConversationResult
    ) -> None:
        """Settle a chunk that was on its way when an earlier run ended."""
        key = conversation.key
        inflight = state.inflight
        assert inflight is not None
        if inflight.task_id is None:
            # the request may or may not have reached the server: send it again, and say so
            doubt = None
            if not self.limits.idempotent:
                doubt = InDoubt(key, "resent", inflight.first_id, inflight.last_id,
                                inflight.count, None)
                self._report.in_doubt.append(doubt)
            await self.ledger.abandon(key, resent=doubt)
            log.info("inflight_resent", conversation=key, messages=inflight.count)
            return
        outcome = await self.hooks._wait_task(inflight.task_id)
        log.info("inflight_resolved", conversation=key, task=inflight.task_id, outcome=outcome)
        if outcome == "success":
            await self.ledger.acknowledge(key, inflight.entries, inflight.max_ts)
        elif outcome == "expired" and not self.settings.resend_in_doubt:
            doubt = InDoubt(key, "expired", inflight.first_id, inflight.last_id, inflight.count,
                            inflight.task_id)
            self._report.in_doubt.append(doubt)
            await self.ledger.acknowledge(key, inflight.entries, inflight.max_ts, in_doubt=doubt)
        else:
            await self.ledger.abandon(key)

    def _cancel_other_lanes(self) -> None:
        current = asyncio.current_task()
        for lane in self._lanes:
            if lane is not current:
                lane.cancel()
