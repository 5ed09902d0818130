"""Writes a synthetic Slack export of N messages (zip or folder) for measuring the Slack converter.

    python benchmarks/gen_slack.py --messages 200000 --channels 20 --out /tmp/slack-200k.zip
    python benchmarks/gen_slack.py --messages 200000 --out /tmp/slack-200k   # unpacked folder

The mix resembles a busy workspace: mentions, links and entities in text, thread replies filed
under their own day (up to days after the parent), broadcast replies, bot posts with attachments,
file shares, rich-text blocks and joins (skipped, so they come on top of N). Same arguments,
same bytes: the generator is seeded.
"""

from __future__ import annotations

import argparse
import json
import random
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from itertools import chain
from pathlib import Path
from typing import Any

__all__ = ["generate", "main"]

START = 1_600_000_000  # 2020-09-13
WORDS = [
    "ship",
    "deploy",
    "review",
    "merge",
    "the",
    "a",
    "to",
    "of",
    "release",
    "notes",
    "widget",
    "api",
    "bug",
    "fix",
    "test",
    "plan",
    "today",
    "tomorrow",
    "friday",
    "launch",
    "customer",
    "metrics",
    "dashboard",
    "latency",
    "memory",
    "import",
    "export",
    "thread",
]


def _users(count: int) -> list[dict[str, Any]]:
    return [
        {
            "id": f"U{index:08d}",
            "name": f"user{index}",
            "deleted": index % 97 == 0,
            "real_name": f"User Number {index}",
            "profile": {"real_name": f"User Number {index}", "display_name": f"u{index}"},
        }
        for index in range(count)
    ]


def _text(rng: random.Random, users: list[dict[str, Any]]) -> str:
    words = rng.choices(WORDS, k=rng.randint(4, 24))
    roll = rng.random()
    if roll < 0.2:
        words.insert(0, f"<@{rng.choice(users)['id']}>")
    elif roll < 0.3:
        words.append("<https://example.com/docs/page|the docs>")
    elif roll < 0.35:
        words.append("&amp; &lt;tag&gt;")
    return " ".join(words)


def _message(
    rng: random.Random, users: list[dict[str, Any]], ts: str, roots: list[str]
) -> dict[str, Any]:
    user = rng.choice(users)["id"]
    roll = rng.random()
    if roll < 0.05:
        return {
            "type": "message", "subtype": "bot_message", "bot_id": "B00000001",
            "username": "github", "text": "", "ts": ts,
            "attachments": [{
                "fallback": "[acme/app] build passed", "pretext": "[acme/app] Pull request opened",
                "title": f"#{rng.randint(1, 9999)} {_text(rng, users)}",
                "title_link": "https://github.com/acme/app/pull/1", "text": _text(rng, users),
            }],
        }  # fmt: skip
    message: dict[str, Any] = {"type": "message", "user": user, "text": _text(rng, users), "ts": ts}
    if roll < 0.08:
        message["files"] = [
            {"id": "F1", "name": f"file{rng.randint(1, 999)}.png", "mode": "hosted"}
        ]
    elif roll < 0.12:
        message["client_msg_id"] = f"c-{ts}"
        message["blocks"] = [{"type": "rich_text", "elements": [{"type": "rich_text_section",
                              "elements": [{"type": "text", "text": message["text"]}]}]}]  # fmt: skip
    if roots and roll > 0.85:
        message["thread_ts"] = rng.choice(roots[-50:])
        message["parent_user_id"] = user
        if roll > 0.99:
            message["subtype"] = "thread_broadcast"
    elif roll > 0.80:
        message["thread_ts"] = ts
        roots.append(ts)
    return message


def _channel_days(
    rng: random.Random, users: list[dict[str, Any]], count: int, offset: int
) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """Day files of one channel, in order; about 400 messages a day, plus a join now and then."""
    roots: list[str] = []
    day: str | None = None
    batch: list[dict[str, Any]] = []
    for index in range(count):
        seconds = START + offset + index * 216  # ~400 a day
        ts = f"{seconds}.{rng.randint(0, 999_999):06d}"
        today = datetime.fromtimestamp(seconds, UTC).date().isoformat()
        if today != day:
            if batch and day:
                yield day, batch
            day, batch = today, []
        if index % 500 == 0:
            who = rng.choice(users)["id"]
            batch.append({"type": "message", "subtype": "channel_join", "user": who,
                          "text": f"<@{who}> has joined the channel", "ts": ts})  # fmt: skip
        batch.append(_message(rng, users, ts, roots))
    if batch and day:
        yield day, batch


def generate(out: Path, messages: int, channels: int, seed: int = 7) -> None:
    """Write the export to ``out`` (a ``.zip`` file, or else a folder)."""
    rng = random.Random(seed)
    users = _users(200)
    listed = [
        {"id": f"C{index:08d}", "name": f"channel-{index}", "members": [u["id"] for u in users[:20]],
         "purpose": {"value": f"Channel {index}"}, "topic": {"value": ""}}
        for index in range(channels)
    ]  # fmt: skip
    days = (
        (f"{channel['name']}/{day}.json", batch)
        for number, channel in enumerate(listed)
        for day, batch in _channel_days(
            rng, users, messages // channels + (number < messages % channels), number * 7
        )
    )  # lazy: one day file in memory at a time
    files = chain([("users.json", users), ("channels.json", listed)], days)
    if out.suffix == ".zip":
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, data in files:
                archive.writestr(name, json.dumps(data, indent=1))
        return
    for name, data in files:
        target = out / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(data, indent=1), encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--channels", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, required=True, help="a .zip path, or a folder")
    args = parser.parse_args(argv)
    generate(args.out, args.messages, max(1, args.channels), args.seed)


if __name__ == "__main__":
    main()
