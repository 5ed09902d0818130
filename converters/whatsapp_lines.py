"""The line grammar of WhatsApp chat exports: message headers, dates, times, senders, system texts.

Every message starts with a header line; the lines after it up to the next header belong to it.
Shapes seen in real exports (iOS puts the time in brackets, Android separates it with a dash)::

    [15.01.24, 21:05:12] Anna: Hallo              iOS, German
    [1/15/24, 9:05:12 PM] Bob: hi                 iOS, US (U+202F before PM since 2023)
    1/15/24, 9:05 PM - Bob: hi                    Android, US
    15/01/2024 21:05 - Ana: oi                    Android, Brazil (no comma)
    15/1/24, 9:05 p. m. - Ana: hola               Android, Spanish
    2022/12/14, 13:34. - Li: hi                   year first, a dot after the time
    [12.3.2022 klo 14.08.18] Matti: moi           iOS, Finnish
    2024. 1. 15. 오후 9:05 - 민수: 안녕              Android, Korean (the marker before the time)

Which of the first two date fields is the day is not in any line; the caller decides it for the
whole file from the evidence ``Header`` gives (see ``DateOrder``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from urllib.parse import unquote

__all__ = [
    "DateOrder",
    "Header",
    "clean_name",
    "created_by",
    "export_title",
    "group_subject",
    "is_group_event",
    "is_secure_notice",
    "parse_header",
    "plausible_date",
    "split_sender",
    "strip_marks",
]

DateOrder = Literal["dmy", "mdy"]

#: direction marks and embeddings WhatsApp scatters through exports (U+200E before media and
#: system texts on iOS, U+202A/U+202C around phone numbers, U+2066-9 isolates); never content
_MARKS = dict.fromkeys(
    [0x200E, 0x200F, 0xFEFF, *range(0x202A, 0x202F), *range(0x2066, 0x206A)], None
)
#: spaces that stand for a plain one in headers and names (U+202F before AM/PM, U+00A0 in
#: "p. m.", thin spaces in some locales)
_SPACES = str.maketrans(dict.fromkeys("\u00a0\u202f\u2007\u2009\u200a", " "))

# 12-hour markers as written, without dots and spaces, lower case
_AM = frozenset({"am", "午前", "上午", "오전", "ص", "πμ", "vorm", "fm", "sa", "de", "ap"})
_PM = frozenset({"pm", "午後", "下午", "오후", "م", "μμ", "nachm", "em", "ch", "du", "ip"})
_MARKER = (
    r"[ap]\.?\ ?m\.?|[fe]\.?\ ?m\.?|[ai]p\.|d[eu]\.|sa|ch|vorm\.|nachm\."
    r"|π\.?\ ?μ\.?|μ\.?\ ?μ\.?|午前|午後|上午|下午|오전|오후|ص|م"
)
_DATE = r"""
    (?P<d1>\d{1,4})(?P<sep>[./-])\ ?(?P<d2>\d{1,2})(?P=sep)\ ?(?P<d3>\d{1,4})\.?
    (?:\ BE)?                                        # Thai phones: Buddhist era
"""
_TIME = rf"""
    (?:(?P<pre>午前|午後|上午|下午|오전|오후)\ ?)?
    (?P<h>\d{{1,2}})[:.](?P<mi>\d{{2}})(?:[:.](?P<s>\d{{2}}))?
    (?:\ ?(?P<post>{_MARKER}))?
"""
_END = r"""
    \.?
    (?(open)\]\ ?|(?P<tail>\ [-–]\ |:\ ))
"""
_HEADER = re.compile(
    rf"""
    \ *(?P<open>\[)?
    {_DATE}
    (?:[,،]\ ?|\ )
    (?:(?!午前|午後|上午|下午|오전|오후)[^\W\d_]{{1,3}}\.?\ (?=\d))?  # 'klo', 'à', 'um'
    {_TIME}
    {_END}
    """,
    re.VERBOSE | re.IGNORECASE,
)
#: Vietnamese iOS writes the time first: ``[14:56:01, 3/18/22] Name: text``
_HEADER_TIME_FIRST = re.compile(
    rf"""
    \ *(?P<open>\[)?
    {_TIME}
    ,\ ?
    {_DATE}
    {_END}
    """,
    re.VERBOSE | re.IGNORECASE,
)

_QUOTES = re.compile('["“”„«»]')
_MAX_NAME = 80

#: the end-to-end encryption notice and security-code changes, in the languages seen in real
#: exports (lower case); on iOS they come with a sender (the contact, or the group itself).
#: Plain substrings: this runs on every message, and a regex alternation is ten times slower
_SECURE_TEXTS = (
    "end-to-end encrypt",
    "ende-zu-ende-verschlüssel",
    "sicherheitsnummer",
    "cifrados de extremo a extremo",
    "cifradas de extremo a extremo",
    "cifrado de extremo a extremo",
    "código de seguridad",
    "criptografia de ponta a ponta",
    "código de segurança",
    "chiffrés de bout en bout",
    "chiffrement de bout en bout",
    "code de sécurité",
    "encriptadas ponto a ponto",
    "crittografati end-to-end",
    "crittografia end-to-end",
    "codice di sicurezza",
    "end-to-end versleuteld",
    "end-to-end-versleuteling",
    "beveiligingscode",
    "сквозным шифрованием",
    "код безопасности",
    "наскрізним шифруванням",
    "uçtan uca şifreli",
    "szyfrowane end-to-end",
    "terenkripsi secara end-to-end",
    "エンドツーエンド暗号化",
    "セキュリティコード",
    "端到端加密",
    "安全码",
    "安全代码",
    "mã hóa đầu cuối",
    "mã bảo mật",
    "เข้ารหัสจากต้นทางถึงปลายทาง",
    "รหัสความปลอดภัย",
)
_SECURE = re.compile("|".join(map(re.escape, _SECURE_TEXTS)))
#: English needs both words: "what's the security code?" is a message
_SECURITY_CODE = re.compile(r"security code\b.*\bchanged", re.IGNORECASE)
#: group events (English) as iOS writes them with a sender; only trusted when the text was marked
#: with U+200E, as iOS marks them, or when the sender is the group itself
_GROUP_EVENT = re.compile(
    r"^(?:.+ )?(?:created group|created this group|added|removed|left|joined using this group's"
    r" invite link|changed the subject|changed the group name|changed this group's (?:icon|settings)"
    r"|changed the group description|deleted this group's icon|changed their phone number"
    r"|pinned a message|turned (?:on|off) disappearing messages|updated the message timer"
    r"|is now an admin|'re now an admin)\b|^you joined\b|^you were added\b",
    re.IGNORECASE,
)
_CREATED = re.compile(r"\bcreated (?:group|this group)\b", re.IGNORECASE)

#: the localised "WhatsApp Chat with X" / "WhatsApp Chat - X" names exports are saved under
_EXPORT_NAME = re.compile(
    r"whatsapp(?:[\s-]*(?:chat|chatt|sohbeti|conversation))?\s*"
    r"(?:-|–|:|with|con|mit|com|avec|met|med|с контактом|с|s uživatelem|ze|z|ile|dengan)\s+"
    r"(?P<title>.+)$",
    re.IGNORECASE,
)
_COPY_SUFFIX = re.compile(r"\s*\(\d+\)$")


@dataclass(slots=True)  # not frozen: built for every line, and frozen costs a third more
class Header:
    """The timestamp prefix of a message line, as written, and where the rest begins."""

    d1: int
    d2: int
    d3: int
    year_first: bool
    hour: int
    minute: int
    second: int
    #: "am"/"pm" for 12-hour times, the marker as written in ``marker``
    meridiem: Literal["am", "pm"] | None
    marker: str
    #: what every header of one export shares: brackets, date separator, year first, separator
    style: tuple[bool, str, bool, str]
    end: int

    def moment(self, order: DateOrder) -> datetime:
        """The local wall-clock time; ``ValueError`` when the date or time is impossible."""
        if self.year_first:
            year, month, day = self.d1, self.d2, self.d3
        elif order == "dmy":
            day, month, year = self.d1, self.d2, self.d3
        else:
            month, day, year = self.d1, self.d2, self.d3
        if year < 100:
            year += 2000
        elif year >= 2400:
            year -= 543  # Thai phones count years in the Buddhist era
        hour = self.hour
        if self.meridiem is not None and hour <= 12:
            hour = hour % 12 + (12 if self.meridiem == "pm" else 0)
        return datetime(year, month, day, hour, self.minute, self.second)


def strip_marks(text: str) -> str:
    """``text`` without direction marks, embeddings and byte order marks."""
    return text if text.isascii() else text.translate(_MARKS)


def parse_header(line: str) -> Header | None:
    """The header at the start of ``line`` (already without marks), or None for other lines."""
    start = line.lstrip(" ")[:1]
    if not (start == "[" or start.isdigit()):
        return None  # most continuation lines: no regex needed
    spaced = line if line.isascii() else line.translate(_SPACES)
    match = _HEADER.match(spaced) or _HEADER_TIME_FIRST.match(spaced)
    if match is None:
        return None
    d1, sep, d2, d3, hour, minute, second, post, pre, opened, tail = match.group(
        "d1", "sep", "d2", "d3", "h", "mi", "s", "post", "pre", "open", "tail"
    )
    year_first = len(d1) >= 3
    if not year_first and len(d3) == 3:
        return None
    marker = post or pre or ""
    key = marker.replace(".", "").replace(" ", "").lower()
    meridiem: Literal["am", "pm"] | None = "am" if key in _AM else "pm" if key in _PM else None
    style = (bool(opened), sep, year_first, "]" if opened else tail.strip())
    return Header(
        int(d1), int(d2), int(d3), year_first, int(hour), int(minute), int(second or 0),
        meridiem, marker, style, match.end(),
    )  # fmt: skip


def plausible_date(header: Header) -> bool:
    """Whether some day/month order makes a real date and time of ``header`` (for detection)."""
    orders: tuple[DateOrder, ...] = ("dmy",) if header.year_first else ("dmy", "mdy")
    for order in orders:
        try:
            header.moment(order)
        except ValueError:
            continue
        return True
    return False


def clean_name(name: str) -> str:
    """A sender as shown: plain spaces, without the ``~`` WhatsApp puts before non-contacts."""
    cleaned = name if name.isascii() else name.translate(_SPACES)
    cleaned = " ".join(cleaned.split())
    if cleaned.startswith("~ ") and len(cleaned) > 2:
        cleaned = cleaned[2:]
    return cleaned


def _plausible_name(name: str) -> bool:
    # a system text cut at a colon inside a quoted subject ('X changed the subject to "a: b"')
    # holds quotes; names of people practically never do
    return 0 < len(name) <= _MAX_NAME and name == name.strip() and _QUOTES.search(name) is None


def split_sender(rest: str, known: frozenset[str] = frozenset()) -> tuple[str | None, str]:
    """``(sender, text)`` of what follows a header; ``(None, rest)`` for a system event.

    The split is at the first ``": "`` when what precedes it can be a name. ``Name:`` at the end
    of the line is a message without text; ``Name:text`` only counts for a ``known`` sender.
    """
    index = rest.find(": ")
    if index < 0 and rest.endswith(":"):
        index = len(rest) - 1
    if index >= 0:
        name = rest[:index]
        if _plausible_name(name):
            return clean_name(name), rest[index + 2 :]
    for name in known:
        if rest.startswith(name + ":") and _plausible_name(name):
            return clean_name(name), rest[len(name) + 1 :]
    return None, rest


def is_secure_notice(text: str) -> bool:
    """The encryption notice or a security-code change (in any language listed above)."""
    if len(text) >= 400:
        return False
    lowered = text.lower()
    if "security code" in lowered:
        return _SECURITY_CODE.search(text) is not None
    return _SECURE.search(lowered) is not None


def is_group_event(text: str) -> bool:
    """An English group event text ("Alice added Bob", "You created group 'X'")."""
    return len(text) < 400 and "\n" not in text and _GROUP_EVENT.search(text) is not None


def created_by(sender: str, text: str) -> bool:
    """``Alice: Alice created this group`` - a creation notice iOS files under its creator."""
    return text.startswith(sender + " ") and _CREATED.search(text) is not None


def group_subject(text: str) -> str | None:
    """The subject in ``X created group "Subject"`` (the first such event names the chat)."""
    match = re.search(r"\bcreated group [\"“](?P<subject>[^\"”]+)[\"”]", text, re.IGNORECASE)
    return match["subject"].strip() if match else None


def export_title(file_name: str) -> str | None:
    """``X`` from an export's file name like ``WhatsApp Chat with X.txt`` (localised), or None."""
    stem = file_name.rsplit("/", 1)[-1]
    if "." in stem:
        stem = stem.rsplit(".", 1)[0]
    if "%20" in stem:
        stem = unquote(stem)
    match = _EXPORT_NAME.search(stem)
    if match is None:
        return None
    title = _COPY_SUFFIX.sub("", match["title"]).strip()
    return title or None
