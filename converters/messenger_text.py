"""Text of Messenger and Instagram exports: mojibake repair, media stand-ins, system lines.

Facebook writes every string of a "Download your information" JSON export as UTF-8 bytes each
escaped as a Latin-1 code point (``"J\\u00c3\\u00b6rg"`` for "Jörg"), so encoding the string as
Latin-1 and decoding the bytes as UTF-8 gives the text back exactly. A string that does not survive
that round trip (already clean text, or a byte sequence cut short) is left as it is: on a cut
sequence, guessing tools such as ftfy turn the stray bytes into other wrong characters.

System lines are recognised in English only, and only when they begin with the sender's own name
(or "You"), which is how the export writes them: "Ann Lee added Bo to the group." from Ann Lee.
A person who types such a sentence about someone else keeps it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

from converters._common import slug

__all__ = [
    "e2ee_media_placeholders",
    "is_attachment_stand_in",
    "is_system_line",
    "media_placeholders",
    "person_id",
    "repair",
]


def repair(text: str) -> str:
    """``text`` with Facebook's Latin-1 mojibake undone; unchanged when it is not mojibake."""
    if text.isascii():
        return text
    try:
        return text.encode("latin-1").decode("utf-8")
    except UnicodeError:  # a character above U+00FF, or bytes that are not UTF-8
        return text


@lru_cache(maxsize=65536)
def person_id(name: str) -> str:
    """A stable sender id from a display name: "Jörg Müller" -> "jorg_muller"."""
    folded = unicodedata.normalize("NFKD", name)
    folded = "".join(ch for ch in folded if not unicodedata.combining(ch))
    return slug(folded if folded.isascii() else name)


# -- media ---------------------------------------------------------------------------------

#: list field -> (one, several) placeholder
_MEDIA_LISTS = (
    ("photos", "[photo]", "[{n} photos]"),
    ("videos", "[video]", "[{n} videos]"),
    ("audio_files", "[audio]", "[{n} audio clips]"),
    ("gifs", "[gif]", "[{n} gifs]"),
)
#: keys of a classic-export message that carry something besides text
_MEDIA_KEYS = ("photos", "videos", "audio_files", "gifs", "files", "sticker", "share")
_AUDIO = (".mp3", ".m4a", ".aac", ".wav", ".ogg", ".oga", ".opus", ".flac")
_VIDEO = (".mp4", ".mov", ".mkv", ".webm", ".m4v", ".3gp")
_IMAGE = (".jpg", ".jpeg", ".png", ".webp", ".heic", ".heif", ".bmp")


def _objects(value: Any) -> list[Mapping[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _file_name(uri: Any) -> str:
    text = repair(uri) if isinstance(uri, str) else ""
    return text.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1] or "file"


def media_placeholders(raw: Mapping[str, Any], content: str = "") -> list[str]:
    """Stand-ins for what a classic-export message carries besides text, in a fixed order.

    ``content`` is the message's own text: a shared link already written in it is not repeated.
    """
    if not any(key in raw for key in _MEDIA_KEYS):
        return []
    parts: list[str] = []
    for field, one, several in _MEDIA_LISTS:
        count = len(_objects(raw.get(field)))
        if count:
            parts.append(one if count == 1 else several.format(n=count))
    for item in _objects(raw.get("files")):
        parts.append(f"[file: {_file_name(item.get('uri'))}]")
    if isinstance(raw.get("sticker"), dict):
        parts.append("[sticker]")
    share = raw.get("share")
    if isinstance(share, dict):
        link = share.get("link")
        text = share.get("share_text")
        if isinstance(link, str) and link.strip():
            if link.strip() not in content:
                parts.append(f"[shared link: {repair(link.strip())}]")
        elif isinstance(text, str) and text.strip():
            parts.append(f"[shared: {repair(text.strip())}]")  # live location: text, no link
    return parts


def e2ee_media_placeholders(media: Iterable[Any]) -> list[str]:
    """Stand-ins for the ``media`` list of the end-to-end encrypted export, told apart by suffix."""
    kinds: dict[str, list[str]] = {}
    for item in media:
        uri = item.get("uri") if isinstance(item, dict) else None
        name = _file_name(uri)
        lower = name.lower()
        if lower.endswith(".gif"):
            kind = "gif"
        elif lower.endswith(_VIDEO):
            kind = "video"
        elif lower.endswith(_AUDIO):
            kind = "audio"
        elif lower.endswith(_IMAGE):
            kind = "photo"
        elif isinstance(uri, str) and "." in name:
            kind = "file"
        else:
            kind = "unavailable"  # Meta writes e.g. "Failed to download media" instead of a path
        kinds.setdefault(kind, []).append(name)
    parts: list[str] = []
    for kind, names in kinds.items():
        if kind == "file":
            parts.extend(f"[file: {name}]" for name in names)
        elif kind == "unavailable":
            parts.append("[attachment]" if len(names) == 1 else f"[{len(names)} attachments]")
        elif len(names) == 1:
            parts.append(f"[{kind}]")
        else:
            plural = "audio clips" if kind == "audio" else f"{kind}s"
            parts.append(f"[{len(names)} {plural}]")
    return parts


# -- system lines --------------------------------------------------------------------------

_CALL = r"(?:video chat|video call|audio call|voice call|call)"
_PRONOUN = r"(?:the|your|his|her|their)"

#: what follows "<sender> " in an event line; (?s) is not set, so one line only
_ACTOR_EVENTS = (
    r"added .+ to the group\.?",
    r"removed .+ from the group\.?",
    r"left the group\.?",
    r"joined the (?:group|chat)\b.*",
    r"created the group\b.*",
    r"named the group\b.*",
    r"removed the group name\.?",
    r"changed the group (?:photo|image|name|description|link)\b.*",
    r"removed the group (?:photo|image)\.?",
    r"changed the (?:chat )?theme\b.*",
    r"(?:set|changed) the (?:emoji|quick reaction)\b.*",
    rf"set {_PRONOUN} (?:own )?nickname\b.*",
    rf"cleared {_PRONOUN} (?:own )?nickname\b.*",
    r"made .+ an admin\.?",
    r"(?:added|removed) .+ as (?:a )?(?:group )?admin\.?",
    r"turned (?:on|off) member approval\b.*",
    r"(?:pinned|unpinned) a message\.?",
    r"unsent a message\.?",
    rf"started (?:a |an )?{_CALL}\.?",
    rf"(?:joined|left|ended) the {_CALL}\.?",
    r"called you\.?",
    rf"missed your {_CALL}\.?",
    rf"missed (?:a |an )?{_CALL}(?: (?:from|with) .+)?",
    r"reacted .+ to your message",
    r"sent a live location\.?",
    r"(?:started|stopped) sharing (?:video|(?:your |their |his |her )?live location)\.?",
    r"waved at .+",
    r"created a poll: .+",
    r"voted for .+ in the poll: .+",
    rf"(?:changed|removed) (?:{_PRONOUN} )?vote\b.*",
    r"(?:created|updated|deleted) the (?:reminder|plan|event)\b.*",
    r"started a plan\.?",
    r"named the plan\b.*",
    r"responded (?:Going|Can't Go|Can’t Go|Maybe|Interested) to .+",
    r"can now see each other\.?",  # "You and Bo can now see each other."
)

#: whole lines with no actor: Instagram's notices, call summaries, plan reminders
_PLAIN_EVENTS = re.compile(
    "|".join(
        (
            rf"The {_CALL} ended\.?",
            rf"{_CALL} ended\.?",
            rf"(?:You )?missed (?:a |an )?{_CALL}\.?",
            rf"(?:started|ended|joined|left) (?:a |an |the )?{_CALL}\.?",
            r"Reacted .+ to your message",
            r"Liked a message",
            r"You are now connected on Messenger\.?",
            r"You can now (?:message|call) .+",
            r"Say hi to your new (?:Facebook friend|connection).*",
            r"You are now (?:an )?admin\.?",
            r"Reminder, \d+ minutes until .+",
            r"Reminder at \d.+",
        )
    ),
    re.IGNORECASE,
)


@lru_cache(maxsize=4096)
def _actor_pattern(sender: str) -> re.Pattern[str]:
    """Event lines of one sender: they start with "You", the full name or the first name."""
    actors = {"You", sender, sender.split(" ", 1)[0]}
    names = "|".join(re.escape(a) for a in sorted(actors, key=len, reverse=True) if a)
    return re.compile(rf"(?:{names}) (?:{'|'.join(_ACTOR_EVENTS)})")


def is_system_line(text: str, sender: str, others: Iterable[str] = ()) -> bool:
    """Whether ``text`` (from ``sender``) is one of the export's own event lines.

    ``others`` are the other participants: "You called Bo." counts only when Bo is one of them.
    """
    line = text.strip()
    if not line or _PLAIN_EVENTS.fullmatch(line):
        return bool(line)
    if _actor_pattern(sender).fullmatch(line):
        return True
    if line.startswith(("You called ", "You and ")):
        rest = line.removeprefix("You called ").removeprefix("You and ")
        return any(rest in (f"{o}.", f"{o} can now see each other.") for o in others)
    return False


def is_attachment_stand_in(text: str, sender: str) -> bool:
    """Whether ``text`` is what Facebook writes in place of an attachment ("You sent an …")."""
    if "sent an attachment" not in text:
        return False
    line = text.strip()
    first = sender.split(" ", 1)[0]
    return any(
        line in (f"{actor} sent an attachment.", f"{actor} sent an attachment")
        for actor in ("You", sender, first)
    )
