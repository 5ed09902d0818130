"""Benchmarks: import throughput against the sandbox (and against the seed-002 reference importer),
ledger cost per acknowledgement and memory by size, and ``--validate-only`` speed and memory on
big exports.

    python benchmarks/bench.py [import] [--conversations 64] [--messages 600] [--concurrency 16]
        [--chunk-size 100] [--latency-ms 100] [--latency-jitter 0.5] [--task-delay-ms 200]
        [--task-delay-jitter 0.5] [--reference-poll 2.0] [--reference-conversations 2]
        [--lanes N] [--json]
    python benchmarks/bench.py suite [--only a b c d e] [--scale 1] [--time-scale 1]
    python benchmarks/bench.py ledger [--sizes 1000 100000 1000000 10000000] [--acks 2000]
    python benchmarks/bench.py validate --discord 300000 --slack 200000

The sandbox server and our importer each run in their own process (no GIL shared with the
benchmark or with each other); the importer's CPU time comes from ``wait4`` on its process
(which counts the child it reads inputs in), its peak memory from ``/proc``: its own resident
memory plus the child's private memory. Every import is checked against the server's
database: each message stored once, in the exported order, then flushed. Its rate is compared
with the simulated ideal for the same workload (benchmarks/simulate.py). What each number
means: benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import random
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from benchmarks.simulate import Ideal

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # the working tree's importer, converters and benchmarks

_WORDS = (
    "we should ship the importer once the checkpoint journal is durable and the retry budget "
    "covers rate limits from the memory service so nobody has to babysit a long migration"
).split()
_START_MS = 1_700_000_000_000


# -- inputs ------------------------------------------------------------------------------------


def write_exports(
    directory: Path, prefix: str, conversations: int, messages: int, seed: int = 7
) -> dict[str, list[str]]:
    """One EverOS batch JSON file per group conversation (deterministic); returns, per group id,
    its message ids in exported order."""
    directory.mkdir(parents=True, exist_ok=True)
    rnd = random.Random(f"{seed}-{prefix}")
    expected: dict[str, list[str]] = {}
    for c in range(conversations):
        group_id = f"{prefix}-{c:05d}"
        ms = _START_MS + c * 1000
        batch, ids = [], []
        for i in range(messages):
            ms += rnd.randint(1, 90_000)  # strictly increasing, so arrival order is checkable
            who = rnd.randrange(8)
            words = rnd.choices(_WORDS, k=rnd.randint(4, 30))
            ids.append(f"{group_id}-{i:06d}")
            batch.append(
                {"role": "user", "sender_id": f"user{who}", "sender_name": f"User {who}",
                 "timestamp": ms, "content": " ".join(words), "message_id": ids[-1]}
            )  # fmt: skip
        meta = {"name": f"Group {c}", "description": "benchmark"}
        body = {"group_id": group_id, "group_meta": meta, "messages": batch}
        (directory / f"{group_id}.json").write_text(json.dumps(body), encoding="utf-8")
        expected[group_id] = ids
    return expected


# -- processes ---------------------------------------------------------------------------------


@dataclass
class Measured:
    """A finished child process: exit code, wall seconds, peak RSS (MB, with its own children's
    private memory) and CPU seconds."""

    returncode: int
    seconds: float
    peak_rss_mb: float
    cpu_seconds: float


def run_measured(cmd: list[str], *, timeout: float, cwd: Path, log: Path) -> Measured:
    """Run ``cmd`` (killed after ``timeout``); ``wait4`` gives that process's CPU (with the
    children it waited for).

    Peak memory comes from ``/proc`` (``_HighWater``), read every 20 ms while it runs:
    ``ru_maxrss`` also counts the memory of the process it was started from (Linux
    records the parent's high-water mark at ``exec``), so a benchmark that had just generated a
    large input reported that input's size for every child.
    """
    with open(log, "wb") as out:
        started = time.perf_counter()
        proc = subprocess.Popen(
            cmd, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        peak = _HighWater(proc.pid)
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
            peak.stop()
        seconds = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    scale = 1024 * 1024 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes / KiB
    cpu = usage.ru_utime + usage.ru_stime
    rss = peak.mb if peak.mb is not None else usage.ru_maxrss / scale
    return Measured(proc.returncode, seconds, rss, cpu)


class _HighWater:
    """Samples a running process's peak resident memory (MB) until stopped: the larger of its
    own ``VmHWM`` and its resident memory plus the private memory of its child processes (the
    importer reads inputs in a forked child, which shares the parent's pages until it writes
    them: counting the child's whole RSS would count those twice). The parent is read every
    20 ms; a child's ``smaps_rollup`` costs the kernel a few ms, so it is read every 100 ms."""

    def __init__(self, pid: int) -> None:
        self._pid = pid
        self.mb: float | None = None
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        children_kb, tick = 0, 0
        while not self._done.wait(0.02):
            status = _status_kb(self._pid)
            if status is None:
                return  # no /proc (not Linux), or the process is gone
            own, rss = status.get("VmHWM", 0), status.get("VmRSS", 0)
            if tick % 5 == 0:
                children_kb = sum(_private_kb(pid) for pid in _children(self._pid))
            tick += 1
            self.mb = max(self.mb or 0.0, own / 1024, (rss + children_kb) / 1024)

    def stop(self) -> None:
        self._done.set()
        self._thread.join()


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):  # under the thread that forked
        with contextlib.suppress(OSError):
            found += map(int, task.read_text().split())
    return found


def _private_kb(pid: int) -> int:
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return 0
    return sum(int(line.split()[1]) for line in text.splitlines()
               if line.startswith(("Private_Clean:", "Private_Dirty:")))


def _status_kb(pid: int) -> dict[str, int] | None:
    """The process's memory figures in KiB (``VmRSS``, ``VmHWM`` ...); None once it is gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    fields = (line.split() for line in text.splitlines() if line.startswith("Vm"))
    return {parts[0].rstrip(":"): int(parts[1]) for parts in fields if len(parts) >= 2}


def _http(url: str, body: dict[str, Any] | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


class SandboxProcess:
    """``python -m importer serve`` on a free loopback port, in its own process."""

    def __init__(
        self, db: Path, log: Path, *, latency_ms: float, task_delay_ms: float,
        latency_jitter: float = 0.0, task_delay_jitter: float = 0.0, seed: int = 1,
    ) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.db = db
        for leftover in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
            leftover.unlink(missing_ok=True)  # a kept --workdir: every run starts empty
        cmd = [sys.executable, "-m", "importer", "serve", "--port", str(self.port),
               "--db", str(db), "--latency-ms", str(latency_ms),
               "--task-delay-ms", str(task_delay_ms), "--latency-jitter", str(latency_jitter),
               "--task-delay-jitter", str(task_delay_jitter), "--seed", str(seed)]  # fmt: skip
        self._log = open(log, "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            cmd, cwd=REPO, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 20
        while True:
            try:
                _http(self.url + "/health")
                return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"the sandbox did not start; see {log}") from None
                time.sleep(0.05)

    def requests(self) -> dict[str, dict[str, int]]:
        """Requests per route and status since the last ``reset_metrics``."""
        requests: dict[str, dict[str, int]] = _http(self.url + "/_sandbox/stats")["requests"]
        return requests

    def reset_metrics(self) -> None:
        _http(self.url + "/_sandbox/reset-metrics", {})

    def cpu_seconds(self) -> float | None:
        """User + system CPU of the server so far (Linux only), to see if it was the bottleneck."""
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def verify(self, expected: dict[str, list[str]]) -> list[str]:
        """Problems, if any, with ``expected``: each message stored once, in order, then flushed."""
        stored = {c["key"]: c for c in _http(self.url + "/_sandbox/stored")}
        arrived: dict[str, list[str]] = {group_id: [] for group_id in expected}
        db = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True)
        try:
            rows = db.execute(
                "SELECT conversation_id, message_id FROM messages WHERE kind = 'group' ORDER BY seq"
            )
            for group_id, message_id in rows:
                if group_id in arrived:
                    arrived[group_id].append(message_id)
        finally:
            db.close()
        problems = []
        for group_id, ids in expected.items():
            got = arrived[group_id]
            if not got:
                problems.append(f"{group_id}: nothing stored")
            elif got != ids:
                order = "in order" if got == sorted(got) else "out of order"
                problems.append(
                    f"{group_id}: {len(got)} of {len(ids)} messages stored, "
                    f"{len(got) - len(set(got))} duplicates, {order}"
                )
            elif not stored.get(f"group:{group_id}", {}).get("flushed_after_last"):
                problems.append(f"{group_id}: not flushed after its last message")
        return problems

    def verify_all(self, expected_messages: int) -> list[str]:
        """Problems, if any, with whatever was stored (an input whose ids the benchmark does not
        know, e.g. a Discord export): ``expected_messages`` in all, none twice, each
        conversation in order and flushed after its last message."""
        stored = _http(self.url + "/_sandbox/stored")
        problems = [
            f"{c['key']}: {c['duplicates']} duplicates, "
            f"{'in order' if c['chronological'] else 'out of order'}, "
            f"{'flushed' if c['flushed_after_last'] else 'not flushed'} after its last message"
            for c in stored
            if c["duplicates"] or not c["chronological"] or not c["flushed_after_last"]
        ]
        total = sum(c["messages"] for c in stored)
        if total != expected_messages:
            problems.append(f"{total:,} messages stored, expected {expected_messages:,}")
        return problems

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


@contextmanager
def _workdir(path: str | None) -> Iterator[Path]:
    if path:
        Path(path).mkdir(parents=True, exist_ok=True)
        yield Path(path)
        return
    with tempfile.TemporaryDirectory(prefix="everos-bench-") as tmp:
        yield Path(tmp)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile, ``q`` in 0..100."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)] if ordered else math.nan


# -- the import benchmark: our importer ------------------------------------------------------------


def _child_import(config: dict[str, Any]) -> None:
    """Runs in the importer's own process: ``BatchImporter.import_paths`` with a progress sink
    that notes when sending starts and ends, and the sender's own per-add timings (taken while
    each add holds its slot); writes what it saw as JSON."""
    import converters
    from importer.api import BatchImporter
    from importer.console import configure_logging
    from importer.reader import freeze_for_good

    class Clock:
        """The ``Progress`` protocol: sending starts once the first conversation is read."""

        started = last = 0.0

        def add_total(self, messages: int) -> None:
            if not self.started:
                self.started = self.last = time.perf_counter()

        def advance(self, messages: int) -> None:
            self.last = time.perf_counter()

        def close(self) -> None:
            pass

    configure_logging("console")  # as the CLI does: INFO lines to stderr (our log file)
    # as the command line does before its clock starts: its parser lists the converters, so
    # their modules are loaded (about 50 ms, once per process) by the time it imports
    converters.available()
    freeze_for_good()  # as the CLI's entry does with what it imported
    clock = Clock()
    importer = BatchImporter(
        progress=clock,
        api_url=config["api_url"],
        concurrency=config["concurrency"],
        chunk_size=config["chunk_size"],
        checkpoint_dir=config["checkpoint_dir"],
        lanes=config["lanes"],
    )
    began = time.perf_counter()
    report = asyncio.run(importer.import_paths([config["input"]]))
    ended = time.perf_counter()
    assert importer.sender is not None
    adds = importer.sender.stats.add_latencies  # each add while in flight, inside its slot
    result = {
        "exit_code": report.exit_code,
        "seconds": report.seconds,
        "before_send_seconds": clock.started - began,
        "send_seconds": clock.last - clock.started,
        "after_send_seconds": ended - clock.last,
        "messages_sent": report.messages_sent,
        "lanes": importer.settings.lane_count,
        "retries": importer.sender.stats.retries,
        "add_seconds": adds,
        "slots_busy": sum(adds) / (config["concurrency"] * (clock.last - clock.started) or 1),
    }
    Path(config["output"]).write_text(json.dumps(result))


def run_ours(args: argparse.Namespace, server: SandboxProcess, work: Path) -> dict[str, Any]:
    return run_importer(
        server, work / "ours", work, concurrency=args.concurrency, chunk_size=args.chunk_size,
        lanes=args.lanes, timeout=args.timeout,
    )  # fmt: skip


def run_importer(
    server: SandboxProcess, inputs: Path, work: Path, *, concurrency: int, chunk_size: int,
    lanes: int | None, timeout: float, name: str = "ours",
) -> dict[str, Any]:
    """Our importer in a process of its own on ``inputs``, into ``server``: what it saw (see
    ``_child_import``), its peak RSS and CPU, and the requests the server counted."""
    output = work / f"{name}.json"
    config: dict[str, Any] = {
        "api_url": server.url,
        "input": str(inputs),
        "concurrency": concurrency,
        "chunk_size": chunk_size,
        "checkpoint_dir": str(work / f"{name}-checkpoints"),
        "lanes": lanes,
        "output": str(output),
    }
    shutil.rmtree(config["checkpoint_dir"], ignore_errors=True)  # a fresh ledger, every run
    server.reset_metrics()
    cpu_before = server.cpu_seconds()
    cmd = [sys.executable, str(Path(__file__).resolve()), "_child", json.dumps(config)]
    log = work / f"{name}.log"
    run = run_measured(cmd, timeout=timeout, cwd=work, log=log)
    cpu_after = server.cpu_seconds()
    if run.returncode != 0 or not output.exists():
        raise SystemExit(f"our importer failed (exit {run.returncode}); see {log}")
    result: dict[str, Any] = json.loads(output.read_text())
    result.update(
        process_seconds=run.seconds,
        peak_rss_mb=run.peak_rss_mb,
        cpu_seconds=run.cpu_seconds,
        server_requests=server.requests(),
        server_cpu_seconds=None
        if cpu_before is None or cpu_after is None
        else cpu_after - cpu_before,
    )
    return result


# -- the import benchmark: the reference, and the summary ------------------------------------------


def run_reference(args: argparse.Namespace, server: SandboxProcess, inputs: Path) -> dict[str, Any]:
    from benchmarks.reference_importer import ReferenceImporter

    async def go() -> tuple[float, dict[str, int], str]:
        importer = ReferenceImporter(
            base_url=server.url,
            concurrency=args.concurrency,
            chunk_size=args.chunk_size,
            poll_interval=args.reference_poll,
        )
        started = time.perf_counter()
        try:
            await asyncio.wait_for(importer.import_directory(inputs), args.timeout)
        finally:
            await importer.aclose()
        return time.perf_counter() - started, importer.get_stats(), importer.client_name

    server.reset_metrics()
    seconds, stats, client = asyncio.run(go())
    return {"seconds": seconds, "client": client, "server_requests": server.requests(), **stats}


def _count(requests: dict[str, dict[str, int]], *fragments: str) -> int:
    """Requests on routes containing any of ``fragments`` (all routes when none is given)."""
    return sum(
        sum(by_status.values())
        for route, by_status in requests.items()
        if not fragments or any(f in route for f in fragments)
    )


def _adds(requests: dict[str, dict[str, int]]) -> int:
    """Group and personal adds (``POST /api/v1/memories[/group]``, not the flushes)."""
    adds = ("POST /api/v1/memories", "POST /api/v1/memories/group")
    return sum(sum(by_status.values()) for route, by_status in requests.items() if route in adds)


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def sandbox_ideal(
    *, conversations: int, messages: int, concurrency: int, chunk_size: int, latency_ms: float,
    latency_jitter: float, task_delay_ms: float, task_delay_jitter: float, seeds: int,
) -> Ideal:
    """The simulated ideal of an import into the sandbox with these settings. Setup and flush
    requests are in it, but cost nothing: the sandbox delays adds only."""
    from benchmarks.simulate import Workload, ideal

    workload = Workload(
        conversations=conversations, messages=messages, chunk_size=chunk_size,
        concurrency=concurrency, latency=latency_ms / 1000, task=task_delay_ms / 1000,
        latency_jitter=latency_jitter, task_jitter=task_delay_jitter, setup=0.0, flush=0.0,
    )  # fmt: skip
    return ideal(workload, seeds=seeds)


def fraction_of(rate: float, best: Ideal) -> float | None:
    """``rate`` ÷ the ideal rate; None when the ideal is unbounded (a server that costs nothing)."""
    ideal_rate = best.messages_per_s
    return None if math.isinf(ideal_rate) else round(rate / ideal_rate, 3)


def summarize(
    args: argparse.Namespace, ours: dict[str, Any], ref: dict[str, Any] | None
) -> dict[str, Any]:
    requests = ours["server_requests"]
    adds = _adds(requests)
    polls = _count(requests, "/tasks/")
    latencies = ours["add_seconds"]
    mean_add = sum(latencies) / len(latencies)
    per_add = ours["messages_sent"] / adds  # = --chunk-size when it divides --messages
    bound = args.concurrency * per_add / mean_add
    nominal = args.concurrency * per_add / (args.latency_ms / 1000) if args.latency_ms else None
    rate = ours["messages_sent"] / ours["seconds"]
    options = ("conversations", "messages", "concurrency", "chunk_size", "latency_ms",
               "latency_jitter", "task_delay_ms", "task_delay_jitter", "reference_poll",
               "reference_conversations")  # fmt: skip
    best = sandbox_ideal(
        conversations=args.conversations, messages=args.messages, concurrency=args.concurrency,
        chunk_size=args.chunk_size, latency_ms=args.latency_ms, latency_jitter=args.latency_jitter,
        task_delay_ms=args.task_delay_ms, task_delay_jitter=args.task_delay_jitter,
        seeds=args.seeds,
    )  # fmt: skip
    result: dict[str, Any] = {
        "config": {name: getattr(args, name) for name in options},
        "messages_expected": args.conversations * args.messages,
        "messages_sent": ours["messages_sent"],
        "seconds": round(ours["seconds"], 3),
        "before_send_seconds": round(ours["before_send_seconds"], 3),
        "send_seconds": round(ours["send_seconds"], 3),
        "after_send_seconds": round(ours["after_send_seconds"], 3),
        "process_seconds": round(ours["process_seconds"], 3),
        "messages_per_s": round(rate, 1),
        "ideal": best.as_dict(),
        "ideal_messages_per_s": best.as_dict()["messages_per_s"],
        "fraction_of_ideal": fraction_of(rate, best),
        "requests": _count(requests),
        "requests_per_s": round(_count(requests) / ours["seconds"], 1),
        "adds": adds,
        "task_polls": polls,
        "polls_per_add": round(polls / adds, 2),
        "add_latency_ms": {
            "p50": _ms(percentile(latencies, 50)),
            "p99": _ms(percentile(latencies, 99)),
            "mean": _ms(mean_add),
        },
        "slots_busy_while_sending": round(ours["slots_busy"], 3),
        "peak_rss_mb": round(ours["peak_rss_mb"], 1),
        "importer_cpu_seconds": round(ours["cpu_seconds"], 2),
        "server_cpu_seconds": ours["server_cpu_seconds"] and round(ours["server_cpu_seconds"], 2),
        "lanes": ours["lanes"],
        "retries": ours["retries"],
        "server_bound_messages_per_s": round(bound, 1),
        "fraction_of_bound": round(rate / bound, 3),
        "nominal_bound_messages_per_s": nominal and round(nominal, 1),
        "fraction_of_nominal_bound": nominal and round(rate / nominal, 3),
        "problems": list(ours["problems"]),
    }
    if ours["messages_sent"] != result["messages_expected"]:
        result["problems"].append(
            f"sent {ours['messages_sent']} of {result['messages_expected']} messages"
        )
    if ref is not None:
        ref_rate = ref["messages_sent"] / ref["seconds"]
        ref_adds = _adds(ref["server_requests"])
        result["reference"] = {
            "conversations": args.reference_conversations,
            "messages_sent": ref["messages_sent"],
            "messages_failed": ref["messages_failed"],
            "seconds": round(ref["seconds"], 2),
            "messages_per_s": round(ref_rate, 2),
            "requests": _count(ref["server_requests"]),
            "polls_per_add": round(_count(ref["server_requests"], "/tasks/") / ref_adds, 2)
            if ref_adds
            else None,
            "client": ref["client"],
        }
        result["ratio"] = round(rate / ref_rate, 1) if ref_rate else None
        result["problems"] += [f"reference: {p}" for p in ref["problems"]]
    return result


def format_import(r: dict[str, Any]) -> str:
    c, lat = r["config"], r["add_latency_ms"]
    server_cpu = "n/a" if r["server_cpu_seconds"] is None else f"{r['server_cpu_seconds']:.2f} s"
    rows = {
        "messages imported": f"{r['messages_sent']:,} of {r['messages_expected']:,} "
        f"({c['conversations']} conversations)",
        "import time": f"{r['seconds']:.2f} s = {r['before_send_seconds']:.2f} until the first "
        f"conversation is read + {r['send_seconds']:.2f} sending + {r['after_send_seconds']:.2f} finishing "
        f"(whole process {r['process_seconds']:.2f} s)",
        "messages/s": f"{r['messages_per_s']:,.0f}",
        **_ideal_rows(r),
        "requests/s": f"{r['requests_per_s']:,.0f} ({r['requests']:,} requests: {r['adds']} adds, "
        f"{r['task_polls']} task polls = {r['polls_per_add']} per add)",
        "add latency p50 / p99": f"{lat['p50']:.1f} / {lat['p99']:.1f} ms in flight",
        "peak RSS": f"{r['peak_rss_mb']:.0f} MB (importer processes; CPU "
        f"{r['importer_cpu_seconds']:.2f} s, server CPU {server_cpu})",
        "server-bound limit": f"{r['server_bound_messages_per_s']:,.0f} msg/s = "
        f"{c['concurrency']} x {c['chunk_size']} / {lat['mean']:.1f} ms mean add latency",
        "fraction of limit": f"{r['fraction_of_bound']:.1%} (slots busy "
        f"{r['slots_busy_while_sending']:.1%} while sending; {r['lanes']} lanes, "
        f"{r['retries']} retries)",
    }
    if r["nominal_bound_messages_per_s"]:
        rows["of the nominal limit"] = (
            f"{r['fraction_of_nominal_bound']:.1%} of {r['nominal_bound_messages_per_s']:,.0f} "
            f"msg/s (the configured {c['latency_ms']:g} ms instead of the measured latency)"
        )
    ref = r.get("reference")
    if ref:
        rows["reference (seed 002)"] = (
            f"{ref['messages_per_s']:,.1f} msg/s, measured on {ref['conversations']} "
            f"conversation(s): {ref['messages_sent']:,} messages in {ref['seconds']:.1f} s, "
            f"polling every {c['reference_poll']:g} s ({ref['polls_per_add']} polls per add; "
            f"{ref['client']})"
        )
        rows["ratio ours / reference"] = f"{r['ratio']:,.1f}x"
    rows["verified"] = "every message stored once, in order, then flushed"
    if r["problems"]:
        rows["verified"] = f"FAILED ({len(r['problems'])}): " + "; ".join(r["problems"][:5])
    head = (
        f"EverOS import: {c['conversations']} x {c['messages']} messages, concurrency "
        f"{c['concurrency']}, chunk {c['chunk_size']}; sandbox latency {c['latency_ms']:g} ms "
        f"± {c['latency_jitter']:.0%} per add, task delay {c['task_delay_ms']:g} ms "
        f"± {c['task_delay_jitter']:.0%}"
    )
    width = max(map(len, rows))
    return "\n".join([head, *(f"  {name.ljust(width)}  {value}" for name, value in rows.items())])


def _ideal_rows(r: dict[str, Any]) -> dict[str, str]:
    best = r["ideal"]
    if r["ideal_messages_per_s"] is None:
        return {"simulated ideal": "unbounded: the server takes no time"}
    return {
        "simulated ideal": f"{best['messages_per_s']:,.0f} msg/s = {r['messages_expected']:,} "
        f"messages in {best['makespan_s']:.2f} s, a perfect scheduler under the order rule "
        f"(policy {best['policy']}, mean of {best['seeds']} seed(s); no schedule beats "
        f"{best['lower_bound_s']:.2f} s)",
        "of the ideal": f"{r['fraction_of_ideal']:.1%}",
    }


def bench_import(args: argparse.Namespace) -> int:
    with _workdir(args.workdir) as work:
        expected = write_exports(work / "ours", "bench", args.conversations, args.messages)
        reference = work / "reference"
        ref_expected = write_exports(reference, "ref", args.reference_conversations, args.messages)
        server = SandboxProcess(
            work / "sandbox.db",
            work / "sandbox.log",
            latency_ms=args.latency_ms,
            task_delay_ms=args.task_delay_ms,
            latency_jitter=args.latency_jitter,
            task_delay_jitter=args.task_delay_jitter,
        )
        try:
            ours = run_ours(args, server, work)
            ours["problems"] = server.verify(expected)
            ref = None
            if args.reference_conversations:
                ref = run_reference(args, server, reference)
                ref["problems"] = server.verify(ref_expected)
        finally:
            server.stop()
    result = summarize(args, ours, ref)
    print(json.dumps(result, indent=2) if args.json else format_import(result))
    return 1 if result["problems"] else 0


# -- ledger: cost per acknowledgement and memory, from a thousand to ten million messages ------------


async def _ledger_case(directory: Path, size: int, acks: int, writers: int) -> dict[str, Any]:
    """A ledger already holding ``size`` acknowledged messages (conversations of 100 messages, at
    most 100,000 of them), then ``acks`` chunk acknowledgements of 50 new messages from
    ``writers`` lanes at once, each preceded by the intent record and a lookup of the chunk's
    ids, as a lane does."""
    from importer.ledger import Ledger

    conversations = max(1, min(size // 100, 100_000))
    per_conversation = size // conversations
    ledger = Ledger(directory, f"everos:bench-{size}").open()
    filled = time.perf_counter()
    batch: list[tuple[int, int]] = []
    for c in range(conversations):
        key = f"group:bench-{c:06d}"
        for start in range(0, per_conversation, 20_000):
            batch = [(c * 10**9 + m, m) for m in range(start, min(start + 20_000, per_conversation))]
            await ledger.acknowledge(key, batch, _START_MS)
    fill_seconds = time.perf_counter() - filled
    rss_before = _rss_mb()
    rng = random.Random(size)
    latencies: list[float] = []
    lookups: list[float] = []

    async def lane(w: int) -> None:
        for n in range(w, acks, writers):
            c = rng.randrange(conversations)
            key = f"group:bench-{c:06d}"
            base = c * 10**9 + per_conversation + n * 50
            entries = [(base + i, i) for i in range(50)]
            asked = time.perf_counter()
            await ledger.known(key, [hid for hid, _ in entries])
            lookups.append(time.perf_counter() - asked)
            started = time.perf_counter()
            await ledger.begin(key, first_id="a", last_id="b", max_ts=_START_MS, entries=entries)
            await ledger.acknowledge(key, entries, _START_MS)
            latencies.append(time.perf_counter() - started)

    wall, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(lane(w) for w in range(writers)))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    await ledger.close()
    return {
        "acknowledged": conversations * per_conversation,
        "conversations": conversations,
        "writers": writers,
        "chunk_acks": acks,
        "us_per_chunk_ack": round(wall / acks * 1e6, 1),
        "us_per_message": round(wall / (acks * 50) * 1e6, 2),
        "cpu_us_per_chunk_ack": round(cpu / acks * 1e6, 1),
        "ack_p50_ms": round(percentile(latencies, 50) * 1000, 2),
        "ack_p99_ms": round(percentile(latencies, 99) * 1000, 2),
        "lookup_us_per_id": round(percentile(lookups, 50) / 50 * 1e6, 2),
        "rss_mb_before": rss_before,
        "rss_mb_after": _rss_mb(),
        "fill_s": round(fill_seconds, 1),
        "ledger_mb": round(ledger.path.stat().st_size / 2**20, 1),
    }


def _rss_mb() -> float:
    """The process's resident memory now (not its peak: filling the ledger is not measured)."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return round(pages * os.sysconf("SC_PAGE_SIZE") / 2**20, 1)


def bench_ledger(args: argparse.Namespace) -> int:
    results = []
    with _workdir(args.workdir) as work:
        for size in args.sizes:
            # each size in its own process, so that its memory is its own
            config = {"dir": str(work / f"ledger-{size}"), "size": size, "acks": args.acks,
                      "writers": args.writers}
            done = subprocess.run(
                [sys.executable, __file__, "_ledger_child", json.dumps(config)],
                capture_output=True, text=True, timeout=args.timeout, check=True,
            )
            results.append(json.loads(done.stdout))
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    print(f"Ledger, {args.acks:,} chunk acknowledgements (50 messages each, intent + lookup + ack) "
          f"from {args.writers} lanes, after filling it with N acknowledged messages:")
    columns = [
        ("N acked", "acknowledged"), ("conversations", "conversations"),
        ("us/chunk", "us_per_chunk_ack"), ("us/message", "us_per_message"),
        ("CPU us/chunk", "cpu_us_per_chunk_ack"), ("p50 ms", "ack_p50_ms"),
        ("p99 ms", "ack_p99_ms"), ("lookup us/id", "lookup_us_per_id"),
        ("RSS MB before", "rss_mb_before"), ("RSS MB after", "rss_mb_after"),
        ("ledger MB", "ledger_mb"), ("fill s", "fill_s"),
    ]  # fmt: skip
    print("  " + "  ".join(title.rjust(13) for title, _ in columns))
    for r in results:
        print("  " + "  ".join(f"{r[key]:,}".rjust(13) for _, key in columns))
    return 0


# -- --validate-only on big exports --------------------------------------------------------------


def validate_file(path: Path, work: Path, name: str, *, timeout: float) -> dict[str, Any]:
    """``python -m importer PATH --validate-only`` in its own process: messages read (kept and
    skipped), whole-process seconds, msg/s, peak RSS and CPU."""
    report_path = work / f"{name}-report.json"
    report_path.unlink(missing_ok=True)
    flags = ["--validate-only", "--no-progress", "--report", str(report_path)]
    cmd = [sys.executable, "-m", "importer", str(path), *flags]
    run = run_measured(cmd, timeout=timeout, cwd=work, log=work / f"{name}.log")
    report = json.loads(report_path.read_text()) if report_path.exists() else {}
    conversations = report.get("conversations", [])
    kept = sum(c["messages"] for c in conversations)
    read = kept + sum(c["skipped"] for c in conversations)
    return {
        "messages_read": read,
        "messages_kept": kept,
        "conversations": len(conversations),
        "exit_code": run.returncode,
        "file_mb": round(path.stat().st_size / 1e6, 1),
        "process_seconds": round(run.seconds, 2),
        "validate_seconds": report.get("seconds"),
        "messages_per_s": round(read / run.seconds),
        "peak_rss_mb": round(run.peak_rss_mb, 1),
        "cpu_seconds": round(run.cpu_seconds, 2),
    }


def bench_validate(args: argparse.Namespace) -> int:
    from benchmarks import gen_discord, gen_slack

    rows, failed = [], False
    with _workdir(args.workdir) as work:
        inputs = []
        if args.discord:
            path = work / f"discord-{args.discord}.json"
            if not path.exists():  # a kept --workdir reuses what it generated before
                gen_discord.write_export(path, args.discord)
            inputs.append(("discord", args.discord, path))
        if args.slack:
            path = work / f"slack-{args.slack}.zip"
            if not path.exists():
                gen_slack.generate(path, args.slack, 20)
            inputs.append(("slack", args.slack, path))
        for name, generated, path in inputs:
            row = validate_file(path, work, name, timeout=args.timeout)
            failed |= row["exit_code"] != 0 or row["messages_read"] < generated
            rows.append({"source": name, "generated": generated, **row})
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print("python -m importer FILE --validate-only, whole process (interpreter start to exit):")
        for r in rows:
            print(
                f"  {r['source']:8} {r['messages_read']:,} messages read ({r['messages_kept']:,} "
                f"kept) in {r['conversations']} conversation(s) from {r['file_mb']} MB: "
                f"{r['process_seconds']:.2f} s, {r['messages_per_s']:,} msg/s, "
                f"peak RSS {r['peak_rss_mb']:.0f} MB, exit {r['exit_code']}"
            )
    return 1 if failed else 0


def _suite(args: argparse.Namespace) -> int:
    from benchmarks.suite import run_suite

    return run_suite(args)


# -- command line --------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python benchmarks/bench.py", description=__doc__.split("\n\n")[0]
    )
    sub = parser.add_subparsers(dest="mode")
    imp = sub.add_parser("import", help="ours vs the seed-002 reference on one sandbox (default)")
    imp.add_argument("--conversations", type=int, default=64)
    imp.add_argument("--messages", type=int, default=600, help="messages per conversation")
    imp.add_argument("--concurrency", type=int, default=16)
    imp.add_argument("--chunk-size", type=int, default=100)
    imp.add_argument("--latency-ms", type=float, default=100, help="sandbox delay per add")
    imp.add_argument("--latency-jitter", type=float, default=0.5,
                     help="each add's delay is uniform in latency x (1 ± this)")
    imp.add_argument(
        "--task-delay-ms", type=float, default=200, help="tasks stay processing this long"
    )
    imp.add_argument("--task-delay-jitter", type=float, default=0.5,
                     help="each task's delay is uniform in delay x (1 ± this)")
    imp.add_argument("--seeds", type=int, default=5, help="simulation runs averaged for the ideal")
    imp.add_argument("--reference-poll", type=float, default=2.0, help="its poll interval, seconds")
    imp.add_argument("--reference-conversations", type=int, default=2,
                     help="conversations the reference imports (its rate does not depend on "
                     "the number; 0 skips it)")  # fmt: skip
    imp.add_argument("--lanes", type=int, default=None, help="ImportSettings.lanes")
    imp.set_defaults(func=bench_import)
    suite = sub.add_parser("suite", help="workloads a-e one after another, one table against "
                           "the simulated ideal")  # fmt: skip
    suite.add_argument("--only", nargs="+", choices=list("abcde"), default=list("abcde"),
                       metavar="W", help="workloads to run, of a b c d e (default: all)")
    suite.add_argument("--scale", type=float, default=1.0,
                       help="multiply each workload's larger dimension (0.01: a tiny suite)")
    suite.add_argument("--time-scale", type=float, default=1.0,
                       help="multiply every latency and task delay")
    suite.add_argument("--seeds", type=int, default=5, help="simulation runs per ideal")
    suite.set_defaults(func=_suite)
    cp = sub.add_parser("ledger", help="ledger cost per acknowledgement and memory by size")
    cp.add_argument("--sizes", type=int, nargs="+", default=[1_000, 100_000, 1_000_000, 10_000_000],
                    help="acknowledged messages already in the ledger")
    cp.add_argument("--acks", type=int, default=2_000, help="chunk acknowledgements measured")
    cp.add_argument("--writers", type=int, default=16, help="lanes acking at once")
    cp.set_defaults(func=bench_ledger)
    val = sub.add_parser("validate", help="--validate-only on big generated exports")
    val.add_argument("--discord", type=int, default=300_000, help="messages in one file (0: skip)")
    val.add_argument("--slack", type=int, default=200_000, help="messages in a zip (0: skip)")
    val.set_defaults(func=bench_validate)
    for mode in (imp, suite, cp, val):
        mode.add_argument("--json", action="store_true", help="print JSON instead of a table")
        mode.add_argument("--workdir", help="keep inputs and logs here (default: a temp folder)")
        mode.add_argument("--timeout", type=float, default=900, help="seconds one run may take")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["_child"]:  # our importer in its own process (run_ours)
        _child_import(json.loads(argv[1]))
        return 0
    if argv[:1] == ["_ledger_child"]:  # one ledger size in its own process (bench_ledger)
        c = json.loads(argv[1])
        print(json.dumps(asyncio.run(_ledger_case(Path(c["dir"]), c["size"], c["acks"],
                                                  c["writers"]))))
        return 0
    if not argv or argv[0] not in ("import", "suite", "ledger", "validate", "-h", "--help"):
        argv.insert(0, "import")
    args = _parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
