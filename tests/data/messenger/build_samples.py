"""Writes the hand-made Messenger / Instagram samples in this folder (run it to regenerate them).

The shapes follow real exports (see ../SOURCES.md): every string is UTF-8 escaped byte by byte as
Latin-1 code points, messages are newest first, long threads are split into message_1.json (newest)
and message_2.json, …; newer exports drop ``type`` and add ``is_geoblocked_for_viewer``.
The people and chats are made up.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
START = 1_682_928_000_000  # 2023-05-01T08:00:00Z
MINUTE = 60_000

PRIYA, JORG, ZOE, ANA = "Priya Raman", "Jörg Müller", "Zoë Ng", "Ana Souza"


def mojibake(value: Any) -> Any:
    """Every string the way Facebook writes it: UTF-8 bytes read as Latin-1."""
    if isinstance(value, str):
        return value.encode("utf-8").decode("latin-1")
    if isinstance(value, list):
        return [mojibake(v) for v in value]
    if isinstance(value, dict):
        return {k: mojibake(v) for k, v in value.items()}
    return value


def write(path: Path, data: dict[str, Any], *, escape: bool = True) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    body = mojibake(data) if escape else data
    path.write_text(json.dumps(body, indent=2, ensure_ascii=escape) + "\n", encoding="utf-8")


def msg(sender: str, minute: int, content: str | None = None, **extra: Any) -> dict[str, Any]:
    item: dict[str, Any] = {"sender_name": sender, "timestamp_ms": START + minute * MINUTE}
    if content is not None:
        item["content"] = content
    item.update(extra)
    return item


def media(folder: str, kind: str, name: str, minute: int) -> dict[str, Any]:
    return {
        "uri": f"messages/inbox/{folder}/{kind}/{name}",
        "creation_timestamp": (START + minute * MINUTE) // 1000,
    }


def group_thread() -> list[dict[str, Any]]:
    """A group chat, oldest first, in the older style (every message has ``type``)."""
    f = "hikingcrew_Xa8Kq2LmZp"
    g = {"type": "Generic"}
    return [
        msg(
            PRIYA,
            0,
            "You added Jörg Müller, Zoë Ng and Ana Souza to the group.",
            type="Subscribe",
            users=[{"name": JORG}, {"name": ZOE}, {"name": ANA}],
        ),
        msg(PRIYA, 1, "You named the group Hiking crew 🥾.", **g),
        msg(JORG, 3, "Servus! Wann geht's los? 🏔️", **g),
        msg(
            ZOE,
            4,
            "Saturday 7:00 at the trailhead — I'll bring coffee ☕",
            reactions=[{"reaction": "❤", "actor": JORG}],
            **g,
        ),
        msg(
            ANA,
            6,
            photos=[media(f, "photos", "412_1.jpg", 6), media(f, "photos", "412_2.jpg", 6)],
            **g,
        ),
        msg(ANA, 7, "Olha a vista de ontem 😍", **g),
        msg(JORG, 8, sticker={"uri": "messages/stickers_used/369239263222822.png"}, **g),
        msg(
            PRIYA,
            10,
            "Route for Saturday",
            share={"link": "https://www.alltrails.com/trail/germany/bavaria/hoellental"},
            type="Share",
        ),
        msg(
            ZOE,
            11,
            "Zoë Ng sent an attachment.",
            share={"link": "https://www.instagram.com/p/Cq1xYzAbCdE/"},
            type="Share",
        ),
        msg(JORG, 20, "The video chat ended.", call_duration=754, type="Call"),
        msg(ZOE, 22, "Zoë Ng set the nickname for Jörg Müller to Gipfelstürmer.", **g),
        msg(ANA, 23, is_unsent=True, **g),
        # message_1.json starts here
        msg(PRIYA, 30, audio_files=[media(f, "audio", "audioclip16829.mp4", 30)], **g),
        msg(JORG, 31, "Jörg Müller changed the group photo.", **g),
        msg(ZOE, 33, files=[media(f, "files", "packing-list.pdf", 33)], **g),
        msg(ANA, 34, gifs=[{"uri": f"messages/inbox/{f}/gifs/hike.gif"}], **g),
        msg(
            PRIYA,
            35,
            videos=[
                {
                    **media(f, "videos", "video16829.mp4", 35),
                    "thumbnail": {"uri": f"messages/inbox/{f}/videos/thumb.jpg"},
                }
            ],
            **g,
        ),
        msg(ANA, 40, "Ana Souza left the group.", type="Unsubscribe", users=[{"name": ANA}]),
        msg(JORG, 41, "Ana left the group. Was it something I said? 😅", **g),
        msg(PRIYA, 42, "ok", **g),
        msg(PRIYA, 42, "ok", **g),
        msg(ZOE, 43, "Packing list:\n- Stirnlampe\n- 2 l Wasser\n- Müsliriegel", **g),
        msg(JORG, 44, "", **g),
    ]


def write_group(root: Path) -> None:
    messages = group_thread()
    older, newer = messages[:12], messages[12:]
    common = {
        "participants": [{"name": n} for n in (PRIYA, JORG, ZOE)],
        "title": "Hiking crew 🥾",
        "is_still_participant": True,
        "thread_type": "RegularGroup",
        "thread_path": "inbox/hikingcrew_Xa8Kq2LmZp",
        "magic_words": [],
        "image": {"uri": "messages/photos/hikingcrew.jpg", "creation_timestamp": 1682929860},
        "joinable_mode": {"mode": 1, "link": ""},
    }
    folder = root / "inbox" / "hikingcrew_Xa8Kq2LmZp"
    for number, part in ((1, newer), (2, older)):
        data = {"participants": common["participants"], "messages": part[::-1]}
        data.update({k: v for k, v in common.items() if k != "participants"})
        write(folder / f"message_{number}.json", data)


def write_dm(root: Path) -> None:
    """A direct chat in the newer style: no ``type``, ``is_geoblocked_for_viewer`` everywhere."""
    geo = {"is_geoblocked_for_viewer": False}
    messages = [
        msg(JORG, 100, "Hast du die Karte noch? 🗺️", **geo),
        msg(
            PRIYA,
            101,
            "Ja, liegt im Auto",
            reactions=[
                {"reaction": "👍", "actor": JORG, "timestamp": (START + 102 * MINUTE) // 1000}
            ],
            **geo,
        ),
        msg(PRIYA, 105, "You called Jörg Müller.", call_duration=61, **geo),
        msg(JORG, 106, "Jörg Müller missed your call.", call_duration=0, **geo),
        msg(JORG, 107, "Ruf später nochmal an – bin im Zug 🚆", **geo),
    ]
    write(
        root / "archived_threads" / "jorgmuller_Qm3Vt9RkLw" / "message_1.json",
        {
            "participants": [{"name": JORG}, {"name": PRIYA}],
            "messages": messages[::-1],
            "title": JORG,
            "is_still_participant": True,
            "thread_path": "archived_threads/jorgmuller_Qm3Vt9RkLw",
            "magic_words": [],
        },
    )
    write(
        root / "message_requests" / "marketseller_1845920374" / "message_1.json",
        {
            "participants": [{"name": "Lena Wójcik"}, {"name": PRIYA}],
            "messages": [
                msg("Lena Wójcik", 200, "Is the tent still for sale? Mogę odebrać jutro.")
            ],
            "title": "Lena Wójcik",
            "is_still_participant": True,
            "thread_path": "message_requests/marketseller_1845920374",
            "magic_words": [],
        },
    )
    # messages/ holds more than threads in a real download
    write(root / "autofill_information.json", {"autofill_information_v2": {}})


def write_instagram(root: Path) -> None:
    """Instagram: the file holds only participants and messages."""
    geo = {"is_geoblocked_for_viewer": False, "is_unsent_image_by_messenger_kid_parent": False}
    me, her = "priya.raman", "Zoë Ng"
    messages = [
        msg(her, 300, "did you see the sunrise pics?", **geo),
        msg(
            me,
            301,
            share={
                "link": "https://www.instagram.com/reel/C3kLmNoPqRs/",
                "share_text": "Golden hour at Alpspitze",
                "original_content_owner": "alpenblick",
            },
            **geo,
        ),
        msg(her, 302, "Reacted ❤️ to your message ", **geo),
        msg(her, 303, "Liked a message", **geo),
        msg(me, 304, "Audio call ended", call_duration=185, **geo),
        msg(her, 305, "Missed video chat", **geo),
        msg(me, 306, "Nächstes Mal kommst du mit! 🙌", **geo),
        msg(
            her,
            307,
            photos=[
                {
                    "uri": "your_instagram_activity/messages/inbox/p.jpg",
                    "creation_timestamp": 1682946420,
                }
            ],
            **geo,
        ),
    ]
    write(
        root / "inbox" / "zoeng_17841405822304914" / "message_1.json",
        {"participants": [{"name": her}, {"name": me}], "messages": messages[::-1]},
    )


def write_e2ee(folder: Path) -> None:
    """The end-to-end encrypted Messenger download: clean UTF-8, oldest first, camelCase keys."""

    def e2ee(
        sender: str, minute: int, text: str, kind: str = "text", **extra: Any
    ) -> dict[str, Any]:
        item = {
            "isUnsent": False,
            "media": [],
            "reactions": [],
            "senderName": sender,
            "text": text,
            "timestamp": START + minute * MINUTE,
            "type": kind,
        }
        item.update(extra)
        return item

    messages = [
        e2ee(
            ZOE,
            500,
            "Treffpunkt morgen: Hütte um 8? 🛖",
            reactions=[{"actor": PRIYA, "reaction": "👍"}],
        ),
        e2ee(PRIYA, 501, "", "media", media=[{"uri": "./media/IMG_2231.jpeg"}]),
        e2ee(PRIYA, 502, "https://maps.app.goo.gl/x7Yz", "link"),
        e2ee(ZOE, 503, "User unsent a message", "placeholder", isUnsent=True),
        e2ee(ZOE, 504, "", "media", media=[{"uri": "Failed to download media"}]),
        e2ee(ZOE, 505, "", "media", media=[{"uri": "./media/voice_0412.m4a"}]),
    ]
    write(
        folder / "Zoe Ng_7.json",
        {"participants": [PRIYA, ZOE], "threadName": "Zoë Ng_7", "messages": messages},
        escape=False,
    )


def main() -> None:
    facebook = HERE / "facebook" / "your_facebook_activity" / "messages"
    write_group(facebook)
    write_dm(facebook)
    write_instagram(HERE / "instagram" / "your_instagram_activity" / "messages")
    write_e2ee(HERE / "e2ee" / "messages")


if __name__ == "__main__":
    main()
