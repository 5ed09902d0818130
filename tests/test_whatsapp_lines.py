"""The WhatsApp line grammar on single lines: header shapes of many locales, senders, names."""

from __future__ import annotations

from datetime import datetime

import pytest

from converters.whatsapp_archive import looks_like_chat
from converters.whatsapp_lines import (
    DateOrder,
    export_title,
    is_secure_notice,
    parse_header,
    split_sender,
    strip_marks,
)

# line, day/month order of its file, local time it stands for, sender, text
HEADERS = [
    ("[15.01.24, 21:05:12] Anna: Hallo", "dmy", datetime(2024, 1, 15, 21, 5, 12), "Anna", "Hallo"),
    ("[1/15/24, 9:05:12\u202fPM] Bob: hi", "mdy", datetime(2024, 1, 15, 21, 5, 12), "Bob", "hi"),
    ("1/15/24, 9:05 PM - Bob: hi", "mdy", datetime(2024, 1, 15, 21, 5), "Bob", "hi"),
    ("1/15/24, 12:05 AM - Bob: late", "mdy", datetime(2024, 1, 15, 0, 5), "Bob", "late"),
    ("[17/10/2020, 1:50:32 pm] Alex: Hey", "dmy", datetime(2020, 10, 17, 13, 50, 32), "Alex", "Hey"),
    ("15/01/2024 21:05 - Ana: oi", "dmy", datetime(2024, 1, 15, 21, 5), "Ana", "oi"),
    ("15/1/24, 9:05\u202fp.\u00a0m. - Ana: hola", "dmy", datetime(2024, 1, 15, 21, 5), "Ana", "hola"),
    ("06/20/2020, 00:08 a. m. - Jo: x", "mdy", datetime(2020, 6, 20, 0, 8), "Jo", "x"),
    ("2022/12/14, 13:34. - Li: hi", "dmy", datetime(2022, 12, 14, 13, 34), "Li", "hi"),
    ("2019-01-01 12:00 - John Doe: Hello", "dmy", datetime(2019, 1, 1, 12, 0), "John Doe", "Hello"),
    ("[1.1.2019, 12.00.00] Jane: Hey!", "dmy", datetime(2019, 1, 1, 12, 0), "Jane", "Hey!"),
    ("[12.3.2022 klo 14.08.18] Matti: moi", "dmy", datetime(2022, 3, 12, 14, 8, 18), "Matti", "moi"),
    ("15/01/2024 à 21:05 - Jean: salut", "dmy", datetime(2024, 1, 15, 21, 5), "Jean", "salut"),
    ("03-06-2018, 01.55 PM - a: m", "dmy", datetime(2018, 6, 3, 13, 55), "a", "m"),
    ("13.06.18 21.25.15: a: m", "dmy", datetime(2018, 6, 13, 21, 25, 15), "a", "m"),
    ("2024. 1. 15. 오후 9:05 - 민수: 안녕", "dmy", datetime(2024, 1, 15, 21, 5), "민수", "안녕"),
    ("2022/7/21 下午3:04 - 韩梅梅: 晚上见", "dmy", datetime(2022, 7, 21, 15, 4), "韩梅梅", "晚上见"),
    ("[2022/7/21 05:11:12] 李雷: 你好", "dmy", datetime(2022, 7, 21, 5, 11, 12), "李雷", "你好"),
    ("[14:56:01, 3/18/22] Musk Elon: Xin chào", "mdy", datetime(2022, 3, 18, 14, 56, 1),
     "Musk Elon", "Xin chào"),
    ("[3/18/2565 BE, 14:56:01] Elon: hi", "mdy", datetime(2022, 3, 18, 14, 56, 1), "Elon", "hi"),
    ("٢٧/٣/٢٠٢٢، ٩:٥٣ م - أحمد: مرحبا", "dmy", datetime(2022, 3, 27, 21, 53), "أحمد", "مرحبا"),
]  # fmt: skip


@pytest.mark.parametrize(("line", "order", "moment", "sender", "text"), HEADERS)
def test_headers_of_many_locales(
    line: str, order: DateOrder, moment: datetime, sender: str, text: str
) -> None:
    header = parse_header(strip_marks(line))
    assert header is not None
    assert header.moment(order) == moment
    assert split_sender(line[header.end :]) == (sender, text)
    assert looks_like_chat(line.encode("utf-8"))


@pytest.mark.parametrize(
    "line",
    [
        "Sample User: This file has nothing to do with whatsapp",
        "2024-01-15 10:00:00 INFO server started",
        "1. Buy milk",
        "12/05/2020 was a good day",
        "OPTION: 2:00 (1 vote)",
        "[06/2018/13, 21:25:15] a: m",
        "15/01/2024, 10:00 Ann: no separator",
    ],
)
def test_other_lines_are_not_headers(line: str) -> None:
    assert parse_header(line) is None


def test_marks_are_stripped_anywhere() -> None:
    line = "\ufeff\u200e[1/13/24, 9:15:02\u202fAM] \u202a+44 7700 900123\u202c: \u200eimage omitted"
    cleaned = strip_marks(line)
    header = parse_header(cleaned)
    assert header is not None
    assert split_sender(cleaned[header.end :]) == ("+44 7700 900123", "image omitted")


@pytest.mark.parametrize(
    ("rest", "expected"),
    [
        ("~\u202fMartin: Welcome Aaron!", ("Martin", "Welcome Aaron!")),
        ("Jessie & James: Hey", ("Jessie & James", "Hey")),
        ("Prof. Oak: Kids: listen", ("Prof. Oak", "Kids: listen")),
        ("Janine - Bizzed: Yay", ("Janine - Bizzed", "Yay")),
        ("🤓: Testing emoji 🤓", ("🤓", "Testing emoji 🤓")),
        ("Luke: ", ("Luke", "")),
        ("Luke:", ("Luke", "")),
        ("You were added", (None, "You were added")),
        ('Ann changed the subject from "Trip: day 1" to "Trip"',
         (None, 'Ann changed the subject from "Trip: day 1" to "Trip"')),
    ],
)  # fmt: skip
def test_senders_are_split_where_a_name_can_end(
    rest: str, expected: tuple[str | None, str]
) -> None:
    assert split_sender(rest) == expected


def test_a_sender_without_the_space_counts_only_when_known() -> None:
    assert split_sender("John Doe:.") == (None, "John Doe:.")
    assert split_sender("John Doe:.", frozenset({"John Doe"})) == ("John Doe", ".")


@pytest.mark.parametrize(
    ("name", "title"),
    [
        ("WhatsApp Chat with Weekend Hikers.txt", "Weekend Hikers"),
        ("WhatsApp Chat with Weekend Hikers (1).txt", "Weekend Hikers"),
        ("WhatsApp Chat - Hiking Club.zip", "Hiking Club"),
        ("Chat de WhatsApp con Ana López.txt", "Ana López"),
        ("WhatsApp-Chat mit Anna.txt", "Anna"),
        ("Conversa do WhatsApp com Grupo da Família.txt", "Grupo da Família"),
        ("Discussion WhatsApp avec Camille.txt", "Camille"),
        ("Чат WhatsApp с контактом Dmitry S.txt", "Dmitry S"),
        ("Chat WhatsApp s uživatelem Dmitry S.txt", "Dmitry S"),
        ("WhatsApp%20Chat%20with%20Sue.txt", "Sue"),
        ("_chat.txt", None),
        ("family.txt", None),
    ],
)
def test_chat_names_from_export_file_names(name: str, title: str | None) -> None:
    assert export_title(name) == title


@pytest.mark.parametrize(
    "text",
    [
        (
            "Messages and calls are end-to-end encrypted. No one outside of this chat, not even"
            " WhatsApp, can read or listen to them."
        ),
        "Messages to this group are now secured with end-to-end encryption. Tap for more info.",
        "Your security code with Elon changed. Tap to learn more.",
        "Les messages et les appels sont chiffrés de bout en bout.",
        "As mensagens e chamadas são encriptadas ponto a ponto.",
        "Los mensajes y las llamadas están cifrados de extremo a extremo.",
        "メッセージと通話はエンドツーエンド暗号化されています。",
        "Tin nhắn và cuộc gọi được mã hóa đầu cuối.",
    ],
)
def test_encryption_and_security_notices_in_several_languages(text: str) -> None:
    assert is_secure_notice(text)


def test_ordinary_text_is_not_a_notice() -> None:
    assert not is_secure_notice("see you at the station")
    assert not is_secure_notice("long " * 100 + "end-to-end encrypted")
