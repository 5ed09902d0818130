"""What a Telegram Desktop JSON export looks like: chat types and a cheap test of a file's head.

Kept apart from the converter so that other JSON converters can refuse Telegram files without
importing (and so registering) the Telegram converter.
"""

from __future__ import annotations

import re
from typing import Literal

__all__ = ["BOT_CHAT", "CHAT_TYPES", "GROUP_TYPES", "PERSONAL_TYPES", "sniff"]

#: one person (or a bot, or yourself) and the account owner
PERSONAL_TYPES = frozenset({"personal_chat", "bot_chat", "saved_messages", "replies"})
#: many people: basic groups, supergroups and channels
GROUP_TYPES = frozenset(
    {
        "private_group",
        "private_supergroup",
        "public_supergroup",
        "private_channel",
        "public_channel",
    }
)
CHAT_TYPES = PERSONAL_TYPES | GROUP_TYPES
BOT_CHAT = "bot_chat"

_STRING = r'"(?:[^"\\]|\\.)*"'
# "Export Telegram data" writes "about" first, then the sections that were selected
_ACCOUNT_HEAD = re.compile(
    rf'^\{{\s*"about"\s*:\s*{_STRING}\s*,\s*"(?:personal_information|profile_pictures|stories|'
    r"profile_music|contacts|frequent_contacts|sessions|web_sessions|other_data|chats|"
    r'left_chats)"\s*:'
)
# hand-trimmed account exports may lack "about": the chat lists still have their own shape
_CHAT_LIST = re.compile(
    rf'"(?:left_)?chats"\s*:\s*\{{\s*(?:"about"\s*:\s*{_STRING}\s*,\s*)?"list"\s*:\s*\['
)
_MESSAGES = re.compile(r'"messages"\s*:\s*\[')
_CHAT_TYPE = re.compile(r'"type"\s*:\s*"(?:' + "|".join(sorted(CHAT_TYPES)) + r')"')
# keys and values only Telegram writes into a message
_MESSAGE_MARKS = re.compile(
    r'"date_unixtime"\s*:|"text_entities"\s*:|"from_id"\s*:\s*"(?:user|channel|chat)\d+"'
    r'|"type"\s*:\s*"(?:message|service)"\s*,\s*"date"\s*:'
)
# Messenger/Instagram exports also have "messages": these keys are theirs, never Telegram's
_FOREIGN = re.compile(r'"(?:timestamp_ms|sender_name|thread_path|guild)"\s*:')


def sniff(head: str) -> Literal["chat", "account"] | None:
    """``account`` for "Export Telegram data", ``chat`` for one chat's history, else None.

    ``head`` is the start of a JSON file (see ``converters.base.peek_json``).
    """
    if not head.startswith("{") or _FOREIGN.search(head):
        return None
    if _ACCOUNT_HEAD.match(head) or _CHAT_LIST.search(head):
        return "account"
    if _MESSAGES.search(head) and (_CHAT_TYPE.search(head) or _MESSAGE_MARKS.search(head)):
        return "chat"
    return None
