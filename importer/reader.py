"""Reading inputs in a child process while the event loop sends.

Converting inputs is CPU work in Python. In a thread it takes turns with the event loop for the
one interpreter lock: while 64 inputs of 600 messages were read beside sending, each took about
10 ms instead of 3.5, and the request slots filled that much later. A forked child reads on the
other core; it writes the spool's database file (which the parent reads, in WAL mode) and sends
back what it releases, pickled, over a pipe.

Where there is no ``fork`` (or it fails) the reading runs in a worker thread instead
(``pipeline.Reading``). Only code that runs in the child is the reading itself: it never touches the parent's event
loop, connections or ledger, and ends with ``os._exit`` so that nothing inherited is closed or
flushed twice.
"""

from __future__ import annotations

import contextlib
import gc
import os
import pickle
import select
import signal
import struct
import sys
import threading
import warnings
from collections.abc import Callable
from typing import Any

from importer.errors import ImporterError

__all__ = [
    "CannotFork",
    "ForkedChild",
    "ReaderDied",
    "StopFlag",
    "can_fork",
    "freeze_for_good",
    "start_forked",
]

_HEADER = struct.Struct("!I")
_STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}
_POLL_SECONDS = 0.05


class CannotFork(Exception):
    """``fork`` failed (no memory, a process limit): nothing was started."""


class ReaderDied(ImporterError):
    """The child reading the inputs failed or ended without saying it was done."""


class StopFlag:
    """In the child: whether the parent asked it to stop (or is gone: the pipe then ends)."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._set = False

    def is_set(self) -> bool:
        if not self._set:
            self._set = bool(select.select([self._fd], [], [], 0)[0])
        return self._set


def can_fork() -> bool:
    # only where forking a process that runs threads is the platform's ordinary way (macOS
    # frameworks are not safe after fork, Windows has none)
    return sys.platform.startswith("linux") and hasattr(os, "fork")


_frozen_for_good = False


def freeze_for_good() -> None:
    """``gc.freeze()`` what the process holds, for the rest of its life (the command line's
    startup: modules, classes, schemas), and say so: forking then need not ask the collector
    whether anything is frozen, which walks every frozen object (4-5 ms after startup)."""
    global _frozen_for_good
    gc.freeze()
    _frozen_for_good = True


def start_forked(work: Callable[[StopFlag, Callable[[Any], None]], Any]) -> ForkedChild:
    """Start ``work(stop, send)`` in a forked child. Raises ``CannotFork`` if no child could be
    started.

    Call it while no other thread of the process is inside a library with locks of its own
    (SQLite, DNS lookups, a logging handler): the child inherits such a lock as it was, and
    one held at the fork is never released there. The child of a fork made beside a thread that
    was opening the ledger hung in its first ``sqlite3.connect``."""
    data_r, data_w = os.pipe()
    control_r, control_w = os.pipe()
    # the collector leaves what exists now alone, in both processes: walking those objects in
    # the child would copy every page it touched from the parent's memory into its own. What a
    # program froze itself (as the command line does, ``freeze_for_good``) stays frozen
    freezing = not _frozen_for_good and gc.get_freeze_count() == 0
    if freezing:
        gc.freeze()
    # no stop signal may reach the child before it ignores them (blocked in this thread only:
    # the process still takes them, on another thread or once unblocked)
    signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
    try:
        with warnings.catch_warnings():
            # Python 3.12+ warns of forking beside threads; the child runs only ``work``
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
    except OSError as exc:
        pid, failure = -1, exc
    if pid == 0:  # pragma: no cover - the child's coverage is not collected
        _child(work, data_w, control_r)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
    if freezing:
        gc.unfreeze()
    if pid < 0:
        for fd in (data_r, data_w, control_r, control_w):
            os.close(fd)
        raise CannotFork(str(failure)) from failure
    os.close(data_w)
    os.close(control_r)
    return ForkedChild(pid, data_r, control_w)


class ForkedChild:
    """A child started by ``start_forked``: ``relay`` hears it out."""

    def __init__(self, pid: int, data: int, control: int) -> None:
        self.pid = pid
        self._data = data
        self._control = control

    def relay(self, on_item: Callable[[Any], None], stopping: threading.Event) -> Any:
        """Until the child ends, hand every ``send(item)`` of it to ``on_item(item)``, in order,
        and pass ``stopping`` on; return what ``work`` returned (blocking: call it from a worker
        thread). Raises ``ReaderDied`` if the child fails or dies."""
        try:
            return _relay(self._data, self._control, on_item, stopping)
        finally:
            os.close(self._data)
            os.close(self._control)
            os.waitpid(self.pid, 0)


def _child(
    work: Callable[[StopFlag, Callable[[Any], None]], Any], data: int, control: int
) -> None:  # pragma: no cover - runs in the child
    code = 1
    try:
        # Ctrl-C and a service manager's SIGTERM reach the whole process group: the parent
        # decides, and says so on the pipe. Nor may a signal write to the parent's wake-up
        # descriptor: once inherited descriptors are closed its number may name another file
        signal.set_wakeup_fd(-1)
        for signum in _STOP_SIGNALS:
            signal.signal(signum, signal.SIG_IGN)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
        _close_inherited(keep={0, 1, 2, data, control})

        def send(item: Any) -> None:
            _write(data, ("item", item))

        try:
            result = work(StopFlag(control), send)
        except BaseException as exc:  # noqa: BLE001 - whatever ended it, the parent must hear
            _write(data, ("failed", f"{type(exc).__name__}: {exc}"))
        else:
            _write(data, ("done", result))
            code = 0
    finally:
        os._exit(code)


def _close_inherited(keep: set[int]) -> None:  # pragma: no cover - runs in the child
    """Close what the child inherited but must not hold: above all locks (the spool folder's,
    a program's own), which would otherwise outlive a parent that was killed until the child
    noticed and ended."""
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd not in keep:
            with contextlib.suppress(OSError):  # (the listing's own descriptor, gone by now)
                os.close(fd)


def _write(fd: int, message: tuple[str, Any]) -> None:
    body = pickle.dumps(message, pickle.HIGHEST_PROTOCOL)
    view = memoryview(_HEADER.pack(len(body)) + body)
    while view:
        view = view[os.write(fd, view) :]


def _relay(
    data: int, control: int, on_item: Callable[[Any], None], stopping: threading.Event
) -> Any:
    buffer = bytearray()
    told = False
    while True:
        if not told and stopping.is_set():
            os.write(control, b"s")
            told = True
        if not select.select([data], [], [], _POLL_SECONDS)[0]:
            continue
        chunk = os.read(data, 1 << 16)
        if not chunk:
            raise ReaderDied("the process reading the inputs ended unexpectedly")
        buffer += chunk
        while len(buffer) >= _HEADER.size:
            (size,) = _HEADER.unpack_from(buffer)
            if len(buffer) < _HEADER.size + size:
                break
            kind, payload = pickle.loads(buffer[_HEADER.size : _HEADER.size + size])
            del buffer[: _HEADER.size + size]
            if kind == "item":
                on_item(payload)
            elif kind == "done":
                return payload
            else:
                raise ReaderDied(f"reading the inputs failed: {payload}")
