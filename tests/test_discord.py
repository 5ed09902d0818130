"""DiscordChatExporter JSON converted end to end through ``DiscordConverter.read()``."""

from __future__ import annotations

import importlib.util
import json
import shutil
from itertools import pairwise
from pathlib import Path
from types import ModuleType

import pytest

from converters import discord
from converters.base import ConvertOptions
from converters.discord import DiscordConverter
from converters.discord_common import parse_timestamp_ms
from importer.errors import InputError
from importer.models import Conversation

DATA = Path(__file__).parent / "data" / "discord"
TRUNCATED = "truncated JSON (the file ends too early)"
DCE = DATA / "dce"
GENERAL = DCE / "Test Server - Text channels - general [1100000000000000001].json"
THREAD = DCE / "Test Server - general - release-notes [1100000000000000050].json"
DM = DCE / "Direct Messages - alice [1100000000000000100].json"
GROUP_DM = DCE / "Direct Messages - Weekend plans [1100000000000000150].json"
ARCHIVE = DCE / "Test Server - Text channels - archive [1100000000000000200].json"
HELP_DESK = DCE / "Test Server - Support - help-desk [1100000000000000300].json"
SYSTEM_TEXTS = {
    "Joined the server.",
    "Pinned a message.",
    "Started a thread.",
    "Left the group.",
    "Changed the channel icon.",
}


def convert(
    path: Path, *, include_system_events: bool = False
) -> tuple[list[Conversation], DiscordConverter]:
    converter = DiscordConverter(ConvertOptions(include_system_events=include_system_events))
    return list(converter.read(path)), converter


def only(path: Path) -> Conversation:
    conversations, converter = convert(path)
    assert converter.rejected == []
    assert len(conversations) == 1
    return conversations[0]


def assert_clean(conversation: Conversation) -> None:
    """What every imported Discord conversation must satisfy."""
    messages = conversation.messages
    assert all(a.timestamp <= b.timestamp for a, b in pairwise(messages))
    assert all(m.content.strip() for m in messages)
    assert not {m.content for m in messages} & SYSTEM_TEXTS
    assert len({m.message_id for m in messages}) == len(messages)
    assert conversation.kind == "group"


def load_generator() -> ModuleType:
    path = Path(__file__).parent.parent / "benchmarks" / "gen_discord.py"
    spec = importlib.util.spec_from_file_location("gen_discord", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# -- detection ---------------------------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(DCE.glob("*.json")), ids=lambda p: p.name[-30:])
def test_detects_every_export_file(path: Path) -> None:
    assert DiscordConverter.detect(path)


def test_does_not_detect_other_inputs(tmp_path: Path) -> None:
    other = tmp_path / "chat.json"
    other.write_text(json.dumps({"version": "1", "conversation_list": []}))
    assert not DiscordConverter.detect(other)
    # the words alone are not enough: here they are text inside another format
    wordy = tmp_path / "wordy.json"
    wordy.write_text(json.dumps({"messages": [{"content": 'the "guild" and "channel" keys'}]}))
    assert not DiscordConverter.detect(wordy)
    assert not DiscordConverter.detect(DATA / "package")
    assert not DiscordConverter.detect(DATA / "package" / "messages" / "index.json")


# -- a guild channel ---------------------------------------------------------------------------


def test_guild_channel_keeps_speech_and_counts_system_events() -> None:
    conversation = only(GENERAL)
    assert_clean(conversation)
    assert conversation.conversation_id == "discord_1100000000000000001"
    assert conversation.name == "Test Server / general"
    assert conversation.description == "General chatter"
    assert conversation.source == "discord"
    ids = [m.message_id[-2:] for m in conversation.messages]
    assert ids == ["03", "04", "05", "06", "07", "10", "11", "13", "14"]
    # 2 joins, thread created, pin; and one message with nothing to say
    assert conversation.skipped == 5


def test_exact_utc_milliseconds() -> None:
    by_id = {m.message_id: m for m in only(GENERAL).messages}
    # 7 fraction digits are truncated, not rounded
    assert by_id["1200000000000000003"].timestamp == 1677661560123
    # 11:07:30.999+02:00 is 09:07:30.999 UTC
    assert by_id["1200000000000000004"].timestamp == 1677661650999
    # two fraction digits
    assert by_id["1200000000000000007"].timestamp == 1677661800250


def test_sender_is_nickname_else_name() -> None:
    conversation = only(GENERAL)
    by_id = {m.message_id: m for m in conversation.messages}
    assert by_id["1200000000000000003"].sender_name == "Alice A."
    assert by_id["1200000000000000003"].sender_id == "2000000000000000001"
    assert by_id["1200000000000000004"].sender_name == "bob_the_builder"
    assert conversation.participants == {
        "2000000000000000001": "Alice A.",
        "2000000000000000002": "bob_the_builder",
        "2000000000000000003": "Carol",
        "2000000000000000009": "HelperBot",
    }


def test_attachments_stickers_and_embeds_stand_in_for_empty_content() -> None:
    by_id = {m.message_id: m for m in only(GENERAL).messages}
    assert by_id["1200000000000000006"].content == "[attachment: cat.png]"
    assert by_id["1200000000000000007"].content == "[sticker: Wave Wumpus]"
    assert by_id["1200000000000000010"].content == "[embed: Build #42 passed] All 314 tests green"
    # next to text, files follow it; the media-folder path is not pasted into the text
    assert by_id["1200000000000000013"].content == (
        "here is the log, see attached\n[attachment: build.log]"
    )


def test_replies_name_what_they_answer() -> None:
    by_id = {m.message_id: m for m in only(GENERAL).messages}
    reply = by_id["1200000000000000005"]
    assert reply.reply_to == "1200000000000000003"
    marker = '[reply to Alice A.: "Hello everyone! 👋"] '
    assert reply.content == marker + "welcome!\nglad you're here"
    # a reply to a reply quotes the words, not the other marker
    nested = by_id["1200000000000000014"]
    assert nested.reply_to == "1200000000000000005"
    assert nested.content == '[reply to Carol: "welcome! glad you\'re here"] thanks Carol'
    # the answered message is not in the export: keep the link, say so as Slack does
    orphan = by_id["1200000000000000011"]
    assert orphan.reply_to == "1199999999999999999"
    assert orphan.content == "[reply to a deleted message] sure, I'll look"
    assert by_id["1200000000000000003"].reply_to is None


def test_files_and_stickers_follow_the_text() -> None:
    by_id = {m.message_id: m for m in only(HELP_DESK).messages}
    assert by_id["1300000000000000304"].content == (
        "Here is my config and what it printed\n"
        "[attachment: config.json]\n[attachment: output.png]\n[sticker: Thumbs Up]"
    )


def test_any_message_with_a_reference_is_a_reply_quoted_at_a_word() -> None:
    conversation = only(HELP_DESK)
    by_id = {m.message_id: m for m in conversation.messages}
    # a Default-type message with a reference (no reference.type: older exports)
    answer = by_id["1300000000000000302"]
    assert answer.reply_to == "1300000000000000301"
    assert answer.content.startswith('[reply to Dave: "How do I export the threads of a forum…"] ')
    thanks = by_id["1300000000000000303"]
    assert thanks.reply_to == "1300000000000000302"
    assert thanks.content == (
        '[reply to Erin K.: "Pass --include-threads all; on a big…"] thanks, that worked'
    )
    missing = by_id["1300000000000000305"]
    assert missing.reply_to == "1300000000000000299"
    assert missing.content == "[reply to a deleted message] as I said before, check the token first"
    # a forward references a message too, but answers nothing: it is the message it carries
    forward = by_id["1300000000000000306"]
    assert forward.reply_to is None
    assert forward.content == "[forwarded message] Release 2.45 adds forum thread exports"
    assert conversation.skipped == 1  # the pin, though it references a message


def test_a_message_exported_twice_is_imported_once() -> None:
    conversation, converter = convert(HELP_DESK)
    ids = [m.message_id for m in conversation[0].messages]
    assert ids.count("1300000000000000304") == 1 and "1300000000000000304~2" not in ids
    assert [str(d) for d in converter.diagnostics] == [
        (
            f"{HELP_DESK}: 1 exact repeat of a message (same id, time, sender and text) dropped,"
            " e.g. message id 1300000000000000304"
        )
    ]


def test_textless_message_is_reported_as_warning() -> None:
    _, converter = convert(GENERAL)
    warnings = [str(d) for d in converter.diagnostics if d.severity == "warning"]
    assert warnings == [f"{GENERAL}: messages without any text left out: 1"]


def test_system_events_included_on_request() -> None:
    conversations, converter = convert(GENERAL, include_system_events=True)
    conversation = conversations[0]
    assert converter.rejected == []
    assert all(a.timestamp <= b.timestamp for a, b in pairwise(conversation.messages))
    contents = {m.message_id[-2:]: m.content for m in conversation.messages}
    assert contents["01"] == "Joined the server."
    assert contents["08"] == "Started a thread."
    assert contents["09"] == "Pinned a message."
    assert len(conversation.messages) == 13
    assert conversation.skipped == 1


# -- thread, DM, group DM ----------------------------------------------------------------------


def test_thread_is_its_own_conversation_named_after_its_parent() -> None:
    conversation = only(THREAD)
    assert_clean(conversation)
    assert conversation.conversation_id == "discord_1100000000000000050"
    assert conversation.name == "Test Server / general / release-notes"
    # the thread-starter message (type 21) points into the parent channel and has no text
    assert [m.message_id[-3:] for m in conversation.messages] == ["101", "102", "103"]
    assert conversation.skipped == 1
    assert conversation.messages[2].content.startswith('[reply to Alice A.: "v1.2 ships Friday"] ')


def test_dm_skips_the_call() -> None:
    conversation = only(DM)
    assert_clean(conversation)
    assert conversation.name == "Direct Messages / alice"
    assert [m.content for m in conversation.messages] == ["call later?", "sure, 8pm", "good talk"]
    assert conversation.skipped == 1
    assert conversation.messages[0].timestamp == 1680458400000


def test_group_dm_skips_renames_and_membership_events() -> None:
    conversation = only(GROUP_DM)
    assert_clean(conversation)
    assert conversation.conversation_id == "discord_1100000000000000150"
    assert [m.sender_name for m in conversation.messages] == ["Dave", "Carol", "Alice A.", "Dave"]
    assert conversation.skipped == 4


# -- split exports -----------------------------------------------------------------------------


def test_split_export_is_one_conversation() -> None:
    conversation = only(ARCHIVE)
    assert_clean(conversation)
    assert conversation.conversation_id == "discord_1100000000000000200"
    assert [m.message_id[-3:] for m in conversation.messages] == [
        "400",
        "401",
        "402",
        "403",
        "405",
        "406",
    ]
    assert conversation.skipped == 1  # a join in part 2
    # a reply in part 2 names the message it answers in part 1
    assert (
        conversation.messages[3].content
        == '[reply to Alice A.: "part one, first"] answering the first'
    )


def test_later_parts_are_read_with_the_first() -> None:
    for part in (2, 3):
        path = ARCHIVE.with_name(f"{ARCHIVE.stem} [part {part}].json")
        conversations, converter = convert(path)
        assert conversations == [] and converter.diagnostics == []


def test_whole_folder_gives_one_conversation_per_channel() -> None:
    keys: list[str] = []
    for path in sorted(DCE.iterdir()):
        if DiscordConverter.detect(path):
            keys.extend(c.key for c in convert(path)[0])
    assert sorted(keys) == sorted(
        f"group:discord_{cid}"
        for cid in (
            "1100000000000000001",
            "1100000000000000050",
            "1100000000000000100",
            "1100000000000000150",
            "1100000000000000200",
            "1100000000000000300",
        )
    )


def test_parts_are_ordered_by_their_messages(tmp_path: Path) -> None:
    # the unnumbered file holds the latest messages: order must come from timestamps, not names
    names = [ARCHIVE.name, f"{ARCHIVE.stem} [part 2].json", f"{ARCHIVE.stem} [part 3].json"]
    for source, target in zip(names, [names[2], names[0], names[1]], strict=True):
        shutil.copy(DCE / source, tmp_path / target)
    conversations, converter = convert(tmp_path / ARCHIVE.name)
    assert converter.diagnostics == []
    assert [m.message_id[-3:] for m in conversations[0].messages] == [
        "400",
        "401",
        "402",
        "403",
        "405",
        "406",
    ]


def test_part_of_another_channel_is_not_merged(tmp_path: Path) -> None:
    shutil.copy(ARCHIVE, tmp_path / "x [1].json")
    shutil.copy(DM, tmp_path / "x [1] [part 2].json")
    first = convert(tmp_path / "x [1].json")[0]
    second = convert(tmp_path / "x [1] [part 2].json")[0]
    assert [c.conversation_id for c in first + second] == [
        "discord_1100000000000000200",
        "discord_1100000000000000100",
    ]
    assert len(first[0].messages) == 3


# -- a big generated export --------------------------------------------------------------------


def test_big_generated_export_streams_through(tmp_path: Path) -> None:
    generator = load_generator()
    path = tmp_path / "big.json"
    generator.write_export(path, 20_000, seed=3)
    conversation = only(path)
    assert_clean(conversation)
    assert len(conversation.messages) + conversation.skipped == 20_000
    assert 0 < conversation.skipped < 1_000
    kept = {m.message_id for m in conversation.messages}
    replies = [m for m in conversation.messages if m.reply_to]
    # replies to a kept message quote it; replies to a skipped join or pin name its author
    assert len(replies) > 1000
    assert all(m.content.startswith("[reply to ") for m in replies)
    assert all((': "' in m.content.split("] ", 1)[0]) == (m.reply_to in kept) for m in replies)
    assert len(conversation.participants) == 40


# -- timestamps --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2020-01-01T00:00:00+00:00", 1577836800000),
        ("2020-01-01T00:00:00.1234567+00:00", 1577836800123),
        ("2020-01-01T00:00:00.9999999+00:00", 1577836800999),
        ("2020-01-01T00:00:00.123456789Z", 1577836800123),
        ("2020-01-01T00:00:00.5-05:00", 1577854800500),
        ("2020-01-01 00:00:00", 1577836800000),
        ("2021-04-14 08:41:40.565000+00:00", 1618389700565),
        ("1969-12-31T23:59:59.999+00:00", -1),
    ],
)
def test_parse_timestamp_ms(text: str, expected: int) -> None:
    assert parse_timestamp_ms(text) == expected


def test_parse_timestamp_rejects_garbage() -> None:
    with pytest.raises(ValueError):
        parse_timestamp_ms("yesterday")


# -- bad input ---------------------------------------------------------------------------------


def write_dce(path: Path, messages: list[object], **channel: object) -> Path:
    document = {
        "guild": {"id": "1", "name": "G", "iconUrl": None},
        "channel": {"id": "2", "type": "GuildTextChat", "name": "c", **channel},
        "messages": messages,
    }
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def plain(
    mid: str, ts: str = "2020-01-01T00:00:00+00:00", kind: str = "Default"
) -> dict[str, object]:
    return {
        "id": mid,
        "type": kind,
        "timestamp": ts,
        "content": f"text {mid}",
        "author": {"id": "9", "name": "n", "nickname": "N"},
    }


def test_truncated_file_rejects_the_conversation(tmp_path: Path) -> None:
    path = write_dce(tmp_path / "t.json", [plain("1"), plain("2")])
    path.write_bytes(path.read_bytes()[:-30])
    conversations, converter = convert(path)
    assert conversations == []
    [error] = converter.rejected
    assert TRUNCATED in str(error) and "after message 1" in str(error)


@pytest.mark.parametrize("keep", [0.3, 0.5, 0.77, 0.9])
def test_cut_anywhere_is_called_truncated(tmp_path: Path, keep: float) -> None:
    data = GENERAL.read_bytes()
    path = tmp_path / "cut.json"
    path.write_bytes(data[: int(len(data) * keep)])
    try:
        conversations, converter = convert(path)
    except InputError as exc:  # cut inside the first message: the header cannot be read
        assert exc.reason == TRUNCATED
    else:
        assert conversations == []
        assert [p.split(": ")[-1] for p in converter.rejected[0].problems] == [TRUNCATED]


def test_invalid_bytes_are_not_called_truncated(tmp_path: Path) -> None:
    path = write_dce(tmp_path / "bad.json", [plain("1"), plain("2")])
    path.write_bytes(path.read_bytes().replace(b"text 2", b"text \xff"))
    _, converter = convert(path)
    [error] = converter.rejected
    assert "after message 1: invalid JSON (lexical error: invalid bytes in UTF8 string.)" in str(
        error
    )


def test_bad_messages_are_named(tmp_path: Path) -> None:
    broken = plain("2", ts="not a date")
    anonymous = {**plain("3"), "author": {}}
    path = write_dce(tmp_path / "b.json", [plain("1"), broken, anonymous])
    conversations, converter = convert(path)
    assert conversations == []
    [error] = converter.rejected
    assert error.problems == [
        f"{path}: message 1 (id 2): field 'timestamp' is not a date: 'not a date'",
        f"{path}: message 2 (id 3): field 'author.id' is missing",
    ]


def test_not_an_export_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text('{"guild": {}, "messages": []}')
    with pytest.raises(InputError, match="channel.id"):
        convert(path)


def test_byte_order_mark_and_unknown_types(tmp_path: Path) -> None:
    path = write_dce(
        tmp_path / "bom.json", [plain("1"), plain("2", kind="GuildBoost"), plain("3", kind="8")]
    )
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    assert DiscordConverter.detect(path)
    conversations, converter = convert(path)
    assert [m.message_id for m in conversations[0].messages] == ["1"]
    assert conversations[0].skipped == 2
    assert [d.message for d in converter.diagnostics] == [
        "messages of unknown type left out: GuildBoost"
    ]


def test_registered_under_both_names() -> None:
    import converters

    names = converters.available()
    assert names["discord"] is DiscordConverter
    assert names["discord-package"].__name__ == "DiscordPackageConverter"
    assert converters.detect(GENERAL) is DiscordConverter


def test_replies_name_recent_messages_and_only_say_earlier_for_forgotten_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # what a reply answers is remembered for the latest messages only, so a channel of any
    # length is read in bounded memory
    monkeypatch.setattr(discord, "_RECENT_MESSAGES", 3)
    replies = [
        plain("9") | {"reference": {"messageId": "8"}, "content": "recent"},
        plain("10") | {"reference": {"messageId": "1"}, "content": "old"},
    ]
    earlier = [plain(str(i)) for i in range(1, 9)]
    [conversation], _ = convert(write_dce(tmp_path / "r.json", [*earlier, *replies]))
    by_id = {m.message_id: m.content for m in conversation.messages}
    assert by_id["9"] == '[reply to N: "text 8"] recent'
    assert by_id["10"] == "[reply to an earlier message] old"
