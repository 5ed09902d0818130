"""The archive budget on its own: what is counted, when it refuses, and how the limit is set."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import pytest

from converters.archive import (
    ARCHIVE_LIMIT_ENV,
    DEFAULT_ARCHIVE_LIMIT,
    MAX_RATIO,
    RATIO_FLOOR,
    ArchiveLimitError,
    archive_limit,
    open_zip,
)
from importer.errors import InputError

KIB = 1024


def noise(size: int) -> bytes:
    """Bytes that deflate hardly shrinks (hex of random bytes: about 2:1)."""
    return os.urandom(size // 2).hex().encode("ascii")


def make_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def test_members_read_in_turn_count_together(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "a.zip", {"one.json": noise(60 * KIB), "two.json": noise(60 * KIB)})
    with open_zip(path, limit=100 * KIB) as archive:
        assert len(archive.read("one.json", 10 * 2**20)) == 60 * KIB
        # its header alone says it would not fit what is left: refused before it is inflated
        with pytest.raises(ArchiveLimitError) as caught:
            archive.open("two.json")
    assert archive.total == 60 * KIB
    message = str(caught.value)
    assert message.startswith(f"{path}: member two.json: expands beyond 102400 bytes")
    assert f"set {ARCHIVE_LIMIT_ENV} to allow more" in message


def test_bytes_are_counted_as_they_are_read_not_only_from_headers(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "a.zip", {"one.json": noise(60 * KIB), "two.json": noise(60 * KIB)})
    with open_zip(path, limit=100 * KIB) as archive:
        # both opened before either is read: each header fits, the two together do not
        with archive.open("one.json") as one, archive.open("two.json") as two:
            assert len(one.read()) == 60 * KIB
            with pytest.raises(ArchiveLimitError, match="member two.json: expands beyond"):
                while two.read(4 * KIB):
                    pass
        assert 100 * KIB < archive.total <= 100 * KIB + 64 * KIB  # stopped within a block


def test_a_member_read_twice_counts_once(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "a.zip", {"_chat.txt": noise(80 * KIB)})
    with open_zip(path, limit=100 * KIB) as archive:
        for _ in range(3):
            with archive.open("_chat.txt") as stream:
                assert sum(1 for _ in stream) >= 1
        assert archive.total == 80 * KIB


def test_expect_refuses_what_the_headers_declare_before_anything_is_read(tmp_path: Path) -> None:
    members = {f"day/2024-01-{d:02d}.json": b"[" + b" " * 30 * KIB + b"]" for d in range(1, 11)}
    path = make_zip(tmp_path / "many.zip", members)
    with open_zip(path, limit=200 * KIB) as archive:
        archive.expect(archive.infolist()[:6])  # 6 x 30 KiB fits
        with pytest.raises(ArchiveLimitError, match="member day/2024-01-07.json: expands beyond"):
            archive.expect(archive.infolist())
        assert archive.total == 0


def test_an_absurd_ratio_is_refused_from_the_header(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "bomb.zip", {"big.json": b"\0" * (RATIO_FLOOR * 4)})
    with open_zip(path, limit=DEFAULT_ARCHIVE_LIMIT) as archive:
        info = archive.getinfo("big.json")
        assert info.file_size > MAX_RATIO * info.compress_size
        with pytest.raises(ArchiveLimitError) as caught:
            archive.open("big.json")
        assert archive.total == 0
    assert f"member big.json: inflates {info.file_size // info.compress_size:,} times" in str(
        caught.value
    )
    assert "a zip bomb?" in str(caught.value)


def test_small_members_are_never_refused_for_their_ratio(tmp_path: Path) -> None:
    # a file of padding inflates absurdly too, but under the floor it cannot hurt
    path = make_zip(tmp_path / "a.zip", {"pad.json": b" " * RATIO_FLOOR})
    with open_zip(path, limit=DEFAULT_ARCHIVE_LIMIT) as archive:
        assert len(archive.read("pad.json", 2 * RATIO_FLOOR)) == RATIO_FLOOR


def test_a_stored_member_of_any_size_has_no_ratio_to_refuse(tmp_path: Path) -> None:
    path = tmp_path / "stored.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("big.json", b"\0" * (RATIO_FLOOR * 2))
    with open_zip(path, limit=DEFAULT_ARCHIVE_LIMIT) as archive:
        assert len(archive.read("big.json", 4 * RATIO_FLOOR)) == 2 * RATIO_FLOOR


def test_read_keeps_its_own_per_member_cap(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "a.zip", {"users.json": noise(3 * 2**20)})
    with open_zip(path, limit=DEFAULT_ARCHIVE_LIMIT) as archive:
        with pytest.raises(InputError, match=r"a\.zip!/users\.json: larger than 2 MiB; not read"):
            archive.read("users.json", 2 * 2**20)
        assert archive.total == 0  # the header said so: nothing inflated


def test_head_reads_a_bounded_start_even_of_a_bomb(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "bomb.zip", {"_chat.txt": b"hello\n" + b"a" * RATIO_FLOOR * 4})
    with open_zip(path, limit=1024) as archive:
        assert archive.head("_chat.txt", 6) == b"hello\n"  # detection still sees what it is


@pytest.mark.parametrize(
    ("value", "limit"),
    [("", DEFAULT_ARCHIVE_LIMIT), ("1048576", 2**20), ("8G", 8 * 2**30), ("512 MiB", 2**29),
     ("3kb", 3 * KIB), ("2t", 2 * 2**40)],
)  # fmt: skip
def test_the_limit_comes_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, value: str, limit: int
) -> None:
    monkeypatch.setenv(ARCHIVE_LIMIT_ENV, value)
    assert archive_limit("x.zip") == limit


@pytest.mark.parametrize("value", ["lots", "-5", "0", "1.5G", "12 parsecs"])
def test_a_malformed_limit_names_the_archive_and_the_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, value: str
) -> None:
    monkeypatch.setenv(ARCHIVE_LIMIT_ENV, value)
    path = make_zip(tmp_path / "a.zip", {"a.json": b"[]"})
    with open_zip(path) as archive:
        assert archive.head("a.json", 2) == b"[]"  # detection does not depend on it
        with pytest.raises(InputError) as caught:
            archive.open("a.json")
    assert not isinstance(caught.value, ArchiveLimitError)
    assert str(caught.value) == (
        f"{path}: {ARCHIVE_LIMIT_ENV} must be a number of bytes such as 8589934592 or 8G,"
        f" not {value!r}"
    )
