"""Zip bombs through every converter that reads zips, from the command line: one line naming the
archive, exit code 1, no traceback, bounded memory, and the other inputs still imported."""

from __future__ import annotations

import io
import os
import re
import subprocess
import zipfile
from collections.abc import Callable, Iterable
from datetime import date, timedelta
from pathlib import Path

import pytest

from converters.archive import ARCHIVE_LIMIT_ENV
from converters.base import ConvertOptions
from converters.whatsapp import WhatsAppConverter
from importer.sandbox import SandboxStore
from tests.support import DATA, run_cli, run_cli_peak

MIB = 2**20
#: what a bomb inflates to in the memory tests: the importer without the guard holds all of it
BOMB_BYTES = 192 * MIB
#: the importer's peak when it refuses the bomb (it needs ~55 MB to start)
PEAK_LIMIT = 150 * MIB
LOW_CAP = {ARCHIVE_LIMIT_ENV: str(MIB)}

SLACK = DATA / "slack" / "export"
CHATGPT = DATA / "chatgpt" / "export"
CLAUDE = DATA / "claude" / "export"
PACKAGE = DATA / "discord" / "package"
IOS_CHAT = DATA / "whatsapp" / "ios_en_us" / "_chat.txt"
#: a message line of the iOS chat, to which a bomb appends its text
IOS_LINE = "[1/16/24, 7:00:00\u202fAM] Sam Ortiz: ".encode()


def filler(size: int, block: bytes = b"a" * MIB) -> Iterable[bytes]:
    """``size`` bytes of a repeated pattern: deflate packs them about 1000:1."""
    for _ in range(size // len(block)):
        yield block
    yield block[: size % len(block)]


def noise(size: int) -> Iterable[bytes]:
    """``size`` bytes that deflate hardly shrinks: too big for the cap, but no bomb."""
    yield os.urandom(size // 2).hex().encode("ascii")


def add(archive: zipfile.ZipFile, name: str, *parts: bytes | Iterable[bytes]) -> None:
    """A member written in pieces, so a bomb is never held whole here either."""
    with archive.open(name, "w") as out:
        for part in parts:
            for piece in [part] if isinstance(part, bytes) else part:
                out.write(piece)


def add_folder(archive: zipfile.ZipFile, folder: Path, prefix: str = "") -> None:
    for file in sorted(folder.rglob("*")):
        if file.is_file():
            archive.writestr(prefix + file.relative_to(folder).as_posix(), file.read_bytes())


def json_list_plus(
    real: Path, key: str, *bulk: bytes | Iterable[bytes]
) -> list[bytes | Iterable[bytes]]:
    """A real export list with one more item at the end whose ``key`` is ``bulk``: detection sees
    the real items first, as it would in a real export."""
    head = real.read_bytes().rstrip().removesuffix(b"]")
    return [head, b',{"' + key.encode() + b'": "', *bulk, b'"}]']


def assert_refused(
    result: subprocess.CompletedProcess[str], archive: Path, member: str, reason: str
) -> str:
    """Exit 1, one line of the summary naming the archive and the member (a regular expression),
    no traceback."""
    stdout, stderr = result.stdout, result.stderr
    assert result.returncode == 1, stdout + stderr
    assert "Traceback" not in stdout + stderr and "MemoryError" not in stdout + stderr
    lines = [line for line in stdout.splitlines() if str(archive) in line]
    assert len(lines) == 1, stdout + stderr
    assert re.search(f"{re.escape(str(archive))}: member {member}: {re.escape(reason)}", lines[0])
    return lines[0]


def cap_message() -> str:
    return f"expands beyond {MIB} bytes (a damaged or malicious archive?)"


# -- over the cap: set low through the environment ----------------------------------------------


def test_slack_zip_with_many_day_files_is_refused_before_the_first_channel(tmp_path: Path) -> None:
    archive = tmp_path / "slack-export.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as out:
        add_folder(out, SLACK)
        for offset in range(40):  # 40 day files of 100 KB: each harmless, together 4 MB
            day = date(2099, 1, 1) + timedelta(days=offset)
            add(out, f"general/{day.isoformat()}.json", b"[", b" " * 100_000, b"]")
    result = run_cli(archive, "--validate-only", cwd=tmp_path, env=LOW_CAP)
    line = assert_refused(result, archive, r"general/2099-01-\d\d\.json", cap_message())
    assert f"set {ARCHIVE_LIMIT_ENV} to allow more" in line
    assert "Validated: 0 conversations" in result.stdout  # refused whole, not after some channels


def test_whatsapp_zip_whose_chat_is_too_big_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "WhatsApp Chat - Hiking Club.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as out:
        add(out, "_chat.txt", IOS_CHAT.read_bytes(), IOS_LINE, noise(3 * MIB), b"\n")
    result = run_cli(archive, "--validate-only", cwd=tmp_path, env=LOW_CAP)
    assert_refused(result, archive, r"_chat\.txt", cap_message())


@pytest.mark.parametrize(("export", "key"), [(CHATGPT, "title"), (CLAUDE, "name")])
def test_assistant_export_zip_too_big_is_refused(tmp_path: Path, export: Path, key: str) -> None:
    archive = tmp_path / f"{export.parent.name}-export.zip"
    # the real conversations, then one more whose text is too big
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as out:
        for file in sorted(export.iterdir()):
            if file.name != "conversations.json":
                out.writestr(file.name, file.read_bytes())
        add(out, "conversations.json", *json_list_plus(export / "conversations.json", key,
                                                       noise(3 * MIB)))  # fmt: skip
    result = run_cli(archive, "--validate-only", cwd=tmp_path, env=LOW_CAP)
    assert_refused(result, archive, r"conversations\.json", cap_message())
    assert "Validated: 0 conversations" in result.stdout


def test_discord_package_zip_with_many_channels_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "package.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as out:
        add_folder(out, PACKAGE)
        for n in range(40):
            add(out, f"messages/c99000000000000{n:04d}/messages.json", b"[", b" " * 100_000, b"]")
    result = run_cli(archive, "--validate-only", cwd=tmp_path, env=LOW_CAP)
    assert_refused(result, archive, r"messages/c99\d+/messages\.json", cap_message())
    assert "Validated: 0 conversations" in result.stdout


# -- bombs: refused for their ratio, in bounded memory, under the default cap --------------------


def slack_bomb(path: Path) -> str:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        add_folder(out, SLACK)
        add(out, "general/2099-01-01.json", b"[", filler(BOMB_BYTES, b" " * MIB), b"]")
    return "general/2099-01-01\\.json"


def whatsapp_bomb(path: Path) -> str:
    # one endless line: read line by line without the guard, it is held whole
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        add(out, "_chat.txt", IOS_CHAT.read_bytes(), IOS_LINE, filler(BOMB_BYTES), b"\n")
    return "_chat\\.txt"


def chatgpt_bomb(path: Path) -> str:
    # one endless string: the streaming parser holds a string whole
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        out.writestr("user.json", (CHATGPT / "user.json").read_bytes())
        parts = json_list_plus(CHATGPT / "conversations.json", "title", filler(BOMB_BYTES))
        add(out, "conversations.json", *parts)
    return "conversations\\.json"


def package_bomb(path: Path) -> str:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        add_folder(out, PACKAGE)
        add(out, "messages/c1100000000000000999/messages.json", b"[", filler(BOMB_BYTES), b"]")
    return "messages/c1100000000000000999/messages\\.json"


@pytest.mark.parametrize(
    "build", [slack_bomb, whatsapp_bomb, chatgpt_bomb, package_bomb], ids=lambda b: b.__name__
)
def test_a_zip_bomb_is_refused_in_bounded_memory(
    tmp_path: Path, build: Callable[[Path], str]
) -> None:
    archive = tmp_path / f"{build.__name__}.zip"
    member = build(archive)
    assert archive.stat().st_size < BOMB_BYTES // 500
    result, peak = run_cli_peak(archive, "--validate-only", cwd=tmp_path)
    assert_refused(result, archive, member, "inflates ")
    assert "a zip bomb?" in result.stdout + result.stderr
    assert peak < PEAK_LIMIT, f"peak RSS {peak / MIB:.0f} MiB"


# -- under the cap: imports as before, and other inputs import beside a refused one --------------


def whatsapp_zip_with_media(path: Path) -> Path:
    """A chat with media the importer never reads: a large photo and a zip bomb sent as a file."""
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w", zipfile.ZIP_DEFLATED) as bomb:
        add(bomb, "zeros.bin", filler(32 * MIB, b"\0" * MIB))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        out.writestr("_chat.txt", IOS_CHAT.read_bytes())
        out.writestr("00000012-PHOTO-2024-01-13-09-15-02.jpg", os.urandom(2 * MIB))
        out.writestr("00000013-bomb.zip", inner.getvalue())
    return path


def stored_counts(db: Path) -> dict[str, int]:
    store = SandboxStore(db)
    try:
        return {c.key: c.messages for c in store.conversations() if c.duplicates == 0}
    finally:
        store.close()


def test_a_zip_under_the_cap_imports_and_its_media_do_not_count(tmp_path: Path) -> None:
    archive = whatsapp_zip_with_media(tmp_path / "WhatsApp Chat - Hiking Club.zip")
    db = tmp_path / "sandbox.db"
    result = run_cli(archive, "--sandbox-db", db, "--checkpoint-dir", tmp_path / "ck",
                     cwd=tmp_path, env={**LOW_CAP, "TZ": "UTC"})  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    (expected,) = WhatsAppConverter(ConvertOptions(timezone="UTC")).read(archive)
    assert stored_counts(db) == {expected.key: len(expected.messages)}
    assert len(expected.messages) > 5


def test_other_inputs_import_beside_a_refused_archive(tmp_path: Path) -> None:
    bomb = tmp_path / "WhatsApp Chat - bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as out:
        add(out, "_chat.txt", IOS_CHAT.read_bytes(), IOS_LINE, noise(3 * MIB), b"\n")
    slack = tmp_path / "slack-export.zip"
    with zipfile.ZipFile(slack, "w", zipfile.ZIP_DEFLATED) as out:
        add_folder(out, SLACK, "slack-export/")
    db = tmp_path / "sandbox.db"
    result = run_cli(bomb, slack, "--sandbox-db", db, "--checkpoint-dir", tmp_path / "ck",
                     cwd=tmp_path, env=LOW_CAP)  # fmt: skip
    assert_refused(result, bomb, r"_chat\.txt", cap_message())
    counts = stored_counts(db)
    assert counts and all(key.startswith("group:slack_") for key in counts), counts
    assert sum(counts.values()) > 10
