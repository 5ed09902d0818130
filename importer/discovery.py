"""Find the inputs under the paths a user gave and pick a converter for each."""

from __future__ import annotations

import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import converters
from converters.base import Converter, load_json
from importer.errors import InputError

__all__ = ["Input", "discover"]

# files in a folder that no converter takes are reported only when they look like exports
_REPORTED_SUFFIXES = {".json", ".zip"}
# a file no converter recognised is parsed to say why, when it is small enough to do so cheaply
_PARSE_FOR_DIAGNOSIS_LIMIT = 64 * 1024 * 1024


@dataclass(frozen=True)
class Input:
    """One file, folder or zip and the converter that reads it."""

    path: Path
    converter: type[Converter]


def discover(
    paths: Iterable[Path | str],
    *,
    source: str | None = None,
    skipped: list[tuple[str, str]] | None = None,
) -> tuple[list[Input], list[InputError]]:
    """Inputs in a stable order, and errors for paths that are missing or of no known format.

    Files in folders that no converter takes (media, READMEs) are not errors; they are added to
    ``skipped`` with the reason, when given. Symbolic links are followed, but a folder or file
    already seen (a link back up the tree, or two ways to the same file) is read once.
    """
    forced = converters.get(source) if source else None
    walk = _Walk(forced, skipped if skipped is not None else [])
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            walk.errors.append(InputError(str(path), "no such file or directory"))
            continue
        walk.visit(path, explicit=True)
    return walk.inputs, walk.errors


class _Walk:
    def __init__(self, forced: type[Converter] | None, skipped: list[tuple[str, str]]) -> None:
        self.forced = forced
        self.skipped = skipped
        self.inputs: list[Input] = []
        self.errors: list[InputError] = []
        self._seen: set[tuple[int, int]] = set()

    def _first_time(self, path: Path) -> bool:
        try:
            stat = path.stat()
        except OSError:
            return True  # let the converter or the diagnosis say what is wrong with it
        identity = (stat.st_dev, stat.st_ino)
        if identity in self._seen:
            return False
        self._seen.add(identity)
        return True

    def visit(self, path: Path, *, explicit: bool) -> None:
        if not self._first_time(path):
            if not explicit:
                self.skipped.append((str(path), "already found through another path (link)"))
            return
        forced = self.forced
        if forced is not None:
            found = forced if forced.detect(path) or (explicit and path.is_file()) else None
        else:
            found = converters.detect(path)
        if found is not None:
            self.inputs.append(Input(path, found))
        elif path.is_dir():
            before = len(self.inputs)
            try:
                children = sorted(path.iterdir())
            except OSError as exc:
                self.errors.append(InputError(str(path), f"cannot read folder: {exc.strerror}"))
                return
            for child in children:
                if not child.name.startswith("."):
                    self.visit(child, explicit=False)
            if forced is not None and explicit and len(self.inputs) == before:
                # a folder named with --source that holds nothing of that source must not
                # "succeed" with nothing imported: a converter that reads whole folders says
                # what is missing
                if forced.reads_folders:
                    self.inputs.append(Input(path, forced))
                else:
                    self.errors.append(InputError(str(path), _nothing_of(forced)))
        elif explicit or (forced is None and path.suffix.lower() in _REPORTED_SUFFIXES):
            # a file named on the command line, or one that looks like an export, that nothing
            # recognised
            self.errors.append(InputError(str(path), _unknown_format_reason(path)))
        else:
            self.skipped.append((str(path), "not a format this importer reads"))


def _nothing_of(source: type[Converter]) -> str:
    what = source.description or source.name
    return f"no input for --source {source.name} in this folder (looked for: {what})"


def _unknown_format_reason(path: Path) -> str:
    """Why no converter took ``path``: unreadable, empty, broken JSON or an unknown shape."""
    names = ", ".join(converters.available())
    hint = f"not a recognised export format (known: {names}); use --source NAME to force one"
    try:
        size = path.stat().st_size
    except OSError as exc:
        return f"cannot read file: {exc.strerror or exc}"
    if size == 0:
        return "file is empty"
    if path.suffix.lower() == ".zip" and not zipfile.is_zipfile(path):
        return "damaged zip (no zip directory found: cut short or not a zip); download it again"
    if path.suffix.lower() != ".json" or size > _PARSE_FOR_DIAGNOSIS_LIMIT:
        return hint
    try:
        data = load_json(path)
    except InputError as exc:
        return f"{exc.where}: {exc.reason}" if exc.where else exc.reason
    if isinstance(data, dict):
        keys = ", ".join(list(data)[:6]) or "none"
        return f"JSON of an unknown shape (top-level keys: {keys}); {hint}"
    return f"JSON of an unknown shape (top level is a {type(data).__name__}); {hint}"
