"""Generate a ChatGPT-shaped conversations.json, and measure converting it.

    python benchmarks/gen_chatgpt.py --size-mb 500 /tmp/chatgpt-500mb.json   # write ~500 MB
    python benchmarks/gen_chatgpt.py 2000 /tmp/chatgpt-2k.json               # or N conversations
    python benchmarks/gen_chatgpt.py --measure /tmp/chatgpt-500mb.json       # converter: rate, RSS
    python benchmarks/gen_chatgpt.py --measure-cli /tmp/chatgpt-500mb.json   # whole --validate-only

The file is written as it is generated (constant memory), on one line like a real export, and is
the same for the same arguments and seed. Conversations hold what real ones do around the text:
the root node, a hidden system message, custom instructions, reasoning (``thoughts``), code sent
to the python tool and its output, images, regenerated answers on a side branch, and the
metadata every node carries; the converter leaves all of that out but has to parse it.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, TextIO

__all__ = ["generate_conversation", "measure", "measure_cli", "write_export"]

_SENTENCE = (
    "the model answers with a short list of steps then explains why each one matters for "
    "your project and suggests a test you can run tomorrow morning before the release so "
    "that nothing in the importer pipeline breaks when the export grows past a gigabyte"
)
_WORDS = _SENTENCE.split()
_START = 1_700_000_000.0


def _text(rnd: random.Random, low: int, high: int) -> str:
    return " ".join(rnd.choices(_WORDS, k=rnd.randint(low, high)))


def _metadata(rnd: random.Random, role: str) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "request_id": f"{rnd.getrandbits(64):016x}-SJC",
        "message_source": None,
        "timestamp_": "absolute",
        "message_type": None,
    }
    if role == "assistant":
        meta.update(
            finish_details={"type": "stop", "stop_tokens": [200002]},
            is_complete=True,
            citations=[],
            content_references=[],
            model_slug="gpt-4o",
            default_model_slug="auto",
        )
    return meta


class _Builder:
    """Nodes of one conversation, each the child of the one before unless told otherwise."""

    def __init__(self, rnd: random.Random, start: float) -> None:
        self.rnd = rnd
        self.clock = start
        self.mapping: dict[str, Any] = {}
        self.last: str | None = None
        root = self._id()
        self.mapping[root] = {"id": root, "message": None, "parent": None, "children": []}
        self.last = root

    def _id(self) -> str:
        return str(uuid.UUID(int=self.rnd.getrandbits(128), version=4))

    def add(
        self,
        role: str,
        content: dict[str, Any],
        *,
        recipient: str = "all",
        hidden: bool = False,
        parent: str | None = None,
        timed: bool = True,
    ) -> str:
        node_id = self._id()
        parent = parent or self.last
        self.clock += self.rnd.uniform(0.5, 40.0)
        metadata = _metadata(self.rnd, role)
        if hidden:
            metadata["is_visually_hidden_from_conversation"] = True
        message = {
            "id": node_id,
            "author": {"role": role, "name": "python" if role == "tool" else None, "metadata": {}},
            "create_time": round(self.clock, 6) if timed else None,
            "update_time": None,
            "content": content,
            "status": "finished_successfully",
            "end_turn": role == "assistant" or None,
            "weight": 1.0,
            "metadata": metadata,
            "recipient": recipient,
            "channel": None,
        }
        self.mapping[node_id] = {
            "id": node_id,
            "message": message,
            "parent": parent,
            "children": [],
        }
        assert parent is not None
        self.mapping[parent]["children"].append(node_id)
        self.last = node_id
        return node_id


def generate_conversation(index: int, rnd: random.Random, turns: int) -> dict[str, Any]:
    """Conversation ``index``: ``turns`` question/answer pairs plus the nodes real ones carry."""
    start = _START + index * 3600.0
    b = _Builder(rnd, start)
    b.add("system", {"content_type": "text", "parts": [""]}, hidden=True, timed=False)
    if index % 3 == 0:
        context = {"content_type": "user_editable_context", "user_profile": _text(rnd, 20, 40)}
        b.add("user", context, hidden=True, timed=False)
    for turn in range(turns):
        question: dict[str, Any] = {"content_type": "text", "parts": [_text(rnd, 8, 60)]}
        if turn % 7 == 3:
            image = {"content_type": "image_asset_pointer", "asset_pointer": "file-service://x"}
            question = {"content_type": "multimodal_text", "parts": [image, _text(rnd, 5, 20)]}
        asked = b.add("user", question)
        if turn % 4 == 1:
            thoughts = [{"summary": "Thinking", "content": _text(rnd, 40, 120), "finished": True}]
            b.add("assistant", {"content_type": "thoughts", "thoughts": thoughts})
        if turn % 5 == 2:
            code = {"content_type": "code", "language": "python", "text": _text(rnd, 10, 40)}
            b.add("assistant", code, recipient="python")
            b.add("tool", {"content_type": "execution_output", "text": _text(rnd, 5, 30)})
        answer = {"content_type": "text", "parts": [_text(rnd, 150, 700)]}
        if index % 5 == 4 and turn == turns // 2:
            # a regenerated answer: the first try stays on a side branch
            b.add("assistant", {"content_type": "text", "parts": [_text(rnd, 50, 200)]})
            b.last = asked
        b.add("assistant", answer)
    conversation_id = str(uuid.UUID(int=rnd.getrandbits(128), version=4))
    return {
        "title": _text(rnd, 2, 6).capitalize(),
        "create_time": start,
        "update_time": round(b.clock, 6),
        "mapping": b.mapping,
        "moderation_results": [],
        "current_node": b.last,
        "plugin_ids": None,
        "conversation_id": conversation_id,
        "conversation_template_id": None,
        "gizmo_id": None,
        "is_archived": False,
        "safe_urls": [],
        "default_model_slug": "gpt-4o",
        "id": conversation_id,
    }


def write_export(
    path: Path,
    count: int | None = None,
    *,
    size_mb: float | None = None,
    turns: int = 12,
    seed: int = 7,
) -> int:
    """Write ``count`` conversations (or until ``size_mb``) to ``path``; returns how many."""
    if count is None and size_mb is None:
        raise ValueError("give count or size_mb")
    rnd = random.Random(seed)
    limit = int(size_mb * 1_000_000) if size_mb is not None else None
    written = 0
    with path.open("w", encoding="ascii") as out:
        out.write("[")
        written = _write_items(out, rnd, count, limit, turns)
        out.write("]")
    return written


def _write_items(
    out: TextIO, rnd: random.Random, count: int | None, limit: int | None, turns: int
) -> int:
    index = size = 0
    while (count is None or index < count) and (limit is None or size < limit):
        text = json.dumps(generate_conversation(index, rnd, turns))
        out.write(text if index == 0 else ", " + text)
        size += len(text) + 2
        index += 1
    return index


def measure(path: Path) -> dict[str, float]:
    """Stream ``path`` through the converter's ``read()`` keeping nothing; rate and peak RSS."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from converters.chatgpt import ChatGPTConverter

    started = time.perf_counter()
    converter = ChatGPTConverter()
    conversations = kept = skipped = 0
    for conversation in converter.read(path):
        conversations += 1
        kept += len(conversation.messages)
        skipped += conversation.skipped
    elapsed = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    size_mb = path.stat().st_size / 1e6
    print(
        f"file={size_mb:.1f}MB conversations={conversations} kept={kept} skipped={skipped} "
        f"rejected={len(converter.rejected)} seconds={elapsed:.1f} rate={size_mb / elapsed:.1f}MB/s "
        f"peak_rss={peak_mb:.0f}MB"
    )
    return {"conversations": conversations, "seconds": elapsed, "peak_rss_mb": peak_mb}


def measure_cli(path: Path) -> dict[str, float]:
    """``python -m importer PATH --validate-only`` in its own process; its peak RSS."""
    repo = Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory() as work:
        started = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "-m", "importer", str(path), "--validate-only", "--no-progress"],
            cwd=work,
            env={"PYTHONPATH": str(repo), "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            check=False,
        )
        elapsed = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    summary = [line for line in result.stdout.splitlines() if line.strip()][-1:]
    print(
        f"exit={result.returncode} file={path.stat().st_size / 1e6:.1f}MB seconds={elapsed:.1f} "
        f"peak_rss={peak_mb:.0f}MB {' '.join(summary)}"
    )
    if result.returncode != 0:
        print(result.stderr[-2000:], file=sys.stderr)
    return {"exit": result.returncode, "seconds": elapsed, "peak_rss_mb": peak_mb}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("count", nargs="?", type=int, help="conversations to generate")
    parser.add_argument("path", type=Path, help="output file (or the file to measure)")
    parser.add_argument("--size-mb", type=float, help="generate until the file is this big")
    parser.add_argument("--turns", type=int, default=12, help="question/answer pairs each")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--measure", action="store_true", help="convert PATH and report")
    parser.add_argument("--measure-cli", action="store_true", help="validate PATH with the CLI")
    args = parser.parse_args()
    if args.measure:
        measure(args.path)
    elif args.measure_cli:
        measure_cli(args.path)
    elif args.count is None and args.size_mb is None:
        parser.error("COUNT or --size-mb is required to generate")
    else:
        n = write_export(args.path, args.count, size_mb=args.size_mb, turns=args.turns)
        print(f"wrote {n} conversations, {args.path.stat().st_size / 1e6:.1f} MB to {args.path}")


if __name__ == "__main__":
    main()
