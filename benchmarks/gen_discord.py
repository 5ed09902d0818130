"""Generate a DiscordChatExporter-shaped JSON export of N messages, and time converting one.

    python benchmarks/gen_discord.py 300000 /tmp/discord-300k.json     # write the file
    python benchmarks/gen_discord.py --measure /tmp/discord-300k.json  # convert; rate + peak RSS

The file is written as it is generated (constant memory) and is the same for the same N and seed.
Messages mix what real exports hold: plain text, replies, attachment-only and sticker-only posts,
bot embeds, reactions, and member joins/pins (skipped by the converter).
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import sys
import time
from pathlib import Path
from typing import Any, TextIO

__all__ = ["SYSTEM_TYPES", "generate_message", "measure", "write_export"]

_CHANNEL_ID = "1100000000000009999"
_GUILD = {"id": "1000000000000009999", "name": "Benchmark Guild", "iconUrl": None}
_WORDS = [
    "the",
    "release",
    "build",
    "is",
    "green",
    "again",
    "after",
    "the",
    "flaky",
    "cache",
    "test",
    "got",
    "fixed",
    "so",
    "we",
    "can",
    "ship",
    "tomorrow",
    "morning",
    "unless",
    "someone",
    "finds",
    "another",
    "regression",
    "in",
    "the",
    "importer",
    "pipeline",
]
_START_MS = 1_600_000_000_000


def _author(index: int) -> dict[str, Any]:
    return {
        "id": str(2_000_000_000_000_000_000 + index),
        "name": f"user{index}",
        "discriminator": "0000",
        "nickname": f"User {index}" if index % 3 else f"user{index}",
        "color": None,
        "isBot": index == 0,
        "roles": [],
        "avatarUrl": "https://cdn.discordapp.com/embed/avatars/0.png",
    }


def _timestamp(ms: int) -> str:
    seconds, millis = divmod(ms, 1000)
    clock = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    return f"{clock}.{millis:03d}+00:00"


def generate_message(
    index: int, ms: int, rnd: random.Random, authors: list[dict[str, Any]]
) -> dict[str, Any]:
    """Message ``index`` of the export, sent at ``ms``."""
    roll = rnd.random()
    kind, content = "Default", " ".join(rnd.choices(_WORDS, k=rnd.randint(3, 18)))
    extra: dict[str, Any] = {"attachments": [], "embeds": [], "stickers": [], "reactions": []}
    if roll < 0.02:
        kind, content = "GuildMemberJoin", "Joined the server."
    elif roll < 0.03:
        kind, content = "ChannelPinnedMessage", "Pinned a message."
    elif roll < 0.06:
        content = ""
        extra["attachments"] = [
            {
                "id": str(1_300_000_000_000_000_000 + index),
                "url": f"https://cdn.example/{index}.png",
                "fileName": f"image-{index}.png",
                "fileSizeBytes": 20480,
            }
        ]
    elif roll < 0.07:
        content = ""
        extra["stickers"] = [
            {"id": "1400000000000000001", "name": "Wave", "format": "Png", "sourceUrl": ""}
        ]
    elif roll < 0.15 and index:
        kind = "Reply"
        extra["reference"] = {
            "messageId": str(1_200_000_000_000_000_000 + rnd.randrange(index)),
            "channelId": _CHANNEL_ID,
            "guildId": _GUILD["id"],
        }
    if roll > 0.9:
        extra["reactions"] = [
            {
                "emoji": {
                    "id": "",
                    "name": "👍",
                    "code": "thumbsup",
                    "isAnimated": False,
                    "imageUrl": "",
                },
                "count": 2,
                "users": [],
            }
        ]
    return {
        "id": str(1_200_000_000_000_000_000 + index),
        "type": kind,
        "timestamp": _timestamp(ms),
        "timestampEdited": None,
        "callEndedTimestamp": None,
        "isPinned": False,
        "content": content,
        "author": authors[rnd.randrange(len(authors))],
        **extra,
        "mentions": [],
    }


#: message types the converter leaves out (system events)
SYSTEM_TYPES = frozenset({"GuildMemberJoin", "ChannelPinnedMessage"})


def write_export(path: Path, count: int, *, seed: int = 7, authors: int = 40) -> int:
    """Write a DCE-shaped export of ``count`` messages to ``path``, one message at a time;
    returns how many of them are chat messages (not ``SYSTEM_TYPES``), i.e. what an import sends."""
    rnd = random.Random(seed)
    people = [_author(i) for i in range(authors)]
    channel = {
        "id": _CHANNEL_ID,
        "type": "GuildTextChat",
        "categoryId": None,
        "category": None,
        "name": "benchmark",
        "topic": None,
    }
    with path.open("w", encoding="utf-8") as out:
        out.write('{\n  "guild": ' + json.dumps(_GUILD) + ',\n  "channel": ' + json.dumps(channel))
        out.write(',\n  "dateRange": {"after": null, "before": null},\n  "messages": [\n')
        chat = _write_messages(out, count, rnd, people)
        out.write('\n  ],\n  "messageCount": ' + str(count) + "\n}\n")
    return chat


def _write_messages(
    out: TextIO, count: int, rnd: random.Random, people: list[dict[str, Any]]
) -> int:
    ms = _START_MS
    chat = 0
    for index in range(count):
        ms += rnd.randint(0, 90_000)
        message = generate_message(index, ms, rnd, people)
        chat += message["type"] not in SYSTEM_TYPES
        text = json.dumps(message, ensure_ascii=False, indent=2)
        out.write(("    " if index == 0 else ",\n    ") + text.replace("\n", "\n    "))
    return chat


def measure(path: Path) -> dict[str, float]:
    """Convert ``path`` through the converter's ``read()``; messages/s and peak RSS in MB."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from converters.discord import DiscordConverter
    from converters.discord_common import JSON_BACKEND

    started = time.perf_counter()
    converter = DiscordConverter()
    conversations = list(converter.read(path))
    elapsed = time.perf_counter() - started
    kept = sum(len(c.messages) for c in conversations)
    seen = kept + sum(c.skipped for c in conversations)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(
        f"backend={JSON_BACKEND} file={path.stat().st_size / 1e6:.1f}MB messages={seen} "
        f"kept={kept} seconds={elapsed:.2f} rate={seen / elapsed:,.0f}/s peak_rss={peak_mb:.0f}MB"
    )
    return {"messages": seen, "seconds": elapsed, "peak_rss_mb": peak_mb}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("count", nargs="?", type=int, help="messages to generate")
    parser.add_argument("path", type=Path, help="output file (or the file to --measure)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--measure", action="store_true", help="convert PATH and report")
    args = parser.parse_args()
    if args.measure:
        measure(args.path)
    elif args.count is None:
        parser.error("COUNT is required to generate")
    else:
        write_export(args.path, args.count, seed=args.seed)


if __name__ == "__main__":
    main()
