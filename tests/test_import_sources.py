"""Slack and Discord exports imported through the CLI into the sandbox: every converted message once."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import converters
from converters.base import Converter
from importer.sandbox import SandboxServer
from tests.support import DATA, run_cli


def _expected(converter: type[Converter], path: Path) -> dict[str, list[tuple[str, int]]]:
    return {
        c.key: [(m.message_id, m.timestamp) for m in c.messages]
        for c in converter().read(path)
    }


def _stored(server: SandboxServer) -> dict[str, list[tuple[str, int]]]:
    out = {}
    for c in server.store.conversations():
        rows = server.store.messages(c.kind, c.conversation_id, c.session_id)
        out[c.key] = [(r["message_id"], r["timestamp"]) for r in rows]
        assert c.flushes == 1 and c.flushed_after_last, c
    return out


def _import(path: Path, server: SandboxServer, tmp_path: Path) -> None:
    result = run_cli(path, "--api-url", server.url, "--checkpoint-dir", tmp_path / "ck", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr


def test_a_slack_zip_imports_every_converted_message_once(tmp_path: Path, sandbox: SandboxServer) -> None:
    archive = tmp_path / "slack-export.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for file in sorted((DATA / "slack" / "export").rglob("*")):
            if file.is_file():
                zf.write(file, file.relative_to(DATA / "slack" / "export"))
    slack = converters.get("slack")
    assert converters.detect(archive) is slack
    expected = _expected(slack, archive)
    assert len(expected) >= 5
    _import(archive, sandbox, tmp_path)
    assert _stored(sandbox) == expected  # same messages, same order, nothing twice


def test_a_folder_of_discord_exports_imports_every_converted_message_once(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    folder = tmp_path / "discord"
    shutil.copytree(DATA / "discord" / "dce", folder)
    expected: dict[str, list[tuple[str, int]]] = {}
    for file in sorted(folder.glob("*.json")):
        expected.update(_expected(converters.get("discord"), file))
    assert len(expected) == 6  # the three split parts are one conversation
    _import(folder, sandbox, tmp_path)
    assert _stored(sandbox) == expected


def test_a_discord_data_package_imports_with_exact_ids(tmp_path: Path, sandbox: SandboxServer) -> None:
    package = DATA / "discord" / "package"
    expected = _expected(converters.get("discord-package"), package)
    _import(package, sandbox, tmp_path)
    stored = _stored(sandbox)
    assert stored == expected
    ids = [message_id for messages in stored.values() for message_id, _ in messages]
    assert any(len(i) >= 18 and i.isdigit() for i in ids)  # 64-bit snowflakes kept exact


def test_forcing_a_source_on_something_else_fails_with_one_line(tmp_path: Path) -> None:
    notes = tmp_path / "notes"
    (notes / "drafts").mkdir(parents=True)
    (notes / "drafts" / "todo.json").write_text('{"todo": []}')
    other = shutil.copy(DATA / "everos" / "group.json", tmp_path / "group.json")
    cases = {
        ("slack", notes): f"{notes}: not a Slack export: no channels.json or users.json",
        ("slack", other): f"{other}: not a Slack export: give the export's .zip",
        ("discord", notes): f"{notes}: no input for --source discord in this folder",
        ("discord", other): f"{other}: field 'channel.id': not a DiscordChatExporter export",
        ("discord-package", notes): f"{notes}: not a Discord data package",
    }
    for (source, path), reason in cases.items():
        db = tmp_path / f"{source}.db"
        result = run_cli(path, "--source", source, "--sandbox-db", db, cwd=tmp_path)
        assert result.returncode == 1, (source, path, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr
        lines = [line for line in result.stdout.splitlines() if str(path) in line]
        assert len(lines) == 1 and lines[0].strip().startswith(reason), (source, lines)
