"""The ``convert`` command: write each conversation found as one EverOS batch JSON file.

Inputs holding the same conversation are merged first (as an import does), so each conversation
gets exactly one file with every message; a file that already exists with other content is
never overwritten unless asked (``force``).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable
from pathlib import Path

from converters.base import ConvertOptions
from converters.everos import to_everos_json
from importer.discovery import discover
from importer.errors import ConfigError
from importer.merge import Spool, SpooledConversation
from importer.pipeline import _Found, spool_inputs
from importer.report import ConversationResult, Report

__all__ = ["convert_paths", "output_name"]


def output_name(key: str) -> str:
    """A file name for a conversation key: readable, safe, and distinct for distinct keys."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", key).strip("._")[:80] or "conversation"
    return f"{slug}-{hashlib.sha256(key.encode()).hexdigest()[:8]}.json"


def convert_paths(
    paths: Iterable[str | Path],
    output: Path,
    *,
    options: ConvertOptions | None = None,
    source: str | None = None,
    force: bool = False,
) -> Report:
    """Convert every input under ``paths`` into ``output`` (created if needed)."""
    if output.exists() and not output.is_dir():
        raise ConfigError(f"--output {output} is a file; give a folder (it is created if needed)")
    inputs, missing = discover(list(paths), source=source)
    report = Report()
    report.add_input_errors(missing)
    found = _Found()
    with Spool() as spool:
        spool_inputs(inputs, options or ConvertOptions(), spool, found)
        merged = spool.conversations()

        def render(spooled: SpooledConversation) -> bytes:
            messages = [m for page in spool.messages(spooled) for m in page]
            conversation = spooled.meta.model_copy(update={"messages": messages})
            text = json.dumps(to_everos_json(conversation), ensure_ascii=False, indent=1)
            return (text + "\n").encode("utf-8")

        # check every file before writing any, holding one conversation at a time
        clashes = [
            output / output_name(s.key) for s in merged
            if (output / output_name(s.key)).exists()
            and (output / output_name(s.key)).read_bytes() != render(s)
        ]
        if clashes and not force:
            raise ConfigError(
                f"{len(clashes)} output file(s) exist with other content, e.g. {clashes[0]}; "
                "use --force to overwrite them, or another --output folder"
            )
        try:
            output.mkdir(parents=True, exist_ok=True)
            for spooled in merged:
                path = output / output_name(spooled.key)
                tmp = path.with_name(f".{path.name}.tmp")
                tmp.write_bytes(render(spooled))
                os.replace(tmp, path)
                report.conversations.append(ConversationResult.of(spooled, "valid"))
        except OSError as exc:
            raise ConfigError(f"cannot write to --output {output}: {exc.strerror or exc}") from exc
    found.into(report)
    return report
