"""Generate one large EverOS batch JSON or EverCore ConversationFormat conversation, and time it.

    python benchmarks/gen_everos.py 1000000 /tmp/everos-1m.json                  # EverOS group
    python benchmarks/gen_everos.py 1000000 /tmp/cf-1m.json --format cf          # ConversationFormat
    python benchmarks/gen_everos.py 1000000 /tmp/late.json --header-last         # ids after messages
    python benchmarks/gen_everos.py 1000000 /tmp/list.json --conversations 100   # a list of them
    python benchmarks/gen_everos.py --measure /tmp/everos-1m.json                # validate-only run

The file is written as it is generated (constant memory) and is the same for the same arguments.
Messages mix what real files hold: given and missing message ids, Unix-ms and ISO 8601 times,
replies, sender names, CJK and emoji text. ``--header-last`` writes the conversation's fields
(``group_id``/``group_meta``, or ``session_meta``) after the message list, which makes the
converter read the file twice; ``--solo`` writes a personal conversation (EverOS ``user_id``, or a
ConversationFormat ``scene: solo`` file that declares no user, so the user is found by counting);
``--conversations N`` an EverOS list of N conversations, groups and personal ones in turn.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Literal, TextIO

__all__ = ["measure", "write_file"]

Format = Literal["everos", "cf"]

_WORDS = (
    *("the", "release", "build", "is", "green", "again", "after", "the", "flaky", "cache"),
    *("test", "got", "fixed", "so", "we", "can", "ship", "tomorrow", "morning", "unless"),
    *("someone", "finds", "another", "regression", "in", "the", "importer", "pipeline"),
    *("明天", "发布", "😀"),
)
_START_MS = 1_700_000_000_000
_PEOPLE = 24
_GROUP_ID = "bench_group"
_USER_ID = "bench_user"


def _iso(ms: int) -> str:
    seconds, millis = divmod(ms, 1000)
    clock = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    return f"{clock}.{millis:03d}Z"


def _everos_message(index: int, ms: int, rnd: random.Random, solo: bool) -> dict[str, Any]:
    person = rnd.randrange(_PEOPLE)
    assistant = person == 0
    message: dict[str, Any] = {"role": "assistant" if assistant else "user"}
    if not solo:
        message["sender_id"] = f"user_{person:02d}"
        if person % 3:
            message["sender_name"] = f"Person {person}"
    message["timestamp"] = _iso(ms) if index % 10 == 3 else ms
    message["content"] = " ".join(rnd.choices(_WORDS, k=rnd.randint(3, 24)))
    if index % 50 != 7:  # every 50th message leaves its id to be derived
        message["message_id"] = f"m{index:07d}"
    if index and rnd.random() < 0.08:
        message["reply_to"] = f"m{rnd.randrange(index):07d}"
    return message


def _cf_message(index: int, ms: int, rnd: random.Random, solo: bool) -> dict[str, Any]:
    # solo: the user is whoever writes most (person 1), the assistant answers
    person = rnd.choice((1, 1, 1, 2, 0)) if solo else rnd.randrange(_PEOPLE)
    message: dict[str, Any] = {}
    if index % 50 != 7:
        message["message_id"] = f"msg_{index:07d}"
    message["create_time"] = _iso(ms) if index % 10 else ms // 1000
    message["sender"] = f"user_{person:02d}"
    message["content"] = " ".join(rnd.choices(_WORDS, k=rnd.randint(3, 24)))
    if index and rnd.random() < 0.08:
        message["refer_list"] = [f"msg_{rnd.randrange(index):07d}"]
    return message


def _header(fmt: Format, solo: bool, number: int = 0) -> dict[str, Any]:
    suffix = f"_{number}" if number else ""
    if fmt == "everos":
        if solo:
            return {"user_id": _USER_ID, "session_id": f"bench_session{suffix}"}
        return {"group_id": _GROUP_ID + suffix, "group_meta": {"name": "Benchmark group"}}
    users: dict[str, Any] = {
        f"user_{i:02d}": {"full_name": f"Person {i}"} for i in range(_PEOPLE if not solo else 3)
    }
    users["user_00"]["role"] = "assistant"
    meta: dict[str, Any] = {
        "group_id": _GROUP_ID,
        "name": "Benchmark group",
        "scene": "solo" if solo else "team",
        "timezone": "Asia/Shanghai",
        "user_details": users,
    }
    return {"version": "1.0.0", "session_meta": meta}


def write_file(
    path: Path,
    count: int,
    *,
    fmt: Format = "everos",
    header_last: bool = False,
    solo: bool = False,
    conversations: int = 0,
    seed: int = 7,
) -> None:
    """Write one conversation of ``count`` messages to ``path``, one message at a time;
    ``conversations`` > 0 (EverOS only): a list of that many, groups and personal ones in turn,
    sharing the ``count`` messages."""
    rnd = random.Random(seed)
    with path.open("w", encoding="utf-8") as out:
        if not conversations:
            _write_conversation(out, count, rnd, _header(fmt, solo), fmt, header_last, solo)
            out.write("\n")
            return
        if fmt != "everos":
            raise ValueError("only EverOS files hold a list of conversations")
        out.write("[\n")
        for number in range(1, conversations + 1):
            personal = number % 2 == 0
            share = count // conversations + (number <= count % conversations)
            header = _header(fmt, personal, number)
            out.write("" if number == 1 else ",\n")
            _write_conversation(out, share, rnd, header, fmt, header_last, personal)
        out.write("\n]\n")


def _write_conversation(
    out: TextIO,
    count: int,
    rnd: random.Random,
    header: dict[str, Any],
    fmt: Format,
    header_last: bool,
    solo: bool,
) -> None:
    fields = [
        f"{json.dumps(key)}: {json.dumps(value, ensure_ascii=False)}"
        for key, value in header.items()
    ]
    list_key = "messages" if fmt == "everos" else "conversation_list"
    out.write("{\n")
    if not header_last:
        out.write("".join(f"  {field},\n" for field in fields))
    out.write(f'  "{list_key}": [\n')
    _write_messages(out, count, rnd, fmt, solo)
    out.write("\n  ]")
    if header_last:
        out.write("".join(f",\n  {field}" for field in fields))
    out.write("\n}")


def _write_messages(out: TextIO, count: int, rnd: random.Random, fmt: Format, solo: bool) -> None:
    make = _everos_message if fmt == "everos" else _cf_message
    ms = _START_MS
    for index in range(count):
        ms += rnd.randint(1_000, 90_000)
        text = json.dumps(make(index, ms, rnd, solo), ensure_ascii=False)
        out.write(("    " if index == 0 else ",\n    ") + text)


def measure(path: Path, *, source: str | None = None) -> dict[str, float]:
    """``python -m importer PATH --validate-only`` in a child process: time, CPU and peak RSS."""
    command = [sys.executable, "-m", "importer", str(path), "--validate-only", "--no-progress"]
    if source:
        command += ["--source", source]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = {
        "exit_code": float(done.returncode),
        "seconds": elapsed,
        "user_cpu": after.ru_utime - before.ru_utime,
        "peak_rss_mb": after.ru_maxrss / 1024,  # KiB on Linux
    }
    print(
        f"file={path.stat().st_size / 1e6:.1f}MB exit={done.returncode} seconds={elapsed:.2f}"
        f" user_cpu={result['user_cpu']:.2f}s peak_rss={result['peak_rss_mb']:.0f}MB"
    )
    if done.returncode:
        print(done.stdout[-2000:], done.stderr[-2000:], sep="\n")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("count", nargs="?", type=int, help="messages to generate")
    parser.add_argument("path", type=Path, help="output file (or the file to --measure)")
    parser.add_argument("--format", choices=("everos", "cf"), default="everos")
    parser.add_argument(
        "--header-last",
        action="store_true",
        help="write the conversation's fields after its messages",
    )
    parser.add_argument("--solo", action="store_true", help="a personal conversation")
    parser.add_argument(
        "--conversations",
        type=int,
        default=0,
        help="EverOS: a list of this many conversations (groups and personal ones in turn)",
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--measure",
        action="store_true",
        help="run --validate-only on PATH and report time, CPU and peak RSS",
    )
    args = parser.parse_args()
    if args.measure:
        measure(args.path)
    elif args.count is None:
        parser.error("COUNT is required to generate")
    else:
        write_file(
            args.path,
            args.count,
            fmt=args.format,
            header_last=args.header_last,
            solo=args.solo,
            conversations=args.conversations,
            seed=args.seed,
        )


if __name__ == "__main__":
    main()
