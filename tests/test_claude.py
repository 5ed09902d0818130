"""Claude data exports converted end to end through ``ClaudeConverter.read()``."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path
from typing import Any

import pytest

import converters
from converters.base import ConvertOptions
from converters.claude import ClaudeConverter, message_text
from importer.errors import InputError
from importer.models import Conversation

DATA = Path(__file__).parent / "data"
CLAUDE = DATA / "claude"
EXPORT = CLAUDE / "export"
CONVERSATIONS = EXPORT / "conversations.json"
ACCOUNT = "2dd9aadf-0a54-4916-8a98-7f8fde3fb14c"
GARDEN = "5551eb71-ada2-45bd-8f91-0c4945a1e5a6"
COWORK = "7a0e1c52-2f0b-4e77-9d0f-3c5d2b8e9a10"
HAIKU = "9c1d2e3f-4a5b-4c6d-8e7f-a0b1c2d3e4f5"
TRUNCATED = "truncated JSON (the file ends too early)"
SECRETS = (
    "OLDBRANCH",
    "THINKING_SECRET",
    "TOOLUSE_SECRET",
    "TOOLRESULT_SECRET",
    "ATTACHMENT_SECRET",
)


def convert(path: Path, **options: Any) -> tuple[list[Conversation], ClaudeConverter]:
    converter = ClaudeConverter(ConvertOptions(**options))
    return list(converter.read(path)), converter


def by_session(conversations: list[Conversation]) -> dict[str, Conversation]:
    return {c.session_id or "": c for c in conversations}


def contents(conversation: Conversation) -> list[tuple[str, str]]:
    return [(m.role, m.content) for m in conversation.messages]


def raw_conversations() -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = json.loads(CONVERSATIONS.read_text(encoding="utf-8"))
    return data


def write(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def zipped(folder: Path, archive: Path, prefix: str = "") -> Path:
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for file in sorted(folder.iterdir()):
            zf.write(file, prefix + file.name)
    return archive


# -- detection ---------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [CONVERSATIONS, EXPORT])
def test_detects_the_file_and_the_export_folder(path: Path) -> None:
    assert converters.detect(path) is ClaudeConverter


@pytest.mark.parametrize("prefix", ["", "data-2025-10-06-batch-0000/"])
def test_detects_the_export_zip(tmp_path: Path, prefix: str) -> None:
    assert converters.detect(zipped(EXPORT, tmp_path / "claude.zip", prefix)) is ClaudeConverter


def test_detects_one_conversation_object(tmp_path: Path) -> None:
    path = write(tmp_path / "chat.json", raw_conversations()[1])
    assert converters.detect(path) is ClaudeConverter


def other_fixtures() -> list[Path]:
    found = [p for p in DATA.rglob("*.json") if CLAUDE not in p.parents]
    folders = [DATA / "chatgpt" / "export", DATA / "slack" / "export", DATA / "discord" / "package"]
    return sorted(found + folders)


@pytest.mark.parametrize("path", other_fixtures(), ids=lambda p: str(p.relative_to(DATA)))
def test_takes_no_other_format(path: Path) -> None:
    assert not ClaudeConverter.detect(path)


@pytest.mark.parametrize("path", [CONVERSATIONS, EXPORT])
def test_no_other_converter_takes_claude_files(path: Path) -> None:
    for name, cls in converters.available().items():
        assert name == "claude" or not cls.detect(path), name


def test_no_other_converter_takes_the_claude_zip(tmp_path: Path) -> None:
    # users.json at the top of the zip must not make it look like a Slack export
    archive = zipped(EXPORT, tmp_path / "claude.zip")
    assert [n for n, cls in converters.available().items() if cls.detect(archive)] == ["claude"]


# -- conversations ---------------------------------------------------------------------------


def test_every_conversation_with_messages_is_imported_under_the_account() -> None:
    conversations, converter = convert(EXPORT)
    assert [c.key for c in conversations] == [
        f"personal:{ACCOUNT}/{GARDEN}",
        f"personal:{ACCOUNT}/{COWORK}",
        f"personal:{ACCOUNT}/{HAIKU}",
    ]
    # the conversation without messages gives nothing, and no error
    assert [len(c.messages) for c in conversations] == [4, 3, 2]
    assert [c.name for c in conversations] == [
        "Notes on the garden plan",
        "Cowork stuck on setup",
        "Haiku",
    ]
    assert converter.rejected == [] and converter.diagnostics == []
    for conversation in conversations:
        for message in conversation.messages:
            expected = (ACCOUNT, None) if message.role == "user" else ("claude", "Claude")
            assert (message.sender_id, message.sender_name) == expected


def test_roles_ids_and_exact_times() -> None:
    garden = by_session(convert(CONVERSATIONS)[0])[GARDEN]
    assert [(m.role, m.message_id, m.timestamp) for m in garden.messages] == [
        ("user", "c1-m1", 1730538904370),
        ("assistant", "c1-m2", 1730538920999),
        ("user", "c1-m3", 1730539240000),
        ("assistant", "c1-m4", 1730539244000),
    ]
    assert garden.skipped == 1  # the null entry


def test_attachments_and_files_are_named_not_copied() -> None:
    garden = by_session(convert(CONVERSATIONS)[0])[GARDEN]
    assert garden.messages[0].content == (
        "Here are my notes, can you turn them into a planting schedule?\n"
        "[attachment: garden-notes.txt]\n[file: bed-layout.png]"
    )


def test_only_the_newest_branch_and_never_thinking_or_tools() -> None:
    conversations, _ = convert(CONVERSATIONS)
    cowork = by_session(conversations)[COWORK]
    assert contents(cowork) == [
        (
            "user",
            (
                'Cowork is stuck on "Setting up Claude\'s workspace". What can I do?\n'
                "[file: 1774011787512_image.png]"
            ),
        ),
        (
            "assistant",
            (
                "Quit the app fully, then clear its cache folder and start it again.\n\n"
                "If that fails, reinstall the latest version."
            ),
        ),
        ("user", "That worked."),
    ]
    assert cowork.skipped == 1  # the answer that holds only thinking
    text = "\n".join(m.content for c in conversations for m in c.messages)
    assert [secret for secret in SECRETS if secret in text] == []
    assert "not supported on your current device" not in text


def test_text_field_is_used_without_its_stand_ins_when_there_are_no_blocks() -> None:
    haiku = by_session(convert(CONVERSATIONS)[0])[HAIKU]
    assert contents(haiku) == [
        ("user", "Write a haiku about rain."),
        ("assistant", "Soft rain on the roof\n\nthe gutters hum along\nsleep comes easily"),
    ]
    assert haiku.skipped == 1  # the blank human turn


def test_text_blocks_win_over_the_text_field() -> None:
    message = {
        "text": "stale",
        "content": [{"type": "text", "text": " fresh "}, {"type": "text", "text": "two"}],
    }
    assert message_text(message) == "fresh\n\ntwo"
    assert message_text({"text": "Hello", "content": []}) == "Hello"
    thinking_only = {"text": "private musing", "content": [{"type": "thinking", "thinking": "x"}]}
    assert message_text(thinking_only) == ""


def test_current_leaf_pointer_picks_the_branch(tmp_path: Path) -> None:
    data = raw_conversations()[1]
    data["current_leaf_message_uuid"] = "c2-a1"
    [conversation], _ = convert(write(tmp_path / "one.json", data))
    assert contents(conversation) == [
        ("user", "OLDBRANCH why is Cowork slow?"),
        ("assistant", "OLDBRANCH it is indexing."),
    ]


def test_times_missing_or_out_of_order_keep_the_list_order(tmp_path: Path) -> None:
    data = raw_conversations()[0]
    messages = [m for m in data["chat_messages"] if m]
    messages[1]["created_at"] = None
    messages[2]["created_at"] = "2024-11-02T09:00:00Z"  # before the first message
    messages[3]["created_at"] = "yesterday"
    data["chat_messages"] = messages
    [conversation], converter = convert(write(tmp_path / "c.json", [data]))
    assert [m.timestamp for m in conversation.messages] == [1730538904370] * 4
    assert [d.message for d in converter.diagnostics] == [
        (
            "message times earlier than the message before them moved up to keep the"
            " conversation's order: 1"
        ),
        "times that are not ISO 8601 replaced by the time of the message before: 1",
    ]


def test_message_ids_are_unique_across_conversations() -> None:
    conversations, _ = convert(EXPORT)
    ids = [m.message_id for c in conversations for m in c.messages]
    assert len(ids) == len(set(ids)) == 9


def test_user_id_from_the_option_else_account_else_users_json_else_default(
    tmp_path: Path,
) -> None:
    assert {c.conversation_id for c in convert(EXPORT, user_id="me")[0]} == {"me"}
    data = raw_conversations()
    for conversation in data:
        del conversation["account"]
    folder = tmp_path / "export"
    folder.mkdir()
    write(folder / "conversations.json", data)
    shutil.copy(EXPORT / "users.json", folder / "users.json")
    assert {c.conversation_id for c in convert(folder)[0]} == {ACCOUNT}
    (folder / "users.json").unlink()
    assert {c.conversation_id for c in convert(folder / "conversations.json")[0]} == {"claude-user"}


def test_zip_reads_like_the_folder(tmp_path: Path) -> None:
    archive = zipped(EXPORT, tmp_path / "claude.zip", "batch-0000/")
    from_zip, converter = convert(archive)
    from_folder, _ = convert(EXPORT)
    assert [c.model_dump(exclude={"origin"}) for c in from_zip] == [
        c.model_dump(exclude={"origin"}) for c in from_folder
    ]
    assert {c.origin for c in from_zip} == {f"{archive}!/batch-0000/conversations.json"}
    assert converter.rejected == []


# -- bad input -------------------------------------------------------------------------------


def test_truncated_file_keeps_what_came_before_and_names_the_place(tmp_path: Path) -> None:
    data = CONVERSATIONS.read_bytes()
    path = tmp_path / "conversations.json"
    path.write_bytes(data[: data.index(b'"c2-a2"')])
    conversations, converter = convert(path)
    assert [c.session_id for c in conversations] == [GARDEN]
    [error] = converter.rejected
    assert str(error) == f"{path}: after conversation 1 (id {GARDEN}): {TRUNCATED}"


@pytest.mark.parametrize(
    ("text", "reason"),
    [("", "file is empty"), ("not json", "not JSON: expected a list of conversations")],
)
def test_unreadable_file_is_one_input_error(tmp_path: Path, text: str, reason: str) -> None:
    path = tmp_path / "conversations.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as caught:
        convert(path)
    assert (caught.value.path, caught.value.reason) == (str(path), reason)


def test_bad_entries_are_named_and_the_rest_is_imported(tmp_path: Path) -> None:
    good = raw_conversations()[3]
    path = write(
        tmp_path / "conversations.json",
        [good, 7, {"name": "no uuid"}, {"uuid": "u-x", "chat_messages": {"a": 1}}],
    )
    conversations, converter = convert(path)
    assert [c.session_id for c in conversations] == [HAIKU]
    [error] = converter.rejected
    assert error.problems == [
        f"{path}: conversation 2: expected a conversation object, got 7",
        f"{path}: conversation 3: field 'uuid' is missing",
        f"{path}: conversation 4 (uuid u-x): field 'chat_messages' must be a list",
    ]
