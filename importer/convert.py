"""The ``convert`` command: write each conversation found as one EverOS batch JSON file."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

from converters.base import ConvertOptions
from converters.everos import to_everos_json
from importer.discovery import discover
from importer.pipeline import _Reading, read_inputs
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
    source: str | None = None,
    scene: Literal["solo", "team"] | None = None,
    include_system_events: bool = False,
) -> Report:
    """Convert every input under ``paths`` into ``output`` (created if needed)."""
    inputs, missing = discover(list(paths), source=source)
    report = Report()
    report.add_input_errors(missing)
    output.mkdir(parents=True, exist_ok=True)
    found = _Reading()
    options = ConvertOptions(scene=scene, include_system_events=include_system_events)
    for conversation in read_inputs(inputs, options, found):
        target = output / output_name(conversation.key)
        target.write_text(
            json.dumps(to_everos_json(conversation), ensure_ascii=False, indent=1) + "\n",
            encoding="utf-8",
        )
        report.conversations.append(ConversationResult.of(conversation, "valid"))
    found.into(report)
    return report
