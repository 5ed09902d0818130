"""Rebuilds the zulip-derived part of ``export/`` from the shared fixture copies (run by hand).

    python tests/data/slack/build_export.py /path/to/fixtures/slack-zulip

Lists (channels, dms, mpims) and the two ``random/`` day files are copied byte for byte; the other
zulip message files are spread over conversation folders and split into day files by the UTC
date of each message's ``ts``, the way Slack files them. ``users.json`` is zulip's two user lists
plus the hand-written users below. ``groups.json`` and ``design-private/`` are hand-written and
left alone. See README.md for sources and licences.
"""

from __future__ import annotations

import json
import shutil
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
EXPORT = HERE / "export"

#: conversation folder -> zulip files (in exported_messages_fixtures/) whose messages it holds
FOLDERS = {
    "general": [
        "thread_with_broadcast_reply.json",
        "thread_with_mention_syntax_in_topic_name.json",
        "thread_with_file_link_formatting_in_topic_name.json",
    ],
    "general1": [
        "message_with_basic_formatting.json",
        "message_with_bullet_list.json",
        "message_with_channel_mentions.json",
        "message_with_code_block.json",
        "message_with_emojis.json",
        "message_with_inline_code.json",
        "message_with_links.json",
        "message_with_nested_ordered_list.json",
        "message_with_nested_unordered_list.json",
        "message_with_quote_block.json",
        "message_with_user_mentions.json",
        "message_with_variety_files_and_rich_text.json",
        "message_with_varying_block_types.json",
        "message_with_workspace_mentions.json",
    ],
    "sharedchannel": [
        "normal_messages.json",
        "thread_with_text_formattings_in_topic_name.json",
        "message_with_unknown_rich_text_block.json",
    ],
    "DJ47BL849": ["normal_thread.json"],
    "DHX1UP7EG": ["threads_with_colliding_topic_names.json"],
    "DK8HSJDHS": ["thread_with_long_topic_name.json"],
    "mpdm-user9--user2--user10-1": ["threads_with_whitespace_in_topic_name.json"],
}

#: hand-written: a deleted user (name only in the profile) and a bot user with its bot id
EXTRA_USERS = [
    {
        "id": "U0DELETED1",
        "team_id": "T5YFFM2QY",
        "name": "formerdev",
        "deleted": True,
        "profile": {"real_name": "Former Dev", "display_name": "", "team": "T5YFFM2QY"},
        "is_bot": False,
    },
    {
        "id": "U0GHBOT01",
        "team_id": "T5YFFM2QY",
        "name": "github",
        "deleted": False,
        "real_name": "GitHub",
        "profile": {"real_name": "GitHub", "bot_id": "B0GITHUB1", "team": "T5YFFM2QY"},
        "is_bot": True,
    },
]


def day_of(ts: str) -> str:
    seconds = int(ts.partition(".")[0])
    return datetime.fromtimestamp(seconds, UTC).date().isoformat()


def main(zulip: Path) -> None:
    for name in ("channels.json", "dms.json", "mpims.json"):
        shutil.copyfile(zulip / name, EXPORT / name)
    (EXPORT / "random").mkdir(parents=True, exist_ok=True)
    for file in sorted((zulip / "test_slack_importer" / "random").glob("*.json")):
        shutil.copyfile(file, EXPORT / "random" / file.name)
    users = []
    for name in ("test_slack_importer/users.json", "exported_messages_fixtures/users.json"):
        users.extend(json.loads((zulip / name).read_text(encoding="utf-8")))
    write(EXPORT / "users.json", users + EXTRA_USERS)
    for folder, files in FOLDERS.items():
        days: dict[str, list[dict[str, Any]]] = {}
        for name in files:
            data = json.loads((zulip / "exported_messages_fixtures" / name).read_text("utf-8"))
            for message in data if isinstance(data, list) else [data]:
                days.setdefault(day_of(message["ts"]), []).append(message)
        target = EXPORT / folder
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        for day_name, messages in sorted(days.items()):
            messages.sort(key=lambda m: tuple(map(int, m["ts"].split("."))))  # Slack sorts by ts
            write(target / f"{day_name}.json", messages)


def write(path: Path, data: object) -> None:
    path.write_text(json.dumps(data, indent=4, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "/work/shared/fixtures/slack-zulip"))
