"""Readable text for Telegram export messages: formatted text, media stand-ins, service events.

Everything here is a pure function of one raw message object as Telegram Desktop writes it
(``Telegram/SourceFiles/export/output/export_output_json.cpp`` in telegramdesktop/tdesktop).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["DELETED", "flatten_text", "media_text", "name_of", "service_text"]

#: what Telegram writes as ``null`` for the name of a deleted account
DELETED = "Deleted Account"

# media files the export left out are written as one of these notes instead of a path
_NOT_A_PATH = ("(File ", "(Photo ")


def name_of(value: Any) -> str:
    """A person's or chat's name as written (``null`` is a deleted account)."""
    if isinstance(value, str) and value.strip():
        return value.strip()
    return DELETED


def flatten_text(value: Any) -> str:
    """``text`` or ``text_entities`` as plain text.

    ``text`` is a string, or a list of strings and entity objects ``{type, text, href?}``.
    Every entity keeps its visible text; a ``text_link`` whose address is not shown adds it:
    ``"docs (https://example.com/docs)"``.
    """
    if isinstance(value, str):
        return value
    if not isinstance(value, list):
        return ""
    parts: list[str] = []
    for part in value:
        if isinstance(part, str):
            parts.append(part)
        elif isinstance(part, Mapping):
            text = part.get("text")
            text = text if isinstance(text, str) else ""
            href = part.get("href")
            if part.get("type") == "text_link" and isinstance(href, str) and href:
                shown = text.strip()
                text = f"{text} ({href})" if shown and shown not in href else text or href
            parts.append(text)
    return "".join(parts)


def media_text(raw: Mapping[str, Any]) -> str | None:
    """A bracketed stand-in for the media of a message (``[photo]``), or None when it has none."""
    media_type = raw.get("media_type")
    if "photo" in raw:
        return "[photo]"
    if media_type in _MEDIA:
        return _MEDIA[media_type](raw)
    if "file" in raw or "file_name" in raw:
        name = _file_name(raw)
        return f"[file: {name}]" if name else "[file]"
    for field, render in _ATTACHMENTS:
        if field in raw:
            return render(raw)
    return None


def _sticker(raw: Mapping[str, Any]) -> str:
    emoji = _text(raw.get("sticker_emoji"))
    return f"[sticker {emoji}]" if emoji else "[sticker]"


def _audio(raw: Mapping[str, Any]) -> str:
    performer, title = _text(raw.get("performer")), _text(raw.get("title"))
    label = " – ".join(p for p in (performer, title) if p) or _file_name(raw)
    return f"[audio: {label}]" if label else "[audio]"


_MEDIA: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "sticker": _sticker,
    "voice_message": lambda raw: "[voice message]",
    "video_message": lambda raw: "[video message]",
    "video_file": lambda raw: "[video]",
    "animation": lambda raw: "[GIF]",
    "audio_file": _audio,
}


def _poll(raw: Mapping[str, Any]) -> str:
    poll = raw.get("poll")
    poll = poll if isinstance(poll, Mapping) else {}
    question = _text(poll.get("question"))
    answers = poll.get("answers")
    options = [
        _text(a.get("text"))
        for a in (answers if isinstance(answers, list) else [])
        if isinstance(a, Mapping) and _text(a.get("text"))
    ]
    label = question + (f" — {' / '.join(options)}" if options else "")
    return f"[poll: {label}]" if label else "[poll]"


def _contact(raw: Mapping[str, Any]) -> str:
    info = raw.get("contact_information")
    info = info if isinstance(info, Mapping) else {}
    name = " ".join(p for p in (_text(info.get("first_name")), _text(info.get("last_name"))) if p)
    label = name or _text(info.get("phone_number"))
    return f"[contact: {label}]" if label else "[contact]"


def _location(raw: Mapping[str, Any]) -> str:
    place = ", ".join(p for p in (_text(raw.get("place_name")), _text(raw.get("address"))) if p)
    if place:
        return f"[location: {place}]"
    point = raw.get("location_information")
    if isinstance(point, Mapping) and point.get("latitude") is not None:
        return f"[location: {point.get('latitude')}, {point.get('longitude')}]"
    return "[location]"


def _titled(field: str, kind: str) -> Callable[[Mapping[str, Any]], str]:
    def render(raw: Mapping[str, Any]) -> str:
        value = raw.get(field)
        title = _text(value.get("title") if isinstance(value, Mapping) else value)
        return f"[{kind}: {title}]" if title else f"[{kind}]"

    return render


# fields whose presence means the message carries this kind of attachment
_ATTACHMENTS: tuple[tuple[str, Callable[[Mapping[str, Any]], str]], ...] = (
    ("poll", _poll),
    ("contact_information", _contact),
    ("place_name", _location),
    ("location_information", _location),
    ("game_title", _titled("game_title", "game")),
    ("invoice_information", _titled("invoice_information", "invoice")),
    ("giveaway_information", lambda raw: "[giveaway]"),
    ("giveaway_results", lambda raw: "[giveaway results]"),
    ("paid_stars_amount", lambda raw: "[paid media]"),
)


def _file_name(raw: Mapping[str, Any]) -> str:
    name = _text(raw.get("file_name"))
    if name:
        return name
    path = _text(raw.get("file"))
    if not path or path.startswith(_NOT_A_PATH):
        return ""
    return path.replace("\\", "/").rsplit("/", 1)[-1]


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


# -- service messages ------------------------------------------------------------------------


def service_text(raw: Mapping[str, Any], actor: str, quote: str | None = None) -> str:
    """One sentence for a service message: "Alice pinned a message", "Bob joined the group".

    ``quote`` is a snippet of the message an action refers to (the pinned one), when known.
    """
    action = raw.get("action")
    if not isinstance(action, str) or not action:
        # a bot's custom service text, or a kind the export gave no action name
        return _text(raw.get("information_text")) or f"{actor}: service message"
    render = _ACTIONS.get(action)
    if render is not None:
        return render(raw, actor, quote)
    return f"{actor}: {action.replace('_', ' ')}"


def _members(raw: Mapping[str, Any]) -> list[str]:
    members = raw.get("members")
    return [name_of(m) for m in members] if isinstance(members, list) else []


def _invite(raw: Mapping[str, Any], actor: str, quote: str | None) -> str:
    members = _members(raw)
    if members == [actor]:
        return f"{actor} joined the group"
    return f"{actor} added {', '.join(members) or 'members'}"


def _remove(raw: Mapping[str, Any], actor: str, quote: str | None) -> str:
    members = _members(raw)
    if members == [actor]:
        return f"{actor} left the group"
    return f"{actor} removed {', '.join(members) or 'members'}"


def _pin(raw: Mapping[str, Any], actor: str, quote: str | None) -> str:
    return f'{actor} pinned a message: "{quote}"' if quote else f"{actor} pinned a message"


def _call(raw: Mapping[str, Any], actor: str, quote: str | None) -> str:
    if raw.get("discard_reason") in {"missed", "busy"}:
        return f"{actor} called (missed)"
    seconds = raw.get("duration_seconds")
    if isinstance(seconds, int) and seconds > 0:
        return f"{actor} called ({_duration(seconds)})"
    return f"{actor} called"


def _duration(seconds: int) -> str:
    minutes, rest = divmod(seconds, 60)
    return f"{minutes} min {rest} s" if minutes else f"{rest} s"


def _titled_action(template: str) -> Callable[[Mapping[str, Any], str, str | None], str]:
    def render(raw: Mapping[str, Any], actor: str, quote: str | None) -> str:
        title = _text(raw.get("title")) or _text(raw.get("new_title"))
        return template.format(actor=actor, title=f" «{title}»" if title else "")

    return render


def _simple(template: str) -> Callable[[Mapping[str, Any], str, str | None], str]:
    return lambda raw, actor, quote: template.format(actor=actor)


_ACTIONS: dict[str, Callable[[Mapping[str, Any], str, str | None], str]] = {
    "create_group": _titled_action("{actor} created the group{title}"),
    "create_channel": _titled_action("{actor} created the channel{title}"),
    "edit_group_title": _titled_action("{actor} renamed the group to{title}"),
    "migrate_from_group": _titled_action("{actor} upgraded the group{title} to a supergroup"),
    "topic_created": _titled_action("{actor} created the topic{title}"),
    "topic_edit": _titled_action("{actor} edited the topic{title}"),
    "edit_group_photo": _simple("{actor} changed the group photo"),
    "delete_group_photo": _simple("{actor} removed the group photo"),
    "invite_members": _invite,
    "remove_members": _remove,
    "join_group_by_link": _simple("{actor} joined the group via an invite link"),
    "join_group_by_request": _simple("{actor} joined the group"),
    "migrate_to_supergroup": _simple("{actor} upgraded the group to a supergroup"),
    "pin_message": _pin,
    "clear_history": _simple("{actor} cleared the history"),
    "phone_call": _call,
    "group_call": _simple("{actor} started a video chat"),
    "invite_to_group_call": _simple("{actor} invited members to the video chat"),
    "group_call_scheduled": _simple("{actor} scheduled a video chat"),
    "take_screenshot": _simple("{actor} took a screenshot"),
    "joined_telegram": _simple("{actor} joined Telegram"),
    "edit_chat_theme": _simple("{actor} changed the chat theme"),
    "set_messages_ttl": _simple("{actor} changed the auto-delete timer"),
    "set_chat_wallpaper": _simple("{actor} changed the chat wallpaper"),
    "score_in_game": _simple("{actor} scored in a game"),
}
