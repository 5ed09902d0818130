"""Private scratch folders (the spool's) that a run which cannot clean up does not leave behind.

A run ends by removing its folder; one killed (SIGKILL, out of memory, a second Ctrl-C, which
leaves at once) cannot, and the folder kept message text in the temporary directory for good.
Each folder is locked (``flock``) by the process that made it, for as long as it lives: the next
folder made in the same place removes those whose lock nobody holds any more. The lock, not a
process id, says who is alive: it is released by the kernel when its holder dies, and it means
the same across PID namespaces sharing one ``/tmp``. A folder gets its name only once locked
(made under a hidden name, locked, renamed), so none is ever seen unlocked while its maker lives.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: no flock; folders of killed runs stay, as before
    fcntl = None  # type: ignore[assignment]

__all__ = ["ScratchDir"]


class ScratchDir:
    """A new owner-only folder named ``<prefix>…`` in ``directory`` (the system's temporary
    directory by default), locked until ``remove``; abandoned ones beside it are removed first."""

    def __init__(self, prefix: str, directory: Path | str | None = None) -> None:
        parent = Path(directory or tempfile.gettempdir())
        remove_abandoned(parent, prefix)
        self._lock: int | None = None
        if fcntl is None:
            self.path: Path = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
            return
        hidden = Path(tempfile.mkdtemp(prefix=f".{prefix}", dir=parent))
        self._lock = os.open(hidden, os.O_RDONLY)
        fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self.path = parent / hidden.name[1:]
        hidden.rename(self.path)  # the lock is on the folder itself: it moves with it

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
        if self._lock is not None:
            os.close(self._lock)  # the folder is gone: nobody can take the lock over it
            self._lock = None


def remove_abandoned(parent: Path, prefix: str) -> None:
    """Remove the folders ``<prefix>…`` in ``parent`` that this user owns and whose lock nobody
    holds."""
    if fcntl is None:
        return
    try:
        candidates = list(parent.glob(f"{prefix}*"))
    except OSError:
        return
    for path in candidates:
        try:
            if path.is_symlink() or not path.is_dir() or path.stat().st_uid != os.getuid():
                continue
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            continue  # held: a run is using it
        else:
            shutil.rmtree(path, ignore_errors=True)
        finally:
            os.close(fd)
