"""How a target's ledger is laid out in the checkpoint folder: one file, or one per shard.

A target's ledger is never split two ways. Shard ``i`` of N remembers only the conversations
that hash to ``i``; a run with another layout (unsharded, or M shards) would look in a file that
does not hold what was sent, and send it again. So a run whose layout differs from the ledger
files already present for its target is refused before anything is sent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from importer.errors import ConfigError
from importer.ledger.records import ledger_name
from importer.shard import Shard

__all__ = ["LayoutError", "LedgerFile", "check_layout", "ledger_files", "parse_ledger_file"]

SUFFIX = ".ledger.sqlite"
_SHARD_PART = re.compile(r"\.shard-(\d+)-of-(\d+)$")


class LayoutError(ConfigError):
    """The checkpoint folder holds this target's ledger in another layout (exit code 2)."""


@dataclass(frozen=True)
class LedgerFile:
    """A ledger file found in the checkpoint folder: its target's ``ledger_name`` (``stem``)
    and the shard it belongs to (None: the target's only ledger)."""

    path: Path
    stem: str
    shard: Shard | None

    @property
    def shards(self) -> int:
        return self.shard.count if self.shard is not None else 1


def parse_ledger_file(path: Path) -> LedgerFile | None:
    """``N.ledger.sqlite`` or ``N.shard-I-of-K.ledger.sqlite``; None for any other name."""
    if not path.name.endswith(SUFFIX):
        return None
    base = path.name.removesuffix(SUFFIX)
    match = _SHARD_PART.search(base)
    if match is None:
        return LedgerFile(path, base, None)
    try:
        shard = Shard(int(match[1]), int(match[2]))
    except ValueError:
        return None  # a name this importer never writes
    return LedgerFile(path, base[: match.start()], shard)


def ledger_files(directory: Path, identity: str) -> list[LedgerFile]:
    """The ledger files of ``identity`` in ``directory`` (whatever their layout), sorted."""
    if not directory.is_dir():
        return []
    stem = ledger_name(identity)
    found = (parse_ledger_file(p) for p in sorted(directory.glob(f"{stem}*{SUFFIX}")))
    return [f for f in found if f is not None and f.stem == stem]


def check_layout(directory: Path, identity: str, shard: Shard | None) -> None:
    """Raise ``LayoutError`` when ``directory`` holds ledger files of ``identity`` in another
    layout than ``shard`` (None: unsharded), or, under ``--shard``, a 0.1.0 checkpoint of it."""
    count = shard.count if shard is not None else 1
    files = ledger_files(directory, identity)
    clash = [f for f in files if f.shards != count]
    if clash:
        raise LayoutError(_clash_message(directory, identity, shard, files))
    if shard is not None:
        from importer.ledger.legacy import find_legacy_checkpoints

        legacy = [c.path.name for c in find_legacy_checkpoints(directory, identity)]
        if legacy:
            raise LayoutError(
                f"{directory} holds a checkpoint of importer 0.1.0 for {identity} "
                f"({', '.join(legacy)}), which --shard cannot take over: import once without "
                "--shard to take it over (the target's ledger then stays unsharded)"
            )


def _clash_message(
    directory: Path, identity: str, shard: Shard | None, files: list[LedgerFile]
) -> str:
    counts = sorted({f.shards for f in files})
    if counts == [1]:
        found, advice = "the unsharded ledger", "Run without --shard, as before"
    elif len(counts) == 1:
        n = counts[0]
        found = f"the ledger, split into {n} shards,"
        advice = f"Run each shard with --shard I/{n} (I = 0..{n - 1}), as before"
    else:
        found = "ledgers in several layouts (files copied in by hand?)"
        advice = "Keep the files of one layout and move the others away"
    this = f"--shard {shard}" if shard is not None else "an unsharded run"
    names = ", ".join(f.path.name for f in files)
    return (f"checkpoint folder {directory} holds {found} of {identity} ({names}); {this} "
            f"would keep a second ledger and send again what those hold. {advice}; the number "
            "of shards of a target cannot change once it has a ledger.")
