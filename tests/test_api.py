"""The Python API: BatchImporter's methods, stats and overridable hooks, against the sandbox."""

from __future__ import annotations

from pathlib import Path

import pytest

from importer import BatchImporter, Chunk, ConfigError, Conversation, Message
from importer.sandbox import SandboxServer
from importer.targets import Receipt
from tests.support import DATA, write_everos_group


class CountingImporter(BatchImporter):
    """A subclass that watches two hooks and changes one."""

    def __init__(self, **options: object) -> None:
        super().__init__(**options)
        self.chunks: list[tuple[str, int]] = []
        self.flushed: list[str] = []

    async def _send_chunk(self, conversation: Conversation, chunk: Chunk) -> Receipt:
        self.chunks.append((conversation.key, len(chunk.messages)))
        return await super()._send_chunk(conversation, chunk)

    async def _flush(self, conversation: Conversation) -> None:
        self.flushed.append(conversation.key)
        await super()._flush(conversation)


async def test_import_file_directory_and_conversation(tmp_path: Path, sandbox: SandboxServer) -> None:
    importer = CountingImporter(api_url=sandbox.url, chunk_size=30, checkpoint_dir=tmp_path / "ck")
    report = await importer.import_file(DATA / "evercore" / "solo_chat_en.json")
    assert report.exit_code == 0 and report.messages_sent == 104

    folder = tmp_path / "exports"
    folder.mkdir()
    write_everos_group(folder / "a.json", "api-a", 45)
    write_everos_group(folder / "b.json", "api-b", 5)
    report = await importer.import_directory(folder)
    assert report.exit_code == 0 and report.messages_sent == 50

    report = await importer.import_conversation(
        {
            "group_id": "api-inline",
            "group_meta": {"name": "Inline", "description": "built in code"},
            "messages": [
                {"role": "user", "sender_id": "alice", "timestamp": 1705312800000,
                 "content": "hello", "message_id": "m1"},
                {"role": "user", "sender_id": "bob", "timestamp": 1705312860000,
                 "content": "hi Alice"},
            ],
        }
    )
    assert report.exit_code == 0 and report.messages_sent == 2

    stats = importer.get_stats()
    assert stats["messages_sent"] == 104 + 50 + 2
    first_requests = stats["requests"]
    assert first_requests > 0
    assert stats["conversations_processed"] == 4
    assert stats["conversations_failed"] == 0
    assert sorted(importer.flushed) == sorted(c.key for c in sandbox.store.conversations())
    assert all(size <= 30 for _, size in importer.chunks)
    stored = {c.key: c for c in sandbox.store.conversations()}
    assert stored["group:api-inline"].name == "Inline"
    assert stored["group:api-a"].messages == 45

    # again: everything is acknowledged in the checkpoints, nothing is sent
    importer.chunks.clear()
    again = await importer.import_directory(folder)
    assert again.messages_sent == 0 and importer.chunks == []
    # every number stays a total over all runs
    after = importer.get_stats()
    assert after["messages_sent"] == 104 + 50 + 2 and after["requests"] >= first_requests


async def test_import_conversation_object(tmp_path: Path, sandbox: SandboxServer) -> None:
    conversation = Conversation(
        kind="personal",
        conversation_id="user-7",
        messages=[
            Message(message_id="p1", timestamp=1, sender_id="user-7", content="I like tea"),
            Message(message_id="p2", timestamp=2, sender_id="bot", role="assistant",
                    content="Noted: tea."),
        ],
    )
    importer = BatchImporter(api_url=sandbox.url, checkpoint_dir=tmp_path / "ck")
    report = await importer.import_conversation(conversation)
    assert report.exit_code == 0
    rows = sandbox.store.messages("personal", "user-7")
    assert [(r["role"], r["content"]) for r in rows] == [
        ("user", "I like tea"), ("assistant", "Noted: tea.")
    ]


def test_bad_settings_are_one_readable_error() -> None:
    with pytest.raises(ConfigError, match="^--chunk-size must be ≤ 500$"):
        BatchImporter(chunk_size=501)
    with pytest.raises(ConfigError, match="^--concurrency must be ≥ 1$"):
        BatchImporter(concurrency=0)
    with pytest.raises(ConfigError, match="must be an http"):
        BatchImporter(api_url="localhost:1995")
    with pytest.raises(ConfigError, match="control characters"):
        BatchImporter(api_url="http://localhost:1995", api_key="sk-from-a-crlf-file\r")


async def test_a_refused_group_setup_still_imports_with_group_meta(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    from importer import RejectedError

    class NoGroupsRoute(BatchImporter):
        async def _setup_group(self, conversation: Conversation) -> None:
            raise RejectedError("POST /api/v1/groups: HTTP 404: not found", status=404)

    export = write_everos_group(tmp_path / "g.json", "meta-only", 12, name="Named by group_meta")
    importer = NoGroupsRoute(api_url=sandbox.url, chunk_size=5, checkpoint_dir=tmp_path / "ck")
    report = await importer.import_file(export)
    assert report.exit_code == 0
    (stored,) = sandbox.store.conversations()
    assert (stored.messages, stored.name) == (12, "Named by group_meta")



def test_the_custom_converter_example_runs(tmp_path: Path) -> None:
    import subprocess
    import sys

    from importer.sandbox import SandboxStore
    from tests.support import REPO

    result = subprocess.run(
        [sys.executable, str(REPO / "examples" / "custom_converter.py")],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "exit code 0" in result.stdout
    store = SandboxStore(tmp_path / "importer-sandbox.db")
    try:
        (stored,) = store.conversations()
        assert (stored.key, stored.messages, stored.flushes) == ("group:log-standup", 4, 1)
    finally:
        store.close()


async def test_a_stop_asked_before_the_pipeline_exists_stops_the_run(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    """Ctrl-C while the inputs are found (or the target is checked) is not lost: the run sends
    nothing and says it was interrupted. The next run starts afresh."""

    class StopsWhileDiscovering(BatchImporter):
        stop_once = True

        async def _discover(self, paths):  # type: ignore[no-untyped-def]
            found = await super()._discover(paths)
            if self.stop_once:
                self.stop_once = False
                self.request_stop()
            return found

    folder = tmp_path / "exports"
    folder.mkdir()
    write_everos_group(folder / "a.json", "early-stop", 40)
    importer = StopsWhileDiscovering(api_url=sandbox.url, checkpoint_dir=tmp_path / "ck")
    first = await importer.import_paths([folder])
    assert first.interrupted and first.messages_sent == 0 and first.exit_code != 0
    assert sandbox.store.conversations() == []
    again = await importer.import_paths([folder])
    assert again.exit_code == 0 and again.messages_sent == 40
