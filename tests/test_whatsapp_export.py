"""WhatsApp exports as users hand them over: zips with media, damaged zips, folders, grown
re-exports, and imports through the CLI into the sandbox."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

import converters
from converters.base import ConvertOptions
from converters.whatsapp import WhatsAppConverter
from importer.discovery import discover
from importer.errors import InputError
from importer.models import Conversation
from importer.sandbox import SandboxStore
from tests.support import run_cli

WA = Path(__file__).parent / "data" / "whatsapp"
IOS_CHAT = WA / "ios_en_us" / "_chat.txt"
HIKERS = WA / "WhatsApp Chat with Weekend Hikers.txt"
PHOTO = "00000012-PHOTO-2024-01-13-09-15-02.jpg"


def read(path: Path, **options: object) -> tuple[WhatsAppConverter, list[Conversation]]:
    converter = WhatsAppConverter(ConvertOptions(**options))  # type: ignore[arg-type]
    return converter, list(converter.read(path))


def read_one(path: Path, zone: str = "UTC", **options: object) -> Conversation:
    converter, conversations = read(path, timezone=zone, **options)
    assert not converter.rejected, converter.rejected
    (conversation,) = conversations
    return conversation


def rows(conversation: Conversation) -> list[tuple[str, int, str, str | None, str]]:
    return [
        (m.message_id, m.timestamp, m.sender_id, m.sender_name, m.content)
        for m in conversation.messages
    ]


def ios_zip(target: Path, *, inner: str = "", method: int = zipfile.ZIP_DEFLATED) -> Path:
    """An iOS export zip: ``_chat.txt`` first, media, macOS litter, a chat sent as a document."""
    with zipfile.ZipFile(target, "w", method) as archive:
        archive.writestr(f"{inner}_chat.txt", IOS_CHAT.read_bytes())
        archive.writestr(f"{inner}{PHOTO}", b"\xff\xd8\xff\xe0 not really a photo" * 40)
        archive.writestr(f"{inner}00000020-old chat.txt", HIKERS.read_bytes())
        archive.writestr("__MACOSX/._chat.txt", b"\x00\x05\x16\x07 AppleDouble")
        archive.writestr(f"__MACOSX/{inner}._{PHOTO}", b"\x00\x05\x16\x07 AppleDouble")
    return target


# -- zips --------------------------------------------------------------------------------------


def test_an_ios_zip_reads_chat_txt_and_ignores_media_and_macos_litter(tmp_path: Path) -> None:
    archive = ios_zip(tmp_path / "WhatsApp Chat - Hiking Club.zip")
    assert converters.detect(archive) is WhatsAppConverter
    chat = read_one(archive)
    assert chat.origin == f"{archive}!/_chat.txt"
    assert chat.conversation_id == "whatsapp-hiking_club"
    # the same messages and ids as the bare text: the document that is itself a chat stays media
    assert rows(chat) == rows(read_one(IOS_CHAT))
    assert PHOTO in chat.messages[3].content


def test_a_zipped_export_folder_and_an_android_zip_are_read(tmp_path: Path) -> None:
    folder_zip = ios_zip(tmp_path / "export.zip", inner="WhatsApp Chat - Hiking Club/")
    assert rows(read_one(folder_zip)) == rows(read_one(IOS_CHAT))
    android = tmp_path / "WhatsApp Chat with Weekend Hikers.zip"
    with zipfile.ZipFile(android, "w") as out:
        out.writestr("IMG-20240112-WA0003.jpg", b"\xff\xd8 jpeg")
        out.writestr("notes.txt", "packing list: boots, water\n")
        out.writestr(HIKERS.name, HIKERS.read_bytes())
    assert converters.detect(android) is WhatsAppConverter
    assert rows(read_one(android)) == rows(read_one(HIKERS))


def test_a_zip_of_several_unnamed_chats_is_refused_clearly(tmp_path: Path) -> None:
    archive = tmp_path / "chats.zip"
    with zipfile.ZipFile(archive, "w") as out:
        out.writestr("a.txt", HIKERS.read_bytes())
        out.writestr("b.txt", (WA / "WhatsApp Chat with Alex Kim.txt").read_bytes())
    assert WhatsAppConverter.detect(archive)
    with pytest.raises(InputError, match=r"several chats \(a\.txt, b\.txt\)"):
        read(archive)
    photos = tmp_path / "photos.zip"
    with zipfile.ZipFile(photos, "w") as out:
        out.writestr(PHOTO, b"\xff\xd8 jpeg")
    assert not WhatsAppConverter.detect(photos)


# -- damaged zips ------------------------------------------------------------------------------


def test_a_cut_zip_is_reported_as_damaged_not_unknown(tmp_path: Path) -> None:
    data = ios_zip(tmp_path / "full.zip").read_bytes()
    cut = tmp_path / "export.zip"  # no export name: recognised by the chat text at its start
    cut.write_bytes(data[: len(data) // 2])
    assert converters.detect(cut) is WhatsAppConverter
    with pytest.raises(InputError, match="damaged zip") as caught:
        read(cut)
    assert caught.value.path == str(cut)
    named = tmp_path / "WhatsApp Chat - Hiking Club.zip"  # first member media: the name says it
    named.write_bytes(b"PK\x03\x04" + b"\x00" * 40)
    assert converters.detect(named) is WhatsAppConverter
    result = run_cli(cut, "--validate-only", cwd=tmp_path)
    assert result.returncode == 1
    assert "damaged zip" in result.stdout + result.stderr
    assert "not a recognised export format" not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


def test_a_corrupt_chat_member_is_reported_as_damaged(tmp_path: Path) -> None:
    archive = ios_zip(tmp_path / "WhatsApp Chat - Hiking Club.zip", method=zipfile.ZIP_STORED)
    data = archive.read_bytes()
    at = data.index(b"Morning all!")
    archive.write_bytes(data[:at] + b"Mourning all" + data[at + 12 :])
    with pytest.raises(InputError, match=r"_chat\.txt: damaged zip: Bad CRC-32"):
        read(archive)


def test_other_damaged_zips_are_named_damaged_by_discovery(tmp_path: Path) -> None:
    (tmp_path / "holiday-photos.zip").write_bytes(b"PK\x03\x04" + b"\x01" * 100)
    inputs, errors = discover([tmp_path])
    assert inputs == []
    (error,) = errors
    assert "damaged zip" in error.reason


# -- folders and other text files --------------------------------------------------------------


def test_a_folder_yields_only_the_chat_text(tmp_path: Path) -> None:
    folder = tmp_path / "WhatsApp Chat - Hiking Club"
    folder.mkdir()
    (folder / "_chat.txt").write_bytes(IOS_CHAT.read_bytes())
    (folder / PHOTO).write_bytes(b"\xff\xd8 jpeg")
    (folder / "README.txt").write_text("Exported from my phone on 1/16/24, 9:00.\n", "utf-8")
    (folder / "notes.txt").write_bytes((WA / "pustur" / "not-a-whatsapp-chat.txt").read_bytes())
    inputs, errors = discover([tmp_path])
    assert errors == []
    assert [(i.path.name, i.converter) for i in inputs] == [("_chat.txt", WhatsAppConverter)]


def test_text_files_that_are_not_whatsapp_are_not_detected(tmp_path: Path) -> None:
    samples = {
        "plain.txt": "Sample User: This file has nothing to do with whatsapp\n",
        "log.txt": "2024-01-15 10:00:00 INFO server started\n",
        "minutes.txt": "Meeting minutes\n15/01/2024, 10:00 - Ann: hello\n",
        "dates.txt": "45/99/2024, 10:00 - Ann: no such date\n",
    }
    for name, text in samples.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
        assert converters.detect(tmp_path / name) is None, name
    assert converters.detect(WA / "pustur" / "not-a-whatsapp-chat.txt") is None


# -- re-exports --------------------------------------------------------------------------------


def _hikers(tmp_path: Path, name: str, lines: int, extra: str = "") -> Path:
    text = HIKERS.read_text(encoding="utf-8")
    kept = "\n".join(text.splitlines()[:lines])
    path = tmp_path / name
    path.write_text(kept + extra, encoding="utf-8")
    return path


GROWN = (
    "\n14/01/2024, 09:00 - Tom Baker: Same again next week?"
    "\n14/01/2024, 09:00 - Tom Baker: Same again next week?"
    "\n14/01/2024, 09:05 - Priya Nair: Yes!\nBring the map"
)


def test_a_grown_re_export_keeps_the_key_and_the_old_ids(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    old = read_one(_hikers(tmp_path / "a", HIKERS.name, 11))
    # saved again next to the first one, so the phone added " (1)"
    grown_path = _hikers(tmp_path / "b", "WhatsApp Chat with Weekend Hikers (1).txt", 99, GROWN)
    grown = read_one(grown_path)
    assert len(old.messages) == 5
    assert grown.key == old.key == "group:whatsapp-weekend_hikers"
    assert rows(grown)[: len(old.messages)] == rows(old)
    assert len(grown.messages) == 11
    twins = grown.messages[-3:-1]
    assert twins[0].content == twins[1].content and twins[0].message_id != twins[1].message_id
    # the ids do not depend on the zone times are read in
    other_zone = read_one(grown_path, zone="Asia/Tokyo")
    assert [m.message_id for m in other_zone.messages] == [m.message_id for m in grown.messages]


def test_an_ios_re_export_gives_the_same_ids_as_the_zip(tmp_path: Path) -> None:
    archive = ios_zip(tmp_path / "WhatsApp Chat - Hiking Club.zip")
    renamed = tmp_path / "hiking.txt"  # a renamed text: the notice's sender still names it
    renamed.write_bytes(
        IOS_CHAT.read_bytes() + b"[1/16/24, 7:00:00\xe2\x80\xafAM] Sam Ortiz: Morning\n"
    )
    first, second = read_one(archive), read_one(renamed)
    assert first.key == second.key
    assert rows(second)[:-1] == rows(first)


# -- end to end --------------------------------------------------------------------------------


def _stored(db: Path) -> dict[str, list[tuple[str, int, str, str | None, str]]]:
    store = SandboxStore(db)
    try:
        out = {}
        for c in store.conversations():
            assert c.duplicates == 0 and c.chronological and c.flushed_after_last, c
            out[c.key] = [
                (r["message_id"], r["timestamp"], r["sender_id"], r["sender_name"], r["content"])
                for r in store.messages(c.kind, c.conversation_id, c.session_id)
            ]
            assert store.group(c.conversation_id) is not None
        return out
    finally:
        store.close()


def test_import_a_zip_and_then_its_grown_export_into_the_sandbox(tmp_path: Path) -> None:
    db, checkpoints = tmp_path / "sandbox.db", tmp_path / "ck"
    archive = ios_zip(tmp_path / "WhatsApp Chat - Hiking Club.zip")
    chat_path = tmp_path / HIKERS.name
    chat_path.write_bytes(b"".join(HIKERS.read_bytes().splitlines(keepends=True)[:11]))

    def run() -> None:
        result = run_cli(archive, chat_path, "--sandbox-db", db, "--checkpoint-dir", checkpoints,
                         cwd=tmp_path, env={"TZ": "America/New_York"})  # fmt: skip
        assert result.returncode == 0, result.stdout + result.stderr
        assert "Traceback" not in result.stderr

    run()
    ios, hikers = read_one(archive, "America/New_York"), read_one(chat_path, "America/New_York")
    assert _stored(db) == {ios.key: rows(ios), hikers.key: rows(hikers)}
    assert ios.messages[0].timestamp == 1705154740000  # [1/13/24, 9:05:40 AM] in New York
    store = SandboxStore(db)
    try:
        assert (store.group("whatsapp-hiking_club") or {}).get("name") == "Hiking Club"
    finally:
        store.close()
    chat_path.write_bytes(HIKERS.read_bytes() + GROWN.encode("utf-8"))  # exported again, later
    run()
    grown = read_one(chat_path, "America/New_York")
    assert len(grown.messages) == 11
    assert _stored(db) == {ios.key: rows(ios), grown.key: rows(grown)}  # each message once
