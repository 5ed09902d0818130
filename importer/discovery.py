"""Find the inputs under the paths a user gave and pick a converter for each."""

from __future__ import annotations

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
    paths: Iterable[Path | str], *, source: str | None = None
) -> tuple[list[Input], list[InputError]]:
    """Inputs in a stable order, and errors for paths that are missing or of no known format."""
    forced = converters.get(source) if source else None
    inputs: list[Input] = []
    errors: list[InputError] = []
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            errors.append(InputError(str(path), "no such file or directory"))
            continue
        _walk(path, forced, inputs, errors, explicit=True)
    return inputs, errors


def _walk(
    path: Path,
    forced: type[Converter] | None,
    inputs: list[Input],
    errors: list[InputError],
    *,
    explicit: bool,
) -> None:
    if forced is not None:
        found = forced if forced.detect(path) or (explicit and path.is_file()) else None
    else:
        found = converters.detect(path)
    if found is not None:
        inputs.append(Input(path, found))
    elif path.is_dir():
        before = len(inputs)
        for child in sorted(path.iterdir()):
            if not child.name.startswith("."):
                _walk(child, forced, inputs, errors, explicit=False)
        if forced is not None and explicit and len(inputs) == before:
            # a folder named with --source that holds nothing of that source must not "succeed"
            # with nothing imported: a converter that reads whole folders says what is missing
            if forced.reads_folders:
                inputs.append(Input(path, forced))
            else:
                errors.append(InputError(str(path), _nothing_of(forced)))
    elif explicit or (forced is None and path.suffix.lower() in _REPORTED_SUFFIXES):
        # a file named on the command line, or one that looks like an export, that nothing
        # recognised; other files in folders (README, media) are not inputs
        errors.append(InputError(str(path), _unknown_format_reason(path)))


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
