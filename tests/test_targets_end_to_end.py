"""The new targets driven by today's pipeline (``BatchImporter(target=...)``) into the sandbox,
with faults: every message lands once, and a second run sends nothing."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from importer import BatchImporter
from importer.sandbox import FaultConfig, SandboxServer
from importer.targets import EverCoreTarget, GoodMemTarget
from tests.support import DATA

TEAM = DATA / "evercore" / "team_chat_en.json"
SOLO = DATA / "evercore" / "solo_chat_en.json"


def small_chat(path: Path, count: int, scene: str = "team") -> Path:
    """A ConversationFormat chat of ``count`` messages (one request each on EverCore)."""
    users = {"u1": {"full_name": "Ann", "role": "user"}, "u2": {"full_name": "Ben", "role": "user"}}
    items = [
        {
            "message_id": f"msg_{i:03d}",
            "create_time": f"2025-02-01T10:{i // 60:02d}:{i % 60:02d}+08:00",
            "sender": "u1" if i % 2 else "u2",
            "content": f"point {i}",
        }
        for i in range(count)
    ]
    meta = {"group_id": f"small-{scene}", "name": "Small", "scene": scene, "user_details": users,
            "default_timezone": "Asia/Shanghai", "tags": ["demo"]}
    body = {"version": "1.0.0", "session_meta": meta, "conversation_list": items}
    path.write_text(json.dumps(body), encoding="utf-8")
    return path


async def test_evercore_one_message_at_a_time_through_background_requests(
    tmp_path: Path, sandbox_factory: Callable[..., SandboxServer]
) -> None:
    faults = FaultConfig(background_rate=0.3, task_delay_ms=5, error_rate=0.05, seed=11)
    server = sandbox_factory(faults=faults)
    team = small_chat(tmp_path / "team.json", 40)
    solo = small_chat(tmp_path / "solo.json", 20, scene="solo")
    options = {"checkpoint_dir": tmp_path / "ck", "max_attempts": 20}

    def importer() -> BatchImporter:
        target = EverCoreTarget(server.url + "/api/v0/memories")
        return BatchImporter(target=target, **options)  # type: ignore[arg-type]

    report = await importer().import_paths([team, solo])
    assert (report.exit_code, report.messages_sent) == (0, 60)
    groups = {g.group_id: g for g in server.store.evercore.groups()}
    assert set(groups) == {"small-team", "small-solo"}  # personal: its session
    for group, count in ((groups["small-team"], 40), (groups["small-solo"], 20)):
        assert (group.messages, group.duplicates, group.chronological, group.meta) == (
            count, 0, True, True,
        )
    assert groups["small-solo"].scene == "solo"
    first = server.store.evercore.messages("small-team")[0]
    assert (first["create_time"], first["sender_name"]) == ("2025-02-01T10:00:00+08:00", "Ben")
    assert server.metrics()["requests"]["GET /api/v1/stats/request"]["200"] > 0

    again = await importer().import_paths([team, solo])
    assert (again.exit_code, again.messages_sent) == (0, 0)
    assert sum(g.messages for g in server.store.evercore.groups()) == 60


async def test_goodmem_windows_survive_item_faults_and_a_second_run(
    tmp_path: Path, sandbox_factory: Callable[..., SandboxServer]
) -> None:
    server = sandbox_factory(faults=FaultConfig(item_error_rate=0.2, seed=4))
    options = {"checkpoint_dir": tmp_path / "ck", "max_attempts": 20}

    def importer() -> BatchImporter:
        target = GoodMemTarget(server.url, space_name="imports", memory_messages=20)
        return BatchImporter(target=target, **options)  # type: ignore[arg-type]

    report = await importer().import_paths([TEAM, SOLO])
    assert report.exit_code == 0
    (space,) = server.store.goodmem.summary()
    assert (space.name, space.conversations) == ("imports", 2)
    assert (space.messages, space.duplicate_messages) == (report.messages_sent, 0)
    items = server.metrics()["batch_items"]
    assert items["unavailable"] > 0 and "already_exists" not in items

    again = await importer().import_paths([TEAM, SOLO])
    assert (again.exit_code, again.messages_sent) == (0, 0)
    assert server.store.goodmem.summary()[0].memories == space.memories
