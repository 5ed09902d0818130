"""The WhatsApp converter over real and hand-made exports in several locales (tests/data/whatsapp)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

import converters
from converters.base import ConvertOptions
from converters.whatsapp import WhatsAppConverter
from importer.errors import InputError
from importer.models import Conversation

WA = Path(__file__).parent / "data" / "whatsapp"


def utc(year: int, month: int, day: int, hour: int, minute: int, second: int = 0) -> int:
    """Unix ms of a UTC wall-clock time (the local times below are converted by hand)."""
    return int(datetime(year, month, day, hour, minute, second, tzinfo=UTC).timestamp()) * 1000


def read(path: Path, **options: object) -> tuple[WhatsAppConverter, list[Conversation]]:
    converter = WhatsAppConverter(ConvertOptions(**options))  # type: ignore[arg-type]
    return converter, list(converter.read(path))


def read_one(path: Path, **options: object) -> tuple[WhatsAppConverter, Conversation]:
    converter, conversations = read(path, **options)
    assert not converter.rejected, converter.rejected
    (conversation,) = conversations
    return converter, conversation


def warnings(converter: WhatsAppConverter) -> list[str]:
    return [str(d) for d in converter.diagnostics if d.severity == "warning"]


# (file, zone, messages, left out, senders, (message index, its time in UTC, computed by hand))
LOCALES = [
    ("ios_en_us/_chat.txt", "America/New_York", 13, 4,
     {"Dana Whitfield", "Sam Ortiz", "+44 7700 900123", "Mia & Theo", "🦊", "Dr. J. Smith"},
     (0, utc(2024, 1, 13, 14, 5, 40))),  # [1/13/24, 9:05:40 AM] EST = UTC-5
    ("WhatsApp Chat with Weekend Hikers.txt", "Europe/London", 8, 4,
     {"Priya Nair", "Tom Baker", "+44 7700 900456"},
     (3, utc(2024, 1, 13, 7, 5))),  # 13/01/2024, 07:05 GMT
    ("ios_de/_chat.txt", "Europe/Berlin", 6, 3, {"Oma Gerda", "Jonas", "Lea"},
     (0, utc(2024, 1, 3, 19, 1, 15))),  # [03.01.24, 20:01:15] CET = UTC+1
    ("Chat de WhatsApp con Ana López.txt", "America/Mexico_City", 6, 1, {"Ana López", "Carlos"},
     (4, utc(2024, 1, 15, 6, 0))),  # 15/1/24, 12:00 a. m. (midnight) CST = UTC-6
    ("Conversa do WhatsApp com Grupo da Família.txt", "America/Sao_Paulo", 5, 3,
     {"Mariana Souza", "+55 11 91234-5678"},
     (3, utc(2024, 2, 20, 22, 30))),  # 20/02/2024 19:30 BRT = UTC-3
    ("ios_fr/_chat.txt", "Europe/Paris", 6, 1, {"Camille Martin", "Julien"},
     (4, utc(2024, 1, 16, 7, 0))),  # [16/01/2024 08:00:00] CET
    ("WhatsApp Chat with Alex Kim.txt", "America/Los_Angeles", 5, 2, {"Alex Kim", "Jordan Lee"},
     (2, utc(2024, 1, 6, 8, 30))),  # 1/6/24, 12:30 AM PST = UTC-8
    ("ios_zh/_chat.txt", "Asia/Shanghai", 3, 1, {"李雷", "韩梅梅"},
     (2, utc(2022, 7, 22, 10, 40))),  # [2022/7/22 18:40:00] CST = UTC+8
    ("chatminer/test_ddmmyy_24hrs.txt", "UTC", 7, 2,
     {"John Doe", "Jahn Doe", "John-John Doe", "John Doe 🤓", "🤓"}, (6, utc(2021, 12, 30, 22, 1))),
    ("chatminer/test_mmddyyyy_12hrs.txt", "UTC", 7, 2,
     {"John Doe", "Jahn Doe", "John-John Doe", "John Doe 🤓", "🤓"}, (2, utc(2019, 1, 30, 20, 49))),
    ("chatminer/test_yyyymmdd_24hrs.txt", "+02:00", 7, 2,
     {"John Doe", "Jahn Doe", "John-John Doe", "John Doe 🤓", "🤓"}, (3, utc(2020, 6, 10, 13, 55))),
    ("chatminer/test_dateformat1.txt", "UTC", 6, 3,
     {"John Doe", "John-John Doe", "Jahn Doe", "+12 345 578"}, (0, utc(2017, 7, 16, 19, 13))),
    ("chatminer/test_dateformat2.txt", "UTC", 4, 0, {"John Doe", "John-John Doe", "Jahn Doe"},
     (0, utc(2019, 9, 24, 23, 30))),  # 9/24/2019 11:30 p.m.
    ("chatminer/test_dateformat3.txt", "UTC", 4, 0, {"John Doe", "John-John Doe", "Jahn Doe"},
     (1, utc(2022, 12, 21, 17, 2))),  # 2022/12/21, 17:02.
    ("chatminer/test_dateformat5.txt", "UTC", 4, 0, {"John Doe", "John-John Doe", "Jahn Doe"},
     (3, utc(2021, 10, 24, 15, 21, 48))),  # [10.24.21, 15:21:48]: dots, month first
    ("chatminer/test_unicode.txt", "UTC", 3, 0, {"John Doe", "John Doe 🤓", "🤓"},
     (0, utc(2022, 10, 9, 22, 37))),  # 09/10/22, 10:37 p. m. (day first assumed)
    ("pustur/short-chat.txt", "UTC", 3, 2, {"Sample User", "TestBot", "+410123456789"},
     (1, utc(2017, 4, 9, 1, 50))),  # 09/04/2017, 01:50 (day first assumed)
]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "zone", "count", "left_out", "senders", "check"),
    LOCALES,
    ids=[row[0] for row in LOCALES],
)
def test_each_locale_parses_to_the_right_messages(
    name: str,
    zone: str,
    count: int,
    left_out: int,
    senders: set[str],
    check: tuple[int, int],
) -> None:
    path = WA / name
    assert converters.detect(path) is WhatsAppConverter
    _, conversation = read_one(path, timezone=zone)
    assert len(conversation.messages) == count
    assert conversation.skipped == left_out
    assert {m.sender_name for m in conversation.messages} == senders
    assert set(conversation.participants.values()) == senders
    index, expected = check
    assert conversation.messages[index].timestamp == expected
    assert conversation.kind == "group"
    assert all(m.message_id.startswith("wa-") and m.role == "user" for m in conversation.messages)
    assert len({m.message_id for m in conversation.messages}) == count


def test_ios_group_shapes_are_kept_as_written() -> None:
    _, chat = read_one(WA / "ios_en_us" / "_chat.txt", timezone="America/New_York")
    by_text = {m.content: m for m in chat.messages}
    assert chat.name == "Hiking Club"
    assert chat.conversation_id == "whatsapp-hiking_club"  # from the encryption notice's sender
    assert "Trail was fine last week.\nBring poles though.\n\nSeriously." in by_text
    poll = by_text["POLL:\nStart time?\nOPTION: 8:00 (2 votes)\nOPTION: 9:30 (1 vote)"]
    assert poll.sender_name == "Dana Whitfield"
    assert by_text["Weather: sunny, 12°C"].sender_name == "Dr. J. Smith"
    # media and deletions are what the chat showed; U+200E marks are gone
    for text in ("<attached: 00000012-PHOTO-2024-01-13-09-15-02.jpg>", "image omitted",
                 "This message was deleted.", "See you at 9 <This message was edited>"):  # fmt: skip
        assert text in by_text
    assert not any(
        "\u200e" in m.content or "\u202a" in (m.sender_name or "") for m in chat.messages
    )
    twins = [m for m in chat.messages if m.content == "Count me in"]
    assert len(twins) == 2 and twins[0].message_id != twins[1].message_id
    assert utc(2024, 1, 16, 4, 59, 59) == chat.messages[-1].timestamp  # 11:59:59 PM EST


def test_android_multiline_poll_and_attachment_captions() -> None:
    converter, chat = read_one(WA / "WhatsApp Chat with Weekend Hikers.txt", timezone="UTC")
    contents = [m.content for m in chat.messages]
    assert contents[0] == "Hi both! Route for Saturday:\nStart at the car park\nLunch at the summit"
    assert "IMG-20240112-WA0003.jpg (file attached)\nView from last time" in contents
    assert "POLL:\nCoffee after?\nOPTION: Yes (2 votes)\nOPTION: No (0 votes)" in contents
    assert contents[-1] == "Great day. Photos: see the album"  # no final newline, CRLF mixed in
    assert chat.conversation_id == "whatsapp-weekend_hikers"
    assert not warnings(converter)


def test_system_events_are_left_out_or_kept_from_system() -> None:
    path = WA / "ios_en_us" / "_chat.txt"
    _, without = read_one(path, timezone="UTC")
    _, with_events = read_one(path, timezone="UTC", include_system_events=True)
    system = [m for m in with_events.messages if m.sender_id == "system"]
    assert [m.content for m in system] == [
        (
            "Messages and calls are end-to-end encrypted. No one outside of this chat, not even"
            " WhatsApp, can read or listen to them."
        ),
        "Dana Whitfield created this group",
        "Dana Whitfield added Sam Ortiz",
        "Sam Ortiz changed the group description",
    ]
    assert all(m.sender_name == "system" for m in system)
    assert with_events.skipped == 0 and without.skipped == 4
    # the other messages keep their ids whether or not the events come along
    kept = {m.message_id for m in with_events.messages if m.sender_id != "system"}
    assert kept == {m.message_id for m in without.messages}


def test_localised_system_texts_with_a_sender_are_recognised() -> None:
    _, german = read_one(WA / "ios_de" / "_chat.txt", timezone="UTC", include_system_events=True)
    system = [m.content for m in german.messages if m.sender_id == "system"]
    assert len(system) == 3
    assert system[1] == "Oma Gerda hat die Gruppe „Familie“ erstellt."  # filed under the group
    assert "Sicherheitsnummer" in system[2]
    _, french = read_one(WA / "ios_fr" / "_chat.txt", timezone="UTC")
    assert french.messages[0].content == "Salut ! Tu es dispo demain ?"
    assert "Vers 18 h : au café habituel" in [m.content for m in french.messages]


def test_day_month_order_is_decided_from_the_whole_file(tmp_path: Path) -> None:
    lines = [f"0{d}/03/2024, 10:0{d} - Ann: day {d}" for d in range(1, 6)]
    late = tmp_path / "late.txt"
    late.write_text("\n".join([*lines, "13/03/2024, 11:00 - Bob: the 13th"]), encoding="utf-8")
    converter, chat = read_one(late, timezone="UTC")
    assert chat.messages[0].timestamp == utc(2024, 3, 1, 10, 1)  # 01/03 is the 1st of March
    assert not any("day/month" in w for w in warnings(converter))
    us = tmp_path / "us.txt"
    us.write_text("03/01/2024, 10:01 - Ann: hi\n03/14/2024, 9:00 - Bob: pi day\n", "utf-8")
    assert read_one(us, timezone="UTC")[1].messages[0].timestamp == utc(2024, 3, 1, 10, 1)


@pytest.mark.parametrize(
    ("line", "expected", "because"),
    [
        ("[03.01.24, 20:01:15] Ann: hi", utc(2024, 1, 3, 20, 1, 15), "dotted iOS dates"),
        ("1/5/24, 8:14\u202fPM - Ann: hi", utc(2024, 1, 5, 20, 14), "US phones"),
        ("05/01/2024, 8:14 pm - Ann: hi", utc(2024, 1, 5, 20, 14), "most locales"),
        ("05/01/2024, 20:14 - Ann: hi", utc(2024, 1, 5, 20, 14), "most locales"),
    ],
)
def test_an_undecided_order_follows_the_export_conventions_with_a_warning(
    tmp_path: Path, line: str, expected: int, because: str
) -> None:
    path = tmp_path / "chat.txt"
    path.write_text(line + "\n", encoding="utf-8")
    converter, chat = read_one(path, timezone="UTC")
    assert chat.messages[0].timestamp == expected
    (warning,) = [w for w in warnings(converter) if "day/month" in w]
    assert because in warning


def test_an_impossible_date_is_an_error_naming_the_line(tmp_path: Path) -> None:
    path = tmp_path / "chat.txt"
    path.write_text(
        "13/01/2024, 10:00 - Ann: hi\n13/01/2024, 10:01 - Bob: yo\n31/02/2024, 10:02 - Ann: ?\n",
        encoding="utf-8",
    )
    converter, conversations = read(path, timezone="UTC")
    assert conversations == []
    (error,) = converter.rejected
    assert error.where == "line 3"
    assert "impossible date or time '31/02/2024, 10:02 -'" in error.reason
    assert "not imported" in error.reason


def test_mixed_orders_warn_and_the_odd_line_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "chat.txt"
    rows = [
        "13/01/2024, 10:00 - Ann: a",
        "14/01/2024, 10:00 - Ann: b",
        "01/15/2024, 10:00 - Ann: c",
    ]
    path.write_text("\n".join(rows), encoding="utf-8")
    converter, _ = read(path, timezone="UTC")
    assert any("disagree" in w and "line 3 month-first" in w for w in warnings(converter))
    assert converter.rejected[0].where == "line 3"


def test_empty_messages_are_dropped_with_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "chat.txt"
    path.write_text("15/01/2024, 10:00 - Ann: hi\n15/01/2024, 10:01 - Bob: \n", encoding="utf-8")
    converter, chat = read_one(path, timezone="UTC")
    assert [m.content for m in chat.messages] == ["hi"]
    assert chat.skipped == 1
    assert any("line 2" in w and "no text" in w for w in warnings(converter))


def test_text_before_the_first_message_is_ignored_with_a_warning(tmp_path: Path) -> None:
    forced = tmp_path / "notes.txt"  # what --source whatsapp makes of a file detect refused
    forced.write_text("my notes\n\n15/01/2024, 10:00 - Ann: hi\n", encoding="utf-8")
    assert not WhatsAppConverter.detect(forced)
    converter, chat = read_one(forced, timezone="UTC")
    assert [m.content for m in chat.messages] == ["hi"]
    assert any(
        "line 1" in w and "1 lines before the first message" in w for w in warnings(converter)
    )


def test_a_file_without_any_message_line_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no WhatsApp message lines found"):
        read(WA / "pustur" / "not-a-whatsapp-chat.txt")


@pytest.fixture
def machine_zone(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("TZ", "Asia/Kolkata")
    time.tzset()
    yield "Asia/Kolkata"
    monkeypatch.undo()
    time.tzset()


def test_without_a_zone_the_machine_zone_is_used_and_named(machine_zone: str) -> None:
    path = WA / "WhatsApp Chat with Weekend Hikers.txt"
    converter, chat = read_one(path)
    _, explicit = read_one(path, timezone=machine_zone)
    assert [m.timestamp for m in chat.messages] == [m.timestamp for m in explicit.messages]
    assert chat.messages[0].timestamp == utc(2024, 1, 12, 13, 5)  # 18:35 IST = UTC+5:30
    (warning,) = [w for w in warnings(converter) if "time zone" in w]
    assert machine_zone in warning
    assert [m.message_id for m in chat.messages] == [m.message_id for m in explicit.messages]
    with pytest.raises(InputError, match="unknown time zone 'Mars/Olympus'"):
        read(path, timezone="Mars/Olympus")


def test_a_header_of_another_style_inside_a_message_stays_text(tmp_path: Path) -> None:
    path = tmp_path / "chat.txt"
    path.write_text(
        "15/01/2024, 10:00 - Ann: look what Carl wrote:\n"
        "[14/01/24, 09:00:00] Carl: the original\n"
        "15/01/2024, 10:01 - Bob: ha\n",
        encoding="utf-8",
    )
    _, chat = read_one(path, timezone="UTC")
    assert [m.content for m in chat.messages] == [
        "look what Carl wrote:\n[14/01/24, 09:00:00] Carl: the original",
        "ha",
    ]
    # no name in the file: the chat is known by its people, not by the pasted line's sender
    assert chat.name == "Ann, Bob"
    assert chat.participants == {m.sender_id: m.sender_name for m in chat.messages}


def test_a_person_writing_about_encryption_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "_chat.txt"
    path.write_text(
        "[15/01/2024, 10:00:00] Ann: \u200eMessages and calls are end-to-end encrypted.\n"
        "[15/01/2024, 10:01:00] Bob: is this chat end-to-end encrypted?\n"
        "[15/01/2024, 10:02:00] Ann: Your security code with Bob changed. Tap to learn more.\n",
        encoding="utf-8",
    )
    _, chat = read_one(path, timezone="UTC")
    assert [m.content for m in chat.messages] == ["is this chat end-to-end encrypted?"]
    assert chat.name == "Ann"  # the notice names the chat after the other person
