"""Discord data packages (directory or zip, CSV and JSON layouts) through ``read()``."""

from __future__ import annotations

import shutil
import zipfile
from itertools import pairwise
from pathlib import Path

import pytest

from converters.discord_package import DiscordPackageConverter
from importer.errors import InputError
from importer.models import Conversation

DATA = Path(__file__).parent / "data" / "discord"
TRUNCATED = "truncated JSON (the file ends too early)"
PACKAGE = DATA / "package"  # older CSV channel + newer JSON channel, lower-case folders
PACKAGE_NEW = DATA / "package_new"  # newer layout: Account/, Messages/c<id>/messages.json
CSV_CHANNEL = "messages/1100000000000000100"
JSON_CHANNEL = "messages/c1100000000000000001"


def convert(path: Path) -> tuple[dict[str, Conversation], DiscordPackageConverter]:
    converter = DiscordPackageConverter()
    return {c.conversation_id: c for c in converter.read(path)}, converter


def zip_of(directory: Path, target: Path, *, top: str = "") -> Path:
    with zipfile.ZipFile(target, "w") as archive:
        for file in sorted(directory.rglob("*")):
            if file.is_file():
                archive.write(file, top + file.relative_to(directory).as_posix())
    return target


def assert_clean(conversation: Conversation) -> None:
    assert all(a.timestamp <= b.timestamp for a, b in pairwise(conversation.messages))
    assert all(m.content.strip() for m in conversation.messages)
    assert conversation.kind == "group"


# -- detection ---------------------------------------------------------------------------------


def test_detects_both_layouts_and_zips(tmp_path: Path) -> None:
    assert DiscordPackageConverter.detect(PACKAGE)
    assert DiscordPackageConverter.detect(PACKAGE_NEW)
    assert DiscordPackageConverter.detect(zip_of(PACKAGE, tmp_path / "package.zip"))
    nested = zip_of(PACKAGE_NEW, tmp_path / "nested.zip", top="package/")
    assert DiscordPackageConverter.detect(nested)


def test_does_not_detect_other_inputs(tmp_path: Path) -> None:
    assert not DiscordPackageConverter.detect(DATA / "dce")
    assert not DiscordPackageConverter.detect(PACKAGE / "messages" / "index.json")
    other = tmp_path / "other.zip"
    with zipfile.ZipFile(other, "w") as archive:
        archive.writestr("channels.json", "[]")
    assert not DiscordPackageConverter.detect(other)
    not_zip = tmp_path / "fake.zip"
    not_zip.write_text("hello")
    assert not DiscordPackageConverter.detect(not_zip)


# -- the mixed package -------------------------------------------------------------------------


def test_one_conversation_per_channel() -> None:
    conversations, converter = convert(PACKAGE)
    assert converter.rejected == []
    assert sorted(conversations) == ["discord_1100000000000000001", "discord_1100000000000000100"]
    for conversation in conversations.values():
        assert_clean(conversation)
        assert conversation.source == "discord-package"
        assert conversation.participants == {"2000000000000000004": "Dave"}


def test_csv_channel_keeps_ids_text_and_times() -> None:
    conversation = convert(PACKAGE)[0]["discord_1100000000000000100"]
    assert conversation.name == "Direct Message with alice#0"
    assert conversation.origin == f"{PACKAGE}/{CSV_CHANNEL}/messages.csv"
    assert [(m.message_id, m.timestamp, m.content) for m in conversation.messages] == [
        # 10:39+02:00 is 08:39 UTC: the oldest, although it is the last row
        ("1099511627776000001", 1618389540000, "first, with a comma"),
        ("1099511627776000002", 1618389600100, 'she said "ok, fine",\nthen left\n\nthe end'),
        ("1099511627776000003", 1618389700565, "[attachment: notes.txt]"),
    ]
    assert {(m.sender_id, m.sender_name) for m in conversation.messages} == {
        ("2000000000000000004", "Dave")
    }


def test_json_channel_keeps_64_bit_ids_exact() -> None:
    conversations, converter = convert(PACKAGE)
    conversation = conversations["discord_1100000000000000001"]
    assert conversation.name == "Test Server / general"
    assert [(m.message_id, m.timestamp) for m in conversation.messages] == [
        ("1187654321098765432", 1703440800000),
        ("1187654321098765433", 1703442599000),
        # same second: id order, which is the order they were sent
        ("1187654321098765434", 1703442605000),
        ("1187654321098765435", 1703442605000),
    ]
    contents = [m.content for m in conversation.messages]
    assert contents[1] == "line one\nline two\n\n  indented line three"
    # URL-encoded file name decoded, signed query string dropped
    assert contents[3] == "[attachment: tree photo.jpg]"
    # the one row with neither text nor attachment
    assert conversation.skipped == 1
    warnings = [str(d) for d in converter.diagnostics if d.severity == "warning"]
    assert warnings == [
        f"{PACKAGE}/{JSON_CHANNEL}/messages.json: messages without any text left out: 1"
    ]


def test_newer_layout_with_capitalised_folders() -> None:
    conversations, converter = convert(PACKAGE_NEW)
    assert converter.rejected == [] and converter.diagnostics == []
    group = conversations["discord_1100000000000000150"]
    assert group.name == "Weekend plans"
    assert [m.content for m in group.messages] == [
        "who's in for hiking?",
        "great, 9am at the trailhead",
    ]
    # global_name is null: the username speaks
    assert group.messages[0].sender_name == "dave"
    assert conversations["discord_1100000000000000050"].name == "Test Server / release-notes"


@pytest.mark.parametrize("top", ["", "discord-data/"])
def test_zip_reads_like_the_directory(tmp_path: Path, top: str) -> None:
    from_dir = convert(PACKAGE)[0]
    from_zip, converter = convert(zip_of(PACKAGE, tmp_path / "p.zip", top=top))
    assert converter.rejected == []
    assert sorted(from_zip) == sorted(from_dir)
    for key, conversation in from_zip.items():
        assert conversation.messages == from_dir[key].messages
        assert conversation.name == from_dir[key].name


def test_without_account_the_sender_is_me(tmp_path: Path) -> None:
    copy = tmp_path / "package"
    shutil.copytree(PACKAGE, copy)
    shutil.rmtree(copy / "account")
    conversations, _ = convert(copy)
    for conversation in conversations.values():
        assert {(m.sender_id, m.sender_name) for m in conversation.messages} == {("me", "me")}


def test_string_ids_list_attachments_and_bom(tmp_path: Path) -> None:
    copy = tmp_path / "package"
    shutil.copytree(PACKAGE_NEW, copy)
    (copy / "Messages/c1100000000000000050/messages.json").write_text(
        '[{"ID": "1200000000000000199", "Timestamp": "2023-03-02 08:00:00.5", "Contents": "",'
        ' "Attachments": ["https://cdn.example/a/b/one.png", "https://cdn.example/a/b/two.gif"]}]'
    )
    path = copy / "Messages/c1100000000000000050/messages.json"
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())  # and a byte order mark
    conversation = convert(copy)[0]["discord_1100000000000000050"]
    [message] = conversation.messages
    assert message.message_id == "1200000000000000199"
    assert message.timestamp == 1677744000500
    assert message.content == "[attachment: one.png]\n[attachment: two.gif]"


def test_attachments_follow_the_text(tmp_path: Path) -> None:
    copy = tmp_path / "package"
    shutil.copytree(PACKAGE, copy)
    url = "https://cdn.discordapp.com/attachments/1100000000000000001/1187654321098765440/"
    (copy / JSON_CHANNEL / "messages.json").write_text(
        f'[{{"ID": 1187654321098765440, "Timestamp": "2023-12-25 09:00:00",'
        f' "Contents": "photos from last night", "Attachments": "{url}tree.jpg {url}cake.jpg"}}]'
    )
    (copy / CSV_CHANNEL / "messages.csv").write_text(
        f"ID,Timestamp,Contents,Attachments\r\n1,2021-04-14 08:41:40,see the notes,{url}notes.txt\r\n"
    )
    conversations, _ = convert(copy)
    [photos] = conversations["discord_1100000000000000001"].messages
    assert (
        photos.content == "photos from last night\n[attachment: tree.jpg]\n[attachment: cake.jpg]"
    )
    [notes] = conversations["discord_1100000000000000100"].messages
    assert notes.content == "see the notes\n[attachment: notes.txt]"


# -- bad input ---------------------------------------------------------------------------------


def test_bad_rows_reject_their_channel_only(tmp_path: Path) -> None:
    copy = tmp_path / "package"
    shutil.copytree(PACKAGE, copy)
    csv_file = copy / CSV_CHANNEL / "messages.csv"
    csv_file.write_text(
        'ID,Timestamp,Contents,Attachments\r\n1,2021-04-14 08:41:40,"two\r\nlines",\r\n'
        "2,last tuesday,hi,\r\n,2021-04-14 08:41:40,no id,\r\n"
    )
    conversations, converter = convert(copy)
    assert list(conversations) == ["discord_1100000000000000001"]
    origin = f"{copy}/{CSV_CHANNEL}/messages.csv"
    [error] = converter.rejected
    assert error.problems == [
        f"{origin}: line 4 (id 2): field 'Timestamp' is not a date: 'last tuesday'",
        f"{origin}: line 5: field 'ID' is not an id: ''",
    ]


def test_truncated_json_channel_is_rejected(tmp_path: Path) -> None:
    copy = tmp_path / "package"
    shutil.copytree(PACKAGE, copy)
    json_file = copy / JSON_CHANNEL / "messages.json"
    json_file.write_bytes(json_file.read_bytes()[:300])
    conversations, converter = convert(copy)
    assert list(conversations) == ["discord_1100000000000000100"]
    [error] = converter.rejected
    assert TRUNCATED in str(error)


def test_csv_with_wrong_header_is_rejected(tmp_path: Path) -> None:
    copy = tmp_path / "package"
    shutil.copytree(PACKAGE, copy)
    (copy / CSV_CHANNEL / "messages.csv").write_text("a,b,c\r\n1,2,3\r\n")
    _, converter = convert(copy)
    [error] = converter.rejected
    assert "header is not ID,Timestamp,Contents" in str(error)


def test_package_without_index_is_an_input_error(tmp_path: Path) -> None:
    archive = tmp_path / "empty.zip"
    with zipfile.ZipFile(archive, "w") as out:
        out.writestr("README.txt", "nothing here")
    with pytest.raises(InputError, match="no messages/index.json"):
        convert(archive)
