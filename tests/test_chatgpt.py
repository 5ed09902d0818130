"""ChatGPT data exports converted end to end through ``ChatGPTConverter.read()``."""

from __future__ import annotations

import copy
import importlib.util
import json
import shutil
import zipfile
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import converters
from converters.base import ConvertOptions
from converters.chatgpt import ChatGPTConverter
from importer.errors import InputError
from importer.models import Conversation

DATA = Path(__file__).parent / "data"
CHATGPT = DATA / "chatgpt"
EXPORT = CHATGPT / "export"
CONVERSATIONS = EXPORT / "conversations.json"
CODE_INTERPRETER = CHATGPT / "code_interpreter.json"
SINGLE = CHATGPT / "single_conversation.json"
USER = "user-Xq7TestAccount0001"
TRUNCATED = "truncated JSON (the file ends too early)"
SECRETS = (
    "OLDBRANCH",
    "RETRYBRANCH",
    "PROFILE_SECRET",
    "THOUGHT_SECRET",
    "TOOLCALL_SECRET",
    "BROWSE_SECRET",
    "QUOTE_SECRET",
    "ANALYSIS_SECRET",
    "RECAP_SECRET",
    "BIO_SECRET",
    "DALLE_SECRET",
)


def convert(path: Path, **options: Any) -> tuple[list[Conversation], ChatGPTConverter]:
    converter = ChatGPTConverter(ConvertOptions(**options))
    return list(converter.read(path)), converter


def by_session(conversations: list[Conversation]) -> dict[str, Conversation]:
    return {c.session_id or "": c for c in conversations}


def contents(conversation: Conversation) -> list[tuple[str, str]]:
    return [(m.role, m.content) for m in conversation.messages]


def warnings(converter: ChatGPTConverter) -> list[str]:
    return [d.message for d in converter.diagnostics if d.severity == "warning"]


def write(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def load_generator() -> ModuleType:
    path = Path(__file__).parent.parent / "benchmarks" / "gen_chatgpt.py"
    spec = importlib.util.spec_from_file_location("gen_chatgpt", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def zipped(folder: Path, archive: Path, prefix: str = "") -> Path:
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for file in sorted(folder.iterdir()):
            zf.write(file, prefix + file.name)
    return archive


# -- detection ---------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [CODE_INTERPRETER, SINGLE, CONVERSATIONS, EXPORT])
def test_detects_the_file_and_the_export_folder(path: Path) -> None:
    assert converters.detect(path) is ChatGPTConverter


@pytest.mark.parametrize("prefix", ["", "chatgpt-export/"])
def test_detects_the_export_zip(tmp_path: Path, prefix: str) -> None:
    archive = zipped(EXPORT, tmp_path / "export.zip", prefix)
    assert converters.detect(archive) is ChatGPTConverter


def other_fixtures() -> list[Path]:
    found = [p for p in DATA.rglob("*.json") if CHATGPT not in p.parents]
    folders = [DATA / "claude" / "export", DATA / "slack" / "export", DATA / "discord" / "package"]
    return sorted(found + folders)


@pytest.mark.parametrize("path", other_fixtures(), ids=lambda p: str(p.relative_to(DATA)))
def test_takes_no_other_format(path: Path) -> None:
    assert not ChatGPTConverter.detect(path)


@pytest.mark.parametrize("path", [CODE_INTERPRETER, SINGLE, CONVERSATIONS, EXPORT])
def test_no_other_converter_takes_chatgpt_files(path: Path) -> None:
    for name, cls in converters.available().items():
        assert name == "chatgpt" or not cls.detect(path), name


def test_a_folder_with_other_exports_is_walked_not_claimed(tmp_path: Path) -> None:
    shutil.copytree(EXPORT, tmp_path / "mixed")
    shutil.copy(DATA / "everos" / "group.json", tmp_path / "mixed" / "group.json")
    assert not ChatGPTConverter.detect(tmp_path / "mixed")
    assert ChatGPTConverter.detect(tmp_path / "mixed" / "conversations.json")
    # and a folder with conversations.json alone is no export folder either
    (tmp_path / "alone").mkdir()
    shutil.copy(CONVERSATIONS, tmp_path / "alone" / "conversations.json")
    assert not ChatGPTConverter.detect(tmp_path / "alone")


def test_an_export_folder_with_files_no_format_takes_is_still_one_export(tmp_path: Path) -> None:
    folder = tmp_path / "export"
    shutil.copytree(EXPORT, folder)
    write(folder / "sora.json", {"generations": []})  # newer exports add files of their own
    (folder / "dalle-generations").mkdir()
    assert converters.detect(folder) is ChatGPTConverter
    assert len(convert(folder)[0]) == 3


# -- the real samples ------------------------------------------------------------------------


def test_code_interpreter_conversation_keeps_only_what_the_page_showed() -> None:
    [conversation], converter = convert(CODE_INTERPRETER)
    assert conversation.key == "personal:chatgpt-user/966da5c4-5bb7-4e4d-ab6d-a7316b96266e"
    assert conversation.name == "Average Distance in U(0,1)"
    roles = [m.role for m in conversation.messages]
    assert (roles.count("user"), roles.count("assistant")) == (8, 12)
    # 11 code cells sent to python, 11 outputs, 2 hidden system messages
    assert conversation.skipped == 24
    first, last = conversation.messages[0], conversation.messages[-1]
    assert (first.timestamp, last.timestamp) == (1695326273969, 1695370984654)
    assert first.content.startswith("given two random independent variables x,y in U(0,1)")
    assert last.message_id == (
        "966da5c4-5bb7-4e4d-ab6d-a7316b96266e:875ad56f-8b75-4e69-9fdc-f96acf212f9c"
    )
    text = "\n".join(m.content for m in conversation.messages)
    assert "from sympy import" not in text and "<<ImageDisplayed>>" not in text
    assert converter.rejected == [] and warnings(converter) == []


def test_single_conversation_object_with_image_and_custom_instructions() -> None:
    [conversation], converter = convert(SINGLE)
    assert conversation.session_id == "684a1df7-0000-8005-bf41-d26c56ecdc7f"
    assert conversation.name == "Tomato leaf spots"
    assert [(m.role, m.timestamp) for m in conversation.messages] == [
        ("user", 1749687798694),
        ("assistant", 1749687804489),
        ("user", 1749687898176),
        ("assistant", 1749687898702),
    ]
    assert conversation.messages[0].content == "[image]\nWhat is wrong with this tomato leaf?"
    # hidden system message, custom instructions, the empty answer placeholder
    assert conversation.skipped == 3
    assert not any("Sam" in m.content or "gardener" in m.content for m in conversation.messages)
    assert converter.rejected == [] and warnings(converter) == []


# -- the hand-made export --------------------------------------------------------------------


def test_export_folder_files_every_conversation_under_the_account_id() -> None:
    conversations, converter = convert(EXPORT)
    assert [c.key for c in conversations] == [
        f"personal:{USER}/68a0c1d2-0001-800a-9c11-5e2f00000001",
        f"personal:{USER}/68a0c1d2-0002-800a-9c11-5e2f00000002",
        f"personal:{USER}/68a0c1d2-0003-800a-9c11-5e2f00000003",
    ]
    assert [len(c.messages) for c in conversations] == [4, 4, 7]
    assert all(c.kind == "personal" and c.source == "chatgpt" for c in conversations)
    assert all(c.origin == str(CONVERSATIONS) for c in conversations)
    for conversation in conversations:
        for message in conversation.messages:
            expected = (USER, None) if message.role == "user" else ("chatgpt", "ChatGPT")
            assert (message.sender_id, message.sender_name) == expected
    assert converter.rejected == []
    assert "conversations with nothing to import" in warnings(converter)[-1]


def test_only_the_branch_on_screen_is_imported() -> None:
    conversation = by_session(convert(CONVERSATIONS)[0])["68a0c1d2-0001-800a-9c11-5e2f00000001"]
    assert contents(conversation) == [
        ("user", "What does the .NET 8.0 Desktop Runtime do,\nand what breaks without it?"),
        ("assistant", "It runs WPF and WinForms apps built on .NET 8."),
        ("user", "Thanks!"),
        ("assistant", "You're welcome."),
    ]
    assert [m.message_id.split(":")[1] for m in conversation.messages] == [
        "u-new",
        "a-shown",
        "u-follow",
        "a-follow",
    ]
    # hidden system message and the empty answer placeholder; other branches are not counted
    assert conversation.skipped == 2


def test_times_are_exact_and_never_out_of_branch_order() -> None:
    conversations, converter = convert(CONVERSATIONS)
    branches = by_session(conversations)
    first = branches["68a0c1d2-0001-800a-9c11-5e2f00000001"]
    # the answer's server time (…382.438626) is earlier than the browser's time of its
    # question (…392.585): it is moved up to the question, not before it
    assert [m.timestamp for m in first.messages] == [
        1749968392585,
        1749968392585,
        1749968450250,
        1749968451000,
    ]
    second = branches["68a0c1d2-0002-800a-9c11-5e2f00000002"]
    # "And on Sundays?" has no create_time: it takes the time of the message before it
    assert [m.timestamp for m in second.messages] == [
        1754461700500,
        1754461706789,
        1754461706789,
        1754461760000,
    ]
    assert any("moved up to keep the conversation's order: 1" in w for w in warnings(converter))


def test_hidden_tool_and_reasoning_text_is_left_out() -> None:
    conversations, _ = convert(CONVERSATIONS)
    text = "\n".join(m.content for c in conversations for m in c.messages)
    assert [secret for secret in SECRETS if secret in text] == []
    second = by_session(conversations)["68a0c1d2-0002-800a-9c11-5e2f00000002"]
    # custom instructions, thoughts, a search call, its results and quote, analysis,
    # the reasoning recap and a memory update
    assert second.skipped == 8


def test_citation_and_entity_markers_become_what_the_page_shows() -> None:
    second = by_session(convert(CONVERSATIONS)[0])["68a0c1d2-0002-800a-9c11-5e2f00000002"]
    assert second.messages[1].content == (
        "The tram line 28 runs through Lisbon old town. ([Carris](https://example.org/tram))"
        "\n\nIt is busiest at noon."
    )


def test_images_voice_and_files_become_short_stand_ins() -> None:
    third = by_session(convert(CONVERSATIONS)[0])["68a0c1d2-0003-800a-9c11-5e2f00000003"]
    assert contents(third) == [
        ("user", "[image]\nDescribe this photo.\nKeep it short."),
        ("assistant", "A bicycle leaning on a wall."),
        ("user", "what is in the picture again"),
        ("assistant", "A red bicycle by a wall."),
        ("user", "[audio]"),
        ("user", "Summarise the attached report.\n[attachment: report.pdf]"),
        ("assistant", "The report says sales grew 4%."),
    ]
    assert third.skipped == 2  # the image prompt sent to DALL-E and the tool's image


def test_message_ids_are_unique_across_conversations(tmp_path: Path) -> None:
    data = json.loads(CONVERSATIONS.read_text(encoding="utf-8"))
    twin = copy.deepcopy(data[0])
    twin["id"] = twin["conversation_id"] = "68a0c1d2-0009-800a-9c11-5e2f00000009"
    conversations, _ = convert(write(tmp_path / "conversations.json", [*data, twin]))
    ids = [m.message_id for c in conversations for m in c.messages]
    assert len(ids) == len(set(ids)) == 19
    assert "68a0c1d2-0009-800a-9c11-5e2f00000009:u-new" in ids
    assert "68a0c1d2-0001-800a-9c11-5e2f00000001:u-new" in ids


def test_user_id_from_the_option_else_user_json_else_a_default(tmp_path: Path) -> None:
    assert {c.conversation_id for c in convert(EXPORT, user_id="me")[0]} == {"me"}
    assert {c.conversation_id for c in convert(CONVERSATIONS)[0]} == {USER}
    shutil.copy(CONVERSATIONS, tmp_path / "conversations.json")
    assert {c.conversation_id for c in convert(tmp_path / "conversations.json")[0]} == {
        "chatgpt-user"
    }


@pytest.mark.parametrize("prefix", ["", "Export 2025-06-01/"])
def test_zip_reads_like_the_folder(tmp_path: Path, prefix: str) -> None:
    archive = zipped(EXPORT, tmp_path / "chatgpt.zip", prefix)
    from_zip, converter = convert(archive)
    from_folder, _ = convert(EXPORT)
    assert [c.model_dump(exclude={"origin"}) for c in from_zip] == [
        c.model_dump(exclude={"origin"}) for c in from_folder
    ]
    assert {c.origin for c in from_zip} == {f"{archive}!/{prefix}conversations.json"}
    assert converter.rejected == []


def test_missing_current_node_takes_the_newest_branch(tmp_path: Path) -> None:
    data = json.loads(CONVERSATIONS.read_text(encoding="utf-8"))[:1]
    del data[0]["current_node"]
    data[0]["mapping"]["a-retry"]["message"]["create_time"] = 1749968999.0
    [conversation], converter = convert(write(tmp_path / "c.json", data))
    # the newest leaf is the regenerated answer nobody kept
    assert conversation.messages[-1].content == "RETRYBRANCH a regenerated answer nobody kept."
    assert any("'current_node' is missing" in w for w in warnings(converter))


# -- bad input -------------------------------------------------------------------------------


def item_starts(data: bytes) -> list[int]:
    """Offsets where each top-level conversation of the indented export begins."""
    starts, at = [], data.find(b"\n  {")
    while at != -1:
        starts.append(at)
        at = data.find(b"\n  {", at + 1)
    return starts


@pytest.mark.parametrize(
    ("inside", "kept", "where"),
    [
        (0, 0, "before the first conversation was read whole"),
        (1, 1, "after conversation 1 (id 68a0c1d2-0001-800a-9c11-5e2f00000001)"),
        (3, 3, "after conversation 3 (id 68a0c1d2-0003-800a-9c11-5e2f00000003)"),
        (4, 3, "after conversation 4 (id 68a0c1d2-0004-800a-9c11-5e2f00000004)"),
    ],
)
def test_truncated_file_keeps_what_came_before_and_names_the_place(
    tmp_path: Path, inside: int, kept: int, where: str
) -> None:
    data = CONVERSATIONS.read_bytes()
    starts = item_starts(data)
    assert len(starts) == 4
    # cut 300 bytes into conversation ``inside`` (4: cut before the closing bracket)
    end = starts[inside] + 300 if inside < 4 else len(data) - 3
    path = tmp_path / "conversations.json"
    path.write_bytes(data[:end])
    conversations, converter = convert(path)
    assert len(conversations) == kept
    [error] = converter.rejected
    assert (error.path, error.where, error.reason) == (str(path), where, TRUNCATED)


def test_truncated_single_conversation_is_named_at_top_level(tmp_path: Path) -> None:
    path = tmp_path / "one.json"
    path.write_bytes(SINGLE.read_bytes()[:5000])
    conversations, converter = convert(path)
    assert conversations == []
    [error] = converter.rejected
    assert str(error) == f"{path}: top level: {TRUNCATED}"


def test_truncated_zip_member_is_named_inside_the_zip(tmp_path: Path) -> None:
    folder = tmp_path / "export"
    shutil.copytree(EXPORT, folder)
    data = CONVERSATIONS.read_bytes()
    (folder / "conversations.json").write_bytes(data[: int(len(data) * 0.5)])
    archive = zipped(folder, tmp_path / "export.zip")
    conversations, converter = convert(archive)
    assert len(conversations) == 1
    [error] = converter.rejected
    assert str(error) == (
        f"{archive}!/conversations.json: after conversation 1"
        f" (id 68a0c1d2-0001-800a-9c11-5e2f00000001): {TRUNCATED}"
    )


def test_invalid_bytes_are_not_called_truncated(tmp_path: Path) -> None:
    path = tmp_path / "conversations.json"
    path.write_bytes(CONVERSATIONS.read_bytes().replace(b"Thanks!", b"Thanks\xff", 1))
    conversations, converter = convert(path)
    assert conversations == []
    [error] = converter.rejected
    assert error.reason.startswith("invalid JSON (") and TRUNCATED not in error.reason


@pytest.mark.parametrize(
    ("text", "reason"),
    [("", "file is empty"), ("hello", "not JSON: expected a list of conversations")],
)
def test_unreadable_file_is_one_input_error(tmp_path: Path, text: str, reason: str) -> None:
    path = tmp_path / "conversations.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as caught:
        convert(path)
    assert (caught.value.path, caught.value.reason) == (str(path), reason)


def test_bad_entries_are_named_and_the_rest_is_imported(tmp_path: Path) -> None:
    good = json.loads(CONVERSATIONS.read_text(encoding="utf-8"))[0]
    no_mapping = {"id": "c-nomap", "title": "x", "mapping": []}
    path = write(tmp_path / "conversations.json", [good, "oops", {"title": "no id"}, no_mapping])
    conversations, converter = convert(path)
    assert [c.session_id for c in conversations] == ["68a0c1d2-0001-800a-9c11-5e2f00000001"]
    [error] = converter.rejected
    assert error.problems == [
        f"{path}: conversation 2: expected a conversation object, got 'oops'",
        f"{path}: conversation 3: field 'id' is missing",
        f"{path}: conversation 4 (id c-nomap): field 'mapping' must be an object of message nodes",
    ]


# -- a big generated export ------------------------------------------------------------------


def test_big_generated_export_streams_through(tmp_path: Path) -> None:
    generator = load_generator()
    path = tmp_path / "conversations.json"
    assert generator.write_export(path, 300, turns=6, seed=3) == 300
    assert ChatGPTConverter.detect(path)
    conversations, converter = convert(path)
    assert len(conversations) == 300 and converter.rejected == []
    assert all(len(c.messages) == 12 for c in conversations)
    assert all(c.messages[0].role == "user" for c in conversations)
    ids = [m.message_id for c in conversations for m in c.messages]
    assert len(set(ids)) == len(ids) == 3600
    assert all(c.skipped >= 1 for c in conversations)
