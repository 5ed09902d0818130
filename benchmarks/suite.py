"""The benchmark suite: several workloads one after another, each import into a sandbox process of
its own, reported in one table against the simulated ideal (benchmarks/simulate.py).

    python benchmarks/bench.py suite [--only a b c d e] [--scale 1] [--time-scale 1] [--json]

a) 64 x 600 messages, tasks 200 ms; b) the same with tasks of 1 s; c) 16 x 2,400; d) 10,000 x 10:
concurrency 16, chunks of 100, adds 100 ms, everything ± 50 %. e) one conversation of 1,000,000
messages in chunks of 500 into a server that takes no time, as EverOS batch JSON and as a
DiscordChatExporter file, and ``--validate-only`` on both files. ``--scale`` shrinks the larger
dimension of each workload, ``--time-scale`` the latencies and task times (the ideal follows).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from benchmarks import gen_discord
from benchmarks.bench import (
    SandboxProcess,
    _workdir,
    fraction_of,
    run_importer,
    sandbox_ideal,
    validate_file,
    write_exports,
)

__all__ = ["CASES", "ImportCase", "format_suite", "run_suite"]


@dataclass(frozen=True)
class ImportCase:
    """One import workload; ``source`` is the input format written for it."""

    name: str
    conversations: int
    messages: int  #: per conversation (a Discord file holds a few system events on top)
    task_delay_ms: float = 200
    latency_ms: float = 100
    jitter: float = 0.5  #: of the add latency and of the task delay
    concurrency: int = 16
    chunk_size: int = 100
    source: str = "everos"

    def scaled(self, scale: float, time_scale: float) -> ImportCase:
        """The larger dimension times ``scale`` (at least 1), the times times ``time_scale``."""
        big = max(1, round(max(self.conversations, self.messages) * scale))
        conversations, messages = ((self.conversations, big) if self.messages >= self.conversations
                                   else (big, self.messages))  # fmt: skip
        return replace(self, conversations=conversations, messages=messages,
                       latency_ms=self.latency_ms * time_scale,
                       task_delay_ms=self.task_delay_ms * time_scale)  # fmt: skip

    @property
    def title(self) -> str:
        size = f"{self.conversations:,} x {self.messages:,}"
        if self.source == "discord":
            return f"{size} Discord (DCE) JSON, chunk {self.chunk_size}, server 0 ms"
        if not self.latency_ms and not self.task_delay_ms:
            return f"{size} EverOS JSON, chunk {self.chunk_size}, server 0 ms"
        return f"{size}, tasks {_duration(self.task_delay_ms)}"


CASES: dict[str, list[ImportCase]] = {
    "a": [ImportCase("a", 64, 600)],
    "b": [ImportCase("b", 64, 600, task_delay_ms=1000)],
    "c": [ImportCase("c", 16, 2_400)],
    "d": [ImportCase("d", 10_000, 10)],
    "e": [
        ImportCase("e1", 1, 1_000_000, task_delay_ms=0, latency_ms=0, chunk_size=500),
        ImportCase("e2", 1, 1_000_000, task_delay_ms=0, latency_ms=0, chunk_size=500,
                   source="discord"),
    ],
}  # fmt: skip


def _duration(ms: float) -> str:
    return f"{ms / 1000:g} s" if ms >= 1000 else f"{ms:g} ms"


# -- running -------------------------------------------------------------------------------------


def _import_row(case: ImportCase, work: Path, args: argparse.Namespace,
                inputs: dict[str, Path]) -> dict[str, Any]:  # fmt: skip
    """Run one import workload against a fresh sandbox and check what it stored."""
    here = work / case.name
    here.mkdir(parents=True, exist_ok=True)
    expected_ids: dict[str, list[str]] | None = None
    if case.source == "discord":
        path, messages = _discord_file(work, case.messages, inputs)
    else:
        path = here / "inputs"
        expected_ids = write_exports(path, f"suite-{case.name}", case.conversations, case.messages)
        messages = case.messages
        if case.conversations == 1:
            inputs["everos"] = next(path.iterdir())  # --validate-only reads the same file
    server = SandboxProcess(
        here / "sandbox.db", here / "sandbox.log", latency_ms=case.latency_ms,
        task_delay_ms=case.task_delay_ms, latency_jitter=case.jitter,
        task_delay_jitter=case.jitter,
    )  # fmt: skip
    try:
        ours = run_importer(server, path, here, concurrency=case.concurrency,
                            chunk_size=case.chunk_size, lanes=None, timeout=args.timeout)  # fmt: skip
        total = case.conversations * messages
        problems = (server.verify(expected_ids) if expected_ids is not None
                    else server.verify_all(total))  # fmt: skip
    finally:
        server.stop()
    if ours["messages_sent"] != total:
        problems.append(f"sent {ours['messages_sent']:,} of {total:,} messages")
    best = sandbox_ideal(
        conversations=case.conversations, messages=messages, concurrency=case.concurrency,
        chunk_size=case.chunk_size, latency_ms=case.latency_ms, latency_jitter=case.jitter,
        task_delay_ms=case.task_delay_ms, task_delay_jitter=case.jitter, seeds=args.seeds,
    )  # fmt: skip
    rate = ours["messages_sent"] / ours["seconds"]
    return {
        "workload": case.name, "title": case.title, "kind": "import",
        "messages": ours["messages_sent"], "seconds": round(ours["seconds"], 2),
        "messages_per_s": round(rate, 1),
        "ideal_messages_per_s": best.as_dict()["messages_per_s"],
        "fraction_of_ideal": fraction_of(rate, best),
        "peak_rss_mb": round(ours["peak_rss_mb"], 1),
        "cpu_seconds": round(ours["cpu_seconds"], 2),
        "send_seconds": round(ours["send_seconds"], 2),
        "lanes": ours["lanes"], "retries": ours["retries"],
        "ideal": best.as_dict(), "problems": problems,
    }  # fmt: skip


def _discord_file(work: Path, count: int, inputs: dict[str, Path]) -> tuple[Path, int]:
    """The generated DCE export of ``count`` messages, and how many of them an import sends."""
    path = work / f"discord-{count}.json"
    chat = gen_discord.write_export(path, count)
    inputs["discord"] = path
    return path, chat


def _validate_rows(work: Path, args: argparse.Namespace, inputs: dict[str, Path],
                   messages: int) -> list[dict[str, Any]]:  # fmt: skip
    """``--validate-only`` on the 1-conversation files the e imports used (written if missing)."""
    if "everos" not in inputs:
        folder = work / "e-validate"
        write_exports(folder, "suite-e1", 1, messages)
        inputs["everos"] = next(folder.iterdir())
    if "discord" not in inputs:
        _discord_file(work, messages, inputs)
    rows = []
    for name, source, label in (("e3", "everos", "EverOS JSON"),
                                ("e4", "discord", "Discord (DCE) JSON")):  # fmt: skip
        row = validate_file(inputs[source], work, name, timeout=args.timeout)
        problems = [] if row["exit_code"] == 0 else [f"exit {row['exit_code']}"]
        if row["messages_read"] != messages:
            problems.append(f"read {row['messages_read']:,} of {messages:,} messages")
        rows.append({
            "workload": name, "title": f"--validate-only, 1 x {messages:,} {label}",
            "kind": "validate", "messages": row["messages_read"],
            "seconds": row["process_seconds"], "messages_per_s": row["messages_per_s"],
            "ideal_messages_per_s": None, "fraction_of_ideal": None,
            "peak_rss_mb": row["peak_rss_mb"], "cpu_seconds": row["cpu_seconds"],
            "file_mb": row["file_mb"], "problems": problems,
        })  # fmt: skip
    return rows


def run_suite(args: argparse.Namespace) -> int:
    rows: list[dict[str, Any]] = []
    with _workdir(args.workdir) as work:
        inputs: dict[str, Path] = {}
        for key in sorted(set(args.only)):
            cases = [case.scaled(args.scale, args.time_scale) for case in CASES[key]]
            for case in cases:
                rows.append(_import_row(case, work, args, inputs))
                _progress(rows[-1], args)
            if key == "e":
                for row in _validate_rows(work, args, inputs, cases[0].messages):
                    rows.append(row)
                    _progress(row, args)
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(format_suite(rows, args))
    return 1 if any(row["problems"] for row in rows) else 0


def _progress(row: dict[str, Any], args: argparse.Namespace) -> None:
    if not args.json:  # the table comes at the end, on stdout
        print(f"{row['workload']} done in {row['seconds']:.1f} s", file=sys.stderr, flush=True)


# -- the table -----------------------------------------------------------------------------------


def format_suite(rows: list[dict[str, Any]], args: argparse.Namespace) -> str:
    header = ("workload", "messages", "s", "msg/s", "ideal msg/s", "% of ideal",
              "peak RSS MB", "importer CPU s")  # fmt: skip
    table = [header]
    for r in rows:
        ideal = r["ideal_messages_per_s"]
        table.append((
            f"{r['workload']:<3}{r['title']}", f"{r['messages']:,}", f"{r['seconds']:.2f}",
            f"{r['messages_per_s']:,.0f}",
            "-" if r["kind"] == "validate" else "unbounded" if ideal is None else f"{ideal:,.0f}",
            "-" if r["fraction_of_ideal"] is None else f"{r['fraction_of_ideal']:.1%}",
            f"{r['peak_rss_mb']:,.0f}", f"{r['cpu_seconds']:.2f}",
        ))  # fmt: skip
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    head = (
        f"python benchmarks/bench.py suite (scale {args.scale:g}, time scale {args.time_scale:g}): "
        f"concurrency 16, chunk 100, adds {100 * args.time_scale:g} ms ± 50 %, tasks ± 50 %, "
        "unless said"
    )
    lines = [head]
    for row in table:
        cells = [cell.ljust(w) if i == 0 else cell.rjust(w)
                 for i, (cell, w) in enumerate(zip(row, widths, strict=True))]  # fmt: skip
        lines.append("  " + "  ".join(cells))
    lines.append(
        "msg/s: imports, messages acknowledged / import time; --validate-only, messages read / "
        "whole process. Ideal: benchmarks/simulate.py for the same workload and settings "
        "(unbounded when the server takes no time)."
    )
    for r in rows:
        if r["problems"]:
            lines.append(f"FAILED {r['workload']}: " + "; ".join(r["problems"][:5]))
    return "\n".join(lines)
