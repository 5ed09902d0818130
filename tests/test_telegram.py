"""Telegram Desktop JSON exports converted through ``TelegramConverter.read()``."""

from __future__ import annotations

import json
import time
import tracemalloc
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

import converters
from converters.base import ConvertOptions
from converters.telegram import TelegramConverter
from importer.errors import InputError
from importer.models import Conversation, Message

DATA = Path(__file__).parent / "data" / "telegram"
CHATSTYLE = DATA / "chatstyle-result.json"
SAVED = DATA / "innerdvations-saved.json"
CHANNEL = DATA / "innerdvations-public_channel.json"
SIMPLE_GROUP = DATA / "innerdvations-simple-group.json"
BROKEN = DATA / "innerdvations-error.json"
ACCOUNT = DATA / "account-result.json"
MINIMAL = DATA / "minimal-result.json"
TRUNCATED = "truncated JSON (the file ends too early)"


def convert(path: Path, **options: Any) -> tuple[list[Conversation], TelegramConverter]:
    converter = TelegramConverter(ConvertOptions(**options))
    return list(converter.read(path)), converter


def only(path: Path, **options: Any) -> Conversation:
    conversations, converter = convert(path, **options)
    assert converter.rejected == []
    assert len(conversations) == 1
    return conversations[0]


def by_id(conversation: Conversation) -> dict[str, Message]:
    return {m.message_id: m for m in conversation.messages}


def warnings(converter: TelegramConverter) -> list[str]:
    return [str(d) for d in converter.diagnostics if d.severity == "warning"]


def assert_clean(conversation: Conversation) -> None:
    messages = conversation.messages
    assert conversation.kind == "group"
    assert all(a.timestamp <= b.timestamp for a, b in pairwise(messages))
    assert all(m.content.strip() and m.sender_id for m in messages)
    assert len({m.message_id for m in messages}) == len(messages)


@pytest.fixture
def local_zone(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """This process's local zone set to Asia/Tokyo (UTC+9, no DST) for one test."""
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


# -- detection ---------------------------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(DATA.glob("*.json")), ids=lambda p: p.name)
def test_detects_every_telegram_export(path: Path) -> None:
    assert TelegramConverter.detect(path)
    assert converters.detect(path) is TelegramConverter


def test_account_export_is_not_taken_for_everos(tmp_path: Path) -> None:
    # an account export shows "messages" and a "user_id" early: what EverOS detection looks for
    head = json.loads(ACCOUNT.read_text(encoding="utf-8"))
    assert "user_id" in head["personal_information"]
    assert converters.detect(ACCOUNT) is TelegramConverter


def test_does_not_detect_other_exports(tmp_path: Path) -> None:
    others = [p for p in (DATA.parent).rglob("*.json") if DATA not in p.parents]
    assert others
    assert not [p for p in others if TelegramConverter.detect(p)]
    messenger = tmp_path / "message_1.json"
    messenger.write_text(
        json.dumps(
            {
                "participants": [{"name": "A"}, {"name": "B"}],
                "messages": [{"sender_name": "A", "timestamp_ms": 1, "content": "hi"}],
                "title": "A",
                "thread_path": "inbox/a_1",
            }
        )
    )
    assert not TelegramConverter.detect(messenger)
    listed = tmp_path / "conversations.json"
    listed.write_text(json.dumps([{"title": "chat", "messages": []}]))
    assert not TelegramConverter.detect(listed)
    assert not TelegramConverter.detect(DATA)


# -- a single chat (chatstyle, a real export) -------------------------------------------------


def test_personal_chat_is_a_group_of_both_people() -> None:
    conversation = only(CHATSTYLE)
    assert_clean(conversation)
    assert conversation.key == "group:telegram-222"
    assert conversation.name == "Борис"
    assert conversation.source == "telegram"
    assert conversation.participants == {"user111": "Анна Петрова", "user222": "Борис"}
    ids = [m.message_id for m in conversation.messages]
    assert ids == [f"222-{n}" for n in (1, 2, 3, 4, 5, 7, 8, 9, 11, 12)]
    # the pin (service) and one message with nothing in it
    assert conversation.skipped == 2


def test_exact_times_come_from_date_unixtime() -> None:
    # date_unixtime wins over the zone-less date whatever zone that would be read in
    for zone in ("UTC", "Pacific/Kiritimati"):
        messages = by_id(only(CHATSTYLE, timezone=zone))
        assert messages["222-1"].timestamp == 1_682_942_460_000
        assert messages["222-12"].timestamp == 1_682_943_120_000


def test_senders_and_flattened_text() -> None:
    messages = by_id(only(CHATSTYLE))
    assert (messages["222-2"].sender_id, messages["222-2"].sender_name) == ("user222", "Борис")
    assert messages["222-3"].content == "смотри https://example.com/a круто"
    assert messages["222-4"].content == "ну реально норм, @boris_k глянь"
    assert messages["222-12"].content == "ладно))\nщас дойду"
    assert (
        messages["222-7"].content == "[forwarded from Какой-то канал] это чужое сообщение переслано"
    )


def test_media_placeholders_with_and_without_caption() -> None:
    messages = by_id(only(CHATSTYLE))
    assert messages["222-8"].content == "[sticker 😀]"
    assert messages["222-9"].content == "[photo] короче вот фотка"


def test_empty_message_is_left_out_with_a_warning() -> None:
    _, converter = convert(CHATSTYLE)
    assert warnings(converter) == [f"{CHATSTYLE}: messages without any text left out: 1"]


def test_service_messages_kept_on_request() -> None:
    conversation = only(CHATSTYLE, include_system_events=True)
    assert_clean(conversation)
    pin = by_id(conversation)["222-6"]
    assert pin.content == 'Борис pinned a message: "смотри https://example.com/a круто"'
    assert (pin.sender_id, pin.sender_name) == ("user222", "Борис")
    assert conversation.skipped == 1


# -- old exports: zone-less dates, numeric sender ids (innerdvations) -------------------------


def test_zone_less_dates_are_read_in_the_chosen_zone() -> None:
    utc = by_id(only(SAVED, timezone="UTC"))["9999999999-173429"]
    tokyo = by_id(only(SAVED, timezone="Asia/Tokyo"))["9999999999-173429"]
    offset = by_id(only(SAVED, timezone="+05:30"))["9999999999-173429"]
    # 2020-08-01T22:01:49
    assert utc.timestamp == 1_596_319_309_000
    assert tokyo.timestamp == utc.timestamp - 9 * 3_600_000
    assert offset.timestamp == utc.timestamp - 5 * 3_600_000 - 30 * 60_000


def test_zone_less_dates_default_to_the_local_zone(local_zone: None) -> None:
    first = by_id(only(SAVED))["9999999999-173429"]
    assert first.timestamp == 1_596_319_309_000 - 9 * 3_600_000


def test_unknown_time_zone_is_an_input_error() -> None:
    with pytest.raises(InputError, match="unknown time zone 'Mars/Olympus'"):
        convert(SAVED, timezone="Mars/Olympus")


def test_old_export_saved_messages() -> None:
    conversation = only(SAVED, timezone="UTC")
    assert_clean(conversation)
    assert conversation.name == "Saved Messages"
    assert conversation.conversation_id == "telegram-9999999999"
    assert len(conversation.messages) == 19 and conversation.skipped == 1
    assert conversation.participants == {"user9999999999": "Ben", "user10036995664": "test"}
    messages = by_id(conversation)
    # a text_link whose text is its address is not repeated; other entities keep their text
    assert messages["9999999999-173430"].content == (
        "bold italic strikethrough underline @person http://google.com monospace"
        " http://mystery.knightlab.com/"
    )
    assert messages["9999999999-207958"].content == "[GIF]"
    assert messages["9999999999-217584"].content == "[forwarded from Other Person] [voice message]"
    assert messages["9999999999-318170"].content == "[forwarded from Other Person] [video]"
    assert messages["9999999999-278329"].content == "[sticker 🤭] DoNotChange"
    # the file's last four entries number from 4 again: they are a second part
    assert messages["9999999999-s1-5"].content == "[poll: Poll question — option 1 / option 2]"
    reply = messages["9999999999-s1-7"]
    assert reply.reply_to == "9999999999-s1-6"
    assert reply.content.startswith('[reply to test: "[poll: quiz poll') and reply.content.endswith(
        "] reply to quiz"
    )


def test_ids_starting_over_are_numbered_apart(tmp_path: Path) -> None:
    # a group upgraded to a supergroup: the old group's history first, then ids from 1 again
    def message(mid: int, second: int, text: str, **extra: Any) -> dict[str, Any]:
        return {"id": mid, "type": "message", "date_unixtime": str(1_700_000_000 + second),
                "from": "A", "from_id": "user1", "text": text, **extra}  # fmt: skip

    messages = [
        message(1, 0, "old one"),
        message(2, 1, "old two", reply_to_message_id=1),
        {"id": 1, "type": "service", "date_unixtime": "1700000002", "actor": "A",
         "actor_id": "channel5", "action": "migrate_from_group", "title": "G"},
        message(2, 3, "new two", reply_to_message_id=1),
    ]  # fmt: skip
    path = tmp_path / "result.json"
    chat = {"name": "G", "type": "private_supergroup", "id": 5, "messages": messages}
    path.write_text(json.dumps(chat))
    conversations, converter = convert(path, include_system_events=True)
    assert converter.rejected == []
    assert [(m.message_id, m.reply_to) for m in conversations[0].messages] == [
        ("5-1", None),
        ("5-2", "5-1"),
        ("5-s1-1", None),
        ("5-s1-2", "5-s1-1"),
    ]
    assert conversations[0].messages[3].content.startswith('[reply to A: "A upgraded the group')
    restart = "message ids start over at id 1 (a group upgraded to a supergroup)"
    assert warnings(converter) == [f"{path}: {restart}; from there on ids are 5-s1-<id>"]


def test_old_channel_export_names_the_channel_as_sender() -> None:
    conversation = only(CHANNEL, timezone="UTC", include_system_events=True)
    assert_clean(conversation)
    assert conversation.participants == {"channel44444444444": "test"}
    messages = by_id(conversation)
    assert messages["44444444444-1"].content == "test created the channel «test»"
    assert (
        messages["44444444444-3"].content == '[reply to test: "test channel"] reply in test channel'
    )
    assert messages["44444444444-3"].reply_to == "44444444444-2"
    assert messages["44444444444-4"].content == 'test pinned a message: "reply in test channel"'


def test_group_creation_counts_as_skipped_by_default() -> None:
    conversation = only(SIMPLE_GROUP, timezone="UTC")
    assert [m.content for m in conversation.messages] == ["asdsf"]
    assert conversation.skipped == 1
    created = only(SIMPLE_GROUP, timezone="UTC", include_system_events=True).messages[0]
    assert created.content == "Ben created the group «test»"
    assert created.sender_id == "user5069406102"


# -- a whole account ---------------------------------------------------------------------------


def test_account_export_gives_one_conversation_per_chat_left_ones_included() -> None:
    conversations, converter = convert(ACCOUNT)
    assert converter.rejected == []
    for conversation in conversations:
        assert_clean(conversation)
    assert [(c.conversation_id, c.name) for c in conversations] == [
        ("telegram-100000001", "Saved Messages"),
        ("telegram-100000002", "Jonas Weber"),
        ("telegram-200000007", "Weather Bot"),
        ("telegram-1500000010", "Climbing Crew"),
        ("telegram-1600000020", "Berlin Climbing News"),
        ("telegram-1700000030", "Old Flatshare Board"),
    ]
    assert [len(c.messages) for c in conversations] == [2, 8, 2, 8, 2, 3]
    assert [c.skipped for c in conversations] == [0, 1, 0, 7, 1, 0]
    left_out = "messages Telegram could not export left out: 1"
    assert warnings(converter) == [f"{ACCOUNT}: chats.list[3] ('Climbing Crew'): {left_out}"]


def test_account_personal_and_bot_chats() -> None:
    conversations, _ = convert(ACCOUNT)
    personal, bot = conversations[1], conversations[2]
    assert personal.participants == {"user100000002": "Jonas Weber", "user100000001": "Mira Sokol"}
    assert {m.role for m in personal.messages} == {"user"}
    # the bot answers as the assistant; you stay the user
    assert [(m.sender_id, m.role) for m in bot.messages] == [
        ("user100000001", "user"),
        ("user200000007", "assistant"),
    ]
    # the owner is a participant of saved messages even if the export named nobody else
    assert conversations[0].participants == {"user100000001": "Mira Sokol"}


def test_account_messages_read_readably() -> None:
    conversations, _ = convert(ACCOUNT)
    personal, crew = by_id(conversations[1]), by_id(conversations[3])
    assert personal["100000002-11"].content == (
        '[reply to Jonas Weber: "Are we still on for Saturday?"] Yes! 10am at the market'
    )
    assert personal["100000002-12"].content == (
        "I'll cook afterwards, this recipe (https://example.org/recipes/shakshuka) — bring eggs"
    )
    assert personal["100000002-13"].content == "[voice message]"
    assert personal["100000002-14"].content == "[file: shopping-list.pdf]"
    assert personal["100000002-16"].content == "[location: 52.520008, 13.404954]"
    assert personal["100000002-17"].content == "[contact: Lena Weber]"
    assert personal["100000002-18"].content == "see you at #markt, ask @lena_w too"
    assert crew["1500000010-5"].content == "[poll: Thursday? — 19:00 / 20:00 / can't make it]"
    assert crew["1500000010-6"].content == "[sticker 🧗]"
    assert crew["1500000010-9"].content == "[video message]"
    assert crew["1500000010-14"].content == "[photo]"
    deleted = crew["1500000010-8"]
    assert (deleted.sender_id, deleted.sender_name) == ("user100000099", "Deleted Account")
    assert by_id(conversations[5])["1700000030-3"].content == (
        "[audio: Tom Berg – Housewarming playlist]"
    )


def test_account_times_are_the_unix_seconds() -> None:
    conversations, _ = convert(ACCOUNT, timezone="UTC")
    raw = json.loads(ACCOUNT.read_text(encoding="utf-8"))["chats"]["list"][1]["messages"][0]
    first = conversations[1].messages[0]
    assert first.timestamp == int(raw["date_unixtime"]) * 1000 == 1_709_369_883_000
    # the zone-less date is Berlin time (UTC+1 in March): an hour ahead of UTC
    assert raw["date"] == "2024-03-02T09:58:03"


def test_account_service_events_read_as_sentences() -> None:
    conversations, _ = convert(ACCOUNT, include_system_events=True)
    crew = [m.content for m in conversations[3].messages]
    assert crew[:3] == [
        "Jonas Weber upgraded the group «Climbing Crew» to a supergroup",
        "Jonas Weber added Mira Sokol, Sam Ortiz",
        "Priya Nair joined the group via an invite link",
    ]
    # the pinned message is quoted by its first 40 characters
    assert 'Jonas Weber pinned a message: "Who\'s in for Thursday at the bouldering…"' in crew
    assert "Sam Ortiz renamed the group to «Climbing Crew 🧗»" in crew
    assert crew[-1] == "Sam Ortiz left the group"
    call = by_id(conversations[1])["100000002-15"]
    assert (call.content, call.sender_id) == ("Jonas Weber called (5 min 12 s)", "user100000002")
    created = conversations[4].messages[0]
    assert created.sender_id == "channel1600000020"
    assert conversations[3].skipped == 1  # the unsupported message


# -- trimmed exports: no ids, no sender ids, no unix times ------------------------------------


def test_minimal_export_gets_derived_ids_and_name_based_senders() -> None:
    conversations, converter = convert(MINIMAL, timezone="Asia/Tokyo")
    conversation = conversations[0]
    assert_clean(conversation)
    assert conversation.conversation_id == "telegram-trip_planning"
    assert warnings(converter) == [
        f"{MINIMAL}: the chat has no 'id'; its conversation id is derived: telegram-trip_planning"
    ]
    assert conversation.participants == {"name-alice": "Alice", "name-bob": "Bob"}
    # 2022-07-01T18:00:00 in Tokyo is 09:00 UTC; the last message has only date_unixtime
    assert [m.timestamp for m in conversation.messages] == [
        1_656_666_000_000,
        1_656_666_150_000,
        1_656_666_150_000,
        1_656_691_500_000,
    ]
    assert conversation.messages[-1].content == "Booked: tickets (https://example.org/t/123)"
    ids = [m.message_id for m in conversation.messages]
    assert all(i.startswith("derived-") for i in ids)
    assert len(set(ids)) == 4  # the repeated message keeps its own id
    again = [m.message_id for m in only(MINIMAL, timezone="Asia/Tokyo").messages]
    assert again == ids


def test_a_message_without_any_time_is_an_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "result.json"
    messages = [
        {"id": 1, "type": "message", "date_unixtime": "1700000000", "from": "A", "text": "one"},
        {"id": 2, "type": "message", "from": "A", "from_id": "user1", "text": "two"},
    ]
    path.write_text(
        json.dumps({"name": "X", "type": "private_group", "id": 5, "messages": messages})
    )
    conversations, converter = convert(path)
    assert conversations == []
    [error] = converter.rejected
    assert error.where == "message 1 (id 2)"
    assert error.reason.startswith("no time: fields 'date_unixtime' and 'date' are missing")


def test_a_message_without_a_sender_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "result.json"
    chat = {"name": "X", "type": "private_group", "id": 5, "messages": [
        {"id": 9, "type": "message", "date_unixtime": "1700000000", "text": "who said this?"}
    ]}  # fmt: skip
    path.write_text(json.dumps({"about": "x", "chats": {"about": "y", "list": [chat]}}))
    _, converter = convert(path)
    [error] = converter.rejected
    assert error.where == "chats.list[0] ('X'), message 0 (id 9)"
    assert "no sender" in error.reason


def test_hidden_forward_origin_and_channel_post_signature(tmp_path: Path) -> None:
    messages = [
        {"id": 3, "type": "message", "date_unixtime": "1700000000", "from": "News",
         "from_id": "channel9", "author": "Kai", "forwarded_from": None, "text": "hello"},
    ]  # fmt: skip
    path = tmp_path / "result.json"
    chat = {"name": "News", "type": "public_channel", "id": 9, "messages": messages}
    path.write_text(json.dumps(chat))
    [message] = only(path).messages
    assert (message.sender_id, message.sender_name) == ("channel9", "News")
    assert message.content == "[forwarded] hello"


# -- broken files ------------------------------------------------------------------------------


def test_invalid_json_names_line_and_column() -> None:
    with pytest.raises(InputError) as caught:
        convert(BROKEN)
    assert caught.value.where == "line 5 column 3"
    assert caught.value.reason.startswith("invalid JSON (")


def test_truncated_account_export_keeps_whole_chats_and_rejects_the_cut_one(
    tmp_path: Path,
) -> None:
    text = ACCOUNT.read_text(encoding="utf-8")
    cut = text.index("20:00 works")  # inside chats.list[3], after its ninth entry
    path = tmp_path / "result.json"
    path.write_text(text[:cut], encoding="utf-8")
    conversations, converter = convert(path)
    assert [c.conversation_id for c in conversations] == [
        "telegram-100000001",
        "telegram-100000002",
        "telegram-200000007",
    ]
    [error] = converter.rejected
    assert error.reason == f"{TRUNCATED}; conversation group:telegram-1500000010 not imported"
    assert error.where is not None
    assert error.where.endswith("(chats.list[3] ('Climbing Crew'), after message 8)")
    assert error.where.startswith("line ")


def test_truncated_single_chat_is_rejected_with_its_place(tmp_path: Path) -> None:
    raw = CHATSTYLE.read_bytes()
    path = tmp_path / "result.json"
    path.write_bytes(raw[: raw.index("ладно".encode())])
    conversations, converter = convert(path)
    assert conversations == []
    [error] = converter.rejected
    assert TRUNCATED in error.reason
    assert error.where is not None and error.where.endswith("(chat, after message 10)")


def test_file_cut_before_any_chat_is_one_input_error(tmp_path: Path) -> None:
    path = tmp_path / "result.json"
    path.write_text(ACCOUNT.read_text(encoding="utf-8")[:1500], encoding="utf-8")
    with pytest.raises(InputError) as caught:
        convert(path)
    assert caught.value.reason == TRUNCATED
    assert caught.value.where is not None and caught.value.where.startswith("line ")


# -- streaming ---------------------------------------------------------------------------------


def test_a_large_account_export_is_streamed(tmp_path: Path) -> None:
    # 30,000 service messages with long titles: converted, they are nothing; parsed whole, ~20 MB
    filler = "x" * 600
    service = [
        {"id": i, "type": "service", "date_unixtime": str(1_700_000_000 + i), "actor": "A",
         "actor_id": "user1", "action": "edit_group_title", "title": filler}
        for i in range(30_000)
    ]  # fmt: skip
    talk = [
        {"id": 40_000 + i, "type": "message", "date_unixtime": str(1_700_100_000 + i),
         "from": "B", "from_id": "user2", "text": f"message {i}"}
        for i in range(100)
    ]  # fmt: skip
    chats = [
        {"name": "Big", "type": "private_supergroup", "id": 7, "messages": service + talk},
        {"name": "Small", "type": "private_group", "id": 8, "messages": talk},
    ]
    path = tmp_path / "result.json"
    path.write_text(json.dumps({"about": "x", "chats": {"about": "y", "list": chats}}, indent=1))
    size = path.stat().st_size
    assert size > 20_000_000
    tracemalloc.start()
    try:
        conversations, converter = convert(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert converter.rejected == []
    assert [(len(c.messages), c.skipped) for c in conversations] == [(100, 30_000), (100, 0)]
    assert peak < size / 10, f"peak {peak} bytes for a {size}-byte file"
