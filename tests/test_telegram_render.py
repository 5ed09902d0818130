"""Pure rendering of Telegram message parts: formatted text, media stand-ins, service events."""

from __future__ import annotations

from converters.telegram_render import flatten_text, media_text, service_text


def test_flatten_text_shapes() -> None:
    assert flatten_text("plain") == "plain"
    assert flatten_text(None) == ""
    parts = [
        "see ",
        {"type": "text_link", "text": "the docs", "href": "https://example.com/docs"},
        " and ",
        {"type": "link", "text": "https://a.example"},
        " ",
        {"type": "mention_name", "text": "Ann", "user_id": 5},
        {"type": "text_link", "text": "", "href": "https://b.example"},
    ]
    assert flatten_text(parts) == (
        "see the docs (https://example.com/docs) and https://a.example Annhttps://b.example"
    )


def test_media_text_kinds() -> None:
    assert media_text({"text": "hi"}) is None
    assert media_text({"file": "files/report.pdf"}) == "[file: report.pdf]"
    assert (
        media_text({"file": "(File not included. Change data exporting settings to download.)"})
        == "[file]"
    )
    assert media_text({"media_type": "video_file", "file": "v.mp4"}) == "[video]"
    assert media_text({"media_type": "sticker"}) == "[sticker]"
    assert media_text({"location_information": None}) == "[location]"
    assert media_text({"place_name": "Café Luna", "address": "Main St 1",
                       "location_information": {"latitude": 1, "longitude": 2}}) == (
        "[location: Café Luna, Main St 1]"
    )  # fmt: skip
    assert media_text({"contact_information": {"phone_number": "+1 555"}}) == "[contact: +1 555]"


def test_service_text_kinds() -> None:
    assert service_text({"action": "invite_members", "members": ["Bob"]}, "Bob") == (
        "Bob joined the group"
    )
    assert service_text({"action": "remove_members", "members": [None]}, "Ann") == (
        "Ann removed Deleted Account"
    )
    assert service_text({"action": "phone_call", "discard_reason": "missed"}, "Ann") == (
        "Ann called (missed)"
    )
    assert service_text({"action": "boost_apply", "boosts": 2}, "Ann") == "Ann: boost apply"
    assert service_text({"information_text": "Ann did something"}, "Ann") == "Ann did something"
