"""GoodMem's REST API: a space holds memories; ``memories:batchCreate`` stores windows of chat.

    GET  /v1/spaces/{id}, GET /v1/spaces?nameFilter=…, POST /v1/spaces   find or make the space
    GET  /v1/embedders                       the embedder for a new space, when none is given
    POST /v1/memories:batchCreate {requests}  HTTP 200 even when items fail: each item has its
                                              own result, success or {error: {code, message}}

Memory ids are derived from what a memory holds (see ``goodmem_memories``), so creating one
again is answered ALREADY_EXISTS: that is how a chunk resent after a crash stays single.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from typing import Any, Literal
from urllib.parse import quote

import aiohttp

from importer.errors import AuthError, RejectedError, RetriableTargetError, StopRunError
from importer.logs import get_logger
from importer.models import Chunk, Conversation
from importer.targets._http import (
    RETRIABLE_STATUSES,
    Answer,
    fail,
    json_object,
    preflight,
    request_json,
)
from importer.targets.base import Receipt, TaskState, public_url
from importer.targets.goodmem_memories import PlannedMemory, plan_memories

__all__ = ["GoodMemTarget", "ItemOutcome", "SpaceError", "classify_item_error"]

log = get_logger(__name__)

_AUTH_HINT = "check --api-key (GoodMem keys start with gm_)"
#: GoodMem's own CLI sends at most 20 files and 5 MB per batch
MAX_BATCH_BYTES = 5_000_000
_ENVELOPE = len('{"requests": []}')
#: the chunking the official SDK gives a new space when told nothing else
_DEFAULT_CHUNKING = {
    "recursive": {
        "chunkSize": 512,
        "chunkOverlap": 64,
        "keepStrategy": "KEEP_END",
        "lengthMeasurement": "CHARACTER_COUNT",
    }
}



class SpaceError(StopRunError, RejectedError):
    """The space cannot be found or made: a refusal that no conversation of the run escapes."""


ItemOutcome = Literal["done", "retry", "auth", "reject"]
# per-item codes arrive gRPC-style (6), HTTP-style (409) or by name, depending on the server
_DONE = ({6, 409}, {"ALREADY_EXISTS"})
_RETRY = ({2, 4, 8, 10, 13, 14} | RETRIABLE_STATUSES, {
    "UNKNOWN", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED", "ABORTED", "INTERNAL", "UNAVAILABLE",
})
_AUTH = ({7, 16, 401, 403}, {"PERMISSION_DENIED", "UNAUTHENTICATED"})


def classify_item_error(error: Any) -> ItemOutcome:
    """What a failed item's ``{code, message}`` means for us."""
    code: Any = error.get("code") if isinstance(error, dict) else None
    message = str(error.get("message", "")) if isinstance(error, dict) else ""
    number = int(code) if isinstance(code, int | str) and str(code).strip().isdigit() else None
    name = str(code).strip().upper() if number is None and code is not None else ""
    if not name:  # some servers put the status name at the start of the message
        name = message.split(":", 1)[0].strip().upper()
    for outcome, (numbers, names) in (("done", _DONE), ("retry", _RETRY), ("auth", _AUTH)):
        if number in numbers or name in names:
            return outcome  # type: ignore[return-value]
    return "reject"


class GoodMemTarget:
    """Adapter for GoodMem: one space per run, chunks stored as idempotent memory windows."""

    name = "goodmem"
    max_request_bytes = MAX_BATCH_BYTES
    #: a chunk sent twice is recognised (ALREADY_EXISTS): resending one in doubt is harmless
    idempotent = True

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        space_name: str = "chat-history",
        space_id: str | None = None,
        embedder_id: str | None = None,
        memory_messages: int = 50,
        memory_chars: int = 4000,
        batch_size: int = 20,
        identity: str | None = None,
    ) -> None:
        if memory_messages < 1 or memory_chars < 1 or batch_size < 1:
            raise ValueError("memory_messages, memory_chars and batch_size must be at least 1")
        # credentials in the URL are not how GoodMem authenticates: never sent, never stored
        self.base_url = public_url(base_url)
        self.space_name = space_name
        self.embedder_id = embedder_id
        self.memory_messages = memory_messages
        self.memory_chars = memory_chars
        self.batch_size = batch_size
        self.max_chunk_messages = memory_messages * batch_size
        self.identity = identity or f"{self.name}:{self.base_url}#space={space_id or space_name}"
        self._headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if api_key:
            self._headers["x-api-key"] = api_key
        self._session: aiohttp.ClientSession | None = None
        self._wanted_space_id = space_id
        self._space_id: str | None = None
        self._space_lock: asyncio.Lock | None = None
        #: memory ids the server has, per chunk (conversation key, first id, last id) whose
        #: add has not finished yet: a retry sends only the rest
        self._done: dict[tuple[str, str, str], set[str]] = {}

    def bind(self, session: aiohttp.ClientSession) -> None:
        self._session = session

    @property
    def space_id(self) -> str | None:
        """The space memories go to, once ``prepare`` found or made it."""
        return self._space_id

    # -- the space -----------------------------------------------------------------------------

    async def prepare(self) -> None:
        """Preflight, then find the space (by id, or by exact name) or create it; once.

        Raises ``SpaceError`` when the space cannot be had, ``RetriableTargetError`` when the
        server had trouble answering (call again).
        """
        if self._space_lock is None:
            self._space_lock = asyncio.Lock()
        async with self._space_lock:
            if self._space_id is not None:
                return
            # /v1/system/info answers without a key: only "is this GoodMem at all"
            await preflight(self._session, self.base_url + "/v1/system/info", "GoodMem")
            if self._wanted_space_id:
                self._space_id = await self._get_space(self._wanted_space_id)
            else:
                self._space_id = await self._find_space() or await self._create_space()
            log.info("goodmem_space_ready", space_id=self._space_id, name=self.space_name)

    async def _get_space(self, space_id: str) -> str:
        what = f"GET /v1/spaces/{space_id}"
        answer = await self._call("GET", f"/v1/spaces/{quote(space_id, safe='')}", what=what)
        if answer.status == 404:
            raise SpaceError(
                f"GoodMem space {space_id} not found at {self.base_url}; check"
                " --space-id, or leave it out to find or create the space by --space name",
                status=404,
            )
        self._check(answer, what)
        return space_id

    async def _find_space(self) -> str | None:
        """The id of the space named exactly ``space_name``, following every page."""
        params = {"maxResults": "100"}
        if not any(ch in self.space_name for ch in "*?[]\\"):
            params["nameFilter"] = self.space_name  # a glob: only a plain name is safe in it
        seen: set[str] = set()
        while True:
            answer = await self._call("GET", "/v1/spaces", params=params, what="GET /v1/spaces")
            body = self._check(answer, "GET /v1/spaces")
            for space in body.get("spaces") or []:
                if isinstance(space, dict) and space.get("name") == self.space_name:
                    return str(space["spaceId"])
            token = body.get("nextToken")
            if not token or token in seen:
                return None
            seen.add(token)
            params["nextToken"] = str(token)

    async def _create_space(self) -> str:
        body: dict[str, Any] = {
            "name": self.space_name,
            "labels": {"source": "chat-import"},
            "defaultChunkingConfig": _DEFAULT_CHUNKING,
        }
        embedder = self.embedder_id or await self._only_embedder()
        if embedder:
            body["spaceEmbedders"] = [{"embedderId": embedder, "defaultRetrievalWeight": 1.0}]
        answer = await self._call("POST", "/v1/spaces", body=body, what="POST /v1/spaces")
        if answer.status == 409:
            # another run made it between our look and our create: use that one
            found = await self._find_space()
            if found:
                return found
            raise SpaceError(
                f"a GoodMem space named {self.space_name!r} exists but this key cannot see it;"
                " pass --space-id, or choose another --space",
                status=409,
            )
        created = self._check(answer, "POST /v1/spaces")
        if not created.get("spaceId"):
            raise RetriableTargetError("POST /v1/spaces: the answer holds no spaceId")
        log.info("goodmem_space_created", space_id=created["spaceId"], name=self.space_name)
        return str(created["spaceId"])

    async def _only_embedder(self) -> str | None:
        """A new space needs an embedder: with none given, the server's only one."""
        answer = await self._call("GET", "/v1/embedders", what="GET /v1/embedders")
        if answer.status == 404:
            return None  # a server without the listing: let it choose or say what it needs
        body = self._check(answer, "GET /v1/embedders")
        embedders = [e for e in body.get("embedders") or [] if isinstance(e, dict)]
        if len(embedders) == 1:
            return str(embedders[0].get("embedderId"))
        names = ", ".join(
            f"{e.get('embedderId')} ({e.get('displayName') or e.get('modelIdentifier')})"
            for e in embedders
        )
        reason = f"the server has {len(embedders)} embedders" + (f": {names}" if names else "")
        raise SpaceError(
            f"creating GoodMem space {self.space_name!r} needs an embedder and {reason};"
            " pass --embedder-id"
        )

    # -- the API -------------------------------------------------------------------------------

    async def setup(self, conversation: Conversation) -> None:
        return None  # a memory carries its conversation's name and ids itself

    async def add(self, conversation: Conversation, chunk: Chunk) -> Receipt:
        if self._space_id is None:
            await self.prepare()
        space_id = self._space_id
        assert space_id is not None
        planned = plan_memories(
            conversation,
            chunk.messages,
            space_id=space_id,
            max_messages=self.memory_messages,
            max_chars=self.memory_chars,
        )
        key = (conversation.key, chunk.first.message_id, chunk.last.message_id)
        done = self._done.setdefault(key, set())
        pending = [m for m in planned if m.memory_id not in done]
        try:
            retry: list[str] = []
            for batch in _batches(pending, space_id, self.batch_size):
                retry += await self._create(batch, space_id, done)
        except RejectedError:
            self._done.pop(key, None)
            raise
        if retry:
            log.info(
                "memories_retried", conversation=conversation.key, chunk=chunk.index,
                stored=len(done), pending=len(planned) - len(done),
            )
            raise RetriableTargetError(
                f"{len(planned) - len(done)} of {len(planned)} memories of {conversation.key}"
                f" chunk {chunk.index} not stored yet: {retry[0]}"
            )
        self._done.pop(key, None)
        return Receipt(task_id=None)

    async def _create(
        self, batch: Sequence[PlannedMemory], space_id: str, done: set[str]
    ) -> list[str]:
        """Send one batch; record what is stored in ``done``; return reasons of items to retry."""
        what = "POST /v1/memories:batchCreate"
        body = {"requests": [m.request(space_id) for m in batch]}
        answer = await self._call("POST", "/v1/memories:batchCreate", body=body, what=what)
        results = self._check(answer, what).get("results")
        results = results if isinstance(results, list) else []
        by_id = {_result_id(r): r for r in results if _result_id(r)}
        retry, rejected = [], []
        for index, memory in enumerate(batch):
            # results come in request order; one that names its memory is matched by id
            result = by_id.get(memory.memory_id) or (
                results[index] if index < len(results) else None
            )
            if not isinstance(result, dict):
                retry.append(f"no result for memory {memory.memory_id}")
                continue
            if result.get("success") in (True, "true"):
                done.add(memory.memory_id)
                continue
            error = result.get("error")
            reason = _item_reason(error, memory)
            outcome = classify_item_error(error)
            if outcome == "done":
                done.add(memory.memory_id)  # stored before, by an attempt whose answer was lost
            elif outcome == "retry":
                retry.append(reason)
            elif outcome == "auth":
                raise AuthError(f"{what}: {reason}; {_AUTH_HINT}")
            else:
                rejected.append(reason)
        if rejected:
            more = f" (and {len(rejected) - 1} more)" if len(rejected) > 1 else ""
            raise RejectedError(f"{what}: {rejected[0]}{more}")
        return retry

    async def task_status(self, task_id: str) -> TaskState:
        # batchCreate answers with every item's outcome: there is never a task to wait for
        return "success"

    async def flush(self, conversation: Conversation) -> None:
        return None  # GoodMem embeds each memory on its own; nothing to trigger

    # -- one attempt ---------------------------------------------------------------------------

    async def _call(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: dict[str, str] | None = None,
        what: str,
    ) -> Answer:
        assert self._session is not None, "bind() a session first"
        return await request_json(
            self._session, method, self.base_url + path, body=body, params=params,
            headers=self._headers, what=what,
        )

    def _check(self, answer: Answer, what: str) -> dict[str, Any]:
        """The JSON object of a success answer; any other answer raises."""
        if not 200 <= answer.status < 300:
            raise fail(answer, what, auth_hint=_AUTH_HINT)
        return json_object(answer, self.base_url + what.split(" ", 1)[-1])


def _result_id(result: Any) -> str | None:
    """The memory id a batch result names, if any (``memoryId``, or its ``memory``'s)."""
    if not isinstance(result, dict):
        return None
    memory = result.get("memory")
    named = result.get("memoryId") or (memory.get("memoryId") if isinstance(memory, dict) else None)
    return str(named) if named else None


def _item_reason(error: Any, memory: PlannedMemory) -> str:
    if isinstance(error, dict):
        text = f"{error.get('code', '?')} {error.get('message') or ''}".strip()
    else:
        text = "failed without an error"
    first, last = memory.metadata["first_message_id"], memory.metadata["last_message_id"]
    return f"memory {memory.memory_id} (messages {first}..{last}): {text}"


def _batches(
    memories: Sequence[PlannedMemory], space_id: str, batch_size: int
) -> Iterator[list[PlannedMemory]]:
    """Consecutive batches of at most ``batch_size`` items and ``MAX_BATCH_BYTES`` bytes."""
    batch: list[PlannedMemory] = []
    size = _ENVELOPE
    for memory in memories:
        item = memory.request_size(space_id)
        if batch and (len(batch) >= batch_size or size + item > MAX_BATCH_BYTES):
            yield batch
            batch, size = [], _ENVELOPE
        batch.append(memory)
        size += item
    if batch:
        yield batch
