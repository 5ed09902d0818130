"""Writes ``account-result.json``: a Telegram Desktop "Export Telegram data" JSON, hand-made.

No full-account export is published anywhere we could find (they hold a person's whole
account), so this one is built to the shape Telegram Desktop's JSON writer produces
(telegramdesktop/tdesktop, ``Telegram/SourceFiles/export/output/export_output_json.cpp``):
sections in the writer's order, keys in its order, one-space indentation, ``date`` as local
time without a zone (here Europe/Berlin) next to ``date_unixtime``, ``text`` next to
``text_entities``. The people, chats and texts are invented.

Run ``python tests/data/telegram/build_account.py`` to rewrite the file.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

HERE = Path(__file__).resolve().parent
ZONE = ZoneInfo("Europe/Berlin")
NOT_INCLUDED = "(File not included. Change data exporting settings to download.)"
ABOUT = (
    "Here is the data you requested. Remember: Telegram is ad free, it doesn't use your data"
    " for ad targeting and doesn't sell it to others. Telegram only keeps the information it"
    " needs to function as a secure and feature-rich cloud service.\n\nCheck out Settings >"
    " Privacy & Security on Telegram's mobile apps for the relevant settings."
)

MIRA = ("Mira Sokol", "user100000001")
JONAS = ("Jonas Weber", "user100000002")
SAM = ("Sam Ortiz", "user100000003")
PRIYA = ("Priya Nair", "user100000004")
TOM = ("Tom Berg", "user100000005")
BOT = ("Weather Bot", "user200000007")
NEWS = ("Berlin Climbing News", "channel1600000020")


def when(text: str) -> dict[str, str]:
    """``date`` (Berlin wall time, no zone) and ``date_unixtime`` for a Berlin time."""
    moment = datetime.fromisoformat(text).replace(tzinfo=ZONE)
    return {"date": text, "date_unixtime": str(int(moment.timestamp()))}


def edited(text: str) -> dict[str, str]:
    stamp = when(text)
    return {"edited": stamp["date"], "edited_unixtime": stamp["date_unixtime"]}


def entities(text: str | list[Any]) -> list[dict[str, Any]]:
    if isinstance(text, str):
        return [{"type": "plain", "text": text}] if text else []
    return [{"type": "plain", "text": p} if isinstance(p, str) else p for p in text]


def msg(
    mid: int, at: str, who: tuple[str | None, str], text: str | list[Any] = "", **fields: Any
) -> dict[str, Any]:
    """A ``type: message`` entry, keys in the writer's order."""
    head = fields.pop("head", {})
    out: dict[str, Any] = {"id": mid, "type": "message", **when(at), **head}
    out.update({"from": who[0], "from_id": who[1]})
    out.update(fields)
    out.update({"text": text, "text_entities": entities(text)})
    return out


def service(
    mid: int, at: str, actor: tuple[str, str], action: str, **fields: Any
) -> dict[str, Any]:
    out: dict[str, Any] = {"id": mid, "type": "service", **when(at)}
    out.update({"actor": actor[0], "actor_id": actor[1], "action": action, **fields})
    out.update({"text": "", "text_entities": []})
    return out


def chat(name: str | None, kind: str, chat_id: int, messages: list[Any]) -> dict[str, Any]:
    out: dict[str, Any] = {} if name is None else {"name": name}
    out.update({"type": kind, "id": chat_id, "messages": messages})
    return out


SAVED = chat(
    None,
    "saved_messages",
    100000001,
    [
        msg(
            1,
            "2024-03-01T08:05:12",
            MIRA,
            "Passport renewal: appointment Tuesday 9:30, bring photos",
        ),
        msg(
            2,
            "2024-03-01T08:07:40",
            MIRA,
            "new tram map from March",
            forwarded_from="Berlin Transit",
            saved_from="Berlin Transit",
            photo=NOT_INCLUDED,
            width=1280,
            height=905,
        ),
    ],
)

JONAS_CHAT = chat(
    "Jonas Weber",
    "personal_chat",
    100000002,
    [
        msg(10, "2024-03-02T09:58:03", JONAS, "Are we still on for Saturday?"),
        msg(
            11,
            "2024-03-02T10:01:44",
            MIRA,
            "Yes! 10am at the market",
            head=edited("2024-03-02T10:02:10"),
            reply_to_message_id=10,
        ),
        msg(
            12,
            "2024-03-02T10:03:27",
            JONAS,
            [
                "I'll cook afterwards, ",
                {
                    "type": "text_link",
                    "text": "this recipe",
                    "href": "https://example.org/recipes/shakshuka",
                },
                " — bring ",
                {"type": "bold", "text": "eggs"},
            ],
        ),
        msg(
            13,
            "2024-03-02T10:04:00",
            JONAS,
            file=NOT_INCLUDED,
            file_size=38211,
            media_type="voice_message",
            mime_type="audio/ogg",
            duration_seconds=7,
        ),
        msg(
            14,
            "2024-03-02T10:05:31",
            MIRA,
            file="files/shopping-list.pdf",
            file_name="shopping-list.pdf",
            file_size=48213,
            mime_type="application/pdf",
        ),
        service(
            15,
            "2024-03-02T18:30:00",
            JONAS,
            "phone_call",
            duration_seconds=312,
            discard_reason="hangup",
        ),
        msg(
            16,
            "2024-03-03T09:55:02",
            MIRA,
            location_information={"latitude": 52.520008, "longitude": 13.404954},
        ),
        msg(
            17,
            "2024-03-03T09:56:10",
            JONAS,
            contact_information={
                "first_name": "Lena",
                "last_name": "Weber",
                "phone_number": "+49 170 0000000",
            },
        ),
        msg(
            18,
            "2024-03-03T09:57:45",
            MIRA,
            [
                "see you at ",
                {"type": "hashtag", "text": "#markt"},
                ", ask ",
                {"type": "mention", "text": "@lena_w"},
                " too",
            ],
        ),
    ],
)

BOT_CHAT = chat(
    "Weather Bot",
    "bot_chat",
    200000007,
    [
        msg(
            1,
            "2024-03-04T07:00:01",
            MIRA,
            [{"type": "bot_command", "text": "/forecast"}, " Berlin"],
        ),
        msg(
            2,
            "2024-03-04T07:00:02",
            BOT,
            "Berlin: 14°C, light rain until noon",
            inline_bot_buttons=[
                [{"type": "callback", "text": "Tomorrow", "dataBase64": "dG9t", "data": ""}]
            ],
        ),
    ],
)

CREW = chat(
    "Climbing Crew",
    "private_supergroup",
    1500000010,
    [
        service(1, "2024-02-20T20:00:00", JONAS, "migrate_from_group", title="Climbing Crew"),
        service(2, "2024-02-20T20:01:00", JONAS, "invite_members", members=[MIRA[0], SAM[0]]),
        service(3, "2024-02-21T12:30:00", PRIYA, "join_group_by_link", inviter=JONAS[0]),
        msg(4, "2024-02-21T12:35:09", SAM, "Who's in for Thursday at the bouldering hall?"),
        msg(
            5,
            "2024-02-21T12:36:00",
            JONAS,
            poll={
                "question": "Thursday?",
                "closed": False,
                "total_voters": 3,
                "answers": [
                    {"text": "19:00", "voters": 1, "chosen": False},
                    {"text": "20:00", "voters": 2, "chosen": True},
                    {"text": "can't make it", "voters": 0, "chosen": False},
                ],
            },
        ),
        msg(
            6,
            "2024-02-21T12:37:30",
            PRIYA,
            file=NOT_INCLUDED,
            file_size=23511,
            thumbnail=NOT_INCLUDED,
            thumbnail_file_size=4120,
            media_type="sticker",
            sticker_emoji="🧗",
            width=512,
            height=512,
        ),
        service(7, "2024-02-21T12:40:00", JONAS, "pin_message", message_id=4),
        msg(
            8, "2024-02-21T13:00:00", (None, "user100000099"), "old message from a deleted account"
        ),
        msg(
            9,
            "2024-02-21T13:02:18",
            MIRA,
            file=NOT_INCLUDED,
            file_size=801223,
            thumbnail=NOT_INCLUDED,
            media_type="video_message",
            mime_type="video/mp4",
            duration_seconds=11,
            width=384,
            height=384,
        ),
        msg(10, "2024-02-21T13:05:00", SAM, "20:00 works", reply_to_message_id=5),
        service(11, "2024-02-22T08:00:00", SAM, "edit_group_title", title="Climbing Crew 🧗"),
        msg(
            12,
            "2024-02-22T08:10:41",
            PRIYA,
            [
                {"type": "bold", "text": "New routes"},
                " are up on wall B. Details: ",
                {"type": "text_link", "text": "hall news", "href": "https://example.org/hall/news"},
            ],
            forwarded_from="Bouldering Hall Neukölln",
        ),
        {"id": 13, "type": "unsupported"},
        msg(
            14,
            "2024-02-22T08:15:00",
            PRIYA,
            photo=NOT_INCLUDED,
            photo_file_size=120334,
            width=1280,
            height=960,
        ),
        service(15, "2024-02-23T22:00:00", SAM, "remove_members", members=[SAM[0]]),
    ],
)

NEWS_CHANNEL = chat(
    "Berlin Climbing News",
    "public_channel",
    1600000020,
    [
        service(1, "2024-01-05T10:00:00", NEWS, "create_channel", title="Berlin Climbing News"),
        msg(
            2,
            "2024-01-05T10:05:00",
            NEWS,
            [
                "Winter comp registration is open: ",
                {"type": "text_link", "text": "sign up", "href": "https://example.org/comp"},
            ],
            author="Kai",
            reactions=[{"type": "emoji", "count": 12, "emoji": "🔥"}],
        ),
        msg(
            3,
            "2024-01-06T17:45:00",
            NEWS,
            "Results of the first round",
            head=edited("2024-01-06T18:00:00"),
            author="Kai",
            photo=NOT_INCLUDED,
            photo_file_size=220331,
            width=1280,
            height=853,
        ),
    ],
)

FLATSHARE = chat(
    "Old Flatshare Board",
    "public_supergroup",
    1700000030,
    [
        msg(1, "2023-11-02T19:20:00", TOM, "Room free from March, 450 € warm"),
        msg(2, "2023-11-02T19:45:13", MIRA, "Still available?", reply_to_message_id=1),
        msg(
            3,
            "2023-11-03T09:00:00",
            TOM,
            file=NOT_INCLUDED,
            file_size=5342112,
            media_type="audio_file",
            performer="Tom Berg",
            title="Housewarming playlist",
            mime_type="audio/mpeg",
            duration_seconds=245,
        ),
    ],
)

ACCOUNT = {
    "about": ABOUT,
    "personal_information": {
        "user_id": 100000001,
        "first_name": "Mira",
        "last_name": "Sokol",
        "phone_number": "+49 151 00000000",
        "username": "@mira_s",
        "bio": "boulders, bread, bikes",
    },
    "profile_pictures": [
        {**when("2022-06-01T12:00:00"), "photo": "profile_pictures/photo_1@01-06-2022_12-00-00.jpg"}
    ],
    "contacts": {
        "about": "This is your contact list.",
        "list": [
            {
                "user_id": 100000002,
                "first_name": "Jonas",
                "last_name": "Weber",
                "phone_number": "+49 160 00000000",
                **when("2021-04-11T15:20:00"),
            },
            {**when("2021-05-02T09:10:00")},
        ],
    },
    "frequent_contacts": {
        "about": "This is a list of people you message most frequently.",
        "list": [
            {
                "id": 100000002,
                "category": "people",
                "type": "user",
                "name": "Jonas Weber",
                "rating": 0.912,
            },
            {
                "id": 1500000010,
                "category": "people",
                "type": "private_supergroup",
                "name": "Climbing Crew",
                "rating": 0.54,
            },
        ],
    },
    "sessions": {
        "about": "We store this to display your connected devices.",
        "list": [
            {
                "last_active": "2024-03-04T07:10:00",
                "last_active_unixtime": "1709532600",
                "last_ip": "192.0.2.10",
                "last_country": "Germany",
                "last_region": "Berlin",
                "application_name": "Telegram Desktop",
                "application_version": "4.15.2",
                "device_model": "Desktop",
                "platform": "Linux",
                "system_version": "Linux",
                "created": "2023-09-01T10:00:00",
                "created_unixtime": "1693555200",
            },
        ],
    },
    "chats": {
        "about": "This page lists all chats from this export.",
        "list": [SAVED, JONAS_CHAT, BOT_CHAT, CREW, NEWS_CHANNEL],
    },
    "left_chats": {
        "about": "This page lists all supergroups and channels from this export that you've left.",
        "list": [FLATSHARE],
    },
}

if __name__ == "__main__":
    target = HERE / "account-result.json"
    target.write_text(json.dumps(ACCOUNT, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {target}")
