"""The baseline for the benchmark: the ``BatchImporter`` algorithm of the EverOS batch-import guide
(``shared/seeds/002``), re-implemented here so it can be measured on the same server as ours.

What it does, as the guide does: files one after another (``import_directory`` over a sorted
``*.json`` glob); in each file the chunks of the conversation one after another, each sent with
``async_mode=True`` and then waited for with ``wait_for_task`` (ask at once, then every
``poll_interval`` seconds, 2.0 by default, at most ``max_attempts`` times) while holding the
concurrency semaphore; group metadata first when the file has ``group_meta``; one flush at the
end. No checkpoint, no retries beyond the SDK's own. The official SDK (``everos.AsyncEverOS``) is
used when it is installed, exactly as in the guide; otherwise an aiohttp client making the same
four calls.

    importer = ReferenceImporter(base_url="http://127.0.0.1:1995", poll_interval=2.0)
    results = await importer.import_directory("./exports/")
    await importer.aclose()
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any, Protocol

__all__ = ["ReferenceImporter", "wait_for_task"]

logger = logging.getLogger(__name__)

_DONE = ("success", "failed", "completed", "done")


class _Api(Protocol):
    """The four EverOS v1 calls the guide's importer makes."""

    async def create_group(self, group_id: str, name: str, description: str) -> None: ...
    async def add(
        self, data: dict[str, Any], chunk: list[dict[str, Any]], is_group: bool
    ) -> str | None: ...
    async def task_status(self, task_id: str) -> str: ...
    async def flush(self, data: dict[str, Any], is_group: bool) -> None: ...
    async def aclose(self) -> None: ...


class _SdkApi:
    """The calls through the official SDK, as the guide writes them."""

    def __init__(self, base_url: str, api_key: str) -> None:
        from everos import AsyncEverOS, NotFoundError

        self.client = AsyncEverOS(base_url=base_url, api_key=api_key)
        self._not_found = NotFoundError

    async def create_group(self, group_id: str, name: str, description: str) -> None:
        await self.client.v1.groups.create(group_id=group_id, name=name, description=description)

    async def add(
        self, data: dict[str, Any], chunk: list[dict[str, Any]], is_group: bool
    ) -> str | None:
        if is_group:
            response = await self.client.v1.memories.group.add(
                group_id=data["group_id"],
                async_mode=True,
                messages=chunk,  # type: ignore[arg-type]
            )
        else:
            response = await self.client.v1.memories.add(
                user_id=data["user_id"],
                async_mode=True,
                messages=chunk,  # type: ignore[arg-type]
            )
        return response.data.task_id if response.data else None

    async def task_status(self, task_id: str) -> str:
        try:
            resp = await self.client.v1.tasks.retrieve(task_id)
        except self._not_found:
            return "done"  # completed and cleaned up (short TTL)
        return resp.data.status if resp.data else "unknown"

    async def flush(self, data: dict[str, Any], is_group: bool) -> None:
        if is_group:
            await self.client.v1.memories.group.flush(group_id=data["group_id"])
        else:
            await self.client.v1.memories.flush(user_id=data["user_id"])

    async def aclose(self) -> None:
        await self.client.close()


class _AiohttpApi:
    """The same calls over plain aiohttp, for when the SDK is not installed."""

    def __init__(self, base_url: str, api_key: str) -> None:
        import aiohttp

        self.base_url = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {api_key}"}
        self._session = aiohttp.ClientSession()

    async def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        async with self._session.request(
            method, self.base_url + path, json=body, headers=self._headers
        ) as response:
            if response.status == 404 and path.startswith("/api/v1/tasks/"):
                return None
            response.raise_for_status()
            return (await response.json()).get("data") or {}

    async def create_group(self, group_id: str, name: str, description: str) -> None:
        body = {"group_id": group_id, "name": name, "description": description}
        await self._call("POST", "/api/v1/groups", body)

    async def add(
        self, data: dict[str, Any], chunk: list[dict[str, Any]], is_group: bool
    ) -> str | None:
        if is_group:
            body = {"group_id": data["group_id"], "async_mode": True, "messages": chunk}
            answer = await self._call("POST", "/api/v1/memories/group", body)
        else:
            body = {"user_id": data["user_id"], "async_mode": True, "messages": chunk}
            answer = await self._call("POST", "/api/v1/memories", body)
        task_id = answer.get("task_id")
        return str(task_id) if task_id else None

    async def task_status(self, task_id: str) -> str:
        answer = await self._call("GET", f"/api/v1/tasks/{task_id}")
        return "done" if answer is None else str(answer.get("status", "unknown"))

    async def flush(self, data: dict[str, Any], is_group: bool) -> None:
        if is_group:
            await self._call("POST", "/api/v1/memories/group/flush", {"group_id": data["group_id"]})
        else:
            await self._call("POST", "/api/v1/memories/flush", {"user_id": data["user_id"]})

    async def aclose(self) -> None:
        await self._session.close()


async def wait_for_task(
    api: _Api, task_id: str, poll_interval: float = 2.0, max_attempts: int = 30
) -> str:
    """Poll a task until it ends: ask, then sleep ``poll_interval``; at most ``max_attempts``."""
    for attempt in range(max_attempts):
        status = await api.task_status(task_id)
        logger.info("  [attempt %d] task %s status=%s", attempt + 1, task_id, status)
        if status in _DONE:
            return status
        await asyncio.sleep(poll_interval)
    return "timeout"


class ReferenceImporter:
    """The guide's ``BatchImporter``: files in turn, chunks in turn, polling at a fixed interval."""

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str = "reference",
        concurrency: int = 10,
        chunk_size: int = 50,
        poll_interval: float = 2.0,
        max_attempts: int = 30,
        client: str = "auto",
    ) -> None:
        self.api = _make_api(base_url, api_key, client)
        self.concurrency = concurrency
        self.chunk_size = chunk_size
        self.poll_interval = poll_interval
        self.max_attempts = max_attempts
        self.semaphore = asyncio.Semaphore(concurrency)
        self.stats = {"messages_sent": 0, "messages_failed": 0, "conversations_processed": 0}

    async def import_file(self, file_path: str) -> dict[str, Any]:
        with open(file_path, encoding="utf-8") as f:
            data = json.load(f)
        return await self.import_conversation(data)

    async def import_conversation(self, data: dict[str, Any]) -> dict[str, Any]:
        is_group = "group_id" in data
        conversation_id = data.get("group_id") or data.get("user_id")
        messages = data.get("messages", [])
        if is_group and data.get("group_meta"):
            await self._setup_group(data["group_id"], data["group_meta"])
        total_sent = total_failed = 0
        for i in range(0, len(messages), self.chunk_size):
            sent, failed = await self._send_chunk(data, messages[i : i + self.chunk_size], is_group)
            total_sent += sent
            total_failed += failed
        await self._flush(data, is_group)
        self.stats["messages_sent"] += total_sent
        self.stats["messages_failed"] += total_failed
        self.stats["conversations_processed"] += 1
        return {
            "conversation_id": conversation_id,
            "messages_sent": total_sent,
            "messages_failed": total_failed,
        }

    async def _setup_group(self, group_id: str, group_meta: dict[str, Any]) -> None:
        try:
            await self.api.create_group(
                group_id, group_meta.get("name", group_id), group_meta.get("description", "")
            )
        except Exception as e:
            logger.warning("Failed to create group %s: %s", group_id, e)

    async def _send_chunk(
        self, data: dict[str, Any], chunk: list[dict[str, Any]], is_group: bool
    ) -> tuple[int, int]:
        async with self.semaphore:  # held while waiting for the task, as in the guide
            try:
                task_id = await self.api.add(data, chunk, is_group)
                if task_id:
                    status = await wait_for_task(
                        self.api, task_id, self.poll_interval, self.max_attempts
                    )
                    if status in ("failed", "timeout"):
                        logger.error("Task %s ended with status: %s", task_id, status)
                        return 0, len(chunk)
                return len(chunk), 0
            except Exception as e:
                logger.error("Failed to send chunk: %s", e)
                return 0, len(chunk)

    async def _flush(self, data: dict[str, Any], is_group: bool) -> None:
        try:
            await self.api.flush(data, is_group)
        except Exception as e:
            logger.warning("Flush failed: %s", e)

    async def import_directory(self, directory: str | Path) -> list[dict[str, Any]]:
        results: list[dict[str, Any]] = []
        for file_path in sorted(Path(directory).glob("*.json")):
            try:
                results.append(await self.import_file(str(file_path)))
            except Exception as e:
                logger.error("Failed to import %s: %s", file_path, e)
                results.append({"file": str(file_path), "error": str(e)})
        return results

    def get_stats(self) -> dict[str, int]:
        return self.stats.copy()

    @property
    def client_name(self) -> str:
        """Which HTTP client makes the calls: the official SDK, or the aiohttp stand-in."""
        return "everos SDK" if isinstance(self.api, _SdkApi) else "aiohttp"

    async def aclose(self) -> None:
        await self.api.aclose()


def _make_api(base_url: str, api_key: str, client: str) -> _Api:
    if client not in ("auto", "sdk", "aiohttp"):
        raise ValueError(f"client must be auto, sdk or aiohttp, not {client!r}")
    if client in ("auto", "sdk"):
        try:
            return _SdkApi(base_url, api_key)
        except ImportError:
            if client == "sdk":
                raise
    return _AiohttpApi(base_url, api_key)
