"""ChatGPT and Claude exports imported with ``python -m importer PATH --sandbox-db DB``: what the
sandbox server stored is exactly what the converter read, once, in order, then flushed."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path
from typing import Any

import converters
from converters.base import Converter, ConvertOptions
from importer.sandbox.store import SandboxStore
from tests.support import DATA, run_cli

Rows = dict[str, list[tuple[Any, ...]]]


def _expected(converter: type[Converter], path: Path, user_id: str | None = None) -> Rows:
    return {
        c.key: [(m.message_id, m.timestamp, m.role, m.content) for m in c.messages]
        for c in converter(ConvertOptions(user_id=user_id)).read(path)
    }


def _stored(db: Path) -> Rows:
    store = SandboxStore(db)
    try:
        out: Rows = {}
        for c in store.conversations():
            assert c.kind == "personal" and c.duplicates == 0 and c.chronological, c
            assert c.flushes == 1 and c.flushed_after_last, c
            rows = store.messages(c.kind, c.conversation_id, c.session_id)
            out[c.key] = [(r["message_id"], r["timestamp"], r["role"], r["content"]) for r in rows]
        return out
    finally:
        store.close()


def _import(path: Path, tmp_path: Path, *extra: str) -> tuple[int, str]:
    result = run_cli(
        path, "--sandbox-db", tmp_path / "sandbox.db", "--checkpoint-dir", tmp_path / "ck",
        *extra, cwd=tmp_path,
    )  # fmt: skip
    assert "Traceback" not in result.stderr
    return result.returncode, result.stdout + result.stderr


def test_a_chatgpt_export_zip_lands_in_the_sandbox(tmp_path: Path) -> None:
    archive = tmp_path / "chatgpt-export.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for file in sorted((DATA / "chatgpt" / "export").iterdir()):
            zf.write(file, file.name)
    chatgpt = converters.get("chatgpt")
    assert converters.detect(archive) is chatgpt
    expected = _expected(chatgpt, archive)
    assert len(expected) == 3 and sum(map(len, expected.values())) == 15
    code, output = _import(archive, tmp_path)
    assert code == 0, output
    stored = _stored(tmp_path / "sandbox.db")
    assert stored == expected
    assert all(key.startswith("personal:user-Xq7TestAccount0001/") for key in stored)


def test_a_claude_export_folder_lands_in_the_sandbox_under_the_given_user(
    tmp_path: Path,
) -> None:
    folder = DATA / "claude" / "export"
    claude = converters.get("claude")
    expected = _expected(claude, folder, user_id="alice")
    assert len(expected) == 3 and sum(map(len, expected.values())) == 9
    assert all(key.startswith("personal:alice/") for key in expected)
    code, output = _import(folder, tmp_path, "--user-id", "alice")
    assert code == 0, output
    assert "users.json" not in output and "projects.json" not in output  # read with the export
    assert _stored(tmp_path / "sandbox.db") == expected


def test_real_chatgpt_samples_land_in_the_sandbox(tmp_path: Path) -> None:
    folder = tmp_path / "samples"
    folder.mkdir()
    for name in ("code_interpreter.json", "single_conversation.json"):
        shutil.copy(DATA / "chatgpt" / name, folder / name)
    chatgpt = converters.get("chatgpt")
    expected = _expected(chatgpt, folder / "code_interpreter.json")
    expected.update(_expected(chatgpt, folder / "single_conversation.json"))
    code, output = _import(folder, tmp_path)
    assert code == 0, output
    stored = _stored(tmp_path / "sandbox.db")
    assert stored == expected
    assert sorted(len(rows) for rows in stored.values()) == [4, 20]


def test_a_truncated_export_imports_what_is_whole_and_fails_naming_the_place(
    tmp_path: Path,
) -> None:
    data = (DATA / "chatgpt" / "export" / "conversations.json").read_bytes()
    path = tmp_path / "conversations.json"
    path.write_bytes(data[: data.index(b'"68a0c1d2-0002-800a-9c11-5e2f00000002"')])
    code, output = _import(path, tmp_path)
    assert code == 1
    assert (
        "conversations.json: after conversation 1 (id 68a0c1d2-0001-800a-9c11-5e2f00000001):"
        " truncated JSON (the file ends too early)"
    ) in output
    stored = _stored(tmp_path / "sandbox.db")
    assert list(stored) == ["personal:chatgpt-user/68a0c1d2-0001-800a-9c11-5e2f00000001"]
    assert len(stored["personal:chatgpt-user/68a0c1d2-0001-800a-9c11-5e2f00000001"]) == 4
