"""Telegram exports imported through the CLI into the embedded sandbox: what the server stored."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from converters.base import ConvertOptions
from converters.telegram import TelegramConverter
from importer.sandbox.store import SandboxStore
from tests.support import DATA, run_cli

TELEGRAM = DATA / "telegram"
FIELDS = ("message_id", "timestamp", "sender_id", "sender_name", "role", "content")


def _expected(paths: list[Path], **options: Any) -> dict[str, list[tuple[Any, ...]]]:
    converter = TelegramConverter(ConvertOptions(**options))
    return {
        c.conversation_id: [tuple(getattr(m, f) for f in FIELDS) for m in c.messages]
        for path in paths
        for c in converter.read(path)
    }


def _stored(db: Path) -> tuple[dict[str, list[tuple[Any, ...]]], dict[str, str | None]]:
    store = SandboxStore(db)
    try:
        rows: dict[str, list[tuple[Any, ...]]] = {}
        names: dict[str, str | None] = {}
        for c in store.conversations():
            assert c.kind == "group"
            assert c.flushes == 1 and c.flushed_after_last, c
            rows[c.conversation_id] = [
                tuple(r[f] for f in FIELDS) for r in store.messages(c.kind, c.conversation_id)
            ]
            names[c.conversation_id] = c.name
        return rows, names
    finally:
        store.close()


def test_account_and_chat_exports_import_into_the_sandbox(tmp_path: Path) -> None:
    folder = tmp_path / "exports"
    folder.mkdir()
    account = shutil.copy(TELEGRAM / "account-result.json", folder / "result.json")
    chat = shutil.copy(TELEGRAM / "chatstyle-result.json", tmp_path / "result.json")
    db = tmp_path / "sandbox.db"
    result = run_cli(folder, chat, "--sandbox-db", db, "--no-progress", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    expected = _expected([Path(account), Path(chat)])
    stored, names = _stored(db)
    assert stored == expected  # every message once, in order, with the converted text
    assert len(stored) == 7
    assert names["telegram-222"] == "Борис"
    assert names["telegram-1700000030"] == "Old Flatshare Board"  # a chat the owner left
    assert stored["telegram-100000002"][1] == (
        "100000002-11",
        1_709_370_104_000,
        "user100000001",
        "Mira Sokol",
        "user",
        '[reply to Jonas Weber: "Are we still on for Saturday?"] Yes! 10am at the market',
    )
    assert stored["telegram-200000007"][1][4] == "assistant"


def test_service_messages_reach_the_server_on_request(tmp_path: Path) -> None:
    db = tmp_path / "sandbox.db"
    chat = TELEGRAM / "chatstyle-result.json"
    result = run_cli(
        chat, "--include-system-events", "--sandbox-db", db, "--no-progress", cwd=tmp_path
    )
    assert result.returncode == 0, result.stdout + result.stderr
    stored, _ = _stored(db)
    assert stored == _expected([chat], include_system_events=True)
    pin = stored["telegram-222"][5]
    assert pin[0] == "222-6" and pin[5].startswith("Борис pinned a message")


def test_broken_exports_fail_with_one_line_each(tmp_path: Path) -> None:
    text = (TELEGRAM / "account-result.json").read_text(encoding="utf-8")
    cut = tmp_path / "cut.json"
    cut.write_text(text[: text.index("20:00 works")], encoding="utf-8")
    broken = TELEGRAM / "innerdvations-error.json"
    db = tmp_path / "sandbox.db"
    result = run_cli(cut, broken, "--sandbox-db", db, "--no-progress", cwd=tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "Traceback" not in output
    assert (
        f"{cut}: line 530 column 15 (chats.list[3] ('Climbing Crew'), after message 8):"
        " truncated JSON (the file ends too early)" in output
    )
    assert f"{broken}: line 5 column 3: invalid JSON (" in output
    # the chats before the cut were whole: they are imported
    stored, _ = _stored(db)
    assert sorted(stored) == ["telegram-100000001", "telegram-100000002", "telegram-200000007"]
